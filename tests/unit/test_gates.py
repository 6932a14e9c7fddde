"""Gates: policy thresholds judged on constructed variants (no training, no data)."""

from __future__ import annotations

import pytest

from fairsel.gates import evaluate_gates, judge, variant_status
from fairsel.policy import GateSpec, parse_policy
from fairsel.results import AttributeMetrics, Estimate, GateResult, Headline, VariantResult

# ---------------------------------------------------------------- builders (shared by unit tests)


def est(value: float | None, lo: float | None = None, hi: float | None = None) -> Estimate:
    """An estimate; with ``lo``/``hi`` it carries a confidence interval."""
    return Estimate(value=value, ci=(lo, hi) if lo is not None or hi is not None else None)


def attr(name: str, kind: str = "attribute",
         **fairness: Estimate | float | None) -> AttributeMetrics:
    """One attribute (or intersection, ``kind="intersection"``) with its fairness estimates."""
    return AttributeMetrics(
        attribute=name, columns=name.split(" × "), kind=kind,  # type: ignore[arg-type]
        reference=None,
        reference_rule="fairlearn_min_max", groups=[], eligible_groups=[],
        fairness={m: v if isinstance(v, Estimate) else est(v) for m, v in fairness.items()})


def variant(name: str = "v", *, status: str = "PASS", performance: dict | None = None,
            fairness: dict | None = None, attributes: list[AttributeMetrics] | None = None,
            uses_protected_at_decision: bool = False, candidate: str | None = None,
            mitigation: str | None = None) -> VariantResult:
    """A variant with the given figures; plain floats become estimates without intervals."""
    perf = {m: v if isinstance(v, Estimate) else est(v) for m, v in (performance or {}).items()}
    fair = {m: v if isinstance(v, Headline) else Headline(value=v)
            for m, v in (fairness or {}).items()}
    return VariantResult(name=name, candidate=candidate or name, kind="sklearn",
                         mitigation=mitigation, base=candidate if mitigation else None,
                         uses_protected_at_decision=uses_protected_at_decision,
                         status=status, performance=perf, fairness=fair,  # type: ignore[arg-type]
                         attributes=attributes or [], folds=[])


def gate_result(variant_name: str, status: str, *, severity: str = "error", gap: float | None = 0.0,
                metric: str = "disparate_impact", index: int = 0) -> GateResult:
    return GateResult(gate=index, metric=metric, variant=variant_name, min=0.8, max=None,
                      severity=severity, decision="point", status=status,  # type: ignore[arg-type]
                      observed=None, gap=gap, message="")


def policy_text(*, gates: str, decision: str = "point", extra: str = "") -> str:
    return f"""version: 1
name: unit
data: {{path: nowhere.csv, target: y, favorable: 1}}
protected: [{{column: sex}}, {{column: age}}]
candidates: [{{name: a, kind: sklearn, estimator: logistic_regression}}]
gates:
{gates}
decision: {decision}
{extra}
"""


# ---------------------------------------------------------------- performance gates

def _perf(value, gate: GateSpec, decision: str = "point", lo=None, hi=None) -> GateResult:
    v = variant(performance={gate.metric: est(value, lo, hi)})
    return judge(0, gate, v, decision=decision, is_fairness=False)


@pytest.mark.parametrize("gate, value, status, gap", [
    (GateSpec(metric="roc_auc", min=0.7), 0.75, "PASS", 0.0),
    (GateSpec(metric="roc_auc", min=0.7), 0.70, "PASS", 0.0),          # the bound itself passes
    (GateSpec(metric="roc_auc", min=0.8), 0.75, "FAIL", 0.05),
    (GateSpec(metric="roc_auc", min=0.8, severity="warn"), 0.75, "WARN", 0.05),
    (GateSpec(metric="brier_score", max=0.2), 0.25, "FAIL", 0.05),
    (GateSpec(metric="brier_score", max=0.2), 0.15, "PASS", 0.0),
    (GateSpec(metric="selection_rate", min=0.3, max=0.6), 0.2, "FAIL", 0.1),
    (GateSpec(metric="selection_rate", min=0.3, max=0.6), 0.7, "FAIL", 0.1),
    (GateSpec(metric="selection_rate", min=0.3, max=0.6), 0.45, "PASS", 0.0),
])
def test_performance_gate_status_and_gap(gate, value, status, gap):
    g = _perf(value, gate)
    assert g.status == status
    assert g.gap == pytest.approx(gap, abs=1e-12)
    assert g.observed == value
    assert g.metric == gate.metric and g.severity == gate.severity
    assert f"{gate.metric} = " in g.message and "required" in g.message


