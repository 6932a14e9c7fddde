"""``fairsel validate`` refuses what ``fairsel audit`` refuses, with the same exit code and the
same message (issue 13 item 18): everything checkable without training is checked by validate.

Each case builds a small policy whose one defect audit refuses before or instead of training;
validate used to call these policies valid (exit 0).
"""

from __future__ import annotations

import operator
import pickle
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.test_existing_models import (
    FEATURES,
    make_data,
    numeric_model,
    run_here,
    sha,
    write_policy,
    write_scores,
)


def _skops(frame: pd.DataFrame, path: Path, *, untrusted: bool = False, columns=("x1", "x2")):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    if untrusted:  # operator.neg is a type skops does not trust by default
        model = Pipeline([("neg", FunctionTransformer(operator.neg)),
                          ("model", LogisticRegression())]).fit(frame[list(columns)],
                                                                frame["label"])
    else:
        model = numeric_model(frame, columns)
    sio.dump(model, path)


def _lgb_text(frame: pd.DataFrame, path: Path) -> None:
    import lightgbm as lgb

    clf = lgb.LGBMClassifier(n_estimators=5, verbose=-1, n_jobs=1)
    clf.fit(frame[["x1", "x2"]], (frame["label"] == "good").astype(int))
    clf.booster_.save_model(str(path))


def sklearn_param_value(folder, frame):
    return write_policy(folder, [{"name": "lr", "kind": "sklearn", "estimator":
                                  "logistic_regression", "params": {"C": -1}}]), 2, \
        "candidates[0] → params → C: candidate 'lr': logistic_regression: The 'C' parameter"


def lightgbm_param_value(folder, frame):
    return write_policy(folder, [{"name": "gbm", "kind": "lightgbm",
                                  "params": {"n_estimators": 5, "num_leaves": 1}}]), 2, \
        "candidates[0] → params → num_leaves: candidate 'gbm': LightGBM: num_leaves must be > 1 " \
        "(found 1)"


def lightgbm_param_type(folder, frame):
    return write_policy(folder, [{"name": "gbm", "kind": "lightgbm",
                                  "params": {"learning_rate": "fast"}}]), 2, \
        "candidates[0] → params → learning_rate: candidate 'gbm': LightGBM: learning_rate must " \
        "be a number (found 'fast')"


def _saved(folder, name: str, path: str, features=("x1", "x2"), **extra) -> Path:
    return write_policy(folder, [{"name": name, "kind": "saved_model", "path": path, **extra}],
                        features=list(features))


def untrusted_pickle(folder, frame):
    (folder / "model.pkl").write_bytes(pickle.dumps(numeric_model(frame)))
    return _saved(folder, "old", "model.pkl"), 4, \
        "candidate 'old': refused to load a pickle/joblib file without trusted: true and a sha256"


def pickle_wrong_sha256(folder, frame):
    (folder / "model.pkl").write_bytes(pickle.dumps(numeric_model(frame)))
    return _saved(folder, "old", "model.pkl", trusted=True, sha256="0" * 64), 4, \
        f"its sha256 is {sha(folder / 'model.pkl')}, but the policy's sha256 is {'0' * 64}"


def skops_untrusted_type(folder, frame):
    _skops(frame, folder / "model.skops", untrusted=True)
    return _saved(folder, "sk", "model.skops"), 4, \
        "candidate 'sk': the skops file contains 1 type(s) that skops does not trust by " \
        "default and the policy does not list: _operator.neg"


def skops_wrong_sha256(folder, frame):
    _skops(frame, folder / "model.skops")
    return _saved(folder, "sk", "model.skops", sha256="f" * 64), 4, \
        "the file has changed since it was pinned"


def model_file_missing(folder, frame):
    return _saved(folder, "sk", "nope.skops"), 4, "candidate 'sk': model file not found"


def skops_features_reordered(folder, frame):
    _skops(frame, folder / "model.skops", columns=("x2", "x1"))
    return _saved(folder, "sk", "model.skops"), 4, \
        "the model's features do not match the data (data → features): same features in a " \
        "different order"


def lightgbm_text_features_missing(folder, frame):
    _lgb_text(frame, folder / "model.txt")
    return _saved(folder, "gbm", "model.txt", features=FEATURES), 4, \
        "the data has 1 feature(s) the model was not trained on: kind"


def _pred(folder, **cand):
    spec = {"name": "vendor", "kind": "predictions", "path": "scores.csv",
            "score_column": "score", **cand}
    return write_policy(folder, [spec])


