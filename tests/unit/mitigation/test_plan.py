"""Mitigation entries are checked when the policy is planned: each mistake named by key path."""

from __future__ import annotations

import pytest

from fairsel.audit import plan
from fairsel.errors import PolicyError
from fairsel.mitigation import MITIGATIONS, check_spec, settings, variant_name
from fairsel.policy import parse_policy

HEAD = """version: 1
name: checks
data: {path: data.csv, target: y, favorable: 1, id: id}
protected:
  - {column: sex, reference: male}
  - {column: race}
candidates:
  - {name: logreg, kind: sklearn, estimator: logistic_regression}
  - {name: gbm, kind: lightgbm}
  - {name: vendor, kind: predictions, path: scores.csv, score_column: score}
mitigation:
"""


def _problems(entries: str) -> str:
    policy = parse_policy(HEAD + entries, "policies/checks.yaml")
    with pytest.raises(PolicyError) as err:
        plan(policy)
    return str(err.value)


def _ok(entries: str):
    return plan(parse_policy(HEAD + entries, "policies/checks.yaml"))


def test_valid_entries_plan():
    _ok("""  - {kind: reweighing}
  - {kind: threshold, constraint: equalized_odds, tolerance: 0.1, attributes: [sex]}
  - {kind: reductions, constraint: equal_opportunity, epsilon: 0.02, candidates: [logreg]}
  - {kind: postprocessing, method: calibrated_equalized_odds, constraint: equal_opportunity}
  - {kind: postprocessing, method: reject_option, tolerance: 0.02, grid_size: 30}
""")


@pytest.mark.parametrize("entry,message", [
    ("  - {kind: reweighting}",
     "policies/checks.yaml:12: mitigation[0] → kind: unknown mitigation 'reweighting'; "
     "did you mean 'reweighing'? (fairsel list mitigations)"),
    ("  - {kind: reweighing, tolerance: 0.1}",
     "policies/checks.yaml:12: mitigation[0] → tolerance: 'tolerance' does not apply to "
     "mitigation reweighing; the keys it reads: none (and candidates, attributes)"),
    ("  - {kind: threshold, epsilon: 0.1}",
     "policies/checks.yaml:12: mitigation[0] → epsilon: 'epsilon' does not apply to mitigation "
     "threshold; the keys it reads: constraint, tolerance (and candidates, attributes)"),
    ("  - {kind: postprocessing}",
     "policies/checks.yaml:12: mitigation[0] → kind: postprocessing needs a method: "
     "calibrated_equalized_odds | reject_option"),
    ("  - {kind: postprocessing, method: reject_options}",
     "policies/checks.yaml:12: mitigation[0] → method: unknown post-processing method "
     "'reject_options'; did you mean 'reject_option'?; expected one of: "
     "calibrated_equalized_odds, reject_option"),
    ("  - {kind: postprocessing, method: calibrated_equalized_odds, constraint: demographic_parity}",
     "policies/checks.yaml:12: mitigation[0] → constraint: calibrated_equalized_odds does not "
     "support constraint 'demographic_parity'; it supports: equalized_odds, equal_opportunity"),
    ("  - {kind: postprocessing, method: calibrated_equalized_odds, tolerance: 0.1}",
     "policies/checks.yaml:12: mitigation[0] → tolerance: 'tolerance' does not apply to "
     "mitigation postprocessing (calibrated_equalized_odds); the keys it reads: constraint, "
     "method (and candidates, attributes)"),
    ("  - {kind: threshold, attributes: [gender]}",
     "policies/checks.yaml:12: mitigation[0] → attributes[0]: unknown protected attribute "
     "'gender'; the attributes are: sex, race"),
    ("  - {kind: threshold, attributes: []}",
     "policies/checks.yaml:12: mitigation[0] → attributes: name at least one protected "
     "attribute (or leave attributes out for the default groups)"),
    ("  - {kind: threshold, candidates: [logreg, gmb]}",
     "policies/checks.yaml:12: mitigation[0] → candidates[1]: unknown candidate 'gmb'; did "
     "you mean 'gbm'?; the candidates are: logreg, gbm, vendor"),
    ("  - {kind: reweighing, candidates: [vendor]}",
     "policies/checks.yaml:12: mitigation[0] → candidates[0]: reweighing refits the estimator "
     "with sample_weight, so it applies only to candidates fairsel trains (sklearn, lightgbm); "
     "candidate 'vendor' is kind predictions"),
    ("  - {kind: threshold}\n  - {kind: threshold, tolerance: 0.1}",
     "policies/checks.yaml:13: mitigation[1]: adds the variant "
     "'logreg+threshold[demographic_parity]', which mitigation[0] adds already; keep one of "
     "the two entries"),
])
def test_each_mistake_is_named(entry, message):
    got = _problems(entry + "\n")
    assert message in got.splitlines(), got


def test_estimator_without_weights_is_named(monkeypatch):
    from fairsel.candidates.estimators import ESTIMATORS, EstimatorEntry

    class NoWeights(EstimatorEntry):
        @property
        def accepts_weights(self) -> bool:
            return False

    entry = ESTIMATORS.get("logistic_regression")
    monkeypatch.setitem(ESTIMATORS._cache, "logistic_regression",
                        NoWeights(**{f: getattr(entry, f) for f in entry.__dataclass_fields__}))
    got = _problems("  - {kind: reductions}\n")
    assert ("policies/checks.yaml:12: mitigation[0] → kind: reductions needs an estimator that "
            "accepts sample_weight; candidate 'logreg' uses logistic_regression, which does not "
            "(list the candidates it applies to under candidates:)") in got.splitlines(), got


def test_registry_entries_are_documented():
    import importlib

    assert MITIGATIONS.names() == ["reweighing", "threshold", "reductions", "postprocessing"]
    for name in MITIGATIONS.names():
        info = MITIGATIONS.get(name)
        assert info.stage in ("pre", "in", "post") and info.formula and info.summary
        module, attr = info.function.split(":")
        fn = getattr(importlib.import_module(module), attr)
        doc = fn.__doc__ or ""
        assert "Parameters" in doc and "Returns" in doc, name  # numpydoc
    # disparate treatment: only the post-processing kinds decide with the attribute
    assert {n: MITIGATIONS.get(n).uses_protected_at_decision for n in MITIGATIONS.names()} == {
        "reweighing": False, "threshold": True, "reductions": False, "postprocessing": True}


def test_names_and_defaults():
    from fairsel.policy.schema import MitigationSpec as M

    assert variant_name("gbm", M(kind="reweighing")) == "gbm+reweighing"
    assert variant_name("gbm", M(kind="threshold")) == "gbm+threshold[demographic_parity]"
    assert variant_name("gbm", M(kind="threshold", constraint="equalized_odds")) == \
        "gbm+threshold[equalized_odds]"
    assert variant_name("gbm", M(kind="reductions", constraint="equal_opportunity")) == \
        "gbm+reductions[equal_opportunity]"
    assert variant_name("gbm", M(kind="postprocessing", method="reject_option")) == \
        "gbm+postprocessing[reject_option]"
    assert settings(M(kind="threshold")) == {"constraint": "demographic_parity",
                                             "tolerance": 0.05}
    assert settings(M(kind="reductions", epsilon=0.1)) == {"constraint": "demographic_parity",
                                                          "epsilon": 0.1}
    assert settings(M(kind="postprocessing", method="reject_option")) == {
        "constraint": "demographic_parity", "tolerance": 0.05, "grid_size": 20,
        "method": "reject_option"}
    assert check_spec(M(kind="threshold", constraint="equal_opportunity", tolerance=0.0)) == []