def test_missing_performance_figure_is_insufficient():
    g = _perf(None, GateSpec(metric="roc_auc", min=0.7))
    assert (g.status, g.observed, g.gap) == ("INSUFFICIENT", None, None)
    absent = judge(0, GateSpec(metric="roc_auc", min=0.7), variant(performance={}),
                   decision="point", is_fairness=False)
    assert absent.status == "INSUFFICIENT"


def test_errored_variant_gives_error_on_every_gate():
    v = variant(status="ERROR")
    for gate, fair in [(GateSpec(metric="roc_auc", min=0.7), False),
                       (GateSpec(metric="disparate_impact", min=0.8, severity="warn"), True)]:
        g = judge(3, gate, v, decision="point", is_fairness=fair)
        assert (g.status, g.gate, g.observed) == ("ERROR", 3, None)
        assert "failures" in g.message


# ---------------------------------------------------------------- decision: ci_bound

@pytest.mark.parametrize("gate, value, lo, hi, point, bound, bound_gap", [
    # min: judged on the LOWER bound
    (GateSpec(metric="roc_auc", min=0.8), 0.85, 0.75, 0.90, "PASS", "FAIL", 0.05),
    (GateSpec(metric="roc_auc", min=0.8), 0.90, 0.82, 0.99, "PASS", "PASS", 0.0),
    (GateSpec(metric="roc_auc", min=0.8), 0.70, 0.65, 0.95, "FAIL", "FAIL", 0.15),
    # max: judged on the UPPER bound
    (GateSpec(metric="brier_score", max=0.1), 0.05, 0.02, 0.12, "PASS", "FAIL", 0.02),
    (GateSpec(metric="brier_score", max=0.1), 0.05, 0.00, 0.09, "PASS", "PASS", 0.0),
    (GateSpec(metric="brier_score", max=0.1), 0.12, 0.03, 0.15, "FAIL", "FAIL", 0.05),
])
def test_ci_bound_uses_lower_bound_for_min_and_upper_for_max(gate, value, lo, hi, point, bound,
                                                             bound_gap):
    assert _perf(value, gate, "point", lo, hi).status == point
    g = _perf(value, gate, "ci_bound", lo, hi)
    assert g.status == bound
    assert g.gap == pytest.approx(bound_gap, abs=1e-12)
    assert g.observed == value and g.ci == (lo, hi) and g.decision == "ci_bound"


def test_ci_bound_without_interval_is_insufficient():
    assert _perf(0.9, GateSpec(metric="roc_auc", min=0.8), "ci_bound").status == "INSUFFICIENT"
    assert _perf(0.9, GateSpec(metric="roc_auc", min=0.8), "ci_bound", lo=None,
                 hi=0.95).status == "INSUFFICIENT"


def test_ci_bound_fairness_gate_on_every_attribute():
    v = variant(attributes=[attr("sex", disparate_impact=est(0.9, 0.85, 0.95)),
                            attr("age", disparate_impact=est(0.88, 0.78, 0.97))])
    gate = GateSpec(metric="disparate_impact", min=0.8)
    assert judge(0, gate, v, decision="point", is_fairness=True).status == "PASS"
    g = judge(0, gate, v, decision="ci_bound", is_fairness=True)
    assert g.status == "FAIL" and g.attribute == "age"
    assert g.by_attribute == {"sex": "PASS", "age": "FAIL"}
    assert g.gap == pytest.approx(0.02)


# ---------------------------------------------------------------- fairness gates, attributes

def test_fairness_gate_reports_worst_attribute_and_gap():
    v = variant(attributes=[attr("sex", disparate_impact=0.9), attr("age", disparate_impact=0.7),
                            attr("sex × age", "intersection", disparate_impact=0.6)])
    g = judge(0, GateSpec(metric="disparate_impact", min=0.8), v, decision="point",
              is_fairness=True)
    assert g.status == "FAIL"
    assert g.by_attribute == {"sex": "PASS", "age": "FAIL", "sex × age": "FAIL"}
    assert (g.attribute, g.observed) == ("sex × age", 0.6)
    assert g.gap == pytest.approx(0.2)
    assert "fails on age, sex × age" in g.message


