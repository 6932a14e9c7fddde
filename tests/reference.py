"""Reference oracles: fairsel's tables recomputed with fairlearn, aif360 and scikit-learn.

These functions are deliberately slow and literal: they call the reference libraries' public
functions group by group, the way a user of those libraries would, so that fairsel's
vectorized engine can be checked against them on the same predictions.  Tests and benchmarks
import them (``from tests.reference import ...``).

Conventions where the libraries differ (fairsel's own behaviour is in brackets):

* A rate whose denominator is zero — TPR/FNR of a group with no favorable outcome, FPR/TNR
  of a group with no unfavorable outcome — is **0.0 in fairlearn** (its rates normalise a
  scikit-learn confusion matrix, which maps 0/0 to 0), **NaN in aif360** (a float 0/0)
  [NaN: undefined, and left out of disparities].
* Precision of a group with no favorable decision is **0.0 in both** (scikit-learn's
  ``zero_division`` default; aif360's ``PPV`` guard) [NaN — it is undefined, and reading it
  as 0 would make ``predictive_parity_difference`` report a spurious maximal gap].
  F1 of a group with no positive and no favorable decision: 0.0 in scikit-learn [NaN].
* Accuracy of an empty group: aif360 returns 0.0; fairlearn never shows an empty group
  [the group is listed with n = 0 and NaN rates].
* ROC AUC of a one-class group: scikit-learn 1.9 warns and returns NaN (older versions
  raised, and a plain MetricFrame with them); the oracle returns NaN without asking
  scikit-learn, which is fairsel's value.
* Without a declared reference, fairlearn compares every group (``between_groups``:
  max − min, min / max).  aif360 always compares an *unprivileged* group with a *privileged*
  one and returns a signed value (``rate_u − rate_p``, ``rate_u / rate_p``); fairsel's
  headline with a reference is the worst group, ``max |rate_g − rate_r|`` and
  ``min over g of min(rate_g, rate_r) / max(rate_g, rate_r)``.  Taking that worst case over
  every (unprivileged, privileged) *pair* of groups gives back fairlearn's max − min and
  min / max, so both libraries can check both conventions.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Columns of the per-group table, in the order fairsel reports them.
TABLE_COLUMNS = ("n", "tp", "fp", "tn", "fn", "selection_rate", "base_rate", "tpr", "fpr", "fnr",
                 "tnr", "precision", "accuracy", "balanced_accuracy", "f1", "roc_auc", "brier")

#: Separator fairsel uses in intersection labels ("female × under_25").
JOIN = " × "


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the libraries' warnings (UndefinedMetricWarning, 0/0, aif360's root-logger notes)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def _labels(groups) -> tuple[np.ndarray, pd.DataFrame | np.ndarray]:
    """Row labels as strings; a frame of several columns is an intersection joined with JOIN."""
    if isinstance(groups, pd.DataFrame):
        frame = groups.astype(str)
        joined = frame.iloc[:, 0].to_numpy(dtype=object)
        for c in frame.columns[1:]:
            joined = joined + JOIN + frame[c].to_numpy(dtype=object)
        return joined.astype(str), frame
    lab = np.asarray(groups).astype(str)
    # a Series, not an array: fairlearn squeezes a one-row array to 0-d and then refuses it
    return lab, pd.Series(lab, name="group")


def _flat_index(index: pd.Index) -> list[str]:
    if isinstance(index, pd.MultiIndex):
        return [JOIN.join(str(x) for x in tup) for tup in index]
    return [str(x) for x in index]


# ---------------------------------------------------------------- fairlearn -----------------

def _auc_or_nan(y_true, y_score) -> float:
    """scikit-learn's ROC AUC; NaN for a group with one class (where older versions raise)."""
    from sklearn.metrics import roc_auc_score

    y_true = np.asarray(y_true)
    if len(np.unique(y_true)) < 2:
        return float("nan")
    return float(roc_auc_score(y_true, y_score))


def _cm(y_true, y_pred) -> np.ndarray:
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y_true, y_pred, labels=[0, 1]).ravel()  # tn, fp, fn, tp


