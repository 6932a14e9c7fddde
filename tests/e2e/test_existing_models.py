"""Auditing models and scores made elsewhere, through the CLI: every refusal has its exit code
and its message; accepted models are scored as they are, never refitted."""

from __future__ import annotations

import json
import operator
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, CliResult, run_cli

FEATURES = ["x1", "x2", "kind"]


def make_data(folder: Path, n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A small audit table: id, three features (one text), a protected attribute, a label."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], size=n)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n) + (sex == "male") * 0.3
    kind = rng.choice(["a", "b", "c"], size=n)
    y = (x1 + 0.5 * x2 + (kind == "a") * 0.4 + rng.normal(size=n) > 0).astype(int)
    frame = pd.DataFrame({"id": np.arange(1000, 1000 + n), "x1": x1, "x2": x2, "kind": kind,
                          "sex": sex, "label": np.where(y == 1, "good", "bad"),
                          "vendor_score": 1 / (1 + np.exp(-(x1 + 0.5 * x2)))})
    frame.to_csv(folder / "data.csv", index=False)
    return frame


def write_policy(folder: Path, candidates: list[dict], *, features=None, resamples: int = 50,
                 name: str = "models") -> Path:
    policy = {
        "version": 1, "name": name, "seed": 3,
        "data": {"path": "data.csv", "target": "label", "favorable": "good", "id": "id",
                 "features": features or FEATURES, "exclude": []},
        "protected": [{"column": "sex"}],
        "min_group_size": 30,
        "validation": {"scheme": "stratified_kfold", "folds": 3},
        "candidates": candidates,
        "metrics": {"performance": ["roc_auc", "balanced_accuracy"],
                    "fairness": ["disparate_impact", "equal_opportunity_difference"],
                    "confidence": {"method": "bootstrap", "level": 0.95, "resamples": resamples}},
        "gates": [{"metric": "roc_auc", "min": 0.5}],
        "report": {"output": "out", "formats": ["json"]},
    }
    path = folder / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def numeric_model(frame: pd.DataFrame, columns=("x1", "x2")):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(frame[list(columns)], frame["label"])


def run_here(*args: str, env: dict | None = None) -> CliResult:
    """The CLI in this process (the same code path as ``python -m fairsel``, without paying
    for a new interpreter and its imports in every test)."""
    from click.testing import CliRunner

    from fairsel.cli import main

    base = {"CI": "true", "GITHUB_STEP_SUMMARY": None, "GITHUB_ACTIONS": None}
    res = CliRunner().invoke(main, list(args), env={**base, **(env or {})})
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    return CliResult(res.exit_code, res.stdout, res.stderr)


def audit(policy: Path):
    return run_here("audit", "--policy", str(policy), "--quiet")


def sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def case(tmp_path):
    return tmp_path, make_data(tmp_path)


# -- pickles -----------------------------------------------------------------------------------

def test_untrusted_pickle_is_refused(case):
    folder, frame = case
    (folder / "model.pkl").write_bytes(pickle.dumps(numeric_model(frame)))
    policy = write_policy(folder, [{"name": "old", "kind": "saved_model", "path": "model.pkl"}],
                          features=["x1", "x2"])
    r = run_cli("audit", "--policy", str(policy), "--quiet")  # a real process, as CI runs it
    assert r.exit_code == 4, r.stderr
    assert "candidate 'old': refused to load a pickle/joblib file without trusted: true and a " \
           "sha256" in r.stderr
    assert "loading a pickle (joblib included) can run any code the file names" in r.stderr
    assert "Traceback" not in r.stderr


def test_trusted_pickle_with_a_wrong_sha256_is_refused(case):
    folder, frame = case
    path = folder / "model.joblib"
    import joblib

    joblib.dump(numeric_model(frame), path)
    policy = write_policy(folder, [{"name": "old", "kind": "saved_model", "path": "model.joblib",
                                    "trusted": True, "sha256": "0" * 64}], features=["x1", "x2"])
    r = audit(policy)
    assert r.exit_code == 4, r.stderr
    assert f"its sha256 is {sha(path)}, but the policy's sha256 is {'0' * 64}" in r.stderr
    assert "the file is not the one that was trusted" in r.stderr


def test_trusted_pickle_with_its_sha256_is_scored_without_refitting(case):
    folder, frame = case
    model = numeric_model(frame)
    path = folder / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    policy = write_policy(folder, [{"name": "old", "kind": "saved_model", "path": "model.pkl",
                                    "trusted": True, "sha256": sha(path)}], features=["x1", "x2"])
    r = audit(policy)
    assert r.exit_code in (0, 1), r.stderr
    preds = pd.read_parquet(folder / "out" / "predictions.parquet")
    merged = preds.merge(frame, left_on="row_id", right_on="id")
    expected = model.predict_proba(merged[["x1", "x2"]])[:, list(model.classes_).index("good")]
    np.testing.assert_allclose(merged["y_score"], expected, rtol=1e-12)
    assert set(preds["fold"]) == {0, 1, 2}  # fold figures still use the folds


# -- skops -------------------------------------------------------------------------------------

def skops_model(frame: pd.DataFrame, path: Path) -> None:
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    # operator.neg is a type skops does not trust by default
    pipe = Pipeline([("neg", FunctionTransformer(operator.neg)),
                     ("model", LogisticRegression())]).fit(frame[["x1", "x2"]], frame["label"])
    sio.dump(pipe, path)


def test_untrusted_skops_type_is_refused_and_listed(case):
    folder, frame = case
    skops_model(frame, folder / "model.skops")
    policy = write_policy(folder, [{"name": "sk", "kind": "saved_model", "path": "model.skops"}],
                          features=["x1", "x2"])
    r = audit(policy)
    assert r.exit_code == 4, r.stderr
    assert "candidate 'sk': the skops file contains 1 type(s) that skops does not trust by " \
           "default and the policy does not list: _operator.neg" in r.stderr
    assert "trusted_types: ['_operator.neg']" in r.stderr


def test_trusted_pickle_flag_does_not_bypass_the_skops_check(case):
    folder, frame = case
    skops_model(frame, folder / "model.skops")
    policy = write_policy(folder, [{"name": "sk", "kind": "saved_model", "path": "model.skops",
                                    "trusted": True}], features=["x1", "x2"])
    r = audit(policy)
    assert r.exit_code == 4 and "_operator.neg" in r.stderr


def test_the_policy_may_extend_the_trusted_types(case):
    folder, frame = case
    skops_model(frame, folder / "model.skops")
    policy = write_policy(folder, [{"name": "sk", "kind": "saved_model", "path": "model.skops",
                                    "trusted_types": ["_operator.neg"]}], features=["x1", "x2"])
    r = audit(policy)
    assert r.exit_code in (0, 1), r.stderr
    res = json.loads((folder / "out" / "results.json").read_text())
    assert res["variants"][0]["kind"] == "saved_model"
    assert res["variants"][0]["performance"]["roc_auc"]["value"] > 0.6


# -- feature checks ----------------------------------------------------------------------------

def test_features_in_another_order_are_refused(case):
    folder, frame = case
    import skops.io as sio

    sio.dump(numeric_model(frame, ("x2", "x1")), folder / "model.skops")
    policy = write_policy(folder, [{"name": "sk", "kind": "saved_model", "path": "model.skops"}],
                          features=["x1", "x2"])
    r = audit(policy)
    assert r.exit_code == 4, r.stderr
    assert "the model's features do not match the data (data → features): same features in a " \
           "different order: 'x1' is feature 2 in the model, 1 in the data" in r.stderr
    assert "in its order: [x2, x1]" in r.stderr


def test_missing_and_extra_features_are_refused(case):
    folder, frame = case
    import skops.io as sio

    sio.dump(numeric_model(frame, ("x1",)), folder / "model.skops")
    policy = write_policy(folder, [{"name": "sk", "kind": "saved_model", "path": "model.skops"}])
    r = audit(policy)
    assert r.exit_code == 4, r.stderr
    assert "the data has 2 feature(s) the model was not trained on: x2, kind" in r.stderr


def test_lightgbm_text_model_with_categories_is_scored_as_saved(case):
    folder, frame = case
    import lightgbm as lgb

    X = frame[FEATURES].copy()
    X["kind"] = X["kind"].astype("category")
    clf = lgb.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1, n_jobs=1)
    clf.fit(X, (frame["label"] == "good").astype(int))
    clf.booster_.save_model(str(folder / "model.txt"))
    policy = write_policy(folder, [{"name": "gbm", "kind": "saved_model", "path": "model.txt"}])
    r = audit(policy)
    assert r.exit_code in (0, 1), r.stderr
    preds = pd.read_parquet(folder / "out" / "predictions.parquet")
    merged = preds.merge(frame, left_on="row_id", right_on="id")
    Xm = merged[FEATURES].copy()
    Xm["kind"] = pd.Categorical(Xm["kind"], categories=X["kind"].cat.categories)
    np.testing.assert_allclose(merged["y_score"], clf.booster_.predict(Xm), rtol=1e-12)


