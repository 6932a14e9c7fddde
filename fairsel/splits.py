"""Group-aware, seeded cross-validation folds (no cluster on both sides of a split).

:func:`make_folds` makes O(n) passes over the rows and never sorts them: outcome counts come
from ``np.count_nonzero``, cluster ids from a ``np.bincount`` presence table (or a hash
factorization for ids that are not small integers), and the per-fold class counts that the
post-checks need from the fold allocation or from per-cluster counts. At 10M rows the
``stratified_kfold`` cost is mostly ``RandomState.shuffle`` (one Fisher–Yates step per row, needed
to spend scikit-learn's random stream the same way) plus one boolean-mask write per class.
"""

from __future__ import annotations

import math

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

    Returns
    -------
    numpy.ndarray
        ``int64`` test fold of each row; the same folds as scikit-learn's splitter of the same
        name for the same seed (``group_kfold`` first relabels the clusters with the seed).

    Raises
    ------
    DataError
        Fewer clusters than folds, a class with fewer rows than folds, or a fold whose
        training rows would miss a class.
    ValueError
        ``y`` holds values other than 0 and 1, or ``stratified_kfold`` was given clusters.
    """
    y = np.asarray(y)
    n = len(y)
    if scheme == "stratified_kfold" and clusters is not None:
        raise ValueError("stratified_kfold ignores clusters; use stratified_group_kfold")
    favorable = _outcome_mask(y)
    n_fav = int(np.count_nonzero(favorable))
    counts = np.array([n - n_fav, n_fav])
    codes = None
    if clusters is not None:
        codes, n_clusters = _cluster_codes(clusters)
        if scheme != "leave_one_group_out" and n_clusters < n_folds:
            raise DataError(f"{where}: {n_clusters} cluster(s) in validation → groups but "
                            f"{n_folds} folds; every fold needs at least one whole cluster "
                            "(lower validation → folds, or use a finer cluster column)")
        if scheme == "leave_one_group_out" and n_clusters < 2:
            raise DataError(f"{where}: leave_one_group_out needs at least two clusters; found {n_clusters}")
    if scheme in ("stratified_kfold", "stratified_group_kfold") and counts.min() < n_folds:
        raise DataError(f"{where}: the {'favorable' if counts[1] < counts[0] else 'unfavorable'} "
                        f"outcome has {int(counts.min())} row(s), fewer than the {n_folds} folds; "
                        "lower validation → folds")
    if scheme in ("group_kfold", "leave_one_group_out") and codes is None:
        raise DataError(f"{where}: {scheme} needs validation → groups")
    if scheme not in SCHEMES:  # pragma: no cover - the policy schema only admits the four names
        raise ValueError(scheme)

    cell = None  # (n_clusters, 2) rows of each outcome per cluster
    if codes is None:  # stratified_kfold, or stratified_group_kfold without clusters
        folds, per_fold = _two_class_folds(favorable, n_fav, n_folds, seed)
    else:
        cell = np.bincount(codes * 2 + favorable, minlength=2 * n_clusters).reshape(n_clusters, 2)
        if scheme == "stratified_group_kfold":
            fold_of = _stratified_group_assign(cell.astype(np.float64), counts, n_folds, seed)
        elif scheme == "group_kfold":
            # shuffle cluster labels with the seed so the assignment is seeded but still balanced
            perm = np.random.default_rng(seed).permutation(n_clusters)
            sizes = np.empty(n_clusters, dtype=np.int64)
            sizes[perm] = cell.sum(axis=1)  # sizes of the relabelled clusters
            fold_of = _group_assign(sizes, n_folds)[perm]
        else:  # leave_one_group_out: one fold per cluster, in sorted cluster-id order
            fold_of = np.arange(n_clusters, dtype=np.int64)
        folds = fold_of[codes]
        per_fold = np.zeros((int(fold_of.max()) + 1, 2), dtype=np.int64)
        np.add.at(per_fold, fold_of, cell)
    assert len(folds) == n and (folds >= 0).all(), "every row must be in exactly one test fold"
    n_out = int(folds.max()) + 1
    train = per_fold[:n_out].sum(axis=0) - per_fold[:n_out]  # class counts of each fold's training rows
    for k in np.flatnonzero((train == 0).any(axis=1)):
        only = "favorable" if train[k, 1] > 0 else "unfavorable"
        other = "unfavorable" if only == "favorable" else "favorable"
        n_other = int(counts[0 if only == "favorable" else 1])
        holders = int(np.count_nonzero(cell[:, 0 if only == "favorable" else 1])) if cell is not None else 0
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
    if codes is not None:
        _assert_codes_within_folds(folds, codes, n_clusters)
    return folds


def assert_clusters_within_folds(folds: np.ndarray, clusters: np.ndarray) -> None:
    """Raise ``AssertionError`` if any cluster has rows in more than one fold (O(n), no sort)."""
    codes, n_clusters = _cluster_codes(clusters)
    _assert_codes_within_folds(np.asarray(folds), codes, n_clusters)


def _assert_codes_within_folds(folds: np.ndarray, codes: np.ndarray, n_clusters: int) -> None:
    fold_of = np.full(n_clusters, -1, dtype=np.int64)
    fold_of[codes] = folds  # the last row of each cluster wins; any other row must agree
    split = fold_of[codes] != folds
    if split.any():
        spanning = np.count_nonzero(np.bincount(codes[split], minlength=n_clusters))
        raise AssertionError(f"{spanning} cluster(s) span more than one fold")


# ---------------------------------------------------------------------------- encodings

def _outcome_mask(y: np.ndarray) -> np.ndarray:
    """``y == 1`` as a boolean array (a view when ``y`` is already one byte of 0/1)."""
    if y.dtype == np.bool_:
        return y
    if len(y) and y.dtype.kind in "iu" and y.dtype.itemsize == 1 and y.min() >= 0 and y.max() <= 1:
        return y.view(np.bool_)  # 0/1 bytes are valid booleans: no copy, no comparison pass
    favorable = y == 1
    if np.count_nonzero(favorable) + np.count_nonzero(y == 0) != len(y):
        raise ValueError("make_folds: y must hold the outcome as 0/1 (1 = favorable)")
    return favorable


def _two_values(y: np.ndarray) -> tuple[np.ndarray, int] | None:
    """``(y == larger value, its count)`` when ``y`` holds at most two distinct numbers, else None.

    With a single distinct value the mask is all False. Three passes at most (min, max, one
    comparison, plus a count of the smaller value when the dtype does not settle it).
    """
    if y.ndim != 1 or len(y) == 0 or y.dtype.kind not in "biuf":
        return None
    if y.dtype.kind == "b":
        return y, int(np.count_nonzero(y))
    lo, hi = y.min(), y.max()
    if lo == hi:
        return np.zeros(len(y), dtype=np.bool_), 0
    if y.dtype.kind in "iu" and y.dtype.itemsize == 1 and lo == 0 and hi == 1:
        is_hi = y.view(np.bool_)
    else:
        is_hi = y == hi  # NaN never equals: NaN labels fall to the general path below
    n_hi = int(np.count_nonzero(is_hi))
    if y.dtype.kind in "iu" and int(hi) - int(lo) == 1:
        return is_hi, n_hi  # integers between lo and hi: no third value possible
    if n_hi + int(np.count_nonzero(y == lo)) == len(y):
        return is_hi, n_hi
    return None


def _cluster_codes(clusters: np.ndarray) -> tuple[np.ndarray, int]:
    """``(codes, n_clusters)``: the codes equal ``np.unique(clusters, return_inverse=True)[1]``.

    Small non-negative-range integers (fairsel's own cluster codes) are encoded through a
    presence table of ``np.bincount`` — no sort, and no copy at all when they are already
    ``0 .. G-1``; anything else through ``pandas.factorize(sort=True)``, a hash pass that sorts
    only the distinct values. The codes are in sorted id order because scikit-learn's group
    splitters number groups that way, and the folds must match theirs.
    """
    c = np.asarray(clusters).ravel()
    n = len(c)
    if n == 0:
        return np.zeros(0, dtype=np.int64), 0
    if c.dtype.kind in "biu":
        lo, hi = int(c.min()), int(c.max())
        if hi - lo < 2 * n + 1024:  # a presence table no larger than the data
            if lo == 0 and c.dtype == np.int64:
                idx = c
            else:
                idx = c.astype(np.int64)
                if lo:
                    idx -= lo
            present = np.bincount(idx) > 0
            n_clusters = int(np.count_nonzero(present))
            if n_clusters == len(present):
                return idx, n_clusters  # already dense: the ids are their own codes
            return (np.cumsum(present) - 1)[idx], n_clusters
    import pandas as pd  # hash-based, O(n); only for ids that are not small integers

    codes, uniques = pd.factorize(c, sort=True, use_na_sentinel=False)
    return codes.astype(np.int64, copy=False), len(uniques)


# The three assignments below are scikit-learn's StratifiedKFold(shuffle=True),
# StratifiedGroupKFold(shuffle=True) and GroupKFold, computed in numpy: the same folds for the
# same seed (tests/unit/test_splits_sklearn.py checks it), without importing scikit-learn —
# so ``fairsel validate`` stays fast — and without its Python loop over rows.


def _round_robin_allocation(class_counts: np.ndarray, n_folds: int) -> np.ndarray:
    """``(n_folds, n_classes)`` rows of each class in each test fold, as StratifiedKFold deals them.

    scikit-learn sorts the encoded labels (``y_order``) and gives fold ``i`` the rows
    ``y_order[i::K]``. Class ``c`` occupies positions ``[b_c, b_{c+1})`` of ``y_order``, where
    ``b`` are the cumulative class counts, and the positions ``p < x`` with ``p ≡ i (mod K)``
    number ``⌈(x − i) / K⌉`` (0 when ``x ≤ i``), so

    .. math:: a_{i,c} = \\lceil (b_{c+1} - i) / K \\rceil^+ - \\lceil (b_c - i) / K \\rceil^+

    — the same counts without sorting the labels.
    """
    bounds = np.concatenate(([0], np.cumsum(np.asarray(class_counts, dtype=np.int64))))
    i = np.arange(n_folds, dtype=np.int64)[:, None]
    below = (bounds[None, :] - i + (n_folds - 1)) // n_folds  # ⌈(b − i)/K⌉, 0 when b ≤ i
    return np.diff(below, axis=1)


def _dealt_folds(allocation: np.ndarray, rng: np.random.RandomState) -> list[np.ndarray]:
    """Per class (in encoding order), its fold labels repeated by allocation, shuffled by ``rng``.

    StratifiedKFold shuffles an int64 ``arange(K).repeat(...)``; Fisher–Yates draws depend only
    on the length, so shuffling one byte per row instead gives the same order with less memory
    traffic.
    """
    n_folds = allocation.shape[0]
    dtype = np.uint8 if n_folds <= 256 else np.int64
    out = []
    for k in range(allocation.shape[1]):
        f = np.arange(n_folds, dtype=dtype).repeat(allocation[:, k])
        rng.shuffle(f)
        out.append(f)
    return out


def _two_class_folds(is_b: np.ndarray, n_b: int, n_folds: int,
                     seed: int) -> tuple[np.ndarray, np.ndarray]:
    """StratifiedKFold for labels of at most two values: ``(folds, per_fold)``.

    ``is_b`` marks the rows of value b, the others are value a; ``per_fold[i]`` is the number
    of rows of (a, b) in fold ``i``. scikit-learn encodes classes in order of first
    appearance and shuffles them in that order, so the RandomState stream is consumed the same.
    """
    n = len(is_b)
    counts_ab = np.array([n - n_b, n_b])
    b_first = n_b > 0 and bool(is_b[0])
    present = [c for c in ((1, 0) if b_first else (0, 1)) if counts_ab[c] > 0]  # encoding order
    allocation = _round_robin_allocation(counts_ab[present], n_folds)
    dealt = _dealt_folds(allocation, np.random.RandomState(seed))
    folds = np.empty(n, dtype=np.int64)
    if len(present) == 1:
        folds[:] = dealt[0]
    else:
        by_class = dict(zip(present, dealt))
        folds[is_b] = by_class[1]  # one boolean-mask pass per class: no row positions built
        folds[~is_b] = by_class[0]
    per_fold = np.zeros((n_folds, 2), dtype=np.int64)
    per_fold[:, present] = allocation
    return folds, per_fold


def stratified_folds(y: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """StratifiedKFold(n_folds, shuffle=True, random_state=seed): the test fold of each row.

    Labels of at most two numeric values take an O(n) path without sorting; any other labels
    are encoded with ``np.unique`` as scikit-learn does.
    """
    y = np.asarray(y)
    two = _two_values(y)
    if two is not None:
        return _two_class_folds(*two, n_folds, seed)[0]
    _, y_idx, y_inv = np.unique(y, return_index=True, return_inverse=True)
    _, class_perm = np.unique(y_idx, return_inverse=True)  # encode by order of first appearance
    y_enc = class_perm[y_inv.ravel()]
    allocation = _round_robin_allocation(np.bincount(y_enc, minlength=len(y_idx)), n_folds)
    folds = np.empty(len(y_enc), dtype=np.int64)
    for k, f in enumerate(_dealt_folds(allocation, np.random.RandomState(seed))):
        folds[y_enc == k] = f
    return folds


def _stratified_group_assign(counts: np.ndarray, y_cnt: np.ndarray, n_folds: int,
                             seed: int) -> np.ndarray:
    """StratifiedGroupKFold's greedy assignment: the fold of each group.

    ``counts`` is ``(n_groups, n_classes)`` (groups and classes in sorted label order),
    ``y_cnt`` the class totals.
    """
    n_groups = len(counts)
    perm = np.arange(n_groups)
    np.random.RandomState(seed).shuffle(perm)
    counts = counts[perm]
    order = np.argsort(-np.std(counts, axis=1), kind="stable")
    per_fold = np.zeros((n_folds, counts.shape[1]))
    fold_of_group = np.empty(n_groups, dtype=np.int64)
    y_cnt_row = np.asarray(y_cnt).reshape(1, -1)
    for gi in order:  # a loop over groups (not rows), as in scikit-learn
        c = counts[gi]
        best, min_eval, min_n = 0, np.inf, np.inf
        for i in range(n_folds):
            per_fold[i] += c
            ev = np.mean(np.std(per_fold / y_cnt_row, axis=0))
            per_fold[i] -= c
            n_i = per_fold[i].sum()  # whole counts: exact in any summation order
            if ev < min_eval or (_isclose(ev, min_eval) and n_i < min_n):
                min_eval, min_n, best = ev, n_i, i
        per_fold[best] += c
        fold_of_group[gi] = best
    out = np.empty(n_groups, dtype=np.int64)
    out[perm] = fold_of_group  # back from shuffled position to group code
    return out


def _isclose(a: float, b: float) -> bool:
    """``np.isclose(a, b)`` for two floats, the same float operations without its array overhead.

    scikit-learn's greedy step calls ``np.isclose`` once per group and fold; as a scalar
    expression it is ~20x cheaper and decides identically (``|a − b| ≤ 1e-8 + 1e-5·|b|``
    for finite ``b``, else ``a == b``).
    """
    return (math.isfinite(b) and abs(a - b) <= 1e-8 + 1e-5 * abs(b)) or a == b


def stratified_group_folds(y: np.ndarray, groups: np.ndarray, n_folds: int,
                           seed: int) -> np.ndarray:
    """StratifiedGroupKFold(n_folds, shuffle=True, random_state=seed): greedy, whole groups.

    Groups are taken in the order of decreasing spread of their class counts (after a seeded
    shuffle) and each goes to the fold that keeps the class proportions most even.
    """
    _, y_inv, y_cnt = np.unique(y, return_inverse=True, return_counts=True)
    n_classes = len(y_cnt)
    g_inv, n_groups = _cluster_codes(groups)
    counts = np.bincount(g_inv * n_classes + y_inv.ravel(), minlength=n_groups * n_classes
                         ).reshape(n_groups, n_classes).astype(np.float64)
    return _stratified_group_assign(counts, y_cnt, n_folds, seed)[g_inv]


def _group_assign(sizes: np.ndarray, n_folds: int) -> np.ndarray:
    """GroupKFold's assignment: the fold of each group, the largest first to the lightest fold."""
    order = np.argsort(sizes, kind="stable")[::-1]
    per_fold = np.zeros(n_folds)
    group_to_fold = np.zeros(len(sizes), dtype=np.int64)
    for g in order:
        lightest = int(np.argmin(per_fold))
        per_fold[lightest] += sizes[g]
        group_to_fold[g] = lightest
    return group_to_fold


def group_folds(groups: np.ndarray, n_folds: int) -> np.ndarray:
    """GroupKFold(n_folds): the largest groups first, each to the lightest fold."""
    codes, n_groups = _cluster_codes(groups)
    return _group_assign(np.bincount(codes, minlength=n_groups), n_folds)[codes]


# ---------------------------------------------------------------------------- holdout

#: Clusters are stratified by their share of favorable outcomes in this many bins.
_HOLDOUT_SHARE_BINS = 5


def holdout_mask(y: np.ndarray, fraction: float, *, clusters: np.ndarray | None = None,
                 seed: int = 0, where: str = "data") -> np.ndarray:
    """Which rows form the final test split (``validation.holdout``): a boolean mask.

    Grouped and stratified like the folds: the units are the clusters (rows when there are
    none), and the units of each stratum — the outcome for rows; for clusters, their share of
    favorable outcomes in :data:`_HOLDOUT_SHARE_BINS` bins — are shuffled with ``seed`` and
    taken in that order while their middle row falls within ``fraction`` of the stratum's rows.
    No cluster is on both sides. O(n) plus a sort of the units, no Python loop over them.

    Raises
    ------
    DataError
        The holdout or the rows left for cross-validation would miss an outcome.
    """
    favorable = _outcome_mask(np.asarray(y))
    n = len(favorable)
    if clusters is None:
        codes, n_units = np.arange(n, dtype=np.int64), n
        size = np.ones(n, dtype=np.float64)
        stratum = favorable.astype(np.int64)
    else:
        codes, n_units = _cluster_codes(clusters)
        size = np.bincount(codes, minlength=n_units).astype(np.float64)
        fav = np.bincount(codes, weights=favorable, minlength=n_units)
        stratum = np.rint(fav / size * (_HOLDOUT_SHARE_BINS - 1)).astype(np.int64)
    key = np.random.default_rng([int(seed), 4241]).random(n_units)
    order = np.lexsort((key, stratum))
    s_sorted, z_sorted = stratum[order], size[order]
    cum = np.cumsum(z_sorted)
    starts = np.searchsorted(s_sorted, s_sorted, side="left")  # first unit of each one's stratum
    before = cum[starts] - z_sorted[starts]  # rows of the strata before it
    total = np.bincount(s_sorted, weights=z_sorted)[s_sorted]
    mid = cum - before - z_sorted / 2.0
    chosen = np.zeros(n_units, dtype=bool)
    chosen[order] = mid < fraction * total
    mask = chosen[codes]
    for side, rows in (("holdout", mask), ("rows left for cross-validation", ~mask)):
        n_fav = int(np.count_nonzero(favorable[rows]))
        n_rows = int(np.count_nonzero(rows))
        if n_fav == 0 or n_fav == n_rows:
            raise DataError(
                f"{where}: validation → holdout {fraction:g} leaves the {side} "
                f"({n_rows} row(s)) with only one outcome; "
                + ("use more rows, or a larger holdout" if side == "holdout" else
                   "use a smaller holdout") + (" (clusters of validation → groups are kept "
                                               "whole: a finer cluster column helps)"
                                               if clusters is not None else ""))
    return mask