def predictions_file_missing(folder, frame):
    return _pred(folder, path="gone.csv"), 3, \
        "gone.csv: predictions file of candidate 'vendor' not found"


def predictions_score_column_missing(folder, frame):
    write_scores(folder, frame["id"], frame["vendor_score"])
    return _pred(folder, score_column="probability"), 3, \
        "candidate 'vendor': score/decision column 'probability' not found"


def predictions_id_column_missing(folder, frame):
    pd.DataFrame({"key": frame["id"], "score": frame["vendor_score"]}).to_csv(
        folder / "scores.csv", index=False)
    return _pred(folder), 3, "candidate 'vendor': id (data → id) column 'id' not found"


def predictions_ids_do_not_join(folder, frame):
    write_scores(folder, frame["id"][3:], frame["vendor_score"][3:])
    return _pred(folder), 3, "3 of the 400 audited row(s) have no prediction"


def predictions_ids_repeated(folder, frame):
    write_scores(folder, list(frame["id"]) + [frame["id"][0]],
                 list(frame["vendor_score"]) + [0.5])
    return _pred(folder), 3, "id column 'id' has 1 repeated value(s)"


def data_is_an_output_file(folder, frame):
    import yaml

    policy = write_policy(folder, [{"name": "lr", "kind": "sklearn",
                                    "estimator": "logistic_regression"}])
    (folder / "out").mkdir()
    (folder / "out" / "leaderboard.csv").write_bytes((folder / "data.csv").read_bytes())
    spec = yaml.safe_load(policy.read_text(encoding="utf-8"))
    spec["data"]["path"] = "out/leaderboard.csv"
    policy.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return policy, 2, "a file the audit writes in its output folder"


def output_path_is_a_file(folder, frame):
    (folder / "out").write_text("not a folder\n")
    return write_policy(folder, [{"name": "lr", "kind": "sklearn",
                                  "estimator": "logistic_regression"}]), 2, \
        "the output path exists and is not a folder"


CASES = [data_is_an_output_file, output_path_is_a_file, sklearn_param_value, lightgbm_param_value, lightgbm_param_type, untrusted_pickle,
         pickle_wrong_sha256, skops_untrusted_type, skops_wrong_sha256, model_file_missing,
         skops_features_reordered, lightgbm_text_features_missing, predictions_file_missing,
         predictions_score_column_missing, predictions_id_column_missing,
         predictions_ids_do_not_join, predictions_ids_repeated]


def _error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("fairsel: error: ")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("make", CASES, ids=[c.__name__ for c in CASES])
def test_validate_refuses_what_audit_refuses(make, tmp_path):
    frame = make_data(tmp_path)
    policy, code, text = make(tmp_path, frame)
    v = run_here("validate", "--policy", str(policy))
    a = run_here("audit", "--policy", str(policy), "--output", str(tmp_path / "out"), "--quiet")
    assert (v.exit_code, a.exit_code) == (code, code), f"validate:\n{v.stderr}\naudit:\n{a.stderr}"
    assert text in _error(v.stderr), v.stderr
    assert _error(v.stderr) == _error(a.stderr)
    assert "valid —" not in v.stderr and "Traceback" not in v.stderr + a.stderr


def test_the_cases_fixture_validates_when_nothing_is_broken(tmp_path):
    # the defects above are the only reason for each refusal: the same data with good inputs
    # (a predictions file that joins, a saved model that fits) validates
    frame = make_data(tmp_path)
    write_scores(tmp_path, frame["id"], frame["vendor_score"])
    _skops(frame, tmp_path / "model.skops")
    _lgb_text(frame, tmp_path / "model.txt")
    policy = write_policy(tmp_path, [
        {"name": "vendor", "kind": "predictions", "path": "scores.csv", "score_column": "score"},
        {"name": "sk", "kind": "saved_model", "path": "model.skops",
         "sha256": sha(tmp_path / "model.skops")},
        {"name": "gbm", "kind": "saved_model", "path": "model.txt"},
        {"name": "lgbm", "kind": "lightgbm", "params": {"n_estimators": 5, "num_leaves": 7}},
        {"name": "lr", "kind": "sklearn", "estimator": "logistic_regression",
         "params": {"C": 0.5}}], features=["x1", "x2"])
    v = run_here("validate", "--policy", str(policy))
    assert v.exit_code == 0, v.stderr
    assert "valid — 400 rows used of 400, 2 features, 5 candidate(s), 3 folds" in v.stderr
