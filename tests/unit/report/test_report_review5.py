"""Compliance reviewer's second reading (review5): each false or unusable statement found on
the rendered pages of a shipped example, checked on that example so it cannot come back."""

from __future__ import annotations

import re

from fairsel.report.context import build_context
from tests.unit.report.test_report_statements import _golden


def _findings(name: str) -> list[str]:
    return build_context(_golden(name), with_charts=False)["summary"]["findings"]


def test_the_small_group_count_counts_intersection_cells_too():
    """Recidivism, page 5: "1 group(s) have fewer than 30 rows — 'Native American' of race"
    while the data table on page 6 marks three intersection cells † as well (Asian × Female,
    n = 2; Native American × Female, 4; Native American × Male, 14)."""
    r = _golden("recidivism")
    small = [(a.attribute, g.group) for a in r.data.attributes for g in a.groups
             if "small" in g.flags]
    assert len(small) == 4
    found = [f for f in _findings("recidivism") if "have fewer than 30 rows" in f]
    assert len(found) == 1, _findings("recidivism")
    text = found[0]
    assert text.startswith("4 group(s) (3 of them intersection cells) have fewer than 30 rows — "
                           "'Native American' of race (n = 18), 'Asian × Female' of race × sex "
                           "(n = 2)"), text
    assert re.search(r"\b1 group\(s\)", text) is None


def test_a_policy_without_error_gates_is_not_said_to_be_passed():
    """Hiring, pages 1 and 5 and summary.md: "'screen' is selected for deployment; it passes
    every error-severity gate" and "1 of 1 variant(s) pass every error-severity gate", while
    its three gates all warn: no gate could have blocked the screen, and a reviewer reads the
    sentence as a blocking check cleared."""
    from fairsel.report.cover_view import verdict_line
    from fairsel.report.html import render_html
    from fairsel.report.machine import summary_markdown
    from tests.unit.report.test_report_statements import _text

    r = _golden("hiring")
    assert r.gates and {g.severity for g in r.gates} == {"warn"}
    line = verdict_line(r)
    assert line.startswith("WARN: 'screen' is selected for deployment; the policy sets no "
                           "error-severity gate, so no gate could block its selection, with 1 "
                           "warning(s): gate 1 disparate_impact = 0.6591"), line
    summary = build_context(r, with_charts=False)["summary"]
    assert summary["message"].startswith("'screen' is selected; the policy sets no "
                                         "error-severity gate")
    assert summary["reasons"][0] == ("the policy sets no error-severity gate: no gate blocks "
                                     "any of the 1 variant(s)")
    html = _text(render_html(r, with_charts=False))  # the cover, key figures and summary
    assert "'screen' is selected for deployment; the policy sets no error-severity gate" in html
    md = summary_markdown(r)
    for text in (html, md):
        assert "passes every error-severity gate" not in text
        assert "pass every error-severity gate" not in text
    assert "the policy sets no error-severity gate" in md
    # a policy with error gates keeps its sentence
    lending = _golden("lending")
    assert "it passes every error-severity gate" in verdict_line(lending)
    assert build_context(lending, with_charts=False)["summary"]["message"] == \
        lending.verdict.message
