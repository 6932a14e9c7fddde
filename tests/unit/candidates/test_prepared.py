"""Each fold's prepared features are shared between candidates, with the pipeline's scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fairsel.candidates import prepared
from fairsel.candidates.estimators import ESTIMATORS, LIGHTGBM
from fairsel.candidates.trainable import TrainableCandidate, prepare_frame


def _frame(seed: int = 0, rows: int = 600) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.normal(size=rows),
                      "c": rng.choice(["x", "y", "z"], size=rows)})
    X.loc[::17, "a"] = np.nan
    y = ((X["b"] + (X["c"] == "x")) > 0.5).to_numpy(np.int8)
    return prepare_frame(X, ["c"]), y


def _cand(kind: str, params: dict) -> TrainableCandidate:
    entry = LIGHTGBM if kind == "lightgbm" else ESTIMATORS.get(kind)
    return TrainableCandidate(name="t", kind="lightgbm" if kind == "lightgbm" else "sklearn",
                              entry=entry, params=params, seed=3, threshold=0.5,
                              numeric=["a", "b"], categorical=["c"])


def _count_preparations(monkeypatch, *modules) -> list:
    """A list that grows by one each time ``make_preprocessor`` of ``modules`` is called."""
    from fairsel.candidates.estimators import make_preprocessor

    made: list = []

    def counting(*a, **k):
        made.append(1)
        return make_preprocessor(*a, **k)

    for module in modules:
        monkeypatch.setattr(module, "make_preprocessor", counting)
    return made


@pytest.mark.parametrize("kind, params", [("lightgbm", {"n_estimators": 20, "num_leaves": 7}),
                                          ("logistic_regression", {"C": 0.3})])
def test_scores_equal_the_pipelines_and_the_fold_is_prepared_once(monkeypatch, kind, params):
    X, y = _frame()
    train, test = np.arange(450), np.arange(450, 600)
    from fairsel.candidates import estimators

    # prepared.py imports make_preprocessor when it prepares: it gets the counting one
    made = _count_preparations(monkeypatch, estimators)
    w = np.linspace(0.5, 1.5, len(train))
    for p in (params, {**params, "random_state": 9}):
        cand = _cand(kind, p)
        want = cand.fit_score(X.iloc[train], y[train], X.iloc[test], sample_weight=w)
        got, model = prepared.fit_score(cand, X, y, train, test, fold=0, sample_weight=w)
        assert np.array_equal(got, want)
        assert model is None  # nothing kept unless asked
    assert len(made) == 1  # the shared preparation: once for both candidates


def test_another_frame_or_fold_is_prepared_anew():
    X, y = _frame()
    cand = _cand("lightgbm", {"n_estimators": 5})
    train, test = np.arange(400), np.arange(400, 600)
    a, _ = prepared.fit_score(cand, X, y, train, test, fold=0)
    X2, y2 = _frame(seed=1)
    b, _ = prepared.fit_score(cand, X2, y2, train, test, fold=0)  # same fold number, new frame
    assert np.array_equal(b, cand.fit_score(X2.iloc[train], y2[train], X2.iloc[test]))
    assert not np.array_equal(a, b)
    assert all(v[0]() is X2 for v in prepared._cache.values())  # the old frame's entry is gone


@pytest.mark.parametrize("kind, params", [("lightgbm", {"n_estimators": 20, "num_leaves": 7}),
                                          ("logistic_regression", {"C": 0.3})])
def test_a_kept_model_is_the_pipeline_from_the_shared_preparation(monkeypatch, kind, params):
    """keep=True (the audit explains variants) still prepares the fold once for every
    candidate, and keeps the pipeline a whole fit gives: the same scores, the same SHAP."""
    from fairsel.analysis.explain import explain_rows
    from fairsel.candidates import estimators, trainable

    X, y = _frame(seed=2)
    train, test = np.arange(450), np.arange(450, 600)
    made = _count_preparations(monkeypatch, estimators, trainable)  # trainable: cand.fit's
    w = np.linspace(0.5, 1.5, len(train))
    kept = []
    for p in (params, {**params, "random_state": 9}):
        cand = _cand(kind, p)
        got, model = prepared.fit_score(cand, X, y, train, test, fold=0, sample_weight=w,
                                        keep=True)
        kept.append(model)
        whole = cand.fit(X.iloc[train], y[train], sample_weight=w)
        assert list(model.named_steps) == ["prepare", "model"]
        assert np.array_equal(got, cand.score(whole, X.iloc[test]))
        assert np.array_equal(cand.score(model, X.iloc[test]), got)
        a = explain_rows(model, X.iloc[test[:40]], X.iloc[train[:100]], ["a", "b", "c"], seed=1)
        b = explain_rows(whole, X.iloc[test[:40]], X.iloc[train[:100]], ["a", "b", "c"], seed=1)
        assert np.array_equal(a.values, b.values) and np.array_equal(a.margin, b.margin)
    # the two whole fits above (the reference) prepare for themselves; the kept models
    # share one preparation: fitting them as whole pipelines would count two more
    assert len(made) == 2 + 1
    assert kept[0].named_steps["prepare"] is kept[1].named_steps["prepare"]


def test_a_fold_no_other_fit_shares_is_not_kept():
    X, y = _frame(seed=3)
    cand = _cand("lightgbm", {"n_estimators": 5})
    train, test = np.arange(400), np.arange(400, 600)
    prepared._cache.clear()
    alone, _ = prepared.fit_score(cand, X, y, train, test, fold=0, share=False)
    assert prepared._cache == {}
    shared, _ = prepared.fit_score(cand, X, y, train, test, fold=0)
    assert len(prepared._cache) == 1 and np.array_equal(alone, shared)


def test_which_candidates_share_their_fold_preparation():
    """Trials of one search, or a candidate and its reweighed variant, share; a linear and a
    tree candidate (different preparations) or a candidate on fewer features do not."""
    from types import SimpleNamespace

    from fairsel.audit import shared_preparations

    gbm = [_cand("lightgbm", {"num_leaves": n}) for n in (7, 15)]
    logreg = _cand("logistic_regression", {})
    fewer = TrainableCandidate(name="t", kind="lightgbm", entry=LIGHTGBM, params={}, seed=3,
                               threshold=0.5, numeric=["a"], categorical=["c"])
    fixed = SimpleNamespace(name="fixed", trainable=False)
    assert shared_preparations([*gbm, logreg, fewer, fixed], []) == {0, 1}
    assert shared_preparations([gbm[0], logreg], []) == frozenset()
    reweighing = SimpleNamespace(kind="reweighing", candidates=None)
    assert shared_preparations([gbm[0], logreg], [reweighing]) == {0, 1}
    # a proxy-free candidate gets no mitigation: alone with its features
    assert shared_preparations([gbm[0], fewer], [reweighing], proxy_free={1}) == {0}
