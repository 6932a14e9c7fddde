"""aif360's post-processing methods behind an adapter (the only module that imports aif360).

Both methods compare a *privileged* group with an *unprivileged* one, so fairsel splits the
mitigation's groups — by default the first protected attribute's, or the intersection of the
entry's ``attributes`` — in two: the privileged side is the declared reference group (the
reference cell when every attribute declares one), otherwise the group with the highest
favorable rate among the fitting rows; every other group is unprivileged. Both decide with
the protected attribute.

``calibrated_equalized_odds`` — aif360 ``CalibratedEqOddsPostprocessing`` (Pleiss et al.,
2017). On the side whose cost is lower, a share ``α`` of rows has its score replaced by that
side's base rate,

.. math::

    \\tilde s(x) = \\begin{cases} \\bar y_{\\text{side}} & \\text{with probability } \\alpha \\\\
                                   s(x) & \\text{otherwise} \\end{cases}

with ``α`` chosen so both sides' cost (generalised FPR and FNR weighted: ``equalized_odds``;
generalised FNR only: ``equal_opportunity``) is equal; decision ``s̃ >= 0.5``. The choice of
rows is **random**: aif360 seeds NumPy's global generator with the policy's seed (fairsel
restores the generator's state afterwards), so results repeat under the seed, but two rows
with the same score may get different decisions.

``reject_option`` — aif360 ``RejectOptionClassification`` (Kamiran et al., 2012). Within a
band ``|s(x) − θ| <= m`` around the threshold ``θ``, unprivileged rows get the favorable
decision and privileged rows the unfavorable one; outside it, ``s(x) > θ``. ``θ`` and ``m``
are searched on a ``grid_size × grid_size/2`` grid (aif360's default grid corresponds to
``grid_size: 100``; fairsel's default 20 keeps a fold's fit under a second) for the best
balanced accuracy with the fairness metric in ``[−tolerance, tolerance]`` (statistical
parity difference for ``demographic_parity``, equal opportunity difference for
``equal_opportunity``, average odds difference for ``equalized_odds``). Deterministic.

Both need scores that are probabilities in [0, 1]. The rows being decided are handed to
aif360 with placeholder labels: their true outcomes are never seen.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

METHODS = ("calibrated_equalized_odds", "reject_option")

#: reject_option: policy constraint → aif360's metric_name.
ROC_METRICS: dict[str, str] = {
    "demographic_parity": "Statistical parity difference",
    "equal_opportunity": "Equal opportunity difference",
    "equalized_odds": "Average odds difference",
}
#: calibrated_equalized_odds: policy constraint → aif360's cost_constraint.
CEO_COSTS: dict[str, str] = {"equalized_odds": "weighted", "equal_opportunity": "fnr"}


def _aif360():
    """Import aif360 quietly: on import it logs warnings about optional extras to the root logger."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from aif360.algorithms.postprocessing import (
                CalibratedEqOddsPostprocessing,
                RejectOptionClassification,
            )
            from aif360.datasets import BinaryLabelDataset
    finally:
        logging.disable(previous)
    return BinaryLabelDataset, CalibratedEqOddsPostprocessing, RejectOptionClassification


