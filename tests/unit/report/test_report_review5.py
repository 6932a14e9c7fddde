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
    assert summary["reasons"][0] == ("the policy sets no error-severity gate, so no gate could "
                                     "block any of the 1 variant(s)")
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


def test_a_variant_passed_over_for_failing_names_the_gates_it_fails():
    """Lending and mitigation, executive summary: "'logreg' not selected because it does not
    pass every error-severity gate" — which gate, by how much? Lending's logreg misses the
    disparate-impact gate by 0.0001 (0.7999): the reviewer must see that to judge the choice."""
    lending = [f for f in _findings("lending") if f.startswith("Choosing")]
    assert lending == [
        "Choosing 'forest' rather than the best-scoring 'logreg' (roc_auc 0.781; 'logreg' not "
        "selected because it does not pass every error-severity gate — gate 1 disparate_impact "
        "= 0.7999 on sex × age, required ≥ 0.8 (misses by 0.0001) and gate 2 "
        "equal_opportunity_difference = 0.1311 on sex × age, required ≤ 0.1 (misses by 0.0311)) "
        "costs 0.009 of roc_auc."]
    mit = next(f for f in _findings("mitigation") if f.startswith("Choosing"))
    assert ("'logreg' not selected because it does not pass every error-severity gate — gate 1 "
            "disparate_impact = 0.7855 on sex, required ≥ 0.8 (misses by 0.0145);") in mit
    # the gates named are the variant's failing error gates, and only those
    r = _golden("mitigation")
    failing = [g.gate + 1 for g in r.gates if g.variant == "logreg" and g.severity == "error"
               and g.status != "PASS"]
    assert failing == [1]


def test_the_lending_review_does_not_call_past_applications_the_tools_real_use():
    """Lending, page 6: "Historical or test data: historical data (real use of the tool)" for
    the German credit data of 1994, on which the audited models were trained in this audit,
    never used. 'Real use of the tool' is Local Law 144's meaning of historical data."""
    lending = build_context(_golden("lending"), with_charts=False)["compliance"]
    text = str(lending)
    assert "real use of the tool" not in text
    assert "historical data (past applications and their recorded outcomes)" in text
    # the LL144 summary keeps the law's meaning for a hiring policy that declares it
    r = _golden("hiring")
    info = dict(r.compliance.info, data_kind="historical")
    r = r.model_copy(update={"compliance": r.compliance.model_copy(update={"info": info})})
    assert "historical data (real use of the tool)" in str(
        build_context(r, with_charts=False)["compliance"])


def test_the_two_intervals_of_the_worst_disparity_are_told_apart():
    """Mitigation, page 1: 'sex × race 0.598 [0.443, 0.921] (the worst); worst over
    attributes 0.598 [0.443, 0.919] (its interval covers every attribute's groups)' beside
    gate G3 0.5978 [0.4432, 0.9212]: one figure, two intervals, and nothing says which one the
    gate reads."""
    from fairsel.report.html import render_html
    from tests.unit.report.test_report_statements import _text

    r = _golden("mitigation")
    g3 = next(g for g in r.gates if g.variant == r.ranking.selected and g.gate == 2)
    head = r.variant(r.ranking.selected).fairness["disparate_impact"]
    own = head.by_attribute[g3.attribute]
    assert tuple(g3.ci) == tuple(own.ci) != tuple(head.ci)  # the gate reads the attribute's
    text = _text(render_html(r, with_charts=False))
    lo, hi = head.ci
    assert (f"worst over attributes {head.value:.3f} [{lo:.3f}, {hi:.3f}] (one interval for the "
            "worst of every attribute's groups at once; a gate reads its attribute's own "
            "interval, as above)") in text


def test_the_ll144_note_names_every_missing_value_group_the_gates_count():
    """Hiring, page 6: "the gates read fairsel's own disparate impact (…, the unknown group
    included)", while the headline gap on page 5 runs to 'male × unknown', an intersection
    cell: the note names both kinds of missing-value group (one rule: review5 item 2)."""
    from fairsel.report.html import render_html
    from tests.unit.report.test_report_review4 import _sections

    r = _golden("hiring")
    flagged = {g.group for a in r.data.attributes for g in a.groups if "unknown" in g.flags}
    assert "male × unknown" in flagged and "unknown" in flagged
    text = _sections(render_html(r, with_charts=False))["compliance"]
    assert ("every group whose rate rests on at least min_group_size rows, missing-value groups "
            "included: “unknown” and every intersection cell with an “unknown” part") in text


def test_a_reason_shared_by_several_passed_over_variants_reads_for_each():
    """Mitigation, page 1: five variants '… — because it decides using the protected
    attribute'. Said of several variants, the reason reads 'each decides', as the executive
    summary already says it."""
    kf = build_context(_golden("mitigation"), with_charts=False)["keyfigures"]
    forbidden = next(f for f in kf["fairer"] if "protected attribute" in f["reason"])
    assert forbidden["variants"].count("'") == 10  # five variants
    assert forbidden["reason"].startswith("each decides using the protected attribute")
    single = next(f for f in kf["fairer"] if f["variants"].count("'") == 2)
    assert not single["reason"].startswith("each ")


def test_summary_md_gives_the_mark_its_one_legend():
    """summary.md (mitigation): '⚑ decides with the protected attribute' was a second wording
    of the mark's legend (fmt.MARK_LEGENDS holds the one)."""
    from fairsel.report.fmt import DT_MARK, mark_legend
    from fairsel.report.machine import summary_markdown

    md = summary_markdown(_golden("mitigation"))
    assert mark_legend(DT_MARK) in md
    assert [line for line in md.splitlines() if line.startswith(DT_MARK)] == [mark_legend(DT_MARK)]


def test_the_lending_tests_say_how_their_p_values_were_adjusted():
    """Lending, page 6: under_25 reads p 0.027 and adjusted p 1.000, 'significant when its
    adjusted p-value is at most 0.05' — adjusted how, over what? The reviewer cannot tell a
    multiple-testing correction from an error without the method and the family's size."""
    from fairsel.report.html import render_html
    from tests.unit.report.test_report_review4 import _sections

    r = _golden("lending")
    n = sum(len(g.significance or {}) for v in r.variants for a in v.attributes for g in a.groups)
    assert n == 42 and r.policy["metrics"]["significance"]["adjust"] == "holm"
    text = _sections(render_html(r, with_charts=False))["compliance"]
    assert ("significant when its adjusted p-value is at most 0.05; adjusted by Holm's method "
            "over the audit's 42 tests: every variant × group × tested rate.") in text