def _count_metrics() -> dict:
    from fairlearn.metrics import (
        count,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_negative_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, precision_score

    return {
        "n": count,
        "tp": lambda t, p: int(_cm(t, p)[3]),
        "fp": lambda t, p: int(_cm(t, p)[1]),
        "tn": lambda t, p: int(_cm(t, p)[0]),
        "fn": lambda t, p: int(_cm(t, p)[2]),
        "selection_rate": selection_rate,
        "base_rate": lambda t, p: float(np.mean(t)),
        "tpr": true_positive_rate,
        "fpr": false_positive_rate,
        "fnr": false_negative_rate,
        "tnr": true_negative_rate,
        # zero_division=0.0 is what scikit-learn's default ("warn") returns, without the warning
        "precision": lambda t, p: precision_score(t, p, zero_division=0.0),
        "accuracy": accuracy_score,
        "balanced_accuracy": balanced_accuracy_score,
        "f1": lambda t, p: f1_score(t, p, zero_division=0.0),
    }


def _score_metrics() -> dict:
    from sklearn.metrics import brier_score_loss

    # labels=[0, 1]: a one-class group is scored too (scikit-learn otherwise refuses it)
    return {"roc_auc": _auc_or_nan,
            "brier": lambda t, s: float(brier_score_loss(t, s, labels=[0, 1]))}


@dataclass(frozen=True)
class GroupTable:
    """A reference table: one row per group present in the data, and the overall row."""

    by_group: pd.DataFrame  # index = group label (intersections joined with JOIN)
    overall: pd.Series


def fairlearn_group_table(y_true, y_pred, y_score, groups, *,
                          sample_weight=None) -> GroupTable:
    """The per-group table with fairlearn's ``MetricFrame``.

    ``MetricFrame`` passes ``y_pred`` to every metric, so the score metrics (ROC AUC, Brier)
    get their own frame with the *scores* passed as ``y_pred`` — otherwise AUC would silently
    be computed on 0/1 decisions.  ``groups`` is one label per row, or a DataFrame with one
    column per attribute (fairlearn then forms the intersections itself).
    """
    from fairlearn.metrics import MetricFrame

    y_true = np.asarray(y_true).astype(int)
    y_pred = np.asarray(y_pred).astype(int)
    _, sf = _labels(groups)
    with _quiet():
        metrics = _count_metrics()
        params = None
        if sample_weight is not None:
            # weighted: only the rates that take sample_weight; counts become weighted sums
            from fairlearn.metrics import (
                false_negative_rate,
                false_positive_rate,
                selection_rate,
                true_negative_rate,
                true_positive_rate,
            )
            from sklearn.metrics import accuracy_score

            metrics = {"n": lambda t, p, sample_weight: float(np.sum(sample_weight)),
                       "selection_rate": selection_rate, "tpr": true_positive_rate,
                       "fpr": false_positive_rate, "fnr": false_negative_rate,
                       "tnr": true_negative_rate, "accuracy": accuracy_score}
            params = {k: {"sample_weight": np.asarray(sample_weight, float)} for k in metrics}
        mf = MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=sf,
                         sample_params=params)
        by_group = mf.by_group.copy()
        overall = mf.overall.copy()
        if y_score is not None and sample_weight is None:
            mf_s = MetricFrame(metrics=_score_metrics(), y_true=y_true,
                               y_pred=np.asarray(y_score, dtype=float), sensitive_features=sf)
            by_group = pd.concat([by_group, mf_s.by_group], axis=1)
            overall = pd.concat([overall, mf_s.overall])
    by_group.index = _flat_index(by_group.index)
    return GroupTable(by_group.astype(float), overall.astype(float))


