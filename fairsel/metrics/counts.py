"""Per-group confusion counts and the rates that are functions of them.

Every rate fairsel reports is computed from four numbers per group, kept along the last
axis in the order ``CELLS = (tn, fp, fn, tp)`` (cell index ``2 * y_true + y_pred``).
All functions broadcast over leading axes, so the same code serves a single table,
per-fold tables and thousands of bootstrap replicates at once.
"""

from __future__ import annotations

import numpy as np

from fairsel.metrics.scores import group_setup

CELLS = ("tn", "fp", "fn", "tp")
TN, FP, FN, TP = 0, 1, 2, 3

#: Rates derived from confusion counts, with their formula (shown in ``fairsel list metrics``).
RATE_FORMULAS: dict[str, str] = {
    "selection_rate": "(TP + FP) / n — share of favorable decisions",
    "base_rate": "(TP + FN) / n — share of favorable true outcomes",
    "tpr": "TP / (TP + FN) — true positive rate (recall)",
    "fpr": "FP / (FP + TN) — false positive rate",
    "fnr": "FN / (TP + FN) — false negative rate",
    "tnr": "TN / (FP + TN) — true negative rate (specificity)",
    "precision": "TP / (TP + FP) — positive predictive value",
    "accuracy": "(TP + TN) / n",
    "balanced_accuracy": "(TPR + TNR) / 2 (the mean over the classes present, as scikit-learn)",
    "f1": "2 TP / (2 TP + FP + FN)",
}


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, codes: np.ndarray | None = None,
                     n_groups: int | None = None, *,
                     sample_weight: np.ndarray | None = None) -> np.ndarray:
    """Confusion counts per group in one vectorized pass.

    Parameters
    ----------
    y_true, y_pred : array of 0/1
        True outcome and decision (1 = favorable).
    codes : array of int, optional
        Group code of each row in ``0 .. n_groups - 1`` (all rows one group when omitted).
    n_groups : int, optional
        Number of groups (``codes.max() + 1`` when omitted); empty groups get zero counts.
    sample_weight : array of float, optional
        Row weights; counts are then weighted sums.

    Returns
    -------
    ndarray of shape (n_groups, 4)
        ``[tn, fp, fn, tp]`` for each group.
    """
    y_true, y_pred, codes, n_groups = group_setup(y_true, y_pred, codes, n_groups,
                                                  score_dtype=np.int64)
    idx = codes * 4 + 2 * y_true + y_pred
    counts = np.bincount(idx, weights=sample_weight, minlength=4 * n_groups)
    return counts.astype(np.float64, copy=False).reshape(n_groups, 4)


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def rates_from_counts(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Every count-based rate, NaN where its denominator is zero.

    ``counts`` has shape ``(..., 4)``; each returned array has shape ``(...)``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    tn, fp, fn, tp = (counts[..., i] for i in range(4))
    n = tn + fp + fn + tp
    pos = tp + fn
    neg = tn + fp
    tpr = _div(tp, pos)
    tnr = _div(tn, neg)
    with np.errstate(invalid="ignore"):
        both = np.isfinite(tpr) & np.isfinite(tnr)
        bal = np.where(both, (tpr + tnr) / 2, np.where(np.isfinite(tpr), tpr, tnr))
    return {
        "n": n,
        "selection_rate": _div(tp + fp, n),
        "base_rate": _div(pos, n),
        "tpr": tpr,
        "fpr": _div(fp, neg),
        "fnr": _div(fn, pos),
        "tnr": tnr,
        "precision": _div(tp, tp + fp),
        "accuracy": _div(tp + tn, n),
        "balanced_accuracy": bal,
        "f1": _div(2 * tp, 2 * tp + fp + fn),
    }
