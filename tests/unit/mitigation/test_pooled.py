"""Mitigated variants through the whole audit, judged on pooled out-of-fold predictions."""

from __future__ import annotations

import pytest

from fairsel.audit import run_audit
from fairsel.policy import parse_policy
from tests.conftest import SAMPLES

# the synthetic lending sample has a built-in disparity against women (−0.9 approval log-odds)
POLICY = f"""
version: 1
name: pooled
seed: 5
data:
  path: {SAMPLES / 'lending_branches.csv'}
  target: approved
  favorable: "yes"
  id: application_id
protected:
  - {{column: sex, reference: male}}
validation: {{scheme: stratified_group_kfold, folds: 5, groups: branch}}
candidates:
  - {{name: logreg, kind: sklearn, estimator: logistic_regression}}
mitigation:
  - {{kind: reweighing}}
  - {{kind: threshold, constraint: demographic_parity, tolerance: 0.05}}
mitigation_policy: {{allow_group_specific_decisions: false}}
metrics:
  performance: [roc_auc, accuracy]
  fairness: [demographic_parity_difference, disparate_impact]
  confidence: {{resamples: 20}}
gates:
  - {{metric: disparate_impact, min: 0.8}}
"""


@pytest.fixture(scope="module")
def result():
    return run_audit(parse_policy(POLICY, SAMPLES / "pooled.yaml")).result


def _dpd(result, name):
    v = next(v for v in result.variants if v.name == name)
    return v.fairness["demographic_parity_difference"].value


def test_threshold_brings_the_pooled_disparity_within_its_tolerance(result):
    base = _dpd(result, "logreg")
    assert base > 0.1  # the built-in disparity shows
    assert _dpd(result, "logreg+threshold[demographic_parity]") <= 0.05


def test_reweighing_reduces_the_pooled_disparity(result):
    assert _dpd(result, "logreg+reweighing") < _dpd(result, "logreg") - 0.02


def test_variants_are_ranked_and_marked(result):
    by = {v.name: v for v in result.variants}
    assert set(by) == {"logreg", "logreg+reweighing", "logreg+threshold[demographic_parity]"}
    t = by["logreg+threshold[demographic_parity]"]
    assert (t.base, t.mitigation, t.uses_protected_at_decision) == (
        "logreg", "threshold[demographic_parity]", True)
    assert set(t.details["thresholds"]) == {"0", "1", "2", "3", "4"}  # per fold
    assert set(t.details["thresholds"]["0"]) == {"female", "male"}  # per group
    r = by["logreg+reweighing"]
    assert (r.base, r.uses_protected_at_decision) == ("logreg", False)
    assert set(r.details["weights"]["0"]) == {"female", "male"}
    assert all(v.rank is not None for v in result.variants)
    # group-specific decisions are never selected when the policy forbids them
    assert result.ranking.selected != t.name
    if t.status in ("PASS", "WARN"):
        assert any("allow_group_specific_decisions: false" in r for r in result.ranking.reasons)