def test_lightgbm_feature_mismatch_is_refused(case):
    folder, frame = case
    import lightgbm as lgb

    clf = lgb.LGBMClassifier(n_estimators=5, verbose=-1, n_jobs=1)
    clf.fit(frame[["x1", "x2"]], (frame["label"] == "good").astype(int))
    clf.booster_.save_model(str(folder / "model.txt"))
    policy = write_policy(folder, [{"name": "gbm", "kind": "saved_model", "path": "model.txt"}],
                          features=["x2", "x1"])
    r = audit(policy)
    assert r.exit_code == 4, r.stderr
    assert "same features in a different order" in r.stderr


# -- predictions -------------------------------------------------------------------------------

def write_scores(folder: Path, ids, scores, name: str = "scores.csv") -> None:
    pd.DataFrame({"id": ids, "score": scores}).to_csv(folder / name, index=False)


def pred_policy(folder: Path, **cand) -> Path:
    spec = {"name": "vendor", "kind": "predictions", "path": "scores.csv",
            "score_column": "score", **cand}
    return write_policy(folder, [spec])


def test_predictions_with_missing_ids_exit_3(case):
    folder, frame = case
    write_scores(folder, frame["id"][3:], frame["vendor_score"][3:])
    r = audit(pred_policy(folder))
    assert r.exit_code == 3, r.stderr
    assert "candidate 'vendor': 3 of the 400 audited row(s) have no prediction (no matching " \
           "'id' in this file); first ids: 1000, 1001, 1002" in r.stderr


