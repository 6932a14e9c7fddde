"""Reviewer findings on the shipped examples' reports (review4): each statement checked on
the example that showed it, so that it cannot come back."""

from __future__ import annotations

import pytest

from fairsel.report.context import build_context
from fairsel.report.facts import missing_in, missing_note
from fairsel.report.fmt import (DT_MARK, FEW_MARK, FOUR_FIFTHS_MARK, MARK_LEGENDS, SMALL_MARK,
                                mark_legend)
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
    # and the gap between groups whose values were recorded is told too (rates from the
    # golden: 36/93 against 590/1,028)
    assert ("Among groups whose values were all recorded, the widest gap in selection rate is "
            "'female × Two or More Races' at 0.387 (36/93) against 'male × White' at 0.574 "
            f"(590/1,028): a ratio of {36 / 93 / (590 / 1028):.3f} (point estimates; the figure "
            "and its gates count the missing-value group as a group).") in head, head
    # a headline between recorded groups gets neither sentence
    mit = build_context(_golden("mitigation"), with_charts=False)["summary"]["findings"][0]
    assert "widest gap" in mit and "missing" not in mit and "Among groups" not in mit


def test_which_attribute_is_missing_in_a_group():
    assert missing_in("sex", "unknown") == ["sex"]
    assert missing_in("sex × race", "male × unknown") == ["race"]
    assert missing_in("sex × race", "unknown × unknown") == ["sex", "race"]
    assert missing_in("sex × race", "female × White") == []
    assert missing_in("sex", "unknowns") == []
    assert missing_note("sex", "female") == ""
    assert missing_note("sex × race", "unknown × unknown").startswith(
        "'unknown' here is missing data (sex and race not recorded)")


EXAMPLES = ("branches", "champion", "hiring", "lending", "mitigation", "recidivism")


def _sections(html: str) -> dict[str, str]:
    """Each report section's text (tags stripped, spaces collapsed), by its id."""
    import re

    from tests.unit.report.test_report_statements import _text

    parts = re.split(r'(?=<section id=")', html)
    out = {}
    for part in parts[1:]:
        sid = re.match(r'<section id="([^"]+)"', part).group(1)
        out[sid] = _text(part)
    return out


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_mark_a_section_uses_is_defined_in_that_section_with_one_meaning(name):
    """⚑ meant three things (disparate treatment, a proxy flag, an impact ratio under 0.8):
    each meaning has its own mark (a proxy flag is written in words), and every section that
    sets a mark carries its legend. † and ‡ (a small group, a figure on few people) meant
    "pooled" and "default threshold" in the mitigation threshold table (review5): they are in
    MARK_LEGENDS too, and a section defines a mark only by its one legend."""
    import re

    from fairsel.report.html import render_html

    result = _golden(name)
    sections = _sections(render_html(result, with_charts=False))
    used = 0
    for sid, text in sections.items():
        for mark in MARK_LEGENDS:
            if mark not in text:
                continue
            used += 1
            legend = mark_legend(mark, result.min_group_size)
            assert legend in text, (name, sid, mark)
            # no other meaning is given to the mark anywhere in the section: no other
            # "<mark> marks ...", no "marked <mark>" or "(<mark>)" gloss
            for m in re.finditer(re.escape(mark) + r" marks ", text):
                assert text[m.start():].startswith(legend), (name, sid, mark)
            assert f"marked {mark}" not in text and f"({mark})" not in text, (name, sid, mark)
    assert all(m not in t for t in sections.values() for m in ("⚑ proxy", "⚑ below",
                                                               "⚑ over the bound"))
    # every example has a candidate's group table, which defines ‡ (and † where a group is small)
    assert used, name


