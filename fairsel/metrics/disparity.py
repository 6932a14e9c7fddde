"""Fairness metrics: disparities of a group rate within one attribute.

Conventions (the contract):

* Without a reference group (fairlearn's ``between_groups``): a *difference* is the largest
  group rate minus the smallest; a *ratio* is the smallest over the largest.
* With a reference group (aif360's privileged group): each other group ``g`` is compared with
  the reference ``r`` — difference ``rate_g − rate_r``, ratio ``rate_g / rate_r`` — and the
  headline is the worst group: the largest ``|rate_g − rate_r|``, and the smallest ratio folded
  into (0, 1] as ``min(rate_g, rate_r) / max(rate_g, rate_r)``, so that a group favoured by a
  factor 1.5 reads as 0.67 against the four-fifths rule just as one disfavoured by it does.

Only *eligible* group rates take part: a rate whose denominator (rows for a selection rate,
actual positives for a TPR or FNR, actual negatives for an FPR or TNR, predicted positives for
precision; :func:`fairsel.metrics.counts.rate_eligibility`) is below ``min_group_size`` is
reported but left out, and so is a rate that is undefined (no positives for a TPR). Fewer than
two usable groups — or an unusable reference — gives NaN, which gates read as INSUFFICIENT.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FairnessMetric:
    """A disparity of one or two group rates."""

    name: str
    rates: tuple[str, ...]
    kind: str  # "difference" | "ratio"
    summary: str
    aif360: str | None = None  # the aif360 ClassificationMetric method with the same meaning
    fairlearn: str | None = None  # the fairlearn function with the same meaning

    @property
    def higher_is_fairer(self) -> bool:
        return self.kind == "ratio"


FAIRNESS_METRICS: dict[str, FairnessMetric] = {m.name: m for m in (
    FairnessMetric("disparate_impact", ("selection_rate",), "ratio",
                   "selection-rate ratio, smallest/largest (four-fifths rule: ≥ 0.8)",
                   "disparate_impact", "demographic_parity_ratio"),
    FairnessMetric("demographic_parity_difference", ("selection_rate",), "difference",
                   "largest minus smallest selection rate",
                   "statistical_parity_difference", "demographic_parity_difference"),
    FairnessMetric("demographic_parity_ratio", ("selection_rate",), "ratio",
                   "smallest over largest selection rate", "disparate_impact",
                   "demographic_parity_ratio"),
    FairnessMetric("equal_opportunity_difference", ("tpr",), "difference",
                   "largest minus smallest true positive rate",
                   "equal_opportunity_difference", "equal_opportunity_difference"),
    FairnessMetric("equal_opportunity_ratio", ("tpr",), "ratio",
                   "smallest over largest true positive rate", None, "equal_opportunity_ratio"),
    FairnessMetric("equalized_odds_difference", ("tpr", "fpr"), "difference",
                   "the larger of the TPR difference and the FPR difference",
                   "equalized_odds_difference", "equalized_odds_difference"),
    FairnessMetric("equalized_odds_ratio", ("tpr", "fpr"), "ratio",
                   "the smaller of the TPR ratio and the FPR ratio", None,
                   "equalized_odds_ratio"),
    FairnessMetric("average_odds_difference", ("avg_odds",), "difference",
                   "difference of (TPR + FPR) / 2 between groups", "average_odds_difference",
                   None),
    FairnessMetric("false_positive_rate_difference", ("fpr",), "difference",
                   "largest minus smallest false positive rate",
                   "false_positive_rate_difference", None),
    FairnessMetric("false_negative_rate_difference", ("fnr",), "difference",
                   "largest minus smallest false negative rate",
                   "false_negative_rate_difference", None),
    FairnessMetric("predictive_parity_difference", ("precision",), "difference",
                   "largest minus smallest precision (positive predictive value)",
                   None, None),
    FairnessMetric("accuracy_difference", ("accuracy",), "difference",
                   "largest minus smallest accuracy", None, None),
)}


def compared_rates(metric: str) -> tuple[str, ...]:
    """The group rates a fairness metric compares (average odds: TPR and FPR)."""
    out: list[str] = []
    for r in FAIRNESS_METRICS[metric].rates:
        out += ["tpr", "fpr"] if r == "avg_odds" else [r]
    return tuple(dict.fromkeys(out))


def _with_avg_odds(rates: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if "avg_odds" not in rates and "tpr" in rates and "fpr" in rates:
        rates = dict(rates)
        rates["avg_odds"] = (rates["tpr"] + rates["fpr"]) / 2
    return rates


def _one_rate(values: np.ndarray, kind: str, reference: int | None,
              eligible: np.ndarray | None) -> np.ndarray:
    """Headline disparity of one rate, over the last axis (groups)."""
    v = np.array(values, dtype=np.float64, copy=True)
    if eligible is not None:  # (n_groups,) or broadcastable to values, e.g. one row per fold
        v = np.where(np.asarray(eligible, dtype=bool), v, np.nan)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if reference is None:
            usable = np.sum(np.isfinite(v), axis=-1)
            hi = np.max(np.where(np.isfinite(v), v, -np.inf), axis=-1, initial=-np.inf)
            lo = np.min(np.where(np.isfinite(v), v, np.inf), axis=-1, initial=np.inf)
            out = hi - lo if kind == "difference" else np.where(hi > 0, lo / np.where(hi > 0, hi, 1), np.nan)
            return np.where(usable >= 2, out, np.nan)
        ref = v[..., reference][..., None]
        others = np.delete(v, reference, axis=-1)
        if kind == "difference":
            d = np.abs(others - ref)
            # initial=: an attribute whose only group is the reference has nothing to compare
            out = np.max(np.where(np.isfinite(d), d, -np.inf), axis=-1, initial=-np.inf)
        else:
            big = np.maximum(others, ref)
            small = np.minimum(others, ref)
            r = np.where(big > 0, small / np.where(big > 0, big, 1), np.nan)
            out = np.min(np.where(np.isfinite(r), r, np.inf), axis=-1, initial=np.inf)
        ok = np.isfinite(ref[..., 0]) & (np.sum(np.isfinite(others), axis=-1) >= 1)
        return np.where(ok & np.isfinite(out), out, np.nan)


def _mask(eligible, rate: str):
    """The eligibility mask of one rate: ``eligible`` is one mask for every rate, or a dict
    ``rate -> mask`` (as :func:`fairsel.metrics.counts.rate_eligibility` gives)."""
    if isinstance(eligible, dict):
        return eligible[rate]
    return eligible


def disparity(rates: dict[str, np.ndarray], metric: str, *, reference: int | None = None,
              eligible: np.ndarray | dict[str, np.ndarray] | None = None) -> np.ndarray:
    """The headline value of fairness ``metric`` from group rates.

    Parameters
    ----------
    rates : dict of name -> array (..., n_groups)
        Group rates as from :func:`fairsel.metrics.counts.rates_from_counts`.
    metric : str
        A name in :data:`FAIRNESS_METRICS`.
    reference : int, optional
        Index of the reference (privileged) group; ``None`` for fairlearn's min/max rule.
    eligible : bool array, or dict of rate name -> bool array, optional
        Group rates allowed to take part, each mask of shape (n_groups,) or broadcastable to
        the rates (e.g. one row per fold). A dict (from
        :func:`fairsel.metrics.counts.rate_eligibility`) gives each rate its own mask, by its
        denominator; a single array applies to every rate.

    Returns
    -------
    ndarray of shape (...)
    """
    spec = FAIRNESS_METRICS[metric]
    rates = _with_avg_odds(rates)
    parts = [_one_rate(rates[r], spec.kind, reference, _mask(eligible, r)) for r in spec.rates]
    if len(parts) == 1:
        return parts[0]
    # equalized odds: the worse of the two parts; a part that is undefined (e.g. no group has a
    # negative outcome, so no FPR) is skipped, as fairlearn does — the other is still evidence
    combine = np.fmax if spec.kind == "difference" else np.fmin
    return combine.reduce(np.stack(parts), axis=0)


def versus_reference(values: np.ndarray, reference: int, *, kind: str) -> np.ndarray:
    """Signed per-group comparison with the reference: ``rate_g − rate_r`` or ``rate_g / rate_r``."""
    v = np.asarray(values, dtype=np.float64)
    ref = v[..., reference][..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        return v - ref if kind == "difference" else np.where(ref > 0, v / np.where(ref > 0, ref, 1), np.nan)