def test_predictions_with_duplicate_ids_exit_3(case):
    folder, frame = case
    ids = list(frame["id"]) + [1005, 1007]
    write_scores(folder, ids, list(frame["vendor_score"]) + [0.5, 0.5])
    r = audit(pred_policy(folder))
    assert r.exit_code == 3, r.stderr
    assert "id column 'id' has 2 repeated value(s) (2 id(s) occur more than once); first: " \
           "line 7 (id 1005), line 9 (id 1007), line 402 (id 1005), line 403 (id 1007)" \
           in r.stderr


def test_predictions_with_bad_scores_exit_3(case):
    folder, frame = case
    scores = frame["vendor_score"].astype(object).copy()
    scores[[4, 9]] = ["high", "n/a?"]
    scores[[5]] = [np.nan]
    scores[[7]] = [np.inf]
    write_scores(folder, frame["id"], scores)
    r = audit(pred_policy(folder))
    assert r.exit_code == 3, r.stderr
    assert "score column 'score': 2 non-numeric score(s); first: line 6 (id 1004): 'high', " \
           "line 11 (id 1009): 'n/a?'" in r.stderr
    assert "1 missing or NaN score(s); first: line 7 (id 1005)" in r.stderr
    assert "1 infinite score(s); first: line 9 (id 1007): inf" in r.stderr


def test_predictions_from_parquet_are_joined_on_the_id(case):
    folder, frame = case
    shuffled = frame.sample(frac=1.0, random_state=1)
    shuffled[["id", "vendor_score"]].rename(columns={"vendor_score": "p_bad"}).assign(
        p_bad=lambda d: 1 - d["p_bad"]).to_parquet(folder / "scores.parquet", index=False)
    policy = write_policy(folder, [{"name": "vendor", "kind": "predictions",
                                    "path": "scores.parquet", "score_column": "p_bad",
                                    "higher_is_favorable": False, "threshold": 0.4}])
    r = audit(policy)
    assert r.exit_code in (0, 1), r.stderr
    preds = pd.read_parquet(folder / "out" / "predictions.parquet").merge(
        frame, left_on="row_id", right_on="id")
    np.testing.assert_allclose(preds["y_score"], preds["vendor_score"], rtol=1e-12)
    # favorable when P(bad) < 0.4, i.e. vendor_score > 0.6
    np.testing.assert_array_equal(preds["y_pred"], (1 - preds["vendor_score"] < 0.4).astype(int))


# -- the example policy ------------------------------------------------------------------------

