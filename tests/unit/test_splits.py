"""Folds: clusters never cross a split, every row is tested once, seeded, stratified, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairsel.errors import DataError, ExitCode
from fairsel.splits import SCHEMES, assert_clusters_within_folds, make_folds

GROUP_SCHEMES = ["stratified_group_kfold", "group_kfold", "leave_one_group_out"]


def _layout(n_clusters: int, size: int, rate: float = 0.4, seed: int = 0):
    """``n_clusters`` clusters of ``size`` rows, each holding both outcomes."""
    rng = np.random.default_rng(seed)
    clusters = np.repeat(np.arange(n_clusters), size)
    y = (rng.random(n_clusters * size) < rate).astype(np.int8)
    y[::size] = 1
    y[1::size] = 0
    return y, clusters


@st.composite
def cluster_layouts(draw):
    """Random clusters (ids not contiguous, sizes 2..15), every cluster holding both outcomes."""
    n_clusters = draw(st.integers(2, 25))
    sizes = draw(st.lists(st.integers(2, 15), min_size=n_clusters, max_size=n_clusters))
    ids = draw(st.permutations(range(1000, 1000 + 3 * n_clusters)))[:n_clusters]
    clusters = np.repeat(np.asarray(ids), sizes)
    y = np.concatenate([np.array([1, 0] + draw(st.lists(st.integers(0, 1), min_size=s - 2,
                                                          max_size=s - 2)), dtype=np.int8)
                        for s in sizes])
    order = np.random.default_rng(draw(st.integers(0, 2**16))).permutation(len(y))  # interleave rows
    n_folds = draw(st.integers(2, min(5, n_clusters)))
    return y[order], clusters[order], n_folds


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layout=cluster_layouts(), scheme=st.sampled_from(GROUP_SCHEMES), seed=st.integers(0, 1000))
def test_group_schemes_keep_clusters_whole_and_test_every_row_once(layout, scheme, seed):
    y, clusters, n_folds = layout
    folds = make_folds(y, scheme=scheme, n_folds=n_folds, clusters=clusters, seed=seed)
    assert folds.shape == y.shape and folds.dtype == np.int64
    k = int(folds.max()) + 1
    # every row in exactly one test fold, and no fold empty
    assert folds.min() == 0 and set(np.unique(folds)) == set(range(k))
    assert k == (len(np.unique(clusters)) if scheme == "leave_one_group_out" else n_folds)
    # no cluster on both sides of a split
    for c in np.unique(clusters):
        assert len(np.unique(folds[clusters == c])) == 1
    # each fold's training rows hold both outcomes
    for f in range(k):
        assert set(np.unique(y[folds != f])) == {0, 1}


def test_leave_one_group_out_makes_one_fold_per_cluster():
    y, clusters = _layout(7, 6)
    folds = make_folds(y, scheme="leave_one_group_out", n_folds=5, clusters=clusters)
    assert int(folds.max()) + 1 == 7
    for f in range(7):
        assert len(np.unique(clusters[folds == f])) == 1


@pytest.mark.parametrize("scheme", SCHEMES)
def test_same_seed_same_folds(scheme):
    y, clusters = _layout(30, 8)
    groups = None if scheme == "stratified_kfold" else clusters
    a = make_folds(y, scheme=scheme, n_folds=5, clusters=groups, seed=11)
    b = make_folds(y, scheme=scheme, n_folds=5, clusters=groups, seed=11)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("scheme", ["stratified_kfold", "stratified_group_kfold", "group_kfold"])
def test_different_seeds_give_different_folds(scheme):
    y, clusters = _layout(30, 8)
    groups = None if scheme == "stratified_kfold" else clusters
    a = make_folds(y, scheme=scheme, n_folds=5, clusters=groups, seed=1)
    b = make_folds(y, scheme=scheme, n_folds=5, clusters=groups, seed=2)
    assert (a != b).any()


def test_stratified_kfold_keeps_class_ratio():
    rng = np.random.default_rng(5)
    y = (rng.random(1000) < 0.3).astype(np.int8)
    folds = make_folds(y, scheme="stratified_kfold", n_folds=5, seed=0)
    overall = y.mean()
    for f in range(5):
        # StratifiedKFold puts floor or ceil of each class's share in every fold
        assert abs(y[folds == f].mean() - overall) < 0.01
        assert abs((folds == f).sum() - 200) <= 1


def test_stratified_group_kfold_keeps_class_ratio_roughly_and_better_than_group_kfold():
    # clusters of very different favorable rates: stratification has something to balance
    rng = np.random.default_rng(9)
    n_clusters, size = 60, 20
    clusters = np.repeat(np.arange(n_clusters), size)
    rates = rng.uniform(0.05, 0.95, n_clusters)
    y = (rng.random(n_clusters * size) < rates[clusters]).astype(np.int8)
    overall = y.mean()

    def spread(scheme: str, seed: int) -> float:
        """The largest gap between a fold's favorable rate and the overall rate."""
        folds = make_folds(y, scheme=scheme, n_folds=5, clusters=clusters, seed=seed)
        return max(abs(y[folds == f].mean() - overall) for f in range(5))

    stratified = [spread("stratified_group_kfold", s) for s in range(6)]
    grouped = [spread("group_kfold", s) for s in range(6)]
    # whole clusters of 20 rows cannot balance exactly; 5 points is "roughly"
    assert max(stratified) < 0.05
    assert np.mean(stratified) < np.mean(grouped) / 2


