"""The metric engine: per-group confusion counts, rates, AUC, disparities and intervals."""

from fairsel.metrics.catalog import FAIRNESS_NAMES, METRICS, PERFORMANCE_NAMES, MetricInfo
from fairsel.metrics.counts import CELLS, confusion_counts, rates_from_counts
from fairsel.metrics.disparity import FAIRNESS_METRICS, disparity, versus_reference
from fairsel.metrics.engine import Confidence, VariantMetrics, evaluate_variant
from fairsel.metrics.scores import brier_by_group, calibration_error_by_group, roc_auc_by_group
from fairsel.partition import Partition

__all__ = [
    "CELLS", "FAIRNESS_METRICS", "FAIRNESS_NAMES", "METRICS", "PERFORMANCE_NAMES", "Confidence",
    "MetricInfo", "Partition", "VariantMetrics", "brier_by_group", "calibration_error_by_group",
    "confusion_counts", "disparity", "evaluate_variant", "rates_from_counts", "roc_auc_by_group",
    "versus_reference",
]
