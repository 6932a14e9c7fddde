"""Mitigated variants inside one fold: nothing fitted sees the test rows' labels, variants are
deterministic under the seed, fixed candidates work, and a failing mitigation stays local."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from fairsel.audit import _inner_oof_scores, fold_variants
from fairsel.candidates import CandidateContext, make_candidate, prepare_frame
from fairsel.data import load_data
from fairsel.mitigation.groups import mitigation_groups
from fairsel.mitigation.thresholds import fit_group_thresholds
from fairsel.policy import parse_policy
from fairsel.splits import make_folds
from tests.conftest import SAMPLES

POLICY = f"""
version: 1
name: mitigation-unit
seed: 3
data:
  path: {SAMPLES / 'lending_branches.csv'}
  target: approved
  favorable: "yes"
  id: application_id
  exclude_rows: [{{reason: a small sample for speed, column: application_id, above: 1499}}]
protected:
  - {{column: sex, reference: male}}
  - {{column: race}}
validation: {{scheme: stratified_group_kfold, folds: 3, groups: branch}}
candidates:
  - {{name: tree, kind: sklearn, estimator: decision_tree, params: {{max_depth: 4}}}}
mitigation:
  - {{kind: reweighing}}
  - {{kind: threshold, constraint: demographic_parity, tolerance: 0.05}}
  - {{kind: threshold, constraint: equalized_odds, tolerance: 0.1}}
  - {{kind: reductions, constraint: demographic_parity, epsilon: 0.05, attributes: [sex]}}
  - {{kind: postprocessing, method: calibrated_equalized_odds}}
  - {{kind: postprocessing, method: reject_option, grid_size: 10}}
