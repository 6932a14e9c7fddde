"""Reviewer findings on the shipped examples' reports (review4): each statement checked on
the example that showed it, so that it cannot come back."""

from __future__ import annotations

from fairsel.report.context import build_context
from fairsel.report.facts import missing_in, missing_note
from tests.unit.report.test_report_statements import _golden


def test_a_headline_naming_the_missing_value_group_says_it_is_missing_data():
    """Hiring: the widest gap was told against 'male × unknown' as if it were a group of
    people; 'unknown' is where race/ethnicity was not recorded."""
    ctx = build_context(_golden("hiring"), with_charts=False)
    head = ctx["summary"]["findings"][0]
    assert "the widest gap is on sex × race/ethnicity" in head
    assert ("'male × unknown' (n = 63; 'unknown' here is missing data (race/ethnicity not "
            "recorded), not a demographic group)") in head, head
    # the other side is a real group: no note there
    assert "'female × Two or More Races' (n = 93)" in head


def test_which_attribute_is_missing_in_a_group():
    assert missing_in("sex", "unknown") == ["sex"]
    assert missing_in("sex × race", "male × unknown") == ["race"]
    assert missing_in("sex × race", "unknown × unknown") == ["sex", "race"]
    assert missing_in("sex × race", "female × White") == []
    assert missing_in("sex", "unknowns") == []
    assert missing_note("sex", "female") == ""
    assert missing_note("sex × race", "unknown × unknown").startswith(
        "'unknown' here is missing data (sex and race not recorded)")
