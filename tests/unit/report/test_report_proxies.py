"""The Proxies section, the data section's proxy note and summary.md's proxy flags, rendered
from results alone."""

from __future__ import annotations

from html import escape

import pytest

from fairsel.audit import run_audit
from fairsel.policy import load_policy
from fairsel.report.context import build_context, report_sections
from fairsel.report.html import render_html
from fairsel.report.machine import summary_markdown
from fairsel.report.proxies_view import flag_lines, proxies_view
from fairsel.results import Analysis
from tests.unit.test_registries import tiny_policy, write_tiny_data


@pytest.fixture(scope="module")
def flagged(tmp_path_factory):
    """A tiny audit whose strict bounds flag features and attributes."""
    folder = tmp_path_factory.mktemp("proxies")
    write_tiny_data(folder)
    path = tiny_policy(folder, extra="proxies: {max_feature_auc: 0.52, max_all_auc: 0.52}")
    path.write_text(path.read_text().replace("features: auto}",
                                             "features: auto, proxies: [purpose]}"))
    return run_audit(load_policy(path)).result


def test_section_lists_each_attribute_with_its_figures(flagged):
    view = proxies_view(flagged)
    screen = flagged.analysis.proxies
    assert [a["attribute"] for a in view["attributes"]] == [a.attribute for a in screen.attributes]
    first = screen.attributes[0]
    assert view["attributes"][0]["all_auc"] == f"{first.all_features_auc:.4f}"
    assert [r["feature"] for r in view["attributes"][0]["rows_table"]] == \
        [f.feature for f in first.features]
    html = render_html(flagged, with_charts=False)
    assert '<section id="proxies"' in html
    for line in flag_lines(screen):
        assert f"<li>{escape(line, quote=False)}</li>" in html
    assert ("proxies", "Proxies") in report_sections(flagged)


def test_flags_are_one_summary_line_each(flagged):
    lines = flag_lines(flagged.analysis.proxies)
    assert lines  # the strict bounds flag something
    md = summary_markdown(flagged)
    flag_rows = [ln for ln in md.splitlines() if ln.startswith("- WARN proxy: ")]
    assert len(flag_rows) == len(lines)
    # the proxy gates are not repeated per variant among the gates not passed (the verdict
    # line may name the warning once: it says what the warning is)
    not_passed = md.split("Gates not passed:", 1)[1] if "Gates not passed:" in md else ""
    assert "proxy\\_feature\\_auc" not in not_passed
    assert md.count("proxy\\_feature\\_auc") <= 1


def test_none_used_as_features_names_the_flagged_proxies(flagged):
    note = build_context(flagged, with_charts=False)["data"]["proxy_note"]
    names = sorted({f for a in flagged.analysis.proxies.attributes for f in a.flagged})
    assert note.startswith("but the proxy screen flags " + ", ".join(names))
    html = render_html(flagged, with_charts=False)
    assert "none; but the proxy screen flags" in html


def test_without_a_screen_no_section_and_the_note_says_so(flagged):
    off = flagged.model_copy(update={"analysis": Analysis(),
                                     "policy": {**flagged.policy, "proxies": False}})
    assert proxies_view(off) is None
    assert ("proxies", "Proxies") not in report_sections(off)
    html = render_html(off, with_charts=False)
    assert '<section id="proxies"' not in html
    assert "the proxy screen was off (proxies: false)" in html
    assert "- WARN proxy" not in summary_markdown(off)


def test_a_figure_that_rounds_onto_its_bound_shows_which_side_it_is_on(flagged):
    """A flagged AUC of 0.52004 against a bound of 0.52 never reads "0.5200 > 0.52"."""
    screen = flagged.analysis.proxies
    attr = next(a for a in screen.attributes if a.flagged)
    name = attr.flagged[0]
    features = [f.model_copy(update={"auc": 0.52004}) if f.feature == name else f
                for f in attr.features]
    attrs = [a.model_copy(update={"features": features}) if a is attr else a
             for a in screen.attributes]
    near = screen.model_copy(update={"attributes": attrs})
    line = next(ln for ln in flag_lines(near) if ln.startswith(f"{name} stands in for"))
    assert "one-feature AUC 0.52004 > 0.52" in line
    row = next(r for r in proxies_view(flagged.model_copy(update={
        "analysis": Analysis(proxies=near)}))["attributes"][screen.attributes.index(attr)]
        ["rows_table"] if r["feature"] == name)
    assert row["auc"] == "0.52004"
