"""fairsel's numpy fold assignment equals scikit-learn's splitters for the same seed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
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


# ------------------------------------------------- label types and edge cases scikit-learn accepts

def _sk_stratified(y, k, seed) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():  # a class smaller than k: scikit-learn warns, still splits
        warnings.simplefilter("ignore", UserWarning)
        return _sk(StratifiedKFold(k, shuffle=True, random_state=seed), y)


def _labels(n: int, rng: np.random.Generator, p: float = 0.4) -> np.ndarray:
    return (rng.random(n) < p).astype(np.int64)


@pytest.mark.parametrize("convert", [
    lambda b: b.astype(np.int8), lambda b: b.astype(np.uint8), lambda b: b.astype(bool),
    lambda b: b.astype(np.int64), lambda b: b.astype(np.int32), lambda b: b.astype(np.float64),
    lambda b: b.astype(np.float32), lambda b: np.where(b == 1, 5, -3),  # two values, not 0/1
    lambda b: np.where(b == 1, 2.0, 7.0), lambda b: np.where(b == 1, "good", "bad"),
    lambda b: np.where(b == 1, 1, 3).astype(np.uint64),
], ids=["int8", "uint8", "bool", "int64", "int32", "float64", "float32", "-3/5", "7.0/2.0", "str",
        "uint64"])
@pytest.mark.parametrize("first", [0, 1])
def test_stratified_kfold_equals_sklearn_for_every_label_type(convert, first):
    rng = np.random.default_rng(3 + first)
    b = _labels(997, rng)
    b[0] = first  # which class appears first decides the order the stream is spent in
    y = convert(b)
    for k, seed in ((2, 0), (5, 1), (7, 12345)):
        assert np.array_equal(stratified_folds(y, k, seed), _sk_stratified(y, k, seed))


@pytest.mark.parametrize("y", [
    np.r_[np.zeros(40, np.int8), np.ones(6, np.int8)],  # the second class first appears late
    np.r_[np.ones(40, np.int8), np.zeros(6, np.int8), np.ones(3, np.int8)],
    np.r_[np.zeros(44, np.int8), 1],  # the last row is the only one of its class
    np.r_[np.zeros(20, np.int8), np.ones(3, np.int8)],  # a class smaller than the folds
    np.ones(23, np.int8), np.zeros(23, bool), np.full(23, 7.0),  # a single class
    np.zeros(5, np.int8),  # exactly one row per fold
    np.array([0, 1] * 30, dtype=np.int8),  # rows alternate
    np.array(list("abcabcaaabcc") * 5),  # three classes: the general path
    np.array([2, 0, 1, 1, 0, 2, 3, 3, 3, 0] * 6),
    np.array([1.0, np.nan, 0.0] * 10),  # NaN is its own class for np.unique: the general path
], ids=["late", "late-then-back", "last-row", "small-class", "one-class-int8", "one-class-bool",
        "one-class-float", "one-per-fold", "alternating", "three-str", "four-int", "nan"])
def test_stratified_kfold_edge_cases_equal_sklearn(y):
    for k in (2, 5):
        if y.dtype.kind == "f" and np.isnan(y).any():
            continue  # scikit-learn refuses NaN labels; checked below against its algorithm
        assert np.array_equal(stratified_folds(y, k, 9), _sk_stratified(y, k, 9)), k


def test_nan_labels_follow_sklearns_algorithm():
    # scikit-learn rejects NaN; the general path still deals folds its way: np.unique classes
    # (NaN one class), encoded by first appearance, each shuffled in that order
    y = np.array([1.0, np.nan, 0.0] * 10)
    enc = np.where(y == 1, 0, np.where(np.isnan(y), 1, 2))
    assert np.array_equal(stratified_folds(y, 5, 4), stratified_folds(enc, 5, 4))


def _assume_sklearn_splits(y: np.ndarray, k: int) -> None:
    """Only inputs scikit-learn splits: k <= rows, and some class with at least k rows."""
    assume(len(y) >= k and np.unique(y, return_counts=True)[1].max() >= k)


@settings(max_examples=60, deadline=None)
@given(bits=st.lists(st.integers(0, 1), min_size=2, max_size=300), k=st.integers(2, 12),
       seed=st.integers(0, 2**32 - 1))
def test_stratified_kfold_two_classes_property(bits, k, seed):
    y = np.asarray(bits, dtype=np.int8)
    _assume_sklearn_splits(y, k)
    assert np.array_equal(stratified_folds(y, k, seed), _sk_stratified(y, k, seed))


@settings(max_examples=30, deadline=None)
@given(labels=st.lists(st.integers(-2, 3), min_size=50, max_size=200), k=st.integers(2, 8),
       seed=st.integers(0, 10_000))
def test_stratified_kfold_many_classes_property(labels, k, seed):
    y = np.asarray(labels)
    _assume_sklearn_splits(y, k)
    assert np.array_equal(stratified_folds(y, k, seed), _sk_stratified(y, k, seed))


def test_make_folds_stratified_kfold_equals_sklearn_at_100k_rows():
    rng = np.random.default_rng(11)
    y = (rng.random(100_000) < 0.62).astype(np.int8)
    assert np.array_equal(make_folds(y, scheme="stratified_kfold", n_folds=5, seed=1),
                          _sk_stratified(y, 5, 1))


@pytest.mark.slow
def test_make_folds_stratified_kfold_equals_sklearn_at_10m_rows():
    y = (np.random.default_rng(0).random(10_000_000) < 0.6).astype(np.int8)
    assert np.array_equal(make_folds(y, scheme="stratified_kfold", n_folds=5, seed=1),
                          _sk_stratified(y, 5, 1))


# ------------------------------------------------------------ the group schemes through make_folds

def _cluster_ids(rng: np.random.Generator, n: int, kind: str) -> np.ndarray:
    ids = rng.choice(np.arange(-40, 400), 60, replace=False)
    pick = rng.integers(0, 60, n)
    if kind == "str":
        return np.array([f"branch-{v}" for v in ids])[pick]
    if kind == "big":
        return (ids[pick] + 10**15).astype(np.int64)  # beyond a presence table: factorized
    if kind == "float":
        return ids[pick] / 4.0
    return ids[pick].astype(np.int16)  # negative, sparse, narrow


@pytest.mark.parametrize("kind", ["int16", "str", "big", "float"])
def test_make_folds_group_schemes_equal_sklearn(kind):
    from sklearn.model_selection import LeaveOneGroupOut

    rng = np.random.default_rng(5)
    groups = _cluster_ids(rng, 2000, kind)
    y = _labels(2000, rng, 0.5).astype(np.int8)
    for seed in (0, 3):
        assert np.array_equal(
            make_folds(y, scheme="stratified_group_kfold", n_folds=5, clusters=groups, seed=seed),
            _sk(StratifiedGroupKFold(5, shuffle=True, random_state=seed), y, groups))
        # group_kfold: GroupKFold on the cluster ids relabelled by the seeded permutation
        uniq, inv = np.unique(groups, return_inverse=True)
        relabelled = np.random.default_rng(seed).permutation(len(uniq))[inv]
        assert np.array_equal(
            make_folds(y, scheme="group_kfold", n_folds=5, clusters=groups, seed=seed),
            _sk(GroupKFold(5), y, relabelled))
    assert np.array_equal(make_folds(y, scheme="leave_one_group_out", n_folds=5, clusters=groups),
                          _sk(LeaveOneGroupOut(), y, groups))


def test_group_folds_equal_sklearn_for_string_and_negative_ids():
    rng = np.random.default_rng(8)
    for kind in ("int16", "str"):
        groups = _cluster_ids(rng, 1500, kind)
        y = _labels(1500, rng)
        assert np.array_equal(group_folds(groups, 4), _sk(GroupKFold(4), y, groups))
        assert np.array_equal(
            stratified_group_folds(y, groups, 4, 2),
            _sk(StratifiedGroupKFold(4, shuffle=True, random_state=2), y, groups))


def test_stratified_group_kfold_three_classes_equals_sklearn():
    rng = np.random.default_rng(21)
    groups = rng.integers(0, 80, 2500)
    y = rng.integers(0, 3, 2500)
    assert np.array_equal(stratified_group_folds(y, groups, 5, 7),
                          _sk(StratifiedGroupKFold(5, shuffle=True, random_state=7), y, groups))
