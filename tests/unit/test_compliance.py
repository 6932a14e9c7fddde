"""Compliance templates: default gates and metrics applied at load, explicit ones win,
refusals; and the per-group ``relative_to_overall`` gate the generic template uses."""

from __future__ import annotations

import pytest

from fairsel.audit import plan
from fairsel.errors import PolicyError
from fairsel.gates import judge
from fairsel.policy import GateSpec, parse_policy
from fairsel.policy.compliance import TEMPLATES
from fairsel.results import AttributeMetrics, Estimate, GroupRow, VariantResult

BASE = """
version: 1
name: t
data: {path: d.csv, target: y, favorable: 1}
protected: [{column: sex}, {column: race}]
candidates: [{name: m, kind: sklearn, estimator: logistic_regression}]
"""


def _load(extra: str = ""):
    return parse_policy(BASE + extra, "p.yaml")


def test_no_template_changes_nothing():
    p = _load()
    assert p.compliance is None and p.gates == []


def test_generic_sets_its_four_gates_and_metrics():
    p = _load("compliance: generic\n")
    assert [(g.metric, g.min, g.max, g.relative_to_overall) for g in p.gates] == [
        ("demographic_parity_ratio", 0.8, None, False),
        ("equal_opportunity_difference", None, 0.1, False),
        ("equalized_odds_difference", None, 0.1, False),
        ("balanced_accuracy", 0.95, None, True)]
    assert list(p.metrics.fairness) == ["demographic_parity_ratio",
                                        "equal_opportunity_difference",
                                        "equalized_odds_difference"]


def test_a_policy_gate_on_a_metric_replaces_the_templates_and_comes_first():
    p = _load("compliance: generic\ngates: [{metric: equal_opportunity_difference, max: 0.05}]\n"
              "metrics: {fairness: [disparate_impact]}\n")
    assert [(g.metric, g.max) for g in p.gates][:2] == [
        ("equal_opportunity_difference", 0.05), ("demographic_parity_ratio", None)]
    assert sum(g.metric == "equal_opportunity_difference" for g in p.gates) == 1
    assert len(p.gates) == 4
    assert list(p.metrics.fairness) == ["disparate_impact"]  # the policy's list wins


def test_lending_and_hiring_defaults():
    lending = _load("compliance: lending\n")
    assert [(g.metric, g.min, g.require_significance, g.severity) for g in lending.gates] == [
        ("disparate_impact", 0.8, True, "error")]
    hiring = _load("compliance: hiring_ll144\n")
    assert [(g.metric, g.min, g.severity) for g in hiring.gates] == [
        ("disparate_impact", 0.8, "warn")]


def test_every_template_gate_names_a_known_metric():
    from fairsel.metrics import METRICS

    for name in TEMPLATES.names():
        t = TEMPLATES.get(name)
        assert t.gates and all(g.metric in METRICS for g in t.gates)
        assert all(m in METRICS for m in t.fairness)
        assert TEMPLATES.summary(name)


@pytest.mark.parametrize("template", ["hiring_ll144", "lending"])
def test_group_deciding_mitigations_are_refused_by_plan(template):
    p = _load(f"compliance: {template}\nmitigation: [{{kind: reweighing}}, "
              "{kind: postprocessing, method: reject_option}]\n")
    with pytest.raises(PolicyError) as exc:
        plan(p, deep=False)
    msg = str(exc.value)
    assert f"mitigation[1] → kind: compliance: {template} refuses mitigation " \
           "'postprocessing'" in msg
    assert "mitigation[0]" not in msg  # reweighing decides without the attribute


def test_generic_allows_group_thresholds():
    p = _load("compliance: generic\nmitigation: [{kind: threshold}]\n")
    plan(p, deep=False)


def test_test_data_reason_needs_test_data():
    with pytest.raises(PolicyError, match=r"compliance_info → test_data_reason: "
                                          r"test_data_reason applies only with data_kind: test"):
        _load("compliance: hiring_ll144\ncompliance_info: {data_kind: historical, "
              "test_data_reason: none}\n")


# ---------------------------------------------------------------- relative_to_overall gates

def _group(name, ba, *, small=False, unknown=False):
    return GroupRow(group=name, n=100, tp=25, fp=25, tn=25, fn=25,
                    rates={"balanced_accuracy": Estimate(value=ba)},
                    small_rates=["balanced_accuracy"] if small else [],
                    flags=["unknown"] if unknown else [])


def _variant():
    attrs = [AttributeMetrics(attribute=a, columns=[a], kind="attribute", reference=None,
                              reference_rule="fairlearn_min_max", groups=g, eligible_groups=[])
             for a, g in (("sex", [_group("f", 0.78), _group("m", 0.80)]),
                          ("race", [_group("a", 0.70), _group("b", 0.82),
                                    _group("c", 0.10, small=True),
                                    _group("unknown", 0.20, unknown=True)]))]
    return VariantResult(name="m", candidate="m", kind="sklearn", status="PASS",
                         performance={"balanced_accuracy": Estimate(value=0.80)},
                         fairness={}, attributes=attrs, folds=[])


def test_relative_gate_fails_on_the_worst_eligible_group():
    gate = GateSpec(metric="balanced_accuracy", min=0.95, relative_to_overall=True)
    r = judge(0, gate, _variant(), decision="point", is_fairness=False)
    # race a: 0.70 / 0.80 = 0.875 (c is too small and unknown is not compared)
    assert r.status == "FAIL" and r.observed == pytest.approx(0.875)
    assert r.attribute == "race" and r.gap == pytest.approx(0.075)
    assert r.by_attribute == {"sex": "PASS", "race": "FAIL"}  # sex: 0.78 / 0.8 = 0.975
    assert r.message.startswith("balanced_accuracy of a (race) / overall = 0.875")


def test_relative_gate_passes_and_warns_by_severity():
    ok = judge(0, GateSpec(metric="balanced_accuracy", min=0.85, relative_to_overall=True),
               _variant(), decision="point", is_fairness=False)
    assert ok.status == "PASS" and ok.gap == 0
    warn = judge(0, GateSpec(metric="balanced_accuracy", min=0.95, severity="warn",
                             relative_to_overall=True),
                 _variant(), decision="point", is_fairness=False)
    assert warn.status == "WARN"


def test_relative_gate_under_ci_bound_is_insufficient():
    r = judge(0, GateSpec(metric="balanced_accuracy", min=0.95, relative_to_overall=True),
              _variant(), decision="ci_bound", is_fairness=False)
    assert r.status == "INSUFFICIENT" and "ci_bound" in r.message


def test_hiring_ll144_needs_the_intersection():
    with pytest.raises(PolicyError, match=r"p.yaml:\d+: intersections: compliance: hiring_ll144 "
                                          r"reports the intersection"):
        _load("compliance: hiring_ll144\nintersections: false\n")
    _load("compliance: generic\nintersections: false\n")  # other templates do not need it