"""


@dataclass
class Setup:
    policy: object
    data: object
    X: object
    cand: object
    folds: np.ndarray


@pytest.fixture(scope="module")
def setup() -> Setup:
    policy = parse_policy(POLICY, SAMPLES / "mitigation-unit.yaml")
    data = load_data(policy)
    X = prepare_frame(data.X, data.categorical_features)
    ctx = CandidateContext(seed=policy.seed, features=data.features,
                           numeric=data.numeric_features, categorical=data.categorical_features,
                           resolve=policy.resolve, row_ids=data.row_ids, id_column="application_id",
                           policy_path=policy.path)
    cand = make_candidate(policy.candidates[0], ctx)
    folds = make_folds(data.y, scheme="stratified_group_kfold", n_folds=3,
                       clusters=data.clusters, seed=policy.seed)
    return Setup(policy, data, X, cand, folds)


@dataclass
class Fixed:
    """A fixed candidate (as saved_model / predictions are): scores for every row, no fit."""

    name: str = "vendor"
    kind: str = "predictions"
    threshold: float = 0.5
    trainable = False


def _vendor_scores(setup: Setup) -> np.ndarray:
    income = np.nan_to_num(setup.X["income"].to_numpy(dtype=float), nan=40000.0)
    dti = setup.X["debt_to_income"].to_numpy(dtype=float)
    return 1.0 / (1.0 + np.exp(-((income - 45000.0) / 20000.0 - 2.0 * (dti - 0.35))))


def _run(setup: Setup, cand, *, y=None, fold=0, scores=None, seed=None, mitigations=None):
    train = np.flatnonzero(setup.folds != fold)
    test = np.flatnonzero(setup.folds == fold)
    return fold_variants(cand, setup.policy.mitigation if mitigations is None else mitigations,
                         X=setup.X, y=setup.data.y if y is None else y, train=train, test=test,
                         data=setup.data, scores=scores,
                         seed=setup.policy.seed if seed is None else seed, fold=fold,
                         min_group_size=setup.policy.min_group_size)


def _same(a, b) -> None:
    assert [o.name for o in a] == [o.name for o in b]
    for x, z in zip(a, b):
        assert x.error is None and z.error is None, (x.name, x.error, z.error)
        np.testing.assert_array_equal(x.y_score, z.y_score, err_msg=x.name)
        np.testing.assert_array_equal(x.y_pred, z.y_pred, err_msg=x.name)
        assert x.details == z.details, x.name


def _flip_test_labels(setup: Setup, fold: int) -> np.ndarray:
    y = setup.data.y.copy()
    test = setup.folds == fold
    y[test] = 1 - y[test]
    return y


@pytest.fixture(scope="module")
def trainable_fold0(setup):
    return _run(setup, setup.cand)


def test_every_kind_adds_a_named_variant(trainable_fold0):
    names = [o.name for o in trainable_fold0]
    assert names == ["tree", "tree+reweighing", "tree+threshold[demographic_parity]",
                     "tree+threshold[equalized_odds]", "tree+reductions[demographic_parity]",
                     "tree+postprocessing[calibrated_equalized_odds]",
                     "tree+postprocessing[reject_option]"]
    flags = {o.name: o.uses_protected_at_decision for o in trainable_fold0}
    assert flags == {"tree": False, "tree+reweighing": False,
                     "tree+threshold[demographic_parity]": True,
                     "tree+threshold[equalized_odds]": True,
                     "tree+reductions[demographic_parity]": False,
                     "tree+postprocessing[calibrated_equalized_odds]": True,
                     "tree+postprocessing[reject_option]": True}
    for o in trainable_fold0:
        assert o.error is None, (o.name, o.error)
        assert o.y_pred.dtype == np.int8 and set(np.unique(o.y_pred)) <= {0, 1}
    by = {o.name: o for o in trainable_fold0}
    assert by["tree+threshold[demographic_parity]"].mitigation == "threshold[demographic_parity]"
    assert by["tree+reweighing"].details["groups"] == "sex × race"
    assert by["tree+reductions[demographic_parity]"].details["groups"] == "sex"
    assert by["tree+postprocessing[reject_option]"].details["groups"] == "sex"
    assert by["tree+postprocessing[reject_option]"].details["privileged"] == "male"
    thresholds = by["tree+threshold[demographic_parity]"].details["thresholds"]
    assert "female × black" in thresholds and "male × unknown" in thresholds


def test_test_labels_change_neither_weights_nor_thresholds_nor_decisions(setup, trainable_fold0):
    flipped = _run(setup, setup.cand, y=_flip_test_labels(setup, 0))
    _same(trainable_fold0, flipped)  # weights and thresholds are in details


def test_fixed_candidate_test_labels_do_not_leak(setup):
    scores = _vendor_scores(setup)
    a = _run(setup, Fixed(), scores=scores, fold=1)
    b = _run(setup, Fixed(), scores=scores, fold=1, y=_flip_test_labels(setup, 1))
    _same(a, b)


def test_variants_are_deterministic_under_the_seed(setup, trainable_fold0):
    _same(trainable_fold0, _run(setup, setup.cand))
    # calibrated equalized odds draws rows at random: the seed decides which
    ceo = "tree+postprocessing[calibrated_equalized_odds]"
    spec = [m for m in setup.policy.mitigation if m.method == "calibrated_equalized_odds"]
    other = _run(setup, setup.cand, seed=setup.policy.seed + 1, mitigations=spec)
    assert not np.array_equal(other[1].y_pred,
                              next(o for o in trainable_fold0 if o.name == ceo).y_pred)


def test_fixed_candidate_thresholds_use_its_training_scores(setup):
    scores = _vendor_scores(setup)
    out = {o.name: o for o in _run(setup, Fixed(), scores=scores, fold=2)}
    # weights and reductions need a model fairsel trains: no variant for a fixed candidate
    assert list(out) == ["vendor", "vendor+threshold[demographic_parity]",
                         "vendor+threshold[equalized_odds]",
                         "vendor+postprocessing[calibrated_equalized_odds]",
                         "vendor+postprocessing[reject_option]"]
    train, test = np.flatnonzero(setup.folds != 2), np.flatnonzero(setup.folds == 2)
    groups = mitigation_groups(setup.data.atoms, setup.data.attributes)
    direct = fit_group_thresholds(setup.data.y[train], scores[train], groups.codes[train],
                                  constraint="demographic_parity", tolerance=0.05,
                                  n_groups=groups.n_groups, min_group_size=30)
    v = out["vendor+threshold[demographic_parity]"]
    assert v.details["fit"]["scores"] == "the fixed candidate's scores of the training rows"
    np.testing.assert_array_equal(v.y_pred, direct.predict(scores[test], groups.codes[test]))
    np.testing.assert_array_equal(v.y_score, scores[test])


def test_trainable_thresholds_are_fitted_on_inner_out_of_fold_scores(setup, trainable_fold0):
    train = np.flatnonzero(setup.folds != 0)
    inner = _inner_oof_scores(setup.cand, setup.X, setup.data.y, train, setup.data.clusters,
                              seed=setup.policy.seed + 7919)
    groups = mitigation_groups(setup.data.atoms, setup.data.attributes)
    direct = fit_group_thresholds(setup.data.y[train], inner, groups.codes[train],
                                  constraint="demographic_parity", tolerance=0.05,
                                  n_groups=groups.n_groups, min_group_size=30)
    v = next(o for o in trainable_fold0 if o.name == "tree+threshold[demographic_parity]")
    got = [np.inf if t is None else t for t in v.details["thresholds"].values()]
    np.testing.assert_array_equal(got, direct.thresholds)
    assert v.details["fit"]["scores"].startswith("inner 3-fold out-of-fold scores")


def test_a_failing_mitigation_is_that_variant_s_error_only(setup):
    scores = _vendor_scores(setup) * 10 - 5  # not probabilities: aif360's methods refuse them
    out = {o.name: o for o in _run(setup, Fixed(threshold=0.0), scores=scores, fold=0)}
    assert out["vendor"].error is None
    assert out["vendor+threshold[demographic_parity]"].error is None
    for method in ("calibrated_equalized_odds", "reject_option"):
        v = out[f"vendor+postprocessing[{method}]"]
        assert v.stage == "mitigation" and v.y_pred is None
        assert v.error.startswith(f"ValueError: {method} needs scores that are probabilities")
