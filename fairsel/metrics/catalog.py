"""The names a policy may use under ``metrics``, ``gates`` and ``ranking``."""

from __future__ import annotations

from dataclasses import dataclass

from fairsel.metrics.counts import RATE_DENOMINATORS, RATE_FORMULAS
from fairsel.metrics.disparity import FAIRNESS_METRICS
from fairsel.metrics.intervals import interval_text
from fairsel.metrics.significance import SAME_TEST
from fairsel.registry import Registry


@dataclass(frozen=True)
class MetricInfo:
    name: str
    family: str  # "performance" | "fairness"
    higher_is_better: bool
    formula: str

    @property
    def interval(self) -> str:
        """How its confidence interval is computed (fairsel/metrics/intervals.py)."""
        return interval_text(self.name, self.family)


_PERFORMANCE: list[MetricInfo] = [
    MetricInfo("roc_auc", "performance", True,
               "area under the ROC curve of the favorable-outcome score (ties count half)"),
    MetricInfo("balanced_accuracy", "performance", True, RATE_FORMULAS["balanced_accuracy"]),
    MetricInfo("accuracy", "performance", True, RATE_FORMULAS["accuracy"]),
    MetricInfo("f1", "performance", True, RATE_FORMULAS["f1"]),
    MetricInfo("precision", "performance", True, RATE_FORMULAS["precision"]),
    MetricInfo("recall", "performance", True, RATE_FORMULAS["tpr"]),
    MetricInfo("tpr", "performance", True, RATE_FORMULAS["tpr"]),
    MetricInfo("tnr", "performance", True, RATE_FORMULAS["tnr"]),
    MetricInfo("fpr", "performance", False, RATE_FORMULAS["fpr"]),
    MetricInfo("fnr", "performance", False, RATE_FORMULAS["fnr"]),
    MetricInfo("selection_rate", "performance", True, RATE_FORMULAS["selection_rate"]),
    MetricInfo("brier_score", "performance", False,
               "mean of (score − y)²; probabilities only (score_type), else null"),
    MetricInfo("calibration_error", "performance", False,
               "expected calibration error, 10 equal-width score bins: Σ_b (n_b/n)·|mean(y)_b − "
               "mean(score)_b|; probabilities only (score_type), else null"),
]

METRICS: Registry[MetricInfo] = Registry("metric", "fairsel list metrics")
for _m in _PERFORMANCE:
    METRICS.register(_m.name, _m, summary=f"performance — {_m.formula}; interval: {_m.interval}")
def _eligibility_note(rates: tuple[str, ...]) -> str:
    """Who a metric's group rates are computed on (``min_group_size`` counts them)."""
    whom = " / ".join(dict.fromkeys(RATE_DENOMINATORS[r] for r in rates))
    note = f"; a group's rate takes part when it rests on ≥ min_group_size {whom}"
    if all(r in SAME_TEST for r in rates):
        tested = " and ".join(dict.fromkeys(SAME_TEST[r] for r in rates))
        note += (f"; each group's {tested} is tested against the reference "
                 "(metrics.significance; gates may require_significance)")
    return note


for _f in FAIRNESS_METRICS.values():
    _i = MetricInfo(_f.name, "fairness", _f.higher_is_fairer, _f.summary)
    METRICS.register(_f.name, _i, summary=f"fairness — {_f.summary}{_eligibility_note(_f.rates)}"
                                          f"; interval: {_i.interval}")

#: The 0/0 rule, printed under ``fairsel list metrics`` (the engine:
#: :func:`fairsel.metrics.counts.rates_from_counts` and :mod:`fairsel.metrics.disparity`).
UNDEFINED_RATES_NOTE = (
    "Undefined rates (0/0): a rate whose denominator is 0 — TPR or FNR of a group with no "
    "actual positives, FPR or TNR with no actual negatives, precision with no favorable "
    "decisions — is undefined: null in results.json, never counted as 0, and left out of "
    "every disparity, gate and headline. fairlearn (like scikit-learn's zero_division=0) "
    "counts it as 0, so a group with nothing to measure can make a gap of up to 1 there; "
    "aif360 leaves it out as fairsel does. A ratio whose larger rate is 0 is undefined too "
    "(every group at rate 0; with a reference group, a group at 0 against a reference at 0 is "
    "left out). An undefined reference rate makes the attribute's figure undefined. "
    "Equalized odds skips a part that is undefined (fewer than two groups with an FPR, say) "
    "and uses the other. A figure left with fewer than two groups is null; its gates read "
    "INSUFFICIENT.")

PERFORMANCE_NAMES: tuple[str, ...] = tuple(m.name for m in _PERFORMANCE)
FAIRNESS_NAMES: tuple[str, ...] = tuple(FAIRNESS_METRICS)

#: Performance metric name -> the group-rate key it reads (for count-based ones).
PERFORMANCE_RATE: dict[str, str] = {
    "balanced_accuracy": "balanced_accuracy", "accuracy": "accuracy", "f1": "f1",
    "precision": "precision", "recall": "tpr", "tpr": "tpr", "tnr": "tnr", "fpr": "fpr",
    "fnr": "fnr", "selection_rate": "selection_rate",
}