def fairlearn_rate_frame(name: str, y_true, y_pred, groups):
    """A one-rate ``MetricFrame`` (for disparities fairlearn has no named function for)."""
    from fairlearn.metrics import (
        MetricFrame,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, precision_score

    fns = {
        "avg_odds": lambda t, p: (true_positive_rate(t, p) + false_positive_rate(t, p)) / 2,
        "fpr": false_positive_rate, "fnr": false_negative_rate, "tpr": true_positive_rate,
        "precision": lambda t, p: precision_score(t, p, zero_division=0.0),
        "accuracy": accuracy_score,
        "selection_rate": selection_rate,
    }
    _, sf = _labels(groups)
    return MetricFrame(metrics=fns[name], y_true=np.asarray(y_true).astype(int),
                       y_pred=np.asarray(y_pred).astype(int), sensitive_features=sf)


def fairlearn_fairness(y_true, y_pred, groups) -> dict[str, float]:
    """Every fairsel fairness metric with fairlearn (``between_groups``), by fairsel name.

    Named fairlearn functions where they exist; otherwise ``MetricFrame.difference()`` of the
    same rate.  Pass only the rows of the groups that take part (fairsel leaves groups below
    ``min_group_size`` out).
    """
    import fairlearn.metrics as flm

    kw = {"y_true": np.asarray(y_true).astype(int), "y_pred": np.asarray(y_pred).astype(int),
          "sensitive_features": _labels(groups)[1]}
    with _quiet():
        out = {
            "disparate_impact": flm.demographic_parity_ratio(**kw),
            "demographic_parity_difference": flm.demographic_parity_difference(**kw),
            "demographic_parity_ratio": flm.demographic_parity_ratio(**kw),
            "equal_opportunity_difference": flm.equal_opportunity_difference(**kw),
            "equal_opportunity_ratio": flm.equal_opportunity_ratio(**kw),
            "equalized_odds_difference": flm.equalized_odds_difference(**kw),
            "equalized_odds_ratio": flm.equalized_odds_ratio(**kw),
            "false_positive_rate_difference": flm.false_positive_rate_difference(**kw),
            "false_negative_rate_difference": flm.false_negative_rate_difference(**kw),
            "accuracy_difference": flm.accuracy_score_difference(**kw),
        }
        for name, rate in (("average_odds_difference", "avg_odds"),
                           ("predictive_parity_difference", "precision")):
            out[name] = fairlearn_rate_frame(rate, y_true, y_pred, groups).difference()
    return {k: float(v) for k, v in out.items()}


def fairlearn_rate_disparity(rate: str, kind: str, y_true, y_pred, groups, *,
                             reference: str | None = None) -> float:
    """The disparity of one group rate from fairlearn's ``MetricFrame``: ``.difference()`` /
    ``.ratio()`` (between groups), or each group against ``reference`` (worst group, ratio
    folded).  Pass only rows of groups where the rate is defined (fairlearn reads 0/0 as 0)."""
    if len(np.unique(np.asarray(groups if not isinstance(groups, pd.DataFrame)
                                else _labels(groups)[0]))) < 2:
        return float("nan")
    with _quiet():
        mf = fairlearn_rate_frame(rate, y_true, y_pred, groups)
        if reference is None:
            return float(mf.difference() if kind == "difference" else mf.ratio())
        r = mf.by_group.copy()
    r.index = _flat_index(r.index)
    if reference not in r.index:
        return float("nan")
    others = [g for g in r.index if g != reference]
    if kind == "difference":
        return float(max(abs(r[g] - r[reference]) for g in others))
    vals = [min(r[g], r[reference]) / max(r[g], r[reference]) for g in others
            if max(r[g], r[reference]) > 0]
    return float(min(vals)) if vals else float("nan")


def fairlearn_versus_reference(y_true, y_pred, groups, reference: str) -> dict[str, float]:
    """fairsel's each-vs-reference headlines computed from fairlearn's per-group rates.

    fairlearn has no reference group; its ``MetricFrame.by_group`` supplies the rates and the
    headline is fairsel's rule: ``max |rate_g − rate_r|`` and ``min min(rate_g, rate_r) /
    max(rate_g, rate_r)`` over the other groups (groups whose rate is 0/0 — which fairlearn
    reports as 0 — must be left out by the caller, i.e. not passed).
    """
    rates = {name: fairlearn_rate_frame(name, y_true, y_pred, groups).by_group
             for name in ("tpr", "fpr", "fnr", "precision", "accuracy", "avg_odds")}
    from fairlearn.metrics import MetricFrame, selection_rate

    _, sf = _labels(groups)
    with _quiet():
        rates["selection_rate"] = MetricFrame(
            metrics=selection_rate, y_true=np.asarray(y_true).astype(int),
            y_pred=np.asarray(y_pred).astype(int), sensitive_features=sf).by_group
    for k in rates:
        rates[k].index = _flat_index(rates[k].index)

    def diff(name: str) -> float:
        r = rates[name]
        d = [abs(r[g] - r[reference]) for g in r.index if g != reference]
        d = [x for x in d if np.isfinite(x)]
        return max(d) if d else float("nan")

    def ratio(name: str) -> float:
        r = rates[name]
        out = []
        for g in r.index:
            if g == reference:
                continue
            hi, lo = max(r[g], r[reference]), min(r[g], r[reference])
            if hi > 0:
                out.append(lo / hi)
        return min(out) if out else float("nan")

    return {
        "disparate_impact": ratio("selection_rate"),
        "demographic_parity_difference": diff("selection_rate"),
        "demographic_parity_ratio": ratio("selection_rate"),
        "equal_opportunity_difference": diff("tpr"),
        "equal_opportunity_ratio": ratio("tpr"),
        # the worse part; an undefined part (NaN) is skipped — fairsel's rule
        "equalized_odds_difference": float(np.fmax(diff("tpr"), diff("fpr"))),
        "equalized_odds_ratio": float(np.fmin(ratio("tpr"), ratio("fpr"))),
        "average_odds_difference": diff("avg_odds"),
        "false_positive_rate_difference": diff("fpr"),
        "false_negative_rate_difference": diff("fnr"),
        "predictive_parity_difference": diff("precision"),
        "accuracy_difference": diff("accuracy"),
    }


# ---------------------------------------------------------------- aif360 --------------------

def _aif360_datasets(y_true, y_pred, codes):
    with _quiet():
        from aif360.datasets import BinaryLabelDataset

        frame = pd.DataFrame({"g": np.asarray(codes, dtype=float),
                              "y": np.asarray(y_true, dtype=float)})
        truth = BinaryLabelDataset(df=frame, label_names=["y"], protected_attribute_names=["g"],
                                   favorable_label=1.0, unfavorable_label=0.0)
        pred = truth.copy(deepcopy=True)
        pred.labels = np.asarray(y_pred, dtype=float).reshape(-1, 1)
    return truth, pred


def _encode(groups) -> tuple[np.ndarray, list[str]]:
    """Numeric protected attribute for aif360 (it wants numbers), and the label of each code."""
    lab, _ = _labels(groups)
    uniq = sorted(set(lab.tolist()))
    index = {u: i for i, u in enumerate(uniq)}
    return np.array([index[x] for x in lab], dtype=float), uniq


class Aif360:
    """aif360 ``ClassificationMetric`` over one attribute, with a numeric encoding of its groups.

    ``metric(unprivileged, privileged)`` returns the aif360 object for two group labels.
    """

    def __init__(self, y_true, y_pred, groups) -> None:
        self.codes, self.labels = _encode(groups)
        self.truth, self.pred = _aif360_datasets(y_true, y_pred, self.codes)
        self._cache: dict[tuple[str, str], object] = {}

    def metric(self, unprivileged: str, privileged: str | None):
        """aif360's metric object; ``privileged=None`` pairs a group with no row (code −1)."""
        key = (unprivileged, privileged)
        if key not in self._cache:
            with _quiet():
                from aif360.metrics import ClassificationMetric

                u = self.labels.index(unprivileged)
                p = self.labels.index(privileged) if privileged is not None else -1
                self._cache[key] = ClassificationMetric(
                    self.truth, self.pred, unprivileged_groups=[{"g": float(u)}],
                    privileged_groups=[{"g": float(p)}])
        return self._cache[key]

    def group_rates(self) -> pd.DataFrame:
        """Counts and rates of every group, each read as aif360's *unprivileged* group."""
        rows = {}
        with _quiet():
            for g in self.labels:
                m = self.metric(g, None)
                c = m.binary_confusion_matrix(privileged=False)
                rows[g] = {
                    "n": m.num_instances(privileged=False),
                    "tp": c["TP"], "fp": c["FP"], "tn": c["TN"], "fn": c["FN"],
                    "selection_rate": m.selection_rate(privileged=False),
                    "base_rate": m.base_rate(privileged=False),
                    "tpr": m.true_positive_rate(privileged=False),
                    "fpr": m.false_positive_rate(privileged=False),
                    "fnr": m.false_negative_rate(privileged=False),
                    "tnr": m.true_negative_rate(privileged=False),
                    "precision": m.positive_predictive_value(privileged=False),
                    "accuracy": m.accuracy(privileged=False),
                }
        return pd.DataFrame.from_dict(rows, orient="index").astype(float)

    def overall(self) -> pd.Series:
        with _quiet():
            m = self.metric(self.labels[0], None)
            c = m.binary_confusion_matrix()
            return pd.Series({
                "n": m.num_instances(), "tp": c["TP"], "fp": c["FP"], "tn": c["TN"],
                "fn": c["FN"], "selection_rate": m.selection_rate(), "base_rate": m.base_rate(),
                "tpr": m.true_positive_rate(), "fpr": m.false_positive_rate(),
                "fnr": m.false_negative_rate(), "tnr": m.true_negative_rate(),
                "precision": m.positive_predictive_value(), "accuracy": m.accuracy(),
            }, dtype=float)

    def versus(self, unprivileged: str, privileged: str | None) -> dict[str, float]:
        """aif360's signed comparisons of one group with another, by aif360 name."""
        with _quiet():
            m = self.metric(unprivileged, privileged)
            out = {
                "disparate_impact": m.disparate_impact(),
                "statistical_parity_difference": m.statistical_parity_difference(),
                "equal_opportunity_difference": m.equal_opportunity_difference(),
                "true_positive_rate_ratio": m.ratio(m.true_positive_rate),
                "false_positive_rate_ratio": m.false_positive_rate_ratio(),
                "average_odds_difference": m.average_odds_difference(),
                "false_positive_rate_difference": m.false_positive_rate_difference(),
                "false_negative_rate_difference": m.false_negative_rate_difference(),
                "positive_predictive_value_difference": m.difference(m.positive_predictive_value),
                "accuracy_difference": m.difference(m.accuracy),
            }
            if hasattr(m, "equalized_odds_difference"):  # aif360 >= 0.6
                out["equalized_odds_difference"] = m.equalized_odds_difference()
        return {k: float(v) for k, v in out.items()}


def _fold(r: float) -> float:
    """A ratio folded into [0, 1]: min(r, 1/r) (inf → 0; 0/0 stays NaN)."""
    if not np.isfinite(r):
        return 0.0 if r == np.inf else float("nan")
    if r == 0:
        return 0.0
    return min(r, 1.0 / r)


def _headline_from_pairs(pairs: list[dict[str, float]]) -> dict[str, float]:
    """fairsel's headline (worst comparison) from a list of aif360 comparisons."""
    def worst_abs(key: str) -> float:
        vals = [abs(p[key]) for p in pairs if np.isfinite(p[key])]
        return max(vals) if vals else float("nan")

    def worst_ratio(key: str) -> float:
        vals = [_fold(p[key]) for p in pairs]
        vals = [v for v in vals if np.isfinite(v)]
        return min(vals) if vals else float("nan")

    di = worst_ratio("disparate_impact")
    # the worse part; an undefined part (NaN, e.g. every TPR 0 so the TPR ratio is 0/0) is
    # skipped — fairsel's rule (Python's min would return the NaN only when it comes first)
    eo_ratio = float(np.fmin(worst_ratio("true_positive_rate_ratio"),
                             worst_ratio("false_positive_rate_ratio")))
    eod = (worst_abs("equalized_odds_difference") if "equalized_odds_difference" in pairs[0]
           else float(np.fmax(worst_abs("equal_opportunity_difference"),
                              worst_abs("false_positive_rate_difference"))))
    return {
        "disparate_impact": di,
        "demographic_parity_difference": worst_abs("statistical_parity_difference"),
        "demographic_parity_ratio": di,
        "equal_opportunity_difference": worst_abs("equal_opportunity_difference"),
        "equal_opportunity_ratio": worst_ratio("true_positive_rate_ratio"),
        "equalized_odds_difference": eod,
        "equalized_odds_ratio": eo_ratio,
        "average_odds_difference": worst_abs("average_odds_difference"),
        "false_positive_rate_difference": worst_abs("false_positive_rate_difference"),
        "false_negative_rate_difference": worst_abs("false_negative_rate_difference"),
        "predictive_parity_difference": worst_abs("positive_predictive_value_difference"),
        "accuracy_difference": worst_abs("accuracy_difference"),
    }


def aif360_fairness(y_true, y_pred, groups, *, reference: str | None = None,
                    per_group: bool = False):
    """Every fairsel fairness metric from aif360's ``ClassificationMetric``, by fairsel name.

    With ``reference``: each other group is aif360's unprivileged group against the reference
    as the privileged one; the headline is the worst group (largest ``|difference|``, smallest
    ratio folded into [0, 1]).  Without: the worst over every pair of groups, which is
    fairlearn's max − min and min / max.  With ``per_group=True`` (reference required) also
    return aif360's signed values per non-reference group: ``(headline, {group: {...}})``.
    Pass only the rows of the groups that take part.
    """
    a = Aif360(y_true, y_pred, groups)
    if reference is not None:
        if reference not in a.labels:
            raise ValueError(f"reference {reference!r} not among {a.labels}")
        signed = {g: a.versus(g, reference) for g in a.labels if g != reference}
        pairs = list(signed.values())
    else:
        signed = {}
        pairs = [a.versus(u, p) for u, p in itertools.combinations(a.labels, 2)]
    if not pairs:
        head = {k: float("nan") for k in _headline_from_pairs([a.versus(a.labels[0], None)])}
    else:
        head = _headline_from_pairs(pairs)
    return (head, signed) if per_group else head


def aif360_group_table(y_true, y_pred, groups) -> GroupTable:
    """Counts and rates per group (and overall) with aif360 (no score metrics: it has none)."""
    a = Aif360(y_true, y_pred, groups)
    return GroupTable(a.group_rates(), a.overall())


# ---------------------------------------------------------------- numpy / scikit-learn ------

def calibration_error(y_true, y_score, n_bins: int = 10) -> float:
    """Expected calibration error with ``n_bins`` equal-width bins ``[k/n, (k+1)/n)`` (1.0 in the
    last), written independently of fairsel: Σ_b (n_b / n) · |mean(y)_b − mean(score)_b|.

    A score is binned by its shortest decimal form (``Decimal(repr(s))``), so 0.3 lies in
    [0.3, 0.4) as its writer meant.  (``np.histogram``'s ``linspace`` edges put 0.3, 0.6 and 0.7
    one bin lower, because ``linspace(0, 1, 11)[3]`` is 0.30000000000000004.)
    """
    from decimal import Decimal

    y_true = np.asarray(y_true, dtype=float)
    y_score = np.asarray(y_score, dtype=float)
    if len(y_true) == 0:
        return float("nan")
    bins = np.array([min(int(Decimal(repr(float(s))) * n_bins), n_bins - 1) for s in y_score])
    total = 0.0
    for k in np.unique(bins):
        inside = bins == k
        total += inside.sum() * abs(y_true[inside].mean() - y_score[inside].mean())
    return total / len(y_true)


def sklearn_overall(y_true, y_pred, y_score) -> dict[str, float]:
    """Every performance metric in fairsel's catalogue, with scikit-learn on all rows."""
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        brier_score_loss,
        f1_score,
        precision_score,
        recall_score,
    )

    y_true = np.asarray(y_true).astype(int)
    y_pred = np.asarray(y_pred).astype(int)
    tn, fp, fn, tp = _cm(y_true, y_pred)
    with _quiet():
        return {
            "roc_auc": _auc_or_nan(y_true, y_score),
            "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
            "accuracy": float(accuracy_score(y_true, y_pred)),
            "f1": float(f1_score(y_true, y_pred, zero_division=np.nan)),
            "precision": float(precision_score(y_true, y_pred, zero_division=np.nan)),
            "recall": float(recall_score(y_true, y_pred, zero_division=np.nan)),
            "tpr": float(recall_score(y_true, y_pred, zero_division=np.nan)),
            "tnr": tn / (tn + fp) if tn + fp else float("nan"),
            "fpr": fp / (tn + fp) if tn + fp else float("nan"),
            "fnr": fn / (tp + fn) if tp + fn else float("nan"),
            "selection_rate": float(np.mean(y_pred)),
            "brier_score": float(brier_score_loss(y_true, y_score, labels=[0, 1])),
            "calibration_error": calibration_error(y_true, y_score),
        }


