"""SHAP explanations of models trained elsewhere (``kind: saved_model``): the one loaded model
explains every sampled row, on the margin, attributed to the policy's columns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairsel.analysis.explain import explain_whole, sample_rows
from fairsel.audit import SAVED_NOTE, build_candidates, run_audit
from fairsel.candidates.saved import SavedModelCandidate
from fairsel.data import load_data
from fairsel.policy import load_policy
from fairsel.splits import make_folds
from tests.unit.test_registries import tiny_frame, tiny_policy, write_tiny_data

FEATURES = ["income", "age_years", "housing", "purpose"]
CATEGORICAL = ["housing", "purpose"]


def _logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-9, 1 - 1e-9)
    return np.log(p) - np.log1p(-p)


def _save_lightgbm(folder: Path) -> str:
    """A LightGBM text model trained (elsewhere) on the tiny data's features, its text columns
    as pandas categoricals, 1 = good (the favorable outcome)."""
    import lightgbm as lgb

    df = tiny_frame(600, seed=11)  # other rows than the audit's
    X = df[FEATURES].copy()
    for c in CATEGORICAL:
        X[c] = X[c].astype("category")
    clf = lgb.LGBMClassifier(n_estimators=30, num_leaves=7, min_child_samples=10, verbose=-1,
                             n_jobs=1, random_state=0)
    clf.fit(X, (df["credit"] == "good").astype(int))
    clf.booster_.save_model(str(folder / "model.lgb.txt"))
    return "  - {name: gbm, kind: saved_model, path: model.lgb.txt}"


def _save_skops(folder: Path, estimator) -> str:
    """A scikit-learn pipeline (its steps not named as fairsel names them) trained elsewhere on
    the raw labels good/bad and saved with skops."""
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    df = tiny_frame(600, seed=11)
    prep = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="median")),
                          ("scale", StandardScaler())]), ["income", "age_years"]),
        ("cat", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="none")),
                          ("onehot", OneHotEncoder(handle_unknown="ignore"))]), CATEGORICAL)])
    model = Pipeline([("columns", prep), ("classifier", estimator)])
    model.fit(df[FEATURES], df["credit"])
    sio.dump(model, folder / "model.skops")
    trusted = sio.get_untrusted_types(file=folder / "model.skops")
    return ("  - {name: sk, kind: saved_model, path: model.skops, trusted_types: "
            + json.dumps(trusted) + "}")


def _explained(tmp_path, candidate: str, n_rows: int = 120):
    """The saved candidate, the audit frame, and ``n_rows`` sampled rows explained by it."""
    policy = load_policy(tiny_policy(tmp_path, candidates=candidate))
    data = load_data(policy)
    X, cands, _, _ = build_candidates(policy, data)
    (cand,) = cands
    assert isinstance(cand, SavedModelCandidate)
    folds = make_folds(data.y, scheme="stratified_kfold", n_folds=3, clusters=None, seed=3,
                       where="test")
    sample = sample_rows(folds, data.atoms, data.n_atoms, budget=n_rows, seed=3)
    ex = explain_whole(cand, X=X, folds=folds, sample=sample, features=data.features, seed=3)
    return cand, X, data, folds, sample, ex


def test_saved_lightgbm_values_equal_the_boosters_pred_contrib_and_add_up(tmp_path):
    write_tiny_data(tmp_path)
    cand, X, data, folds, sample, ex = _explained(tmp_path, _save_lightgbm(tmp_path))
    assert data.features == FEATURES
    assert ex.explainer == "tree" and ex.units == "log-odds"
    # every sampled row, each kept with its fold (for the per-fold counts) and its weight
    assert (ex.rows == sample.rows).all() and (ex.weights == sample.weights).all()
    assert (ex.fold == folds[sample.rows]).all()
    rows = X.iloc[sample.rows]
    frame = cand.lightgbm_frame(rows)  # the frame the booster scores
    assert isinstance(frame["housing"].dtype, pd.CategoricalDtype)
    contrib = cand.model.predict(frame, pred_contrib=True)
    assert contrib.shape == (len(rows), len(FEATURES) + 1)  # one value per policy column
    np.testing.assert_array_equal(ex.values, contrib[:, :-1])
    np.testing.assert_array_equal(ex.base, contrib[:, -1])
    # the margin is the booster's own log-odds of its scores; the values add up to it
    np.testing.assert_allclose(ex.margin, _logit(cand.score_all(rows)), atol=1e-8)
    np.testing.assert_allclose(ex.values.sum(1), ex.margin - ex.base, atol=1e-9)
    assert np.abs(ex.values[:, FEATURES.index("income")]).max() > 0.1  # income drives it


def test_saved_lightgbm_with_favorable_zero_explains_the_favorable_log_odds(tmp_path):
    write_tiny_data(tmp_path)
    cand, X, _, _, sample, ex = _explained(tmp_path, _save_lightgbm(tmp_path))
    flipped = SavedModelCandidate(**{**cand.__dict__, "favorable": "0"})
    rows = X.iloc[sample.rows]
    again = explain_whole(flipped, X=X, folds=np.zeros(len(X), dtype=np.int64),
                          sample=sample, features=FEATURES, seed=3)
    np.testing.assert_array_equal(again.values, -ex.values)
    np.testing.assert_allclose(again.margin, _logit(flipped.score_all(rows)), atol=1e-8)
    np.testing.assert_allclose(again.values.sum(1), again.margin - again.base, atol=1e-9)


@pytest.mark.parametrize("estimator, explainer", [
    ("logistic_regression", "linear"),
    ("gradient_boosting", "tree"),
    ("k_neighbors", "permutation"),
])
def test_saved_sklearn_models_use_the_explainer_of_their_estimator_and_add_up(
        tmp_path, estimator, explainer):
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    est = {"logistic_regression": LogisticRegression(max_iter=1000),
           "gradient_boosting": GradientBoostingClassifier(n_estimators=20, max_depth=2,
                                                           random_state=0),
           "k_neighbors": KNeighborsClassifier(n_neighbors=15)}[estimator]
    write_tiny_data(tmp_path)
    cand, X, data, _, sample, ex = _explained(tmp_path, _save_skops(tmp_path, est), n_rows=60)
    assert list(cand.model.classes_) == ["bad", "good"]  # favorable "good" is the second class
    assert ex.explainer == explainer and ex.units == "log-odds"
    assert ex.values.shape == (len(sample.rows), len(FEATURES))  # one-hot parts summed back
    rows = X.iloc[sample.rows]
    np.testing.assert_allclose(ex.margin, _logit(cand.score_all(rows)), atol=1e-7)
    np.testing.assert_allclose(ex.values.sum(1), ex.margin - ex.base, atol=1e-9)
    if explainer == "linear":  # coef × (x − background mean), the background all 400 rows
        prep, lr = cand.model.named_steps["columns"], cand.model.named_steps["classifier"]
        xt = prep.transform(cand.sklearn_input(rows))
        mean = prep.transform(cand.sklearn_input(X)).mean(0)
        per_part = (xt - mean) * lr.coef_[0]
        n_num = 2
        np.testing.assert_allclose(ex.values[:, :n_num], per_part[:, :n_num], atol=1e-12)
        widths = [len(c) for c in prep.named_transformers_["cat"][-1].categories_]
        np.testing.assert_allclose(ex.values[:, 2], per_part[:, n_num:n_num + widths[0]].sum(1),
                                   atol=1e-12)
        np.testing.assert_allclose(ex.values[:, 3], per_part[:, n_num + widths[0]:].sum(1),
                                   atol=1e-12)


def test_audit_explains_a_saved_model_and_its_group_thresholds_but_not_predictions(tmp_path):
    write_tiny_data(tmp_path)
    df = tiny_frame()
    score = 1 / (1 + np.exp(-(1.5 * df["income"].fillna(0))))
    pd.DataFrame({"id": df["id"], "p_good": score.round(6)}).to_csv(tmp_path / "scores.csv",
                                                                      index=False)
    cands = "\n".join([_save_lightgbm(tmp_path), "  - {name: vendor, kind: predictions, "
                       "path: scores.csv, score_column: p_good}"])
    extra = ("mitigation:\n  - {kind: threshold, candidates: [gbm], "
             "constraint: demographic_parity}\nexplain: {variants: 3, rows: 150}\nproxies: false")
    result = run_audit(load_policy(tiny_policy(tmp_path, candidates=cands, extra=extra))).result
    e = result.analysis.explanations
    by = {x.variant: x for x in e.explained}
    skipped = {s.variant: s.reason for s in e.skipped}
    assert set(by) == {"gbm", "gbm+threshold[demographic_parity]"}
    assert "precomputed predictions" in skipped["vendor"]
    gbm, thr = by["gbm"], by["gbm+threshold[demographic_parity]"]
    assert gbm.model == "gbm" and gbm.note == SAVED_NOTE
    assert "cannot know whether the model saw these rows" in gbm.note
    # the threshold variant explains its base model's margin, and says both things
    assert thr.model == "gbm" and "group thresholds" in thr.note and SAVED_NOTE[1:] in thr.note
    assert thr.importance == gbm.importance
    for x in (gbm, thr):
        assert x.explainer == "tree" and x.units == "log-odds"
        assert x.rows == 150 and sum(x.rows_by_fold) == 150 and len(x.rows_by_fold) == 3
        assert x.additivity_error < 1e-9
        assert set(x.importance) == set(FEATURES)
        for d in x.disparities:
            assert d.baseline + sum(d.contributions.values()) == pytest.approx(d.gap, abs=1e-6)


def test_champion_example_explains_both_saved_models_by_their_own_values():
    """policies/champion.yaml audits a LightGBM text model and a skops pipeline trained
    elsewhere: both ranked variants are explained on the sample, the LightGBM one with the
    importance its booster's own pred_contrib gives on the same rows and weights."""
    root = Path(__file__).resolve().parents[3]
    policy = load_policy(root / "policies" / "champion.yaml")
    run = run_audit(policy)
    e = run.result.analysis.explanations
    by = {x.variant: x for x in e.explained}
    assert set(run.result.ranking.order) <= set(by) and not e.skipped
    assert by["challenger"].explainer == "tree" and by["champion"].explainer == "linear"
    for x in by.values():
        assert x.note == SAVED_NOTE and x.units == "log-odds" and x.additivity_error < 1e-9
        assert x.rows == 2000 and sum(x.rows_by_fold) == 2000
    data = load_data(policy)
    X, cands, _, _ = build_candidates(policy, data)
    challenger = next(c for c in cands if c.name == "challenger")
    sample = sample_rows(run.folds, data.atoms, data.n_atoms, budget=2000, seed=policy.seed)
    contrib = challenger.model.predict(challenger.lightgbm_frame(X.iloc[sample.rows]),
                                       pred_contrib=True)[:, :-1]
    expected = sample.weights @ np.abs(contrib) / sample.weights.sum()
    got = by["challenger"].importance
    np.testing.assert_allclose([got[f] for f in data.features], expected, atol=1e-9)


