r"""Reductions: fairlearn's ExponentiatedGradient around an estimator that accepts weights.

ExponentiatedGradient (Agarwal et al., 2018) solves

.. math::

    \min_{Q} \; \mathrm{err}(Q) \quad \text{s.t.} \quad \gamma_j(Q) \le \varepsilon_j

over randomised mixtures ``Q`` of classifiers, by repeatedly refitting the estimator on the
training rows with relabelled outcomes and ``sample_weight`` (a Lagrangian game); ``eps`` is
the allowed violation of the constraints (fairlearn's default 0.01, the policy's
``epsilon``). Constraints: ``demographic_parity`` → ``DemographicParity``,
``equal_opportunity`` → ``TruePositiveRateParity``, ``equalized_odds`` → ``EqualizedOdds``,
each over the mitigation's groups, which are needed only while fitting.

Deterministic decisions
-----------------------
fairlearn's ``predict`` draws one classifier of the mixture at random for every row. fairsel
instead scores each row with the mixture's expected probability,
``score(x) = Σ_h w_h p_h(x)`` (``w_h`` the mixture weights, ``p_h`` classifier ``h``'s
probability of the favorable label), and decides ``score >= 0.5`` — the weighted soft vote
of the mixture, the same decision for the same row every time. The constraint then holds
approximately rather than in expectation; the disparity fairsel reports is the one of these
deterministic decisions. The decision needs only the features: the protected attribute is
not used at decision time (unless it is itself a feature).

LightGBM candidates are fitted on the fold's prepared feature matrix, where categorical
columns are ordinal codes (fairlearn's ``fit`` passes no ``categorical_feature``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

#: Policy constraint → the fairlearn moment class enforcing it.
CONSTRAINT_MOMENTS: dict[str, str] = {
    "demographic_parity": "DemographicParity",
    "equal_opportunity": "TruePositiveRateParity",
    "equalized_odds": "EqualizedOdds",
}


@dataclass
class ReductionsModel:
    """A fitted ExponentiatedGradient mixture, scored deterministically."""

    predictors: list
    weights: np.ndarray
    best_gap: float
    n_oracle_calls: int

    def score(self, X) -> np.ndarray:
        """``Σ_h w_h p_h(X)``: the mixture's expected probability of the favorable label."""
        from threadpoolctl import threadpool_limits

        out = np.zeros(X.shape[0], dtype=np.float64)
        with threadpool_limits(limits=1):
            for w, h in zip(self.weights, self.predictors):
                if w > 0:
                    out += w * _positive_proba(h, X)
        return out

    def predict(self, X, threshold: float = 0.5) -> np.ndarray:
        return (self.score(X) >= threshold).astype(np.int8)


def _positive_proba(h, X) -> np.ndarray:
    classes = list(getattr(h, "classes_", [0, 1]))
    if hasattr(h, "predict_proba"):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning)
            proba = np.asarray(h.predict_proba(X))
        if 1 in classes:
            return proba[:, classes.index(1)].astype(np.float64)
        return np.zeros(X.shape[0])
    return (np.asarray(h.predict(X)) == 1).astype(np.float64)


def fit_exponentiated_gradient(estimator, X, y_true: np.ndarray, groups: np.ndarray, *,
                               constraint: str = "demographic_parity", epsilon: float = 0.01,
                               max_iter: int = 50) -> ReductionsModel:
    """Fit fairlearn's ExponentiatedGradient on training rows.

    Parameters
    ----------
    estimator : scikit-learn classifier
        Unfitted; must accept ``sample_weight`` in ``fit`` (cloned for every oracle call).
    X : array-like of shape (n, p)
        The training rows' prepared features.
    y_true : array of 0/1
        Training outcomes (1 = favorable).
    groups : array of int
        Group code of each training row (fairlearn's ``sensitive_features``).
    constraint : {"demographic_parity", "equal_opportunity", "equalized_odds"}
    epsilon : float
        ExponentiatedGradient's ``eps``: the allowed constraint violation.
    max_iter : int
        ExponentiatedGradient's ``max_iter``.

    Returns
    -------
    ReductionsModel
        The mixture's classifiers and weights (see the module docstring for how it decides).
    """
    import fairlearn.reductions as red
    from threadpoolctl import threadpool_limits

    moment = getattr(red, CONSTRAINT_MOMENTS[constraint])()
    eg = red.ExponentiatedGradient(estimator, constraints=moment, eps=float(epsilon),
                                   max_iter=int(max_iter))
    # one thread for BLAS/OpenMP, as for every fit: the folds are the one level of parallelism
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        # fairlearn's pandas use raises deprecation warnings on every iteration
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=UserWarning)
        eg.fit(X, np.asarray(y_true).astype(np.int64),
               sensitive_features=np.asarray(groups).astype(np.int64))
    weights = eg.weights_
    predictors = [eg.predictors_[i] for i in weights.index]
    return ReductionsModel(predictors=predictors, weights=weights.to_numpy(dtype=np.float64),
                           best_gap=float(eg.best_gap_), n_oracle_calls=int(eg.n_oracle_calls_))