def auc_mann_whitney(y_true, y_score) -> float:
    """Exact AUC from ranks (scipy's average ranks handle ties), independent of scikit-learn."""
    from scipy.stats import rankdata

    y_true = np.asarray(y_true).astype(bool)
    p, n = int(y_true.sum()), int((~y_true).sum())
    if p == 0 or n == 0:
        return float("nan")
    r = rankdata(y_score)
    return float((r[y_true].sum() - p * (p + 1) / 2) / (p * n))


def nan_equal(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
              atol: float = 1e-9) -> bool:
    """Equal within ``atol``, NaN matching NaN."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all((np.isnan(a) & np.isnan(b))
                                              | (np.abs(a - b) <= atol)))


# ---------------------------------------------------------------- test data -----------------

@dataclass(frozen=True)
class AuditArrays:
    """Predictions of one variant with two protected attributes, ready for ``evaluate_variant``.

    ``a`` and ``b`` are the row labels; ``atoms`` the row's cell of ``a × b`` (``a_code * len(b
    levels) + b_code``); ``partitions`` are A, B and (when asked) A × B over the present
    combinations, built the way ``fairsel.data`` builds them, but written out independently.
    """

    y_true: np.ndarray
    y_pred: np.ndarray
    y_score: np.ndarray
    a: np.ndarray
    b: np.ndarray
    atoms: np.ndarray
    n_atoms: int
    partitions: list
    folds: np.ndarray
    n_folds: int
    clusters: np.ndarray | None = None


def build_partitions(a_codes, b_codes, a_levels, b_levels, *, a_reference: str | None = None,
                     b_reference: str | None = None, intersections: bool = True,
                     names: tuple[str, str] = ("A", "B")):
    """Atoms and the A, B (and A × B) :class:`fairsel.partition.Partition` objects."""
    from fairsel.partition import Partition

    na, nb = len(a_levels), len(b_levels)
    atoms = np.asarray(a_codes, dtype=np.int64) * nb + np.asarray(b_codes, dtype=np.int64)
    n_atoms = na * nb
    atom_a = np.repeat(np.arange(na), nb)
    atom_b = np.tile(np.arange(nb), na)
    parts = [
        Partition(names[0], ("a",), "attribute", tuple(a_levels), atom_a,
                  None if a_reference is None else list(a_levels).index(a_reference)),
        Partition(names[1], ("b",), "attribute", tuple(b_levels), atom_b,
                  None if b_reference is None else list(b_levels).index(b_reference)),
    ]
    if intersections:
        present = np.flatnonzero(np.bincount(atoms, minlength=n_atoms))
        to_group = np.zeros(n_atoms, dtype=np.int64)  # absent cells have no rows: any code works
        to_group[present] = np.arange(len(present))
        labels = tuple(f"{a_levels[atom_a[c]]}{JOIN}{b_levels[atom_b[c]]}" for c in present)
        parts.append(Partition(f"{names[0]}{JOIN}{names[1]}", ("a", "b"), "intersection", labels,
                               to_group, None))
    return atoms, n_atoms, parts


def synthetic_audit(n: int, *, seed: int = 0, a_levels: Sequence[str] = ("a0", "a1", "a2", "a3", "a4"),
                    a_weights: Sequence[float] | None = None,
                    b_levels: Sequence[str] = ("b0", "b1"), a_reference: str | None = None,
                    intersections: bool = True, n_folds: int = 5, decimals: int | None = 2,
                    n_clusters: int | None = None) -> AuditArrays:
    """Random predictions whose score and decision depend on the groups (so disparities exist).

    ``decimals`` rounds the scores, creating ties (AUC must count them half).
    """
    rng = np.random.default_rng(seed)
    a_levels, b_levels = list(a_levels), list(b_levels)
    pa = None if a_weights is None else np.asarray(a_weights, float) / np.sum(a_weights)
    a_codes = rng.choice(len(a_levels), size=n, p=pa)
    b_codes = rng.integers(0, len(b_levels), size=n)
    shift = 0.15 * (a_codes - len(a_levels) / 2) / len(a_levels) + 0.05 * b_codes
    y = (rng.random(n) < 0.45 + shift).astype(np.int64)
    score = np.clip(rng.normal(0.35 + 0.3 * y + shift, 0.2), 0.0, 1.0)
    if decimals is not None:
        score = np.round(score, decimals)
    pred = (score >= 0.5).astype(np.int64)
    atoms, n_atoms, parts = build_partitions(a_codes, b_codes, a_levels, b_levels,
                                             a_reference=a_reference,
                                             intersections=intersections)
    clusters = None if n_clusters is None else rng.integers(0, n_clusters, size=n)
    return AuditArrays(y, pred, score, np.asarray(a_levels)[a_codes], np.asarray(b_levels)[b_codes],
                       atoms, n_atoms, parts, rng.integers(0, n_folds, size=n), n_folds, clusters)


# ---------------------------------------------------------------- comparing -----------------

#: What each library returns where fairsel's value is NaN (an undefined rate), by column.
#: Missing columns: the library has NaN too (or never meets the case).
UNDEFINED_AS: dict[str, dict[str, float]] = {
    # scikit-learn's confusion matrix normalisation and zero_division default map 0/0 to 0
    "fairlearn": {"tpr": 0.0, "fnr": 0.0, "fpr": 0.0, "tnr": 0.0, "precision": 0.0, "f1": 0.0},
    # aif360 divides floats (0/0 = NaN) except PPV and accuracy, which it guards with 0.0
    "aif360": {"precision": 0.0, "accuracy": 0.0},
}


def fairsel_group_table(y_true, y_pred, y_score, codes, levels: Sequence[str], *,
                        sample_weight=None) -> pd.DataFrame:
    """fairsel's per-group table through its public functions, one row per level."""
    from fairsel.metrics import (
        brier_by_group,
        confusion_counts,
        rates_from_counts,
        roc_auc_by_group,
    )

    g = len(levels)
    counts = confusion_counts(y_true, y_pred, codes, g, sample_weight=sample_weight)
    rates = rates_from_counts(counts)
    table = {"n": rates["n"], "tp": counts[:, 3], "fp": counts[:, 1], "tn": counts[:, 0],
             "fn": counts[:, 2]}
    table.update({k: rates[k] for k in TABLE_COLUMNS if k in rates and k not in table})
    if y_score is not None:
        table["roc_auc"] = roc_auc_by_group(y_true, y_score, codes, g)
        table["brier"] = brier_by_group(y_true, y_score, codes, g)
    return pd.DataFrame(table, index=list(levels))