def test_a_saved_pipeline_whose_preparation_cannot_be_traced_is_permuted_on_its_columns(
        tmp_path):
    """Three steps (columns, a feature selection, the estimator): the prepared columns cannot
    be traced back to the policy's, so permutation SHAP runs on the raw policy columns."""
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_selection import VarianceThreshold
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    df = tiny_frame(600, seed=11)
    prep = ColumnTransformer([
        ("num", SimpleImputer(strategy="median"), ["income", "age_years"]),
        ("cat", Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="none")),
                          ("onehot", OneHotEncoder(handle_unknown="ignore",
                                                   sparse_output=False))]), CATEGORICAL)])
    model = Pipeline([("columns", prep), ("select", VarianceThreshold()),
                      ("classifier", LogisticRegression(max_iter=2000))])
    model.fit(df[FEATURES], df["credit"])
    sio.dump(model, tmp_path / "model.skops")
    trusted = sio.get_untrusted_types(file=tmp_path / "model.skops")
    write_tiny_data(tmp_path)
    cand, X, _, _, sample, ex = _explained(
        tmp_path, "  - {name: sk, kind: saved_model, path: model.skops, trusted_types: "
        + json.dumps(trusted) + "}", n_rows=40)
    assert ex.explainer == "permutation" and ex.values.shape == (40, len(FEATURES))
    rows = X.iloc[sample.rows]
    np.testing.assert_allclose(ex.margin, _logit(cand.score_all(rows)), atol=1e-7)
    np.testing.assert_allclose(ex.values.sum(1), ex.margin - ex.base, atol=1e-9)
    # a linear model of the imputed columns: income's value is its own term's change
    assert np.abs(ex.values[:, FEATURES.index("income")]).mean() > \
        np.abs(ex.values[:, FEATURES.index("purpose")]).mean()
