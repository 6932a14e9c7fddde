"""Each fold's prepared features, computed once and shared by every candidate that prepares
them the same way (the trials of a search, a candidate and its reweighed variant).

A trainable candidate's pipeline fits its preparation (category encoding, imputation,
scaling: :func:`~fairsel.candidates.estimators.make_preprocessor`) on the fold's training
rows, then the estimator. The preparation depends on the fold and on the kind of estimator
(linear, handles missing values), not on the estimator's parameters, so 30 trials of LightGBM
prepare each fold once here instead of 30 times (encoding text categories costs a pass in
Python over every row). The cache is per process, keyed by the feature frame (held by weak
reference, so a later audit never sees an earlier one's entries) and the fold, and bounded
in bytes; the models and scores are exactly those of the pipeline.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

#: The most bytes of prepared matrices kept (beyond it, a fold is prepared for each fit).
CACHE_BYTES = 512 * 1024**2

_cache: dict[tuple, tuple[Any, Any, np.ndarray, np.ndarray]] = {}


def preparation_key(cand) -> tuple | None:
    """What a candidate's preparation depends on besides the rows (None: a candidate fitted
    as it is): candidates with the same key prepare a fold the same way."""
    if not hasattr(cand, "fit_prepared"):
        return None
    return (cand.entry.linear, cand.entry.handles_missing, tuple(cand.numeric),
            tuple(cand.categorical))


def _prepared(cand, X, train: np.ndarray, test: np.ndarray, fold: int, share: bool = True):
    """``(fitted preparation, prepared training rows, prepared test rows)`` of one fold,
    kept for the next candidate that prepares it the same way when ``share``."""
    from fairsel.candidates.estimators import make_preprocessor
    from fairsel.candidates.trainable import fitting

    key = (id(X), fold, len(train), len(test), *preparation_key(cand))
    hit = _cache.get(key)
    if hit is not None and hit[0]() is X:
        return hit[1], hit[2], hit[3]
    for k in [k for k, v in _cache.items() if v[0]() is None or v[0]() is not X]:
        del _cache[k]  # entries of an earlier audit's frame
    prepare = make_preprocessor(cand.entry, cand.numeric, cand.categorical)
    with fitting():
        x_train = prepare.fit_transform(X.iloc[train])
        x_test = prepare.transform(X.iloc[test])
    used = sum(v[2].nbytes + v[3].nbytes for v in _cache.values())
    if share and isinstance(x_train, np.ndarray) \
            and used + x_train.nbytes + x_test.nbytes <= CACHE_BYTES:
        _cache[key] = (weakref.ref(X), prepare, x_train, x_test)
    return prepare, x_train, x_test


def fit_score(cand, X, y: np.ndarray, train: np.ndarray, test: np.ndarray, *, fold: int,
              sample_weight: np.ndarray | None = None, keep: bool = False,
              share: bool = True):
    """``cand.fit_score`` on fold ``fold`` (rows ``train`` → scores of rows ``test``), with
    the fold's prepared features shared between candidates (``share`` false: no other fit
    prepares the fold the same way, so the prepared rows are not kept in memory for one).

    Returns ``(scores of the test rows, fitted model or None)``. With ``keep`` the model is
    the candidate's pipeline, assembled from the fold's shared (fitted) preparation and the
    estimator fitted on its output (:meth:`TrainableCandidate.pipeline_of`): the same steps,
    fitted on the same rows, as :meth:`TrainableCandidate.fit` gives, without preparing the
    fold again. A candidate without a shared preparation is fitted as it is.
    """
    if not hasattr(cand, "fit_prepared"):
        if keep:
            model = cand.fit(X.iloc[train], y[train], sample_weight=sample_weight)
            return cand.score(model, X.iloc[test]), model
        return cand.fit_score(X.iloc[train], y[train], X.iloc[test],
                              sample_weight=sample_weight), None
    prepare, x_train, x_test = _prepared(cand, X, train, test, fold, share)
    model = cand.fit_prepared(x_train, y[train], sample_weight=sample_weight)
    scores = cand.score(model, x_test)
    return scores, cand.pipeline_of(prepare, model) if keep else None