def test_the_four_fifths_mark_is_not_the_disparate_treatment_mark():
    from fairsel.report.html import render_html

    marks = (DT_MARK, FOUR_FIFTHS_MARK, SMALL_MARK, FEW_MARK)
    assert len(set(marks)) == 4 and set(MARK_LEGENDS) == set(marks)
    r = _golden("lending")
    review = r.compliance.lending
    table = review.tables[0]
    row = next(x for x in table.rows if x.group != table.reference)
    low = row.model_copy(update={"air": 0.7, "below_four_fifths": True})
    table = table.model_copy(update={"rows": [low if x is row else x for x in table.rows]})
    review = review.model_copy(update={"tables": [table, *review.tables[1:]]})
    r = r.model_copy(update={"compliance": r.compliance.model_copy(update={"lending": review})})
    lending = build_context(r, with_charts=False)["compliance"]["lending"]
    flags = [x["flag"] for t in lending["tables"] for x in t["rows"]]
    assert flags.count(f"{FOUR_FIFTHS_MARK} below 0.8") == 1 and not any(DT_MARK in f for f in flags)
    assert lending["flagged"] == [f"{row.group} ({table.attribute})"]
    section = _sections(render_html(r, with_charts=False))["compliance"]
    assert f"{FOUR_FIFTHS_MARK} {MARK_LEGENDS[FOUR_FIFTHS_MARK]}" in section
    assert f"Below four-fifths: {row.group} ({table.attribute})" in section


def test_reason_shares_are_not_shown_from_fewer_than_min_group_size_decisions():
    """Branches: hgb's 'white' group has 8 unfavorable decisions in the sample, and its main
    reasons read "income 77%"; a share of so few decisions is shown as no share, marked."""
    from fairsel.report.explain_view import FEW_MARK
    from fairsel.report.html import render_html

    r = _golden("branches")
    ctx = build_context(r, with_charts=False)["explain"]
    hgb = next(v for v in ctx["explained"] if v["variant"] == "hgb")
    rows = {(x["attribute"], x["group"]): x for x in hgb["reasons"]}
    white = rows[("race", "white")]
    assert white["unfavorable"] == "8" and white["few"] == FEW_MARK
    assert "%" not in white["main"] and white["main"].startswith("income")
    # a group with enough decisions keeps its shares, unmarked
    big = next(x for v in ctx["explained"] for x in v["reasons"]
               if int(x["unfavorable"].replace(",", "")) >= r.min_group_size)
    assert "%" in big["main"] and not big["few"]
    # every row on fewer decisions than min_group_size is marked, no other
    for v in ctx["explained"]:
        for x in v["reasons"]:
            few = int(x["unfavorable"].replace(",", "")) < r.min_group_size
            assert bool(x["few"]) == few and ("%" in x["main"]) != few, x
    text = _sections(render_html(r, with_charts=False))["explain"]
    assert (f"8 {FEW_MARK} income" in text and f"{FEW_MARK} marks a figure resting on fewer than "
            "30 people (min_group_size): reported with its count, never compared: here a "
            "group's unfavorable decisions (the count shown), so its reasons are listed most "
            "frequent first, without shares") in text


def test_a_mix_rate_above_one_is_explained_where_it_is_shown():
    """Mitigation: aif360's calibrated equalized odds records a privileged mix rate of 1.249
    in a fold; the report says what the figure is and why it exceeds 1 (aif360's ratio of
    cost gaps: every row of the side is mixed and the constraint is not met)."""
    from fairsel.report.html import render_html
    from fairsel.report.mitigated_view import MIX_ABOVE_ONE_NOTE, MIX_RATE_NOTE

    r = _golden("mitigation")
    name = "logreg+postprocessing[calibrated_equalized_odds]"
    mix = r.variant(name).details["privileged_mix_rate"]
    assert max(mix.values()) > 1  # the example shows one above 1
    text = _sections(render_html(r, with_charts=False))["mitigated"]
    assert "privileged mix rate" in text
    assert f"{MIX_RATE_NOTE} {MIX_ABOVE_ONE_NOTE}" in text
    # every mix rate within [0, 1]: what it is, and no claim about a value above 1
    capped = {k: {f: min(x, 1.0) for f, x in v.items()} if k.endswith("mix_rate") else v
              for k, v in r.variant(name).details.items()}
    variants = [v.model_copy(update={"details": capped}) if v.name == name else v
                for v in r.variants]
    text = _sections(render_html(r.model_copy(update={"variants": variants}),
                                 with_charts=False))["mitigated"]
    assert MIX_RATE_NOTE in text and "above 1" not in text
    # a variant without mix rates gets no note
    assert MIX_RATE_NOTE not in _sections(render_html(_golden("lending"),
                                                      with_charts=False)).get("mitigated", "")