def test_difference_gate_gap_is_excess_over_max():
    v = variant(attributes=[attr("sex", equal_opportunity_difference=0.13),
                            attr("age", equal_opportunity_difference=0.04)])
    g = judge(1, GateSpec(metric="equal_opportunity_difference", max=0.1), v, decision="point",
              is_fairness=True)
    assert (g.status, g.attribute, g.gate) == ("FAIL", "sex", 1)
    assert g.gap == pytest.approx(0.03)


def test_passing_gate_shows_the_attribute_closest_to_its_threshold():
    v = variant(attributes=[attr("sex", disparate_impact=0.95), attr("age", disparate_impact=0.82),
                            attr("sex × age", "intersection", disparate_impact=0.9)])
    g = judge(0, GateSpec(metric="disparate_impact", min=0.8), v, decision="point",
              is_fairness=True)
    assert (g.status, g.attribute, g.observed, g.gap) == ("PASS", "age", 0.82, 0.0)
    v = variant(attributes=[attr("sex", demographic_parity_difference=0.02),
                            attr("age", demographic_parity_difference=0.07)])
    g = judge(0, GateSpec(metric="demographic_parity_difference", max=0.1), v, decision="point",
              is_fairness=True)
    assert (g.status, g.attribute, g.observed) == ("PASS", "age", 0.07)


def test_warn_severity_fairness_gate_warns():
    v = variant(attributes=[attr("sex", disparate_impact=0.7), attr("age", disparate_impact=0.9)])
    g = judge(0, GateSpec(metric="disparate_impact", min=0.8, severity="warn"), v,
              decision="point", is_fairness=True)
    assert g.status == "WARN"
    assert g.by_attribute == {"sex": "WARN", "age": "PASS"}
    assert g.gap == pytest.approx(0.1)


def test_undecidable_attribute_makes_the_gate_insufficient():
    v = variant(attributes=[attr("sex", disparate_impact=None), attr("age", disparate_impact=0.9),
                            attr("sex × age", "intersection", disparate_impact=0.85)])
    g = judge(0, GateSpec(metric="disparate_impact", min=0.8), v, decision="point",
              is_fairness=True)
    assert g.status == "INSUFFICIENT"
    assert g.by_attribute == {"sex": "INSUFFICIENT", "age": "PASS", "sex × age": "PASS"}
    assert "undecided" in g.message and "sex" in g.message


def test_undecidable_intersection_alone_does_not():
    v = variant(attributes=[attr("sex", disparate_impact=0.9), attr("age", disparate_impact=0.85),
                            attr("sex × age", "intersection", disparate_impact=None)])
    g = judge(0, GateSpec(metric="disparate_impact", min=0.8), v, decision="point",
              is_fairness=True)
    assert g.status == "PASS"
    assert g.by_attribute["sex × age"] == "INSUFFICIENT"
    assert "undecided (groups too small) on sex × age" in g.message
    # ... and it does not hide a failure elsewhere
    v = variant(attributes=[attr("sex", disparate_impact=0.7),
                            attr("sex × age", "intersection", disparate_impact=None)])
    assert judge(0, GateSpec(metric="disparate_impact", min=0.8), v, decision="point",
                 is_fairness=True).status == "FAIL"


def test_failure_on_one_attribute_outweighs_an_undecidable_one():
    v = variant(attributes=[attr("sex", disparate_impact=None), attr("age", disparate_impact=0.6)])
    g = judge(0, GateSpec(metric="disparate_impact", min=0.8), v, decision="point",
              is_fairness=True)
    assert g.status == "FAIL" and g.by_attribute == {"sex": "INSUFFICIENT", "age": "FAIL"}


def test_no_decidable_attribute_is_insufficient_with_a_reason():
    v = variant(attributes=[attr("sex", disparate_impact=None),
                            attr("sex × age", "intersection", disparate_impact=None)])
    g = judge(0, GateSpec(metric="disparate_impact", min=0.8), v, decision="point",
              is_fairness=True)
    assert (g.status, g.observed, g.attribute) == ("INSUFFICIENT", None, None)
    assert "min_group_size" in g.message


