"""Candidates: estimators fairsel trains in each fold, and models or scores made elsewhere.

A candidate is built by the factory registered for its ``kind`` in :data:`CANDIDATE_KINDS`
from its policy entry and a :class:`CandidateContext`. Two shapes exist:

* trainable (``trainable = True``): ``fit(X, y, sample_weight=...)`` and ``score(fitted, X)``,
  called on each fold's training and test rows;
* fixed (``trainable = False``): ``score_all(X) -> scores`` for every row at once (a saved
  model, or predictions joined on the row id); fold figures still use the same folds.

Scores are always the probability (or score) of the favorable outcome, higher = more favorable,
and the decision is ``score >= threshold``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fairsel.candidates.estimators import ESTIMATORS, EstimatorEntry
from fairsel.candidates.trainable import (
    TrainableCandidate,
    check_params,
    make_trainable,
    prepare_frame,
)
from fairsel.registry import Registry


@dataclass(frozen=True)
class CandidateContext:
    """What a candidate factory may know about the audit (no data frame beyond the features)."""

    seed: int
    features: list[str]
    numeric: list[str]
    categorical: list[str]
    resolve: Callable[[str], Path]  # a path named in the policy → a real path
    row_ids: np.ndarray
    id_column: str | None
    policy_path: Path
    extra: dict[str, Any] | None = None


def _trainable(spec, ctx: CandidateContext) -> TrainableCandidate:
    return make_trainable(spec, seed=ctx.seed, numeric=ctx.numeric, categorical=ctx.categorical)


#: kind → factory(spec, ctx) building the candidate.
CANDIDATE_KINDS: Registry[Callable[..., Any]] = Registry("candidate kind", "fairsel list estimators")
CANDIDATE_KINDS.register("sklearn", _trainable,
                         summary="a registered scikit-learn estimator, trained in each fold")
CANDIDATE_KINDS.register("lightgbm", _trainable,
                         summary="LightGBM's LGBMClassifier, trained in each fold")
CANDIDATE_KINDS.register("saved_model", "fairsel.candidates.saved:make_saved",
                         summary="a model trained elsewhere: skops, LightGBM text, or a "
                                 "trusted pickle with its sha256; scored, never refitted")
CANDIDATE_KINDS.register("predictions", "fairsel.candidates.predictions:make_predictions",
                         summary="scores or decisions made elsewhere (CSV or Parquet), "
                                 "joined on data → id")
CANDIDATE_KINDS.register("mlflow", "fairsel.candidates.mlflow_model:make_mlflow",
                         summary="an MLflow pyfunc model (needs fairsel[mlflow] and trusted: true)")


def make_candidate(spec, ctx: CandidateContext):
    """Build the candidate a policy entry describes (its kind must be registered)."""
    return CANDIDATE_KINDS.get(spec.kind)(spec, ctx)


__all__ = ["CANDIDATE_KINDS", "ESTIMATORS", "CandidateContext", "EstimatorEntry",
           "TrainableCandidate", "check_params", "make_candidate", "make_trainable",
           "prepare_frame"]
