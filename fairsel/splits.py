"""Group-aware, seeded cross-validation folds (no cluster on both sides of a split)."""

from __future__ import annotations

import numpy as np

from fairsel.errors import DataError

SCHEMES = ("stratified_group_kfold", "group_kfold", "stratified_kfold", "leave_one_group_out")


def make_folds(y: np.ndarray, *, scheme: str, n_folds: int, clusters: np.ndarray | None = None,
               seed: int = 0, where: str = "data") -> np.ndarray:
    """The test fold of every row, ``0 .. k-1``.

    Parameters
    ----------
    y : 0/1 array, the favorable outcome (used for stratification)
    scheme : one of :data:`SCHEMES`
    n_folds : number of folds (ignored by ``leave_one_group_out``: one fold per cluster)
    clusters : cluster id of each row; rows of one cluster always share a fold
    seed : shuffling seed

    Raises
    ------
    DataError
        Fewer clusters than folds, a class with fewer rows than folds, or a fold whose
        training rows would miss a class.
    """
    from sklearn.model_selection import (
        GroupKFold,
        LeaveOneGroupOut,
        StratifiedGroupKFold,
        StratifiedKFold,
    )

    y = np.asarray(y)
    n = len(y)
    if scheme == "stratified_kfold" and clusters is not None:
        raise ValueError("stratified_kfold ignores clusters; use stratified_group_kfold")
    if clusters is not None:
        n_clusters = len(np.unique(clusters))
        if scheme != "leave_one_group_out" and n_clusters < n_folds:
            raise DataError(f"{where}: {n_clusters} cluster(s) in validation → groups but "
                            f"{n_folds} folds; every fold needs at least one whole cluster "
                            "(lower validation → folds, or use a finer cluster column)")
        if scheme == "leave_one_group_out" and n_clusters < 2:
            raise DataError(f"{where}: leave_one_group_out needs at least two clusters; found {n_clusters}")
    counts = np.bincount(y.astype(np.int64), minlength=2)
    if scheme in ("stratified_kfold", "stratified_group_kfold") and counts.min() < n_folds:
        raise DataError(f"{where}: the {'favorable' if counts[1] < counts[0] else 'unfavorable'} "
                        f"outcome has {int(counts.min())} row(s), fewer than the {n_folds} folds; "
                        "lower validation → folds")
    X = np.zeros((n, 1))
    if scheme == "stratified_kfold" or (scheme == "stratified_group_kfold" and clusters is None):
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        splits = splitter.split(X, y)
    elif scheme == "stratified_group_kfold":
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        splits = splitter.split(X, y, groups=clusters)
    elif scheme == "group_kfold":
        if clusters is None:
            raise DataError(f"{where}: group_kfold needs validation → groups")
        # shuffle cluster labels with the seed so the assignment is seeded but still balanced
        uniq, inv = np.unique(clusters, return_inverse=True)
        perm = np.random.default_rng(seed).permutation(len(uniq))
        splits = GroupKFold(n_splits=n_folds).split(X, y, groups=perm[inv])
    elif scheme == "leave_one_group_out":
        if clusters is None:
            raise DataError(f"{where}: leave_one_group_out needs validation → groups")
        splits = LeaveOneGroupOut().split(X, y, groups=clusters)
    else:  # pragma: no cover - the policy schema only admits the four names
        raise ValueError(scheme)
    folds = np.full(n, -1, dtype=np.int64)
    for k, (_, test) in enumerate(splits):
        folds[test] = k
    assert (folds >= 0).all(), "every row must be in exactly one test fold"
    n_out = int(folds.max()) + 1
    for k in range(n_out):
        train_y = y[folds != k]
        if len(np.unique(train_y)) < 2:
            only = "favorable" if train_y.size and train_y[0] == 1 else "unfavorable"
            other = "unfavorable" if only == "favorable" else "favorable"
            is_other = y == (0 if only == "favorable" else 1)
            n_other = int(is_other.sum())
            holders = len(np.unique(clusters[is_other])) if clusters is not None else 0
            if holders == 1:
                fix = ("they all belong to one cluster, and folds keep clusters whole; "
                       "use a finer cluster column in validation → groups")
            elif scheme in ("group_kfold", "leave_one_group_out"):
                fix = "use stratified_group_kfold, which spreads both outcomes over the folds"
            else:
                fix = "use a cluster column with more clusters, or fewer folds"
            raise DataError(f"{where}: the training rows of fold {k} have only the {only} "
                            f"outcome: all {n_other} {other} row(s) are in that fold's test clusters, "
                            f"so no model can be trained for it; {fix}")
    if clusters is not None:
        assert_clusters_within_folds(folds, clusters)
    return folds


def assert_clusters_within_folds(folds: np.ndarray, clusters: np.ndarray) -> None:
    """Raise ``AssertionError`` if any cluster has rows in more than one fold."""
    pairs = np.unique(np.stack([np.asarray(clusters), folds]), axis=1)
    per_cluster = np.unique(pairs[0], return_counts=True)[1]
    if (per_cluster > 1).any():
        raise AssertionError(f"{int((per_cluster > 1).sum())} cluster(s) span more than one fold")