def test_gate_attributes_restrict_what_is_judged():
    v = variant(attributes=[attr("sex", disparate_impact=0.9), attr("age", disparate_impact=0.5),
                            attr("sex × age", "intersection", disparate_impact=None)])
    only_sex = GateSpec(metric="disparate_impact", min=0.8, attributes=["sex"])
    g = judge(0, only_sex, v, decision="point", is_fairness=True)
    assert g.status == "PASS" and g.by_attribute == {"sex": "PASS"} and g.attribute == "sex"
    only_age = GateSpec(metric="disparate_impact", min=0.8, attributes=["age"])
    assert judge(0, only_age, v, decision="point", is_fairness=True).status == "FAIL"
    # an attribute that cannot be decided, named explicitly
    only_sex_age = GateSpec(metric="disparate_impact", min=0.8, attributes=["sex × age"])
    g = judge(0, only_sex_age, v, decision="point", is_fairness=True)
    assert g.status == "INSUFFICIENT" and g.by_attribute == {"sex × age": "INSUFFICIENT"}


def test_metric_missing_from_an_attribute_is_undecided():
    v = variant(attributes=[attr("sex", disparate_impact=0.9), attr("age")])
    g = judge(0, GateSpec(metric="disparate_impact", min=0.8), v, decision="point",
              is_fairness=True)
    assert g.status == "INSUFFICIENT" and g.by_attribute["age"] == "INSUFFICIENT"


# ---------------------------------------------------------------- evaluate_gates + variant_status

def test_evaluate_gates_judges_every_gate_on_every_variant_in_policy_order():
    policy = parse_policy(policy_text(gates="  - {metric: disparate_impact, min: 0.8}\n"
                                            "  - {metric: roc_auc, min: 0.7, severity: warn}",
                                      decision="ci_bound"))
    good = variant("good", performance={"roc_auc": est(0.8, 0.75, 0.85)},
                   attributes=[attr("sex", disparate_impact=est(0.9, 0.85, 0.95))])
    weak = variant("weak", performance={"roc_auc": est(0.72, 0.65, 0.79)},
                   attributes=[attr("sex", disparate_impact=est(0.9, 0.79, 0.95))])
    gates = evaluate_gates([good, weak], policy, {"disparate_impact"})
    assert [(g.variant, g.gate, g.metric) for g in gates] == [
        ("good", 0, "disparate_impact"), ("good", 1, "roc_auc"),
        ("weak", 0, "disparate_impact"), ("weak", 1, "roc_auc")]
    assert all(g.decision == "ci_bound" for g in gates)
    assert [g.status for g in gates] == ["PASS", "PASS", "FAIL", "WARN"]
    assert variant_status(gates[:2]) == "PASS" and variant_status(gates[2:]) == "FAIL"


@pytest.mark.parametrize("statuses, expected", [
    ([("PASS", "error"), ("PASS", "warn")], "PASS"),
    ([], "PASS"),
    ([("PASS", "error"), ("WARN", "warn")], "WARN"),
    ([("PASS", "error"), ("INSUFFICIENT", "warn")], "WARN"),
    ([("FAIL", "error"), ("PASS", "warn")], "FAIL"),
    ([("INSUFFICIENT", "error"), ("PASS", "error")], "INSUFFICIENT"),
    ([("ERROR", "error")], "INSUFFICIENT"),
    ([("INSUFFICIENT", "error"), ("FAIL", "error")], "FAIL"),  # evidence of failure wins
    ([("FAIL", "error"), ("WARN", "warn")], "FAIL"),
    ([("INSUFFICIENT", "error"), ("WARN", "warn")], "INSUFFICIENT"),
])
def test_variant_status(statuses, expected):
    gates = [gate_result("v", s, severity=sev, index=i) for i, (s, sev) in enumerate(statuses)]
    assert variant_status(gates) == expected


def test_summary_says_not_significant_only_where_that_is_why_the_gate_warns():
    from fairsel.gates import gate_summary

    common = dict(gate=0, metric="disparate_impact", variant="v", min=0.8, max=None,
                  decision="point", observed=0.7, gap=0.1, p_adjusted=0.4, significant=False,
                  attribute="sex", message="")
    # require_significance on an error gate: the miss is not significant, so it only warns
    required = GateResult(**common, severity="error", status="WARN")
    assert "not significant" in gate_summary(required)
    # a warn-severity gate warns because of its severity: p plays no part in its status
    warn_gate = GateResult(**common, severity="warn", status="WARN")
    assert "not significant" not in gate_summary(warn_gate)
    assert "misses by 0.1000" in gate_summary(warn_gate)
