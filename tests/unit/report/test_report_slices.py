"""The "Where it fails" section and summary.md's top-slice line, rendered from results alone."""

from __future__ import annotations

from html import escape

import pytest

from fairsel.audit import run_audit
from fairsel.policy import load_policy
from fairsel.report.context import report_sections
from fairsel.report.html import render_html
from fairsel.report.machine import summary_markdown
from fairsel.report.slices_view import SLICES_SECTION, slices_view, top_line
from fairsel.results import Analysis
from tests.unit.test_registries import tiny_policy, write_tiny_data


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    """A tiny audit of two candidates with the slice search on (a lax alpha, so that the tiny
    data has slices to show)."""
    folder = tmp_path_factory.mktemp("slices")
    write_tiny_data(folder, n=600)
    path = tiny_policy(folder, extra="proxies: false\nslices: {alpha: 0.5, top: 3}",
                       candidates="  - {name: logreg, kind: sklearn, estimator: "
                                  "logistic_regression}\n"
                                  "  - {name: tree, kind: sklearn, estimator: decision_tree}")
    return run_audit(load_policy(path)).result


def test_section_shows_each_variant_with_its_worst_slices(result):
    analysis = result.analysis.slices
    # the selected variant first, then the ranking's order (slices.variants: 3 in all)
    order = ([result.ranking.selected] if result.ranking.selected else []) + \
        result.ranking.order
    assert [v.variant for v in analysis.variants] == list(dict.fromkeys(order))[:3]
    assert len(analysis.variants) == 2
    view = slices_view(result)
    first = analysis.variants[0]
    # the selected variant on every metric; the others on the first metric only
    assert [t["metric"] for t in view["variants"][0]["tables"]] == [
        "error rate", "false negative rate", "false positive rate", "selection rate"]
    assert all(len(v["tables"]) == 1 for v in view["variants"][1:])
    rows = view["variants"][0]["tables"][0]["rows"]
    # the same conditions, each bound by no-break spaces (a line breaks only between them)
    assert [r["text"].replace("\u00a0", " ") for r in rows] == \
        [s.text for s in first.top["error_rate"]]
    assert rows, "the lax alpha leaves slices to show"
    s = first.top["error_rate"][0]
    assert rows[0]["kn"] == f"{s.k}/{s.n}" and rows[0]["diff"] == f"{s.difference:+.3f}"
    # each protected group's share of the slice, from its counts
    sex = s.groups["sex"]
    share = round(100 * sex["female"] / sum(sex.values()))
    assert f"female {share}%" in rows[0]["groups"]
    html = render_html(result, with_charts=False)
    assert '<section id="slices"' in html
    assert escape(s.text, quote=False) in html
    assert SLICES_SECTION in report_sections(result)
    assert f"{first.tested:,} tests" in html


def test_summary_has_one_line_for_the_top_slice(result):
    md = summary_markdown(result)
    lines = [ln for ln in md.splitlines() if ln.startswith("Where it fails: ")]
    assert len(lines) == 1
    s = result.analysis.slices.variants[0].top["error_rate"][0]
    assert f"({s.rows:,} rows)" in lines[0] and "by error rate" in lines[0]


def test_nothing_significant_says_so_and_no_search_shows_nothing(result):
    a = result.analysis.slices
    empty = a.model_copy(update={"variants": [a.variants[0].model_copy(
        update={"top": {m: [] for m in a.metrics}})]})
    line = top_line(empty)
    assert line.startswith(f"no slice of '{a.variants[0].variant}' has a significantly worse "
                           "error rate")
    off = result.model_copy(update={"analysis": Analysis(proxies=None, slices=None)})
    assert slices_view(off) is None and top_line(None) is None
    assert SLICES_SECTION not in report_sections(off)
    assert "Where it fails" not in summary_markdown(off)
    assert '<section id="slices"' not in render_html(off, with_charts=False)


def test_a_slices_conditions_break_only_between_them():
    """Lending p.30 (review10): "foreign_worker ≥ / 1" and "other_debtors / = none" — a line
    broke inside a condition. Operators are bound to both sides by no-break spaces; ∧ between
    conditions stays breakable."""
    import re

    from fairsel.report.slices_view import _row
    from tests.unit.report.test_pdf_layout import golden_result

    slices = [s for v in golden_result("lending").analysis.slices.variants
              for top in v.top.values() for s in top]
    assert slices
    texts = [_row(s)["text"] for s in slices]
    joined = " | ".join(texts)
    assert re.search(r"foreign_worker\u00a0≥\u00a01", joined), joined
    assert re.search(r"other_debtors\u00a0=\u00a0none", joined), joined
    assert not re.search(r"\w [≥≤=] |\w [≥≤=]\u00a0|\w\u00a0[≥≤=] ", joined), joined
    assert all((" ∧ " in t) == (" ∧ " in s.text) for t, s in zip(texts, slices))