def _dataset(BinaryLabelDataset, y: np.ndarray, scores: np.ndarray, privileged: np.ndarray):
    import pandas as pd

    frame = pd.DataFrame({"privileged": privileged.astype(np.float64),
                          "y": y.astype(np.float64)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = BinaryLabelDataset(df=frame, label_names=["y"],
                                protected_attribute_names=["privileged"],
                                favorable_label=1.0, unfavorable_label=0.0)
    ds.scores = np.asarray(scores, dtype=np.float64).reshape(-1, 1)
    return ds


@dataclass
class PostprocessingModel:
    """A fitted aif360 post-processor and what it learned (``details``)."""

    method: str
    model: Any
    seed: int
    details: dict[str, Any] = field(default_factory=dict)

    def predict(self, y_score: np.ndarray, privileged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, decisions)`` for rows to decide, from their scores and sides only."""
        BinaryLabelDataset, _, _ = _aif360()
        ds = _dataset(BinaryLabelDataset, np.zeros(len(y_score)), y_score, privileged)
        state = np.random.get_state()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = self.model.predict(ds)
        finally:
            np.random.set_state(state)  # aif360 reseeds NumPy's global generator
        labels = np.asarray(out.labels).ravel()
        scores = np.asarray(out.scores, dtype=np.float64).ravel()
        if self.method == "reject_option":  # it changes decisions only
            scores = np.asarray(y_score, dtype=np.float64)
        return scores, (labels == 1.0).astype(np.int8)


def privileged_side(y_true: np.ndarray, groups: np.ndarray, n_groups: int,
                    reference: int | None) -> int:
    """The privileged group: the declared reference, else the highest favorable rate (lowest code on ties)."""
    if reference is not None:
        return int(reference)
    n = np.bincount(groups, minlength=n_groups)
    fav = np.bincount(groups, weights=y_true, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(n > 0, fav / np.maximum(n, 1), -1.0)
    return int(np.argmax(rate))


def fit_postprocessing(method: str, y_true: np.ndarray, y_score: np.ndarray,
                       privileged: np.ndarray, *, constraint: str | None = None,
                       tolerance: float = 0.05, grid_size: int = 20,
                       seed: int = 0) -> PostprocessingModel:
    """Fit aif360's ``method`` on fitting rows' outcomes and scores.

    Parameters
    ----------
    method : {"calibrated_equalized_odds", "reject_option"}
    y_true : array of 0/1
        Outcomes of the fitting rows (1 = favorable).
    y_score : array of float in [0, 1]
        Scores of the fitting rows (not from a model fitted on their labels).
    privileged : array of bool
        Whether each fitting row is on the privileged side.
    constraint : str, optional
        ``calibrated_equalized_odds``: ``equalized_odds`` (default) or ``equal_opportunity``;
        ``reject_option``: any of the three (default ``demographic_parity``).
    tolerance : float
        ``reject_option``: the fairness metric must lie in ``[−tolerance, tolerance]``.
    grid_size : int
        ``reject_option``: thresholds searched (and half as many margins).
    seed : int
        ``calibrated_equalized_odds``: the seed of its random choice of rows.

    Returns
    -------
    PostprocessingModel

    Raises
    ------
    ValueError
        Scores outside [0, 1], or one side without rows.
    """
    s = np.asarray(y_score, dtype=np.float64)
    if len(s) and (np.nanmin(s) < 0 or np.nanmax(s) > 1):
        raise ValueError(f"{method} needs scores that are probabilities in [0, 1]; found "
                         f"scores from {np.nanmin(s):.4g} to {np.nanmax(s):.4g}")
    priv = np.asarray(privileged, dtype=bool)
    if priv.all() or not priv.any():
        raise ValueError(f"{method} needs fitting rows on both the privileged and the "
                         "unprivileged side")
    BinaryLabelDataset, CEO, ROC = _aif360()
    y = np.asarray(y_true, dtype=np.float64)
    truth = _dataset(BinaryLabelDataset, y, s, priv)
    pred = truth.copy(deepcopy=True)
    pred.labels = (s >= 0.5).astype(np.float64).reshape(-1, 1)
    sides = dict(unprivileged_groups=[{"privileged": 0.0}], privileged_groups=[{"privileged": 1.0}])
    details: dict[str, Any] = {}
    state = np.random.get_state()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if method == "calibrated_equalized_odds":
                cost = CEO_COSTS[constraint or "equalized_odds"]
                model = CEO(**sides, cost_constraint=cost, seed=int(seed)).fit(truth, pred)
                details = {"cost_constraint": cost,
                           "privileged_mix_rate": float(model.priv_mix_rate),
                           "unprivileged_mix_rate": float(model.unpriv_mix_rate),
                           "privileged_base_rate": float(model.base_rate_priv),
                           "unprivileged_base_rate": float(model.base_rate_unpriv),
                           # a mix rate above 1 means mixing cannot equalise the costs: every
                           # row of that side takes its base rate
                           "constraint_met_on_fit": bool(max(model.priv_mix_rate,
                                                             model.unpriv_mix_rate) <= 1.0),
                           "randomized": True}
            elif method == "reject_option":
                metric = ROC_METRICS[constraint or "demographic_parity"]
                model = ROC(**sides, num_class_thresh=int(grid_size),
                            num_ROC_margin=max(2, int(grid_size) // 2), metric_name=metric,
                            metric_ub=float(tolerance), metric_lb=-float(tolerance)).fit(truth, pred)
                met = not any("Unable to satisy" in str(w.message) for w in caught)
                details = {"metric": metric, "tolerance": float(tolerance),
                           "classification_threshold": float(model.classification_threshold),
                           "margin": float(model.ROC_margin), "constraint_met_on_fit": met,
                           "randomized": False}
            else:
                raise ValueError(f"unknown post-processing method {method!r}; expected one "
                                 f"of {', '.join(METHODS)}")
    finally:
        np.random.set_state(state)
    return PostprocessingModel(method=method, model=model, seed=int(seed), details=details)
