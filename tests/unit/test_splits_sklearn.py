"""fairsel's numpy fold assignment equals scikit-learn's splitters for the same seed."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold, StratifiedKFold

from fairsel.splits import group_folds, make_folds, stratified_folds, stratified_group_folds


def _sk(splitter, y, groups=None) -> np.ndarray:
    folds = np.full(len(y), -1)
    for k, (_, test) in enumerate(splitter.split(np.zeros((len(y), 1)), y, groups)):
        folds[test] = k
    return folds


@pytest.fixture(params=[0, 7, 42])
def data(request):
    rng = np.random.default_rng(request.param)
    n = 3000
    groups = rng.integers(0, 120, n)
    y = (rng.random(n) < 0.3 + 0.4 * (groups % 3 == 0)).astype(int)
    return request.param, y, groups


def test_stratified_kfold_equals_sklearn(data):
    seed, y, _ = data
    for k in (2, 5, 10):
        assert np.array_equal(stratified_folds(y, k, seed),
                              _sk(StratifiedKFold(k, shuffle=True, random_state=seed), y))


def test_stratified_group_kfold_equals_sklearn(data):
    seed, y, groups = data
    for k in (2, 5):
        assert np.array_equal(
            stratified_group_folds(y, groups, k, seed),
            _sk(StratifiedGroupKFold(k, shuffle=True, random_state=seed), y, groups))


def test_group_kfold_equals_sklearn(data):
    _, y, groups = data
    assert np.array_equal(group_folds(groups, 5), _sk(GroupKFold(5), y, groups))


def test_make_folds_does_not_import_sklearn():
    import subprocess
    import sys

    code = ("import sys, numpy as np; from fairsel.splits import make_folds; "
            "y=np.arange(100)%2; g=np.arange(100)//10; "
            "[make_folds(y, scheme=s, n_folds=5, clusters=g, seed=1) for s in "
            "('stratified_group_kfold','group_kfold','leave_one_group_out')]; "
            "make_folds(y, scheme='stratified_kfold', n_folds=5, seed=1); "
            "print('sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_leave_one_group_out_is_one_fold_per_cluster():
    y = np.array([0, 1] * 15)
    g = np.repeat(["c", "a", "b"], 10)
    folds = make_folds(y, scheme="leave_one_group_out", n_folds=5, clusters=g)
    assert sorted(set(folds.tolist())) == [0, 1, 2]
    for c in "abc":
        assert len(set(folds[g == c].tolist())) == 1