def assert_same_table(fs: pd.DataFrame, ref: pd.DataFrame, library: str, *,
                      atol: float = 1e-9, columns: Sequence[str] | None = None) -> int:
    """Assert fairsel's table equals a reference table on every group the reference lists.

    Where fairsel reports NaN (undefined), the reference must show its documented value
    (:data:`UNDEFINED_AS`).  Groups fairsel lists but the reference does not (empty groups)
    must have n = 0.  Returns the number of values compared, so a caller can assert it is > 0.
    """
    conv = UNDEFINED_AS[library]
    cols = [c for c in (columns or TABLE_COLUMNS) if c in fs.columns and c in ref.columns]
    problems: list[str] = []
    compared = 0
    for grp in fs.index:
        if grp not in ref.index:
            if fs.loc[grp, "n"] != 0:
                problems.append(f"group {grp!r} (n={fs.loc[grp, 'n']}) missing from {library}")
            continue
        for c in cols:
            a, b = float(fs.loc[grp, c]), float(ref.loc[grp, c])
            compared += 1
            if np.isnan(a):
                want = conv.get(c, float("nan"))
                ok = (np.isnan(b) if np.isnan(want) else b == want)
                if not ok:
                    problems.append(f"{grp!r} {c}: fairsel NaN (undefined), {library} {b!r}, "
                                    f"documented {want!r}")
            elif not (np.isfinite(b) and abs(a - b) <= atol):
                problems.append(f"{grp!r} {c}: fairsel {a!r} != {library} {b!r}")
    for grp in ref.index:
        if grp not in fs.index:
            problems.append(f"group {grp!r} of {library} missing from fairsel")
    if problems:
        raise AssertionError(f"{len(problems)} disagreement(s) with {library}:\n  "
                             + "\n  ".join(problems[:30]))
    return compared


def score_estimator():
    """A fitted 'estimator' whose prediction is its single feature: the score itself.

    Lets fairlearn's ThresholdOptimizer (``prefit=True``) work on precomputed scores, as
    fairsel's threshold mitigation does.
    """
    import numpy as np
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Scores(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.classes_ = np.array([0, 1])
            return self

        def predict(self, X):
            return np.asarray(X)[:, 0]

    return Scores().fit(None, None)
