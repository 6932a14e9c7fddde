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
    if scheme == "stratified_kfold" or (scheme == "stratified_group_kfold" and clusters is None):
        folds = stratified_folds(y, n_folds, seed)
    elif scheme == "stratified_group_kfold":
        folds = stratified_group_folds(y, clusters, n_folds, seed)
    elif scheme == "group_kfold":
        if clusters is None:
            raise DataError(f"{where}: group_kfold needs validation → groups")
        # shuffle cluster labels with the seed so the assignment is seeded but still balanced
        uniq, inv = np.unique(clusters, return_inverse=True)
        perm = np.random.default_rng(seed).permutation(len(uniq))
        folds = group_folds(perm[inv], n_folds)
    elif scheme == "leave_one_group_out":
        if clusters is None:
            raise DataError(f"{where}: leave_one_group_out needs validation → groups")
        folds = np.unique(clusters, return_inverse=True)[1].astype(np.int64)
    else:  # pragma: no cover - the policy schema only admits the four names
        raise ValueError(scheme)
    assert len(folds) == n and (folds >= 0).all(), "every row must be in exactly one test fold"
    n_out = int(folds.max()) + 1
    per_fold = np.bincount(folds * 2 + y.astype(np.int64), minlength=2 * n_out).reshape(n_out, 2)
    train = per_fold.sum(axis=0) - per_fold  # class counts of each fold's training rows
    for k in np.flatnonzero((train == 0).any(axis=1)):
        only = "favorable" if train[k, 1] > 0 else "unfavorable"
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
    """Raise ``AssertionError`` if any cluster has rows in more than one fold (O(n))."""
    codes = np.unique(np.asarray(clusters), return_inverse=True)[1]
    fold_of = np.full(int(codes.max()) + 1 if len(codes) else 0, -1, dtype=np.int64)
    fold_of[codes] = folds  # the last row of each cluster wins; any other row must agree
    spanning = np.unique(codes[fold_of[codes] != folds])
    if len(spanning):
        raise AssertionError(f"{len(spanning)} cluster(s) span more than one fold")


# The three assignments below are scikit-learn's StratifiedKFold(shuffle=True),
# StratifiedGroupKFold(shuffle=True) and GroupKFold, computed in numpy: the same folds for the
# same seed (tests/unit/test_splits_sklearn.py checks it), without importing scikit-learn —
# so ``fairsel validate`` stays fast — and without its Python loop over rows.


def stratified_folds(y: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """StratifiedKFold(n_folds, shuffle=True, random_state=seed): the test fold of each row."""
    y = np.asarray(y)
    _, y_idx, y_inv = np.unique(y, return_index=True, return_inverse=True)
    _, class_perm = np.unique(y_idx, return_inverse=True)
    y_enc = class_perm[y_inv]
    n_classes = len(y_idx)
    y_order = np.sort(y_enc)
    allocation = np.asarray([np.bincount(y_order[i::n_folds], minlength=n_classes)
                             for i in range(n_folds)])
    rng = np.random.RandomState(seed)
    folds = np.empty(len(y), dtype=np.int64)
    for k in range(n_classes):
        f = np.arange(n_folds).repeat(allocation[:, k])
        rng.shuffle(f)
        folds[y_enc == k] = f
    return folds


def stratified_group_folds(y: np.ndarray, groups: np.ndarray, n_folds: int,
                           seed: int) -> np.ndarray:
    """StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed): greedy, whole groups.

    Groups are taken in the order of decreasing spread of their class counts (after a seeded
    shuffle) and each goes to the fold that keeps the class proportions most even.
    """
    _, y_inv, y_cnt = np.unique(y, return_inverse=True, return_counts=True)
    n_classes = len(y_cnt)
    _, g_inv, g_cnt = np.unique(groups, return_inverse=True, return_counts=True)
    n_groups = len(g_cnt)
    counts = np.bincount(g_inv * n_classes + y_inv, minlength=n_groups * n_classes
                         ).reshape(n_groups, n_classes).astype(np.float64)
    perm = np.arange(n_groups)
    np.random.RandomState(seed).shuffle(perm)
    counts = counts[perm]
    inv_perm = np.empty_like(perm)
    inv_perm[perm] = np.arange(n_groups)
    g_inv = inv_perm[g_inv]
    order = np.argsort(-np.std(counts, axis=1), kind="stable")
    per_fold = np.zeros((n_folds, n_classes))
    fold_of_group = np.empty(n_groups, dtype=np.int64)
    y_cnt_row = y_cnt.reshape(1, -1)
    for gi in order:  # a loop over groups (not rows), as in scikit-learn
        c = counts[gi]
        best, min_eval, min_n = 0, np.inf, np.inf
        for i in range(n_folds):
            per_fold[i] += c
            ev = np.mean(np.std(per_fold / y_cnt_row, axis=0))
            per_fold[i] -= c
            n_i = np.sum(per_fold[i])
            if ev < min_eval or (np.isclose(ev, min_eval) and n_i < min_n):
                min_eval, min_n, best = ev, n_i, i
        per_fold[best] += c
        fold_of_group[gi] = best
    return fold_of_group[g_inv]


def group_folds(groups: np.ndarray, n_folds: int) -> np.ndarray:
    """GroupKFold(n_folds): the largest groups first, each to the lightest fold."""
    _, group_idx = np.unique(groups, return_inverse=True)
    sizes = np.bincount(group_idx)
    order = np.argsort(sizes, kind="stable")[::-1]
    per_fold = np.zeros(n_folds)
    group_to_fold = np.zeros(len(sizes), dtype=np.int64)
    for g in order:
        lightest = int(np.argmin(per_fold))
        per_fold[lightest] += sizes[g]
        group_to_fold[g] = lightest
    return group_to_fold[group_idx]