def test_champion_policy_scores_the_saved_models_as_they_are(tmp_path):
    import lightgbm as lgb
    import skops.io as sio

    r = run_here("audit", "--policy", str(ROOT / "policies" / "champion.yaml"), "--output",
                 str(tmp_path), "--quiet")
    assert r.exit_code in (0, 1), r.stderr  # both deployed models fail the fairness gates: 1
    res = json.loads((tmp_path / "results.json").read_text())
    assert {v["name"]: v["kind"] for v in res["variants"]} == {"champion": "saved_model",
                                                               "challenger": "saved_model"}
    data = pd.read_csv(ROOT / "data_samples" / "lending_branches.csv")
    preds = pd.read_parquet(tmp_path / "predictions.parquet")
    models = ROOT / "data_samples" / "models"
    feats = res["data"]["features"]
    champ = sio.load(models / "champion.skops", trusted=["numpy.dtype"])
    p = preds[preds.candidate == "champion"].merge(data, left_on="row_id",
                                                   right_on="application_id")
    expected = champ.predict_proba(p[feats])[:, list(champ.classes_).index("yes")]
    np.testing.assert_allclose(p["y_score"], expected, rtol=1e-10)
    booster = lgb.Booster(model_file=str(models / "challenger.lgb.txt"))
    q = preds[preds.candidate == "challenger"].merge(data, left_on="row_id",
                                                     right_on="application_id")
    Xq = q[feats].copy()
    for col, cats in zip([c for c in feats if Xq[c].dtype == object or str(Xq[c].dtype) == "str"],
                         booster.pandas_categorical):
        Xq[col] = pd.Categorical(Xq[col], categories=cats)
    np.testing.assert_allclose(q["y_score"], booster.predict(Xq), rtol=1e-10)


# -- MLflow --------------------------------------------------------------------------------------

def test_mlflow_model_without_trust_is_refused(case):
    folder, _ = case
    (folder / "mlmodel").mkdir()
    policy = write_policy(folder, [{"name": "ml", "kind": "mlflow", "path": "mlmodel"}],
                          features=["x1", "x2"])
    r = audit(policy)
    assert r.exit_code == 4, r.stderr
    assert "candidate 'ml': refused to load an MLflow pyfunc model without trusted: true" \
           in r.stderr


def _save_mlflow_model(frame: pd.DataFrame, path: Path, columns=("x1", "x2")):
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn", reason="MLflow is not installed "
                                         "(pip install 'fairsel[mlflow]')")
    from mlflow.models import infer_signature

    model = numeric_model(frame, columns)
    X = frame[list(columns)]
    mlflow_sklearn.save_model(model, str(path), pyfunc_predict_fn="predict_proba",
                              signature=infer_signature(X, model.predict_proba(X)),
                              pip_requirements=[])
    return model


def test_mlflow_pyfunc_model_is_scored_when_trusted(case):
    folder, frame = case
    model = _save_mlflow_model(frame, folder / "mlmodel")
    policy = write_policy(folder, [{"name": "ml", "kind": "mlflow", "path": "mlmodel",
                                    "trusted": True}], features=["x1", "x2"])
    r = audit(policy)
    assert r.exit_code in (0, 1), r.stderr
    preds = pd.read_parquet(folder / "out" / "predictions.parquet").merge(
        frame, left_on="row_id", right_on="id")
    np.testing.assert_allclose(preds["y_score"],
                               model.predict_proba(preds[["x1", "x2"]])[:, 1], rtol=1e-12)


def test_mlflow_feature_mismatch_is_refused(case):
    folder, frame = case
    _save_mlflow_model(frame, folder / "mlmodel", columns=("x2", "x1"))
    policy = write_policy(folder, [{"name": "ml", "kind": "mlflow", "path": "mlmodel",
                                    "trusted": True}], features=["x1", "x2"])
    r = audit(policy)
    assert r.exit_code == 4, r.stderr
    assert "same features in a different order" in r.stderr


def test_audit_logs_to_an_mlflow_file_store(case):
    pytest.importorskip("mlflow", reason="MLflow is not installed (pip install 'fairsel[mlflow]')")
    folder, frame = case
    write_scores(folder, frame["id"], frame["vendor_score"])
    policy = write_policy(folder, [{"name": "vendor", "kind": "predictions",
                                    "path": "scores.csv", "score_column": "score"}])
    store = (folder / "mlruns").as_uri()
    r = run_here("audit", "--policy", str(policy), "--mlflow-uri", store)
    assert r.exit_code in (0, 1), r.stderr
    assert "logged to MLflow run" in r.stderr
    import os

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store)
    exp = client.get_experiment_by_name("fairsel-models")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1
    run = runs[0]
    res = json.loads((folder / "out" / "results.json").read_text())
    auc = res["variants"][0]["performance"]["roc_auc"]
    assert run.data.metrics["vendor.roc_auc"] == pytest.approx(auc["value"], abs=1e-12)
    assert run.data.metrics["vendor.roc_auc.ci_low"] == pytest.approx(auc["ci"][0], abs=1e-12)
    assert run.data.tags["fairsel.verdict"] == res["verdict"]["status"]
    arts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"results.json", "leaderboard.csv", "predictions.parquet"} <= arts
