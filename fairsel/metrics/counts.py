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


#: What each rate divides by: ``min_group_size`` applies to this count, not to the group's rows.
RATE_DENOMINATORS: dict[str, str] = {
    "selection_rate": "rows", "base_rate": "rows", "accuracy": "rows",
    "tpr": "actual positives (favorable outcomes)", "fnr": "actual positives (favorable outcomes)",
    "fpr": "actual negatives (unfavorable outcomes)", "tnr": "actual negatives (unfavorable outcomes)",
    "precision": "predicted positives (favorable decisions)",
    "f1": "rows that are actual or predicted positives (TP + FP + FN)",
    "balanced_accuracy": "the smaller class present (positives or negatives)",
    "roc_auc": "the smaller class (positives or negatives)",
    "brier_score": "rows", "calibration_error": "rows",
    "avg_odds": "actual positives and actual negatives",
}

#: Rates that are one count over another: rate -> (numerator cells, denominator cells).
_FRACTIONS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "selection_rate": ((1, 3), (0, 1, 2, 3)), "base_rate": ((2, 3), (0, 1, 2, 3)),
    "accuracy": ((0, 3), (0, 1, 2, 3)), "tpr": ((3,), (2, 3)), "fnr": ((2,), (2, 3)),
    "fpr": ((1,), (0, 1)), "tnr": ((0,), (0, 1)), "precision": ((3,), (1, 3)),
}


def rate_fractions(counts: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``rate -> (numerator, denominator)`` for the rates that are one count over another
    (``fnr`` of a group is ``fn / (tp + fn)``: shown as "2/22")."""
    counts = np.asarray(counts, dtype=np.float64)
    return {r: (counts[..., list(num)].sum(axis=-1), counts[..., list(den)].sum(axis=-1))
            for r, (num, den) in _FRACTIONS.items()}


def rate_denominators(counts: np.ndarray) -> dict[str, np.ndarray]:
    """The count each rate of :data:`RATE_DENOMINATORS` rests on, per group (shape ``(...)``)."""
    counts = np.asarray(counts, dtype=np.float64)
    tn, fp, fn, tp = (counts[..., i] for i in range(4))
    n = tn + fp + fn + tp
    pos, neg = tp + fn, tn + fp
    smaller = np.minimum(pos, neg)
    present = np.where((pos > 0) & (neg > 0), smaller, np.maximum(pos, neg))
    return {"selection_rate": n, "base_rate": n, "accuracy": n, "tpr": pos, "fnr": pos,
            "fpr": neg, "tnr": neg, "precision": tp + fp, "f1": tp + fp + fn,
            "balanced_accuracy": present, "roc_auc": smaller, "brier_score": n,
            "calibration_error": n}


def rate_eligibility(counts: np.ndarray, min_group_size: int) -> dict[str, np.ndarray]:
    """Which group rates may enter a disparity: ``rate -> bool array (...)``.

    A rate is eligible when the count it divides by (:func:`rate_denominators`) is at least
    ``min_group_size`` (and never when it is 0): a group of 30 rows with 22 actual positives
    has an eligible selection rate under ``min_group_size: 30`` but not an eligible TPR or FNR.
    ``avg_odds`` needs both TPR and FPR. The mask is computed from the counts alone (no pass
    over rows), so the same mask serves point estimates, folds and bootstrap replicates.
    """
    floor = max(int(min_group_size), 1)
    out = {r: d >= floor for r, d in rate_denominators(counts).items()}
    out["avg_odds"] = out["tpr"] & out["fpr"]
    return out


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
