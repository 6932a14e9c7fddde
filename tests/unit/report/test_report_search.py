"""The search's report blocks: the optimism warning, the leaderboard cut to
report.leaderboard_top with a summary of the rest, the trials' parameters, the holdout table."""

from __future__ import annotations

import pytest

from fairsel.audit import run_audit
from fairsel.policy import load_policy
from fairsel.report.html import render_html
from fairsel.report.machine import summary_markdown
from fairsel.report.search_view import search_view
from tests.unit.candidates.test_search import RANDOM_50, _noise_data, _policy

TWELVE = RANDOM_50.replace("trials: 50", "trials: 12")


def _audit(folder, holdout: str = ""):
    _noise_data(folder, rows=400)
    path = _policy(folder, search=TWELVE, holdout=holdout)
    path.write_text(path.read_text().replace("report: {formats: [json]}",
                                             "report: {formats: [json], leaderboard_top: 5}"))
    return run_audit(load_policy(path)).result


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return _audit(tmp_path_factory.mktemp("plain"))


def test_optimism_is_stated_in_the_report_and_summary(plain):
    assert plain.selection.optimistic  # 12 variants, no holdout
    html = render_html(plain, with_charts=False)
    assert "The selected variant&#39;s figures are optimistic." in html \
        or "The selected variant's figures are optimistic." in html
    assert "Set validation → holdout" in html
    assert "⚠️ Optimistic: 12 variants were compared" in summary_markdown(plain)


def test_leaderboard_lists_the_top_and_summarises_the_rest(plain):
    html = render_html(plain, with_charts=False)
    board = html.split('<section id="leaderboard"', 1)[1].split("</section>", 1)[0]
    table = board.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert table.count("<tr data-variant=") == 5
    assert [n for n in plain.ranking.order[:5]] == \
        [part.split('"', 1)[0] for part in table.split('data-variant="')[1:]]
    rest = search_view(plain)["rest"]
    assert rest.startswith("7 more variant(s), ranked 6–12: ")
    assert rest in html.replace("&amp;", "&")
    md = summary_markdown(plain)
    assert sum(1 for ln in md.splitlines() if ln.startswith("| ") and "tree#" in ln) == 5
    # the trials' parameters, best ranked first
    trials = search_view(plain)["trials"]
    assert trials["params"] == ["max_depth", "min_samples_leaf", "max_features", "criterion",
                                "random_state"]
    assert [r["name"] for r in trials["rows"]] == plain.ranking.order[:5]


def test_holdout_table_shows_both_figures(tmp_path):
    held = _audit(tmp_path, holdout=", holdout: 0.25")
    assert not held.selection.optimistic
    view = search_view(held)
    assert view["optimistic"] is None and view["holdout"]["rows_held"] == 100
    row = view["holdout"]["variants"][0]
    assert row["name"] == held.ranking.selected and row["selected"]
    html = render_html(held, with_charts=False)
    assert "100 rows (validation → holdout 0.25) were" in html
    assert "figures are optimistic" not in html