def test_stratified_group_kfold_without_clusters_splits_rows_stratified():
    y = np.array([0, 1] * 50, dtype=np.int8)
    folds = make_folds(y, scheme="stratified_group_kfold", n_folds=5, seed=0)
    for f in range(5):
        assert y[folds == f].sum() == 10 and (folds == f).sum() == 20


# ---------------------------------------------------------------------------- errors

def _data_error(**kwargs) -> str:
    with pytest.raises(DataError) as info:
        make_folds(**kwargs)
    assert info.value.exit_code == ExitCode.DATA
    return str(info.value)


@pytest.mark.parametrize("scheme", ["stratified_group_kfold", "group_kfold"])
def test_fewer_clusters_than_folds(scheme):
    y, clusters = _layout(4, 10)
    assert _data_error(y=y, scheme=scheme, n_folds=5, clusters=clusters, where="d.csv") == (
        "d.csv: 4 cluster(s) in validation → groups but 5 folds; every fold needs at least one "
        "whole cluster (lower validation → folds, or use a finer cluster column)")


def test_leave_one_group_out_needs_two_clusters():
    y = np.array([0, 1, 0, 1], dtype=np.int8)
    assert _data_error(y=y, scheme="leave_one_group_out", n_folds=5, clusters=np.zeros(4, int),
                       where="d.csv") == (
        "d.csv: leave_one_group_out needs at least two clusters; found 1")


@pytest.mark.parametrize(("scheme", "minority"), [("stratified_kfold", 0), ("stratified_kfold", 1),
                                                  ("stratified_group_kfold", 1)])
def test_class_with_fewer_rows_than_folds(scheme, minority):
    y = np.full(40, 1 - minority, dtype=np.int8)
    y[:3] = minority
    clusters = np.arange(40) if scheme == "stratified_group_kfold" else None
    which = "favorable" if minority == 1 else "unfavorable"
    assert _data_error(y=y, scheme=scheme, n_folds=5, clusters=clusters, where="d.csv") == (
        f"d.csv: the {which} outcome has 3 row(s), fewer than the 5 folds; lower validation → folds")


def test_fold_whose_training_rows_miss_a_class_all_in_one_cluster():
    clusters = np.repeat(np.arange(4), 10)
    y = np.where(clusters == 3, 0, 1).astype(np.int8)
    msg = _data_error(y=y, scheme="group_kfold", n_folds=4, clusters=clusters, where="d.csv")
    k = msg.split("fold ")[1].split(" ")[0]
    assert msg == (f"d.csv: the training rows of fold {k} have only the favorable outcome: all "
                   "10 unfavorable row(s) are in that fold's test clusters, so no model can be "
                   "trained for it; they all belong to one cluster, and folds keep clusters "
                   "whole; use a finer cluster column in validation → groups")


def test_fold_whose_training_rows_miss_a_class_group_kfold_suggests_stratifying():
    # the 4 unfavorable rows sit in 2 of 10 clusters; group_kfold's seeded order puts both
    # in one fold for some seed, which stratified_group_kfold would avoid
    clusters = np.repeat(np.arange(10), 4)
    y = np.where(np.isin(clusters, [2, 7]), 0, 1).astype(np.int8)
    messages = []
    for seed in range(40):
        try:
            make_folds(y, scheme="group_kfold", n_folds=5, clusters=clusters, seed=seed)
        except DataError as exc:
            messages.append(str(exc))
    assert messages, "no seed put both unfavorable clusters in one fold"
    assert messages[0].endswith("all 8 unfavorable row(s) are in that fold's test clusters, so "
                                "no model can be trained for it; use stratified_group_kfold, "
                                "which spreads both outcomes over the folds")
    folds = make_folds(y, scheme="stratified_group_kfold", n_folds=5, clusters=clusters, seed=0)
    assert all(set(np.unique(y[folds != f])) == {0, 1} for f in range(5))


@pytest.mark.parametrize("scheme", ["group_kfold", "leave_one_group_out"])
def test_group_schemes_need_clusters(scheme):
    y = np.array([0, 1] * 10, dtype=np.int8)
    assert _data_error(y=y, scheme=scheme, n_folds=2, where="d.csv") == (
        f"d.csv: {scheme} needs validation → groups")


def test_stratified_kfold_refuses_clusters():
    # it would split clusters; the policy loader refuses the combination with a message
    y, clusters = _layout(10, 4)
    with pytest.raises(ValueError, match="stratified_kfold ignores clusters"):
        make_folds(y, scheme="stratified_kfold", n_folds=3, clusters=clusters)


def test_assert_clusters_within_folds_catches_a_split_cluster():
    clusters = np.array([0, 0, 1, 1, 2, 2])
    assert_clusters_within_folds(np.array([0, 0, 1, 1, 0, 0]), clusters)
    with pytest.raises(AssertionError, match="1 cluster"):
        assert_clusters_within_folds(np.array([0, 1, 1, 1, 0, 0]), clusters)
