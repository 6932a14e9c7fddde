"""Score-based metrics per group: ROC AUC (one sort), Brier score, calibration error."""

from __future__ import annotations

import numpy as np


def _group_setup(y_true, y_score, codes, n_groups):
    y_true = np.asarray(y_true).astype(np.int64, copy=False)
    y_score = np.asarray(y_score, dtype=np.float64)
    if codes is None:
        codes = np.zeros(len(y_true), dtype=np.int64)
        n_groups = 1
    codes = np.asarray(codes).astype(np.int64, copy=False)
    if n_groups is None:
        n_groups = int(codes.max()) + 1 if len(codes) else 0
    return y_true, y_score, codes, n_groups


def roc_auc_by_group(y_true: np.ndarray, y_score: np.ndarray, codes: np.ndarray | None = None,
                     n_groups: int | None = None, *, order: np.ndarray | None = None) -> np.ndarray:
    """Exact ROC AUC of each group (Mann–Whitney, ties counted half), NaN for a one-class group.

    Parameters
    ----------
    order : array of int, optional
        ``np.argsort(y_score)`` computed once by the caller and reused across attributes,
        folds and variants of the same scores.

    Returns
    -------
    ndarray of shape (n_groups,)
        AUC = sum over positives of (negatives scored lower + half of those tied) / (P * N).
    """
    y_true, y_score, codes, n_groups = _group_setup(y_true, y_score, codes, n_groups)
    if len(y_true) == 0:
        return np.full(n_groups, np.nan)
    if order is None:
        # any sort works: rows with tied scores form one block below, whatever their order
        order = np.argsort(y_score)
    # a stable sort by group of the score-sorted rows gives (group, score) order; group codes
    # in the smallest unsigned type let numpy use its radix sort (4-5x faster than on int64)
    c_sorted = codes[order]
    if c_sorted.min() >= 0:
        c_sorted = c_sorted.astype(np.min_scalar_type(int(c_sorted.max())), copy=False)
    order2 = np.argsort(c_sorted, kind="stable")
    g = c_sorted[order2]
    idx = order[order2]
    s = y_score[idx]
    y = y_true[idx]
    n = len(s)
    # tie blocks: a new block wherever the group or the score changes
    new_block = np.empty(n, dtype=bool)
    new_block[0] = True
    new_block[1:] = (g[1:] != g[:-1]) | (s[1:] != s[:-1])
    starts = np.flatnonzero(new_block)
    pos_b = np.add.reduceat(y, starts).astype(np.float64)
    size_b = np.diff(np.append(starts, n)).astype(np.float64)
    neg_b = size_b - pos_b
    grp_b = g[starts]
    # negatives before each block within its group
    cum_neg = np.cumsum(neg_b) - neg_b
    first_block_of_group = np.ones(len(starts), dtype=bool)
    first_block_of_group[1:] = grp_b[1:] != grp_b[:-1]
    group_offset = np.maximum.accumulate(np.where(first_block_of_group, cum_neg, 0.0))
    neg_before = cum_neg - group_offset
    contrib = pos_b * (neg_before + 0.5 * neg_b)
    num = np.bincount(grp_b, weights=contrib, minlength=n_groups)
    P = np.bincount(grp_b, weights=pos_b, minlength=n_groups)
    N = np.bincount(grp_b, weights=neg_b, minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((P > 0) & (N > 0), num / np.where(P * N > 0, P * N, 1.0), np.nan)


def brier_by_group(y_true: np.ndarray, y_score: np.ndarray, codes: np.ndarray | None = None,
                   n_groups: int | None = None) -> np.ndarray:
    """Brier score per group: mean of (score − y)², NaN for an empty group."""
    y_true, y_score, codes, n_groups = _group_setup(y_true, y_score, codes, n_groups)
    se = (y_score - y_true) ** 2
    tot = np.bincount(codes, weights=se, minlength=n_groups)
    n = np.bincount(codes, minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, tot / np.maximum(n, 1), np.nan)


def calibration_error_by_group(y_true: np.ndarray, y_score: np.ndarray,
                               codes: np.ndarray | None = None, n_groups: int | None = None, *,
                               n_bins: int = 10) -> np.ndarray:
    """Expected calibration error per group with ``n_bins`` equal-width score bins.

    ECE = sum over bins b of (n_b / n) · |mean(y)_b − mean(score)_b|.
    """
    y_true, y_score, codes, n_groups = _group_setup(y_true, y_score, codes, n_groups)
    b = np.clip((y_score * n_bins).astype(np.int64), 0, n_bins - 1)
    idx = codes * n_bins + b
    size = n_groups * n_bins
    cnt = np.bincount(idx, minlength=size).reshape(n_groups, n_bins)
    sy = np.bincount(idx, weights=y_true, minlength=size).reshape(n_groups, n_bins)
    ss = np.bincount(idx, weights=y_score, minlength=size).reshape(n_groups, n_bins)
    n = cnt.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(n > 0, np.abs(sy - ss).sum(axis=1) / np.maximum(n, 1), np.nan)