def test_the_proxy_gates_say_they_judge_the_data_not_a_vendor_score():
    """Recidivism: one vendor score (kind: predictions) and proxy gates that "PASS" on
    priors_count, a feature the audit cannot know the score used. The gates and the Proxies
    section say what was screened (the features in the data) and claim nothing of the score."""
    from fairsel.report.facts import SCREENED
    from fairsel.report.html import render_html

    r = _golden("recidivism")
    assert {v.kind for v in r.variants} == {"predictions"}
    sections = _sections(render_html(r, with_charts=False))
    said = ("The proxy gates (proxy_feature_auc, proxy_all_auc) judge the features in the data "
            "(the policy's features, screened once, one figure for every variant): how well "
            "they recover each protected attribute, not whether or how a model uses them. The "
            "scores of 'compas_decile' were made before the audit from inputs it cannot see: "
            "for them these gates say nothing about the score.")
    assert sections["gates"].count(said) == 1 and said in sections["proxies"]
    assert "features the models see" not in sections["proxies"]
    assert "recovered from the features in the data, even when" in sections["proxies"]
    key = build_context(r, with_charts=False)["keyfigures"]
    proxy_rows = [g for g in key["gates"] if g["metric"].startswith("proxy_")]
    assert proxy_rows and all(g["scope"] == f"{SCREENED}, all attributes" for g in proxy_rows)
    # trained candidates: the models see the features, and no sentence about scores
    trained = _sections(render_html(_golden("lending"), with_charts=False))
    assert "recovered from the features in the data, which the trained models see" in \
        trained["proxies"]
    assert "made before the audit" not in trained["proxies"]
    assert "not whether or how a model uses them." in trained["gates"]


def test_the_data_section_claims_nothing_about_a_vendor_scores_inputs():
    """Recidivism: "no feature of this data was used" read as a claim about the vendor's
    score (which may well use priors_count), and "protected attributes used as features:
    none" is not known for a score made elsewhere."""
    from fairsel.report.html import render_html

    text = _sections(render_html(_golden("recidivism"), with_charts=False))["data"]
    assert "no feature of this data was used" not in text
    assert ("Features none: the scores were made before the audit, from inputs it cannot see "
            "(the policy lists priors_count: the proxy screen and the slices read it as data, "
            "not as the score's inputs)") in text
    assert ("Protected attributes used as features not known: the scores were made before the "
            "audit") in text
    trained = _sections(render_html(_golden("lending"), with_charts=False))["data"]
    assert "Protected attributes used as features none" in trained


def test_the_small_group_marks_have_one_legend_each_with_the_audit_minimum():
    """† and ‡ are defined by MARK_LEGENDS with the audit's min_group_size, in every section
    that sets them (review5: the mitigation table used them for 'pooled' and 'default')."""
    assert mark_legend(SMALL_MARK, 30) == ("† marks a group of fewer than 30 rows "
                                           "(min_group_size): shown, never compared")
    assert mark_legend(FEW_MARK, 1000).startswith("‡ marks a figure resting on fewer than 1,000 "
                                                  "people (min_group_size)")
    assert mark_legend(DT_MARK) == f"{DT_MARK} {MARK_LEGENDS[DT_MARK]}"
