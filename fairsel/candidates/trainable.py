"""Candidates fairsel trains itself, inside each fold: scikit-learn estimators and LightGBM."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fairsel.candidates.estimators import (
    ESTIMATORS,
    LIGHTGBM,
    EstimatorEntry,
    bounded_threads,
    make_preprocessor,
)


@contextlib.contextmanager
def fitting():
    """Where fairsel fits: one level of parallelism (folds, via --jobs), so OpenMP and BLAS
    inside a fit get one thread; scikit-learn's user and future warnings are muted."""
    from threadpoolctl import threadpool_limits

    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.filterwarnings("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        yield


def prepare_frame(X: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """Stateless clean-up done once before the folds: categories as text, missing as a level."""
    X = X.copy()
    for c in categorical:
        X[c] = X[c].astype("string").fillna("(missing)").astype(object)
    for c in X.columns.difference(categorical):
        if X[c].dtype == bool or str(X[c].dtype) == "boolean":
            X[c] = X[c].astype("float64")
    return X


@dataclass
class TrainableCandidate:
    """A candidate fitted on each fold's training rows; scores are P(favorable)."""

    name: str
    kind: str
    entry: EstimatorEntry
    params: dict[str, Any]
    seed: int
    threshold: float
    numeric: list[str]
    categorical: list[str]

    trainable = True
    uses_protected_at_decision = False

    @property
    def accepts_weights(self) -> bool:
        return self.entry.accepts_weights

    def estimator(self):
        """A fresh, unfitted estimator (the pipeline's ``model`` step)."""
        est, _ = self.entry.make(self.params, self.seed)
        est.set_params(**bounded_threads(self.params))
        if self.entry.native_categorical == "categorical_features" and self.categorical:
            est.set_params(categorical_features=list(range(len(self.categorical))))
        return est

    def build(self):
        """A fresh, unfitted pipeline (preparation + estimator)."""
        from sklearn.pipeline import Pipeline

        pre = make_preprocessor(self.entry, self.numeric, self.categorical)
        return Pipeline([("prepare", pre), ("model", self.estimator())])

    def fit_params(self, sample_weight: np.ndarray | None = None,
                   prefix: str = "") -> dict[str, Any]:
        """The estimator's fit arguments (``prefix`` "model__" for the pipeline)."""
        fit_params: dict[str, Any] = {}
        if sample_weight is not None:
            fit_params[prefix + "sample_weight"] = sample_weight
        if self.entry.native_categorical == "categorical_feature" and self.categorical:
            fit_params[prefix + "categorical_feature"] = list(range(len(self.categorical)))
        return fit_params

    def fit(self, X: pd.DataFrame, y: np.ndarray, *, sample_weight: np.ndarray | None = None):
        pipe = self.build()
        with fitting():
            pipe.fit(X, y, **self.fit_params(sample_weight, "model__"))
        return pipe

    def fit_prepared(self, x_train, y_train: np.ndarray, *,
                     sample_weight: np.ndarray | None = None):
        """The estimator fitted on ``x_train``, rows already through this candidate's
        preparation (:func:`make_preprocessor`, fitted on the training rows): the same model
        as the ``model`` step of :meth:`fit` on the raw rows."""
        model = self.estimator()
        with fitting():
            model.fit(x_train, y_train, **self.fit_params(sample_weight))
        return model

    @staticmethod
    def pipeline_of(prepare, model):
        """The fitted pipeline of a fitted preparation and the estimator fitted on its output
        (what :meth:`fit` returns, its steps named "prepare" and "model")."""
        from sklearn.pipeline import Pipeline

        return Pipeline([("prepare", prepare), ("model", model)])

    @staticmethod
    def score(fitted, X: pd.DataFrame) -> np.ndarray:
        from threadpoolctl import threadpool_limits

        with warnings.catch_warnings(), threadpool_limits(limits=1):
            warnings.filterwarnings("ignore", category=UserWarning)
            proba = fitted.predict_proba(X)
        classes = list(fitted.classes_)
        return np.asarray(proba[:, classes.index(1)], dtype=np.float64)

    def fit_score(self, X_train, y_train, X_test, *, sample_weight=None) -> np.ndarray:
        return self.score(self.fit(X_train, y_train, sample_weight=sample_weight), X_test)


def check_params(kind: str, estimator: str | None, params: dict[str, Any], *,
                 deep: bool = True) -> list[tuple[tuple, str]]:
    """Problems with a candidate's ``params``: ``[(key path suffix, message)]``.

    Names are checked against :data:`~fairsel.candidates.param_names.PARAM_NAMES` without
    importing scikit-learn or LightGBM (a name missing there is checked against the installed
    class, so a newer library's parameter is never refused). With ``deep``, the values are also
    checked, which imports the library: by scikit-learn's own parameter validation
    (``set_params`` then ``_validate_params``, no fit), or by LightGBM's parameter checks on a
    four-row Dataset and its Booster (:func:`lightgbm_value_problems`, nothing trained).
    """
    from fairsel.candidates.param_names import PARAM_NAMES
    from fairsel.errors import did_you_mean

    family = "lightgbm" if kind == "lightgbm" else estimator
    known = set(PARAM_NAMES.get(family or "", ()))
    if all(key in known for key in params) and not (deep and params):
        return []
    problems: list[tuple[tuple, str]] = []
    if kind == "lightgbm":
        from fairsel.candidates.estimators import lightgbm_param_names

        valid = lightgbm_param_names()
        for key in params:
            if key not in valid:
                problems.append((("params", key), f"unknown LightGBM parameter '{key}'"
                                 f"{did_you_mean(key, sorted(valid))}"))
        if problems or not deep:
            return problems
        return lightgbm_value_problems(params)
    entry = ESTIMATORS.get(estimator)  # type: ignore[arg-type]
    est, valid = entry.make({}, 0)
    for key in params:
        if key not in valid:
            problems.append((("params", key), f"unknown parameter '{key}' for {estimator}"
                             f"{did_you_mean(key, sorted(valid))}"))
    if problems or not deep:
        return problems
    try:
        est.set_params(**params)
        if hasattr(est, "_validate_params"):
            est._validate_params()
    except Exception as exc:  # noqa: BLE001 — scikit-learn's own wording is the best message
        import re

        named = re.search(r"The '(\w+)' parameter", str(exc))
        key = ("params", named.group(1)) if named and named.group(1) in params else ("params",)
        problems.append((key, f"{estimator}: {exc}"))
    return problems


@contextlib.contextmanager
def _native_output_muted():
    """LightGBM's C++ writes "[LightGBM] [Fatal] …" to file descriptor 2 before raising; the
    message is reported as a policy error instead, so the descriptor points at /dev/null."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


#: LightGBM parameters whose valid length or indices depend on the prepared features.
_PER_FEATURE = ("max_bin_by_feature", "monotone_constraints", "interaction_constraints",
                "feature_contri", "categorical_feature", "forcedbins_filename",
                "forcedsplits_filename", "ignore_column", "label_column", "weight_column",
                "group_column", "tree_interaction_constraints")


def _as_float(text: str) -> float:
    """``text`` as a number (0.0 when it is not one: an objective's name, a path)."""
    try:
        return float(text)
    except ValueError:
        return 0.0


def lightgbm_value_problems(params: dict[str, Any]) -> list[tuple[tuple, str]]:
    """LightGBM's own checks of parameter values (types and ranges), without training.

    The parameters go through ``LGBMClassifier``'s own translation (as ``fit`` does) into the
    construction of a four-row, one-column Dataset and a Booster on it (no boosting round is
    run), where LightGBM parses and checks every value, the objective and the boosting type;
    the first it refuses is returned with the policy's key. Parameters sized by the
    number of features (:data:`_PER_FEATURE`) are left to ``fit``, which knows that number.
    ``n_estimators`` (the number of boosting rounds, which ``fit`` passes apart) must be an
    integer ≥ 1.
    """
    import io
    import re

    import lightgbm
    from lightgbm.basic import _ConfigAliases

    def key_of(core: str) -> tuple:
        names = set(_ConfigAliases.get(core)) | {core}
        return next((("params", k) for k in params if k in names), ("params",))

    for k, v in params.items():  # LightGBM reads the text "inf" or "1e999" as a number
        if isinstance(v, str) and not math.isfinite(_as_float(v)):
            return [(("params", k), f"LightGBM: {k} must be a finite number; found {v!r}, text "
                     "LightGBM reads as NaN or infinity (a policy takes no NaN or infinity): "
                     "write a finite number, or leave the key out")]
    rounds = params.get("n_estimators", 100)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        return [(("params", "n_estimators"), f"LightGBM: n_estimators must be an integer ≥ 1 "
                 f"(the number of boosting rounds); found {rounds!r}")]
    est, _ = LIGHTGBM.make({}, 0)
    try:
        est.set_params(**bounded_threads(params))
        est._n_classes = 2  # what fit sets before translating the parameters
        per_feature = set(_ConfigAliases.get(*_PER_FEATURE)) | set(_PER_FEATURE)
        translated = {k: v for k, v in est._process_params(stage="fit").items()
                      if k not in per_feature}
        with _native_output_muted(), contextlib.redirect_stdout(io.StringIO()), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tiny = lightgbm.Dataset(np.zeros((4, 1)), label=np.array([0, 1, 0, 1]),
                                    params=translated)
            lightgbm.Booster(params=translated, train_set=tiny)  # objective, boosting: no round
    except Exception as exc:  # noqa: BLE001 — LightGBM's words, located and cleaned
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        text = re.sub(r"\s+at \S+, line \d+\s*\.?$", "", text)
        check = re.match(r"Check failed: \((\w+)\) (\S+) \((.+?)\)$", text)
        named = check or re.match(r"Parameter (\w+) ", text)
        key = key_of(named.group(1)) if named else ("params",)
        if key == ("params",):  # no name in the message: the parameter whose value it quotes
            holder = next((k for k, v in params.items()
                           if isinstance(v, str) and re.search(rf"\b{re.escape(v)}\b", text)),
                          None)
            key = ("params", holder) if holder is not None else key
            if holder is not None and re.match(r"Unknown token .+ in data file$", text):
                text = f"{holder} must be a number"  # a text where LightGBM parses a number
        if check:
            text = f"{check.group(1)} must be {check.group(2)} {check.group(3)}"
        found = f" (found {params[key[1]]!r})" if len(key) == 2 and "got" not in text else ""
        return [(key, f"LightGBM: {text}{found}")]
    return []


def make_trainable(spec, *, seed: int, numeric: list[str], categorical: list[str]) -> TrainableCandidate:
    entry = LIGHTGBM if spec.kind == "lightgbm" else ESTIMATORS.get(spec.estimator)
    return TrainableCandidate(name=spec.name, kind=spec.kind, entry=entry, params=dict(spec.params),
                              seed=seed, threshold=spec.threshold, numeric=numeric,
                              categorical=categorical)
