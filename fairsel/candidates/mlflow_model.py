"""``kind: mlflow`` — an MLflow pyfunc model, scored once on every row (``fairsel[mlflow]``).

A pyfunc model is a folder (or a ``runs:/``, ``models:/`` or ``file:`` URI) whose loading
unpickles Python objects (cloudpickle): it can run any code, so the candidate must say
``trusted: true``; without it the model is refused (exit 4) before MLflow is asked to load it.

``path`` is a model URI with a scheme (``runs:/<run id>/model``, ``models:/name/1``,
``file:///…``), resolved by MLflow against ``MLFLOW_TRACKING_URI``, or else a local folder
relative to the policy file.

Scores. ``predict`` may return one column (taken as P(favorable), or 0/1 decisions), or two
columns (the second is P(class 1), or the column named after ``data → favorable`` when the
columns carry class names). Scores must be finite.

Features. When the model has a signature, its input names must be the data's features in
the same order (exit 4 with the differences otherwise).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairsel.candidates.saved import MISSING_TEXT, check_features
from fairsel.errors import ModelError

URI_SCHEMES = ("runs:/", "models:/", "file:", "s3:/", "gs:/", "wasbs:/", "dbfs:/", "http:/",
               "https:/", "mlflow-artifacts:/")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass
class MlflowCandidate:
    name: str
    kind: str
    uri: str
    model: Any
    threshold: float
    categorical: list[str]
    favorable: str | None
    input_names: list[str] | None

    trainable = False
    uses_protected_at_decision = False

    def score_all(self, X: pd.DataFrame) -> np.ndarray:
        """P(favorable) for every row of ``X`` from the pyfunc model's ``predict``."""
        check_features(self.name, Path(self.uri), self.input_names, list(X.columns))
        Xr = X.copy()
        for c in self.categorical:
            if c in Xr.columns:
                Xr[c] = Xr[c].where(Xr[c] != MISSING_TEXT, np.nan)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = self.model.predict(Xr)
        except Exception as exc:  # noqa: BLE001
            raise ModelError(f"{self.uri}: candidate '{self.name}': the MLflow model failed to "
                             f"score the data: {type(exc).__name__}: {_first_line(exc)}") from None
        scores = self._scores(out, len(X))
        bad = ~np.isfinite(scores)
        if bad.any():
            raise ModelError(f"{self.uri}: candidate '{self.name}': the MLflow model returned "
                             f"{int(bad.sum())} missing or infinite score(s)")
        return scores

    def _scores(self, out: Any, n: int) -> np.ndarray:
        if isinstance(out, pd.DataFrame):
            cols = [str(c) for c in out.columns]
            if out.shape[1] == 1:
                arr = out.iloc[:, 0].to_numpy()
            elif self.favorable is not None and self.favorable in cols:
                arr = out[out.columns[cols.index(self.favorable)]].to_numpy()
            elif out.shape[1] == 2:
                arr = out.iloc[:, 1].to_numpy()
            else:
                raise ModelError(f"{self.uri}: candidate '{self.name}': predict returned "
                                 f"{out.shape[1]} columns ({', '.join(cols)}); expected one "
                                 "score column or two class-probability columns")
        else:
            arr = np.asarray(out)
            if arr.ndim == 2 and arr.shape[1] == 2:
                arr = arr[:, 1]
            elif arr.ndim == 2 and arr.shape[1] == 1:
                arr = arr[:, 0]
            elif arr.ndim != 1:
                raise ModelError(f"{self.uri}: candidate '{self.name}': predict returned an "
                                 f"array of shape {arr.shape}; expected scores of shape ({n},)")
        try:
            scores = np.asarray(arr, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ModelError(f"{self.uri}: candidate '{self.name}': predict returned values that "
                             f"are not numbers (e.g. {arr[:3].tolist()}); expected P(favorable) "
                             "or 0/1 decisions") from None
        if len(scores) != n:
            raise ModelError(f"{self.uri}: candidate '{self.name}': predict returned "
                             f"{len(scores)} scores for {n} rows")
        return scores


def model_uri(path: str, resolve) -> str:
    """A URI with a scheme as it is; anything else a local folder relative to the policy."""
    if path.startswith(URI_SCHEMES):
        return path
    return str(resolve(path))


def make_mlflow(spec, ctx) -> MlflowCandidate:
    """Factory for ``kind: mlflow`` (refused without ``trusted: true``; needs MLflow)."""
    uri = model_uri(spec.path, ctx.resolve)
    if not spec.trusted:
        raise ModelError(f"{uri}: candidate '{spec.name}': refused to load an MLflow pyfunc "
                         "model without trusted: true: loading it unpickles Python objects "
                         "(cloudpickle), which can run any code the model's files name. Confirm "
                         "where the model comes from, then set trusted: true on the candidate")
    if not uri.startswith(URI_SCHEMES) and not Path(uri).exists():
        raise ModelError(f"{uri}: candidate '{spec.name}': MLflow model folder not found (paths "
                         "in a policy are relative to the policy file; a URI needs a scheme "
                         "such as runs:/ or models:/)")
    try:
        import mlflow.pyfunc
    except ImportError:
        raise ModelError(f"candidate '{spec.name}': kind 'mlflow' needs MLflow, which is not "
                         "installed: pip install 'fairsel[mlflow]'") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = mlflow.pyfunc.load_model(uri)
    except Exception as exc:  # noqa: BLE001
        raise ModelError(f"{uri}: candidate '{spec.name}': MLflow could not load the model: "
                         f"{type(exc).__name__}: {_first_line(exc)}") from None
    names = None
    try:
        schema = model.metadata.get_input_schema()
        if schema is not None and schema.has_input_names():
            names = [str(n) for n in schema.input_names()]
    except Exception:  # noqa: BLE001 — a model without a usable signature is checked by shape
        names = None
    extra = ctx.extra or {}
    return MlflowCandidate(name=spec.name, kind=spec.kind, uri=uri, model=model,
                           threshold=spec.threshold, categorical=list(ctx.categorical),
                           favorable=extra.get("favorable"), input_names=names)
