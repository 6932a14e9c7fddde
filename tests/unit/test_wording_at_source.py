"""Statements true where they are made (results.json, the terminal, summary.md), not only
after the report rewrites them: the verdict and ranking under a policy with no error-severity
gate, slice conditions in plain decimals, figures bounded to six decimals, a relative gate named
by what it compares, and data_kind described for every compliance template."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairsel.analysis import slices as sl
from fairsel.audit import _verdict
from fairsel.gates import _check, gate_summary, judge
from fairsel.metrics import FAIRNESS_NAMES, METRICS
from fairsel.policy import GateSpec, parse_policy
from fairsel.policy.compliance import TEMPLATES
from fairsel.policy.schema import ComplianceInfoSpec
from fairsel.ranking import rank
from fairsel.report.fmt import num
from fairsel.results import NO_ERROR_GATE, GateResult, figure_text, gate_rule
from tests.unit.test_compliance import _variant as relative_variant
from tests.unit.report.test_report_statements import _golden
from tests.unit.test_gates import gate_result, policy_text, variant

GOLDEN = Path(__file__).resolve().parents[1] / "e2e" / "golden"
HIB = {n: METRICS.get(n).higher_is_better for n in METRICS.names()}


# ---------------------------------------------------------------- item 1: no error-severity gate

def _warned(severity: str) -> list[GateResult]:
    return [gate_result("m", "WARN", severity="warn", gap=0.05, index=0).model_copy(
        update={"observed": 0.75, "attribute": "sex"}),
        gate_result("m", "PASS", severity=severity, index=1)]


def test_the_verdict_under_warn_only_gates_says_none_could_block_it():
    v = variant("m", status="WARN", performance={"roc_auc": 0.6}, fairness={})
    msg = _verdict([v], "m", _warned("warn")).message
    assert msg == (f"'m' is selected; {NO_ERROR_GATE} (with 1 warning(s): gate 1 "
                   "disparate_impact = 0.7500 on sex, required ≥ 0.8 (misses by 0.0500))"), msg
    assert "passes every error-severity gate" not in msg
    # with an error-severity gate, passing it is what the sentence says
    assert _verdict([v], "m", _warned("error")).message.startswith(
        "'m' is selected and passes every error-severity gate (with 1 warning(s)")


@pytest.mark.parametrize("severity", ["warn", "error"])
def test_the_holdout_verdict_says_where_either_way(severity):
    from fairsel.audit import _holdout_verdict
    from fairsel.results import Holdout

    v = variant("m", status="WARN", performance={"roc_auc": 0.6}, fairness={})
    h = Holdout(fraction=0.2, rows=40, favorable_rate=0.5, variants=[v], gates=_warned(severity))
    msg = _holdout_verdict(h, "m").message
    head = ("'m' is selected and passes every error-severity gate" if severity == "error" else
            f"'m' is selected; {NO_ERROR_GATE}")
    assert msg.startswith(f"{head} on the holdout (40 rows) (with 1 warning(s): gate 1 "), msg


def test_a_verdict_without_selection_says_why_none_was_selected():
    from fairsel.ranking import NONE_EVALUATED, ONLY_PROTECTED_PASS

    failing = variant("f", status="FAIL", performance={}, fairness={})
    protected = variant("t", status="PASS", performance={}, fairness={},
                        uses_protected_at_decision=True)
    error_gates = [gate_result("f", "FAIL"), gate_result("t", "PASS")]
    assert _verdict([failing], None, error_gates[:1]).message == (
        "no variant passes every error-severity gate")
    # one passes but decides with the protected attribute: it is not that none passes
    v = _verdict([failing, protected], None, error_gates)
    assert v.status == "FAIL" and v.exit_code == 1 and v.message == ONLY_PROTECTED_PASS
    assert "allow_group_specific_decisions: false" in v.message
    broken = variant("x", status="ERROR", performance={}, fairness={})
    assert _verdict([broken], None, [gate_result("x", "ERROR", severity="warn")]).message == (
        NONE_EVALUATED)


def _policy(severity: str):
    return parse_policy(policy_text(
        gates=f"  - {{metric: disparate_impact, min: 0.8, severity: {severity}}}"))


@pytest.mark.parametrize("severity", ["warn", "error"])
def test_the_rankings_first_reason_is_true_for_the_policys_gates(severity):
    vs = [variant("a", performance={"roc_auc": 0.8}, fairness={"disparate_impact": 0.9}),
          variant("b", performance={"roc_auc": 0.7}, fairness={"disparate_impact": 0.9})]
    gates = [gate_result(n, "PASS", severity=severity) for n in ("a", "b")]
    r = rank(vs, gates, _policy(severity), higher_is_better=HIB, fairness_names=set(FAIRNESS_NAMES))
    assert r.selected == "a"
    assert r.reasons[0] == ("the policy sets no error-severity gate, so no gate could block any "
                            "of the 2 variant(s)" if severity == "warn" else
                            "2 of 2 variant(s) pass every error-severity gate")


def test_an_error_gate_of_the_proxy_screen_or_of_the_policy_counts():
    vs = [variant("a", performance={"roc_auc": 0.8}, fairness={"disparate_impact": 0.9})]
    kw = dict(higher_is_better=HIB, fairness_names=set(FAIRNESS_NAMES))
    proxy = gate_result("a", "PASS", severity="error", metric="proxy_all_auc", index=1)
    assert rank(vs, [proxy], _policy("warn"), **kw).reasons[0] == (
        "1 of 1 variant(s) pass every error-severity gate")
    # a policy's error gate counts even where no gate result is passed in
    assert rank(vs, [], _policy("error"), **kw).reasons[0].endswith(
        "pass every error-severity gate")
    assert rank(vs, [], _policy("warn"), **kw).reasons[0].startswith(
        "the policy sets no error-severity gate")


def test_a_variant_that_could_not_be_evaluated_is_said_to_be_so():
    kw = dict(higher_is_better=HIB, fairness_names=set(FAIRNESS_NAMES))
    broken = variant("x", status="ERROR", performance={}, fairness={})
    ok = variant("a", performance={"roc_auc": 0.8}, fairness={"disparate_impact": 0.9})
    r = rank([ok, broken], [], _policy("warn"), **kw)
    assert r.passed_over["x"].text == "it could not be evaluated (see failures)"
    assert r.reasons[0] == ("the policy sets no error-severity gate, so no gate could block any "
                            "of the 1 of 2 variant(s) evaluated")
    assert rank([broken], [], _policy("warn"), **kw).reasons == [
        "no variant could be evaluated (see failures)"]
    assert rank([broken], [], _policy("error"), **kw).reasons == [
        "no variant passes every error-severity gate"]


def test_hiring_results_json_says_no_gate_could_block_the_screen_and_the_report_repeats_it():
    from fairsel.report.context import build_context
    from fairsel.report.machine import summary_markdown

    r = _golden("hiring")
    assert {g.severity for g in r.gates} == {"warn"}
    assert r.verdict.message.startswith(f"'screen' is selected; {NO_ERROR_GATE}")
    assert r.ranking.reasons[0] == ("the policy sets no error-severity gate, so no gate could "
                                    "block any of the 1 variant(s)")
    assert "error-severity gate" not in " ".join(r.ranking.reasons[1:])
    summary = build_context(r, with_charts=False)["summary"]
    assert summary["message"] == r.verdict.message  # the report no longer rewords it
    assert summary["reasons"] == list(r.ranking.reasons)
    assert "pass every error-severity gate" not in summary_markdown(r)
    # a policy with error gates keeps its sentence
    lending = _golden("lending")
    assert any(g.severity == "error" for g in lending.gates)
    assert lending.ranking.reasons[0].endswith("pass every error-severity gate")


# ---------------------------------------------------------------- item 2: slice conditions

def test_bin_edges_read_as_plain_decimals():
    x = pd.Series(np.linspace(12_000.0, 80_000.0, 401))
    col = sl.encode_column(x, name="income", categorical=False, bins=4)
    texts = [c.text for c in col.conditions]
    assert not any("e+" in t or "e-" in t for t in texts), texts
    assert texts[1] == "29000 ≤ income < 46000", texts  # quantile edges at 29,000 and 46,000
    for c in col.conditions:  # each number printed is its edge to 4 significant digits
        shown = [float(s) for s in re.findall(r"-?\d+(?:\.\d+)?", c.text)]
        edges = [e for e in (c.low, c.high) if e is not None]
        assert shown == pytest.approx(edges, rel=5e-4)
    assert sl._num(31030.4) == "31030" and sl._num(45330.0) == "45330"
    assert sl._num(0.25) == "0.25" and sl._num(0.000123456) == "0.0001235"
    assert sl._num(1_234_567.0) == "1235000" and sl._num(-0.0) == "0"


def test_edges_that_4_digits_would_merge_get_more():
    assert sl._edge_digits([1.0, 2.0, 3.0]) == 4
    assert sl._edge_digits([31030.2, 31030.4, 5.0]) == 6
    x = pd.Series(np.r_[np.full(50, 31030.1), np.full(50, 31030.3), np.full(50, 31030.5)])
    texts = [c.text for c in sl.encode_column(x, name="v", categorical=False, bins=3).conditions]
    assert len(set(texts)) == len(texts) and not any("e+" in t for t in texts), texts


def test_champion_slice_conditions_have_no_exponent():
    for name in ("champion", "mitigation"):
        text = (GOLDEN / f"{name}.json").read_text()
        assert not re.search(r"\d\.\d+e[+-]\d\d [≤<]|[≤<≥] -?\d\.\d+e[+-]\d\d", text), name


# ---------------------------------------------------------------- item 3: figure_text's bound

def test_figure_text_stops_at_six_decimals_and_says_the_side():
    assert figure_text(0.7999, 3, near=(0.8,)) == "0.7999"
    assert figure_text(0.79999999, 3, near=(0.8,)) == "<\u00a00.8"
    assert figure_text(0.80000001, 4, near=(0.8,)) == ">\u00a00.8"
    assert figure_text(0.79999951, 3, near=(None, 0.8)) == "<\u00a00.8"
    assert figure_text(0.7999991, 3, near=(0.8,)) == "0.799999"  # six decimals tell it
    for x in (0.8 - 10 ** -k for k in range(2, 14)):
        decimals = figure_text(x, 3, near=(0.8,)).partition(".")[2]
        assert len(decimals) <= 6
    # the report's num is the same rule
    for x in (0.7999, 0.79999999, 0.7999999999999999, 0.80000001, 0.5):
        assert num(x, 3, near=(0.8,)) == figure_text(x, 3, near=(0.8,))


def test_a_figure_that_is_the_threshold_up_to_rounding_reads_as_it_and_meets_it():
    """Lending p.17 (review10): a fold's disparate impact of exactly 4/5, computed as
    0.7999999999999999, read "< 0.8", and a gate judged on such a figure failed "≥ 0.8" by
    1e-16. Floating-point rounding of a ratio of counts never decides a gate."""
    from fairsel.policy.schema import GateSpec
    from fairsel.results import Estimate

    four_fifths = (1 / 3) / (5 / 12)  # 0.7999999999999999: exactly 4/5 in counts
    assert four_fifths != 0.8
    assert figure_text(four_fifths, 3, near=(0.8,)) == "0.800"
    assert figure_text(0.1 - 2 ** -56, 3, near=(None, 0.1)) == "0.100"
    status, gap = _check(Estimate(value=four_fifths), GateSpec(metric="disparate_impact",
                                                                min=0.8), "point")
    assert (status, gap) == ("PASS", 0.0)
    status, gap = _check(Estimate(value=0.1 + 2 ** -56), GateSpec(
        metric="equal_opportunity_difference", max=0.1), "point")
    assert (status, gap) == ("PASS", 0.0)
    # a figure truly below still fails, however close
    status, gap = _check(Estimate(value=0.79999999), GateSpec(metric="disparate_impact",
                                                              min=0.8), "point")
    assert status == "FAIL" and gap > 0


def test_the_terminals_gate_line_is_bounded_too():
    g = GateResult(gate=0, metric="disparate_impact", variant="v", min=0.8, max=None,
                   severity="error", decision="point", status="FAIL",
                   observed=0.79999999, gap=1e-8, attribute="sex", message="")
    text = gate_summary(g)
    assert text.startswith("gate 1 disparate_impact = <\u00a00.8 on sex"), text


# ---------------------------------------------------------------- item 4: relative gates

def test_a_relative_gate_is_named_by_what_it_compares():
    r = judge(2, GateSpec(metric="balanced_accuracy", min=0.95, relative_to_overall=True),
              relative_variant(), decision="point", is_fairness=False)
    assert r.relative_to_overall
    rule = gate_rule("balanced_accuracy", 0.95, None, True)
    assert rule == "balanced_accuracy ÷ overall ≥ 0.95"
    text = gate_summary(r)
    assert text.startswith("gate 3 balanced_accuracy ÷ overall = 0.8750 on race"), text
    assert text.endswith("required ≥ 0.95 (misses by 0.0750)"), text
    plain = judge(0, GateSpec(metric="balanced_accuracy", min=0.95), relative_variant(),
                  decision="point", is_fairness=False)
    assert not plain.relative_to_overall and "÷" not in gate_summary(plain)


def test_the_generic_templates_listing_and_the_gates_messages_use_the_same_rule():
    assert "balanced_accuracy ÷ overall ≥ 0.95" in TEMPLATES.summary("generic")
    assert "per group / overall" not in TEMPLATES.summary("generic")
    r = judge(0, GateSpec(metric="balanced_accuracy", min=0.95, relative_to_overall=True),
              relative_variant(), decision="ci_bound", is_fairness=False)
    assert r.status == "INSUFFICIENT" and r.message.startswith("balanced_accuracy ÷ overall: "), r


# ---------------------------------------------------------------- item 5: data_kind

def test_data_kind_is_described_for_every_template():
    text = ComplianceInfoSpec.model_fields["data_kind"].description
    for template in TEMPLATES:
        assert template in text, template
    doc = (Path(__file__).resolve().parents[2] / "docs" / "policy.md").read_text()
    assert text in doc


def test_a_gates_message_writes_its_figures_with_the_reports_four_decimals():
    """Hiring p.6 (review7): the LL144 gates table quoted the gate's message "(CI 0.4743–0.901)"
    while page 1 wrote the same interval [0.4743, 0.9010]: one number, two ways."""
    from fairsel.gates import _fmt
    from fairsel.policy.schema import GateSpec

    gate = GateSpec(metric="disparate_impact", min=0.8)
    assert _fmt(0.901, gate) == "0.9010"
    assert _fmt(0.4743, gate) == "0.4743"
    assert _fmt(0.79999, gate) == "0.79999"  # never "0.8000" against ≥ 0.8
