"""The O(n) pieces of fairsel.splits equal the sorting code they replace."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairsel.splits import (
    _cluster_codes,
    _isclose,
    _round_robin_allocation,
    assert_clusters_within_folds,
    make_folds,
)


@settings(max_examples=200, deadline=None)
@given(counts=st.lists(st.integers(0, 60), min_size=1, max_size=6), k=st.integers(1, 15))
def test_round_robin_allocation_equals_sklearns_sorted_deal(counts, k):
    # scikit-learn: y_order = np.sort(y_encoded); fold i gets np.bincount(y_order[i::k])
    y_order = np.repeat(np.arange(len(counts)), counts)
    expected = np.asarray([np.bincount(y_order[i::k], minlength=len(counts)) for i in range(k)])
    got = _round_robin_allocation(np.asarray(counts), k)
    assert got.shape == (k, len(counts))
    np.testing.assert_array_equal(got, expected)


def _unique_codes(values) -> tuple[np.ndarray, int]:
    uniq, inv = np.unique(values, return_inverse=True)
    return inv.ravel(), len(uniq)


@pytest.mark.parametrize("values", [
    np.array([5, 3, 3, 9, 5, 0], dtype=np.int64),
    np.array([2, 0, 1, 1, 0], dtype=np.int64),  # already 0..G-1: returned as they are
    np.array([-7, 120, -7, 3, -128], dtype=np.int8),
    np.array([3, 2**40, 3, 17], dtype=np.int64),  # too sparse for a presence table
    np.array([2**63 + 5, 3, 2**63 + 5], dtype=np.uint64),
    np.array([True, False, True]),
    np.array([3.0, np.nan, -0.0, 0.0, 1.5, np.nan, -2.0]),  # NaN one id, last; -0.0 == 0.0
    np.array(["c", "a", "b", "a"]),
    np.array(["north", "south", "north"], dtype=object),
    np.array([7]),
], ids=["int64", "dense", "int8-negative", "sparse", "uint64", "bool", "float-nan", "str",
        "object", "one"])
def test_cluster_codes_equal_np_unique_inverse(values):
    codes, n_clusters = _cluster_codes(values)
    expected, n_expected = _unique_codes(values)
    assert n_clusters == n_expected
    np.testing.assert_array_equal(codes, expected)


@settings(max_examples=100, deadline=None)
@given(ids=st.lists(st.integers(-300, 300), min_size=1, max_size=200))
def test_cluster_codes_property(ids):
    for dtype in (np.int16, np.int64):
        codes, n_clusters = _cluster_codes(np.asarray(ids, dtype=dtype))
        expected, n_expected = _unique_codes(np.asarray(ids))
        assert n_clusters == n_expected
        np.testing.assert_array_equal(codes, expected)


def test_cluster_codes_of_nothing():
    codes, n_clusters = _cluster_codes(np.array([], dtype=np.int64))
    assert n_clusters == 0 and len(codes) == 0


@pytest.mark.parametrize(("a", "b"), [
    (0.1, 0.1), (0.1, 0.1 + 1e-9), (0.1, 0.1 + 2e-6), (0.1, 0.1 + 1e-3), (0.0, 1e-8),
    (0.0, 1.1e-8), (1e-9, -1e-9), (5.0, np.inf), (np.inf, np.inf), (-np.inf, np.inf),
    (np.nan, 1.0), (1.0, np.nan), (np.nan, np.nan), (1e300, 1.00001e300), (2.0, 1.99998),
])
def test_isclose_decides_like_numpy(a, b):
    assert _isclose(a, b) == bool(np.isclose(a, b))
    assert _isclose(np.float64(a), np.float64(b)) == bool(np.isclose(a, b))


@settings(max_examples=300, deadline=None)
@given(a=st.floats(allow_nan=True, allow_infinity=True, width=64),
       rel=st.floats(-1e-4, 1e-4), b=st.floats(-1e3, 1e3))
def test_isclose_property(a, rel, b):
    for x, y in ((a, b), (b * (1 + rel), b), (b, b * (1 + rel))):
        assert _isclose(x, y) == bool(np.isclose(x, y))


@pytest.mark.parametrize("clusters", [
    np.array([10, 10, -4, -4, 99, 99, 7]),
    np.array(["b", "b", "a", "a", "z", "z", "q"]),
    np.array([1e20, 1e20, 3.5, 3.5, -1.0, -1.0, 0.0]),
])
def test_assert_clusters_within_folds_counts_the_spanning_clusters(clusters):
    assert_clusters_within_folds(np.array([0, 0, 1, 1, 2, 2, 0]), clusters)
    with pytest.raises(AssertionError, match="^1 cluster"):
        assert_clusters_within_folds(np.array([0, 0, 1, 0, 2, 2, 0]), clusters)
    with pytest.raises(AssertionError, match="^3 cluster"):
        assert_clusters_within_folds(np.array([0, 1, 1, 0, 2, 1, 0]), clusters)
    # one cluster, many rows off: still one cluster (the last row of a cluster sets its fold)
    many = np.concatenate([clusters, clusters[:1].repeat(3)])
    with pytest.raises(AssertionError, match="^1 cluster"):
        assert_clusters_within_folds(np.array([0, 0, 1, 1, 2, 2, 0, 0, 0, 2]), many)


@pytest.mark.parametrize("y", [np.array([0, 1, 2, 1, 0, 1] * 5), np.array([0.0, 1.0, 0.5] * 10),
                               np.array([0, 1, np.nan] * 10)])
def test_make_folds_refuses_outcomes_other_than_0_1(y):
    with pytest.raises(ValueError, match="0/1"):
        make_folds(y, scheme="stratified_kfold", n_folds=3, seed=0)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, bool, np.int64, np.float64])
def test_make_folds_same_folds_for_every_outcome_dtype(dtype):
    rng = np.random.default_rng(4)
    y = (rng.random(500) < 0.3).astype(np.int64)
    clusters = rng.integers(0, 40, 500)
    for scheme, groups in (("stratified_kfold", None), ("stratified_group_kfold", clusters),
                           ("group_kfold", clusters), ("leave_one_group_out", clusters)):
        expected = make_folds(y, scheme=scheme, n_folds=4, clusters=groups, seed=2)
        got = make_folds(y.astype(dtype), scheme=scheme, n_folds=4, clusters=groups, seed=2)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, expected)


def test_make_folds_does_not_alias_or_change_the_cluster_array():
    clusters = np.repeat(np.arange(6, dtype=np.int64), 5)  # already dense codes
    before = clusters.copy()
    y = np.tile(np.array([0, 1, 1, 0, 1], dtype=np.int8), 6)
    folds = make_folds(y, scheme="leave_one_group_out", n_folds=5, clusters=clusters)
    folds[:] = -1
    np.testing.assert_array_equal(clusters, before)
