"""kind: saved_model — format sniffing, trust checks, feature checks, favorable class."""

from __future__ import annotations

import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from fairsel.candidates.saved import (
    check_features,
    check_pickle_trust,
    favorable_column,
    file_sha256,
    make_saved,
    sniff_format,
)
from fairsel.errors import ModelError


def test_sniff_format(tmp_path):
    (tmp_path / "m.skops").write_bytes(b"PK\x03\x04rest")
    (tmp_path / "m.txt").write_bytes(b"tree\nversion=v4\n")
    (tmp_path / "m.bin").write_bytes(pickle.dumps({"a": 1}))
    (tmp_path / "m.joblib").write_bytes(b"\x00\x01")
    (tmp_path / "m.dat").write_bytes(b"hello")
    assert sniff_format(tmp_path / "m.skops") == "skops"
    assert sniff_format(tmp_path / "m.txt") == "lightgbm"
    assert sniff_format(tmp_path / "m.bin") == "pickle"  # by content, whatever its name
    assert sniff_format(tmp_path / "m.joblib") == "pickle"  # by name
    assert sniff_format(tmp_path / "m.dat") == "unknown"


def test_a_pickle_named_like_skops_is_still_a_pickle(tmp_path):
    p = tmp_path / "model.skops"
    p.write_bytes(pickle.dumps([1, 2, 3]))
    assert sniff_format(p) == "pickle"


@pytest.mark.parametrize("trusted,sha,missing", [
    (False, None, "without trusted: true and a sha256"),
    (True, None, "without a sha256"),
    (False, "ab" * 32, "without trusted: true"),
])
def test_pickles_need_trust_and_a_hash(trusted, sha, missing):
    with pytest.raises(ModelError) as err:
        check_pickle_trust(Path("m.pkl"), "champ", trusted=trusted, expected=sha,
                           actual="cd" * 32)
    msg = str(err.value)
    assert f"candidate 'champ': refused to load a pickle/joblib file {missing}:" in msg
    assert "can run any code the file names" in msg
    assert "sha256: " + "cd" * 32 in msg  # the hash to pin, once the origin is confirmed


def test_a_wrong_hash_is_refused():
    with pytest.raises(ModelError) as err:
        check_pickle_trust(Path("m.pkl"), "champ", trusted=True, expected="AB" * 32,
                           actual="cd" * 32)
    assert f"its sha256 is {'cd' * 32}, but the policy's sha256 is {'ab' * 32}" in str(err.value)


def test_a_matching_hash_is_accepted_in_any_case():
    check_pickle_trust(Path("m.pkl"), "champ", trusted=True, expected=" " + "CD" * 32,
                       actual="cd" * 32)


def test_feature_differences_are_listed():
    with pytest.raises(ModelError) as err:
        check_features("m", Path("m.skops"), ["a", "b", "c"], ["a", "c", "d"])
    msg = str(err.value)
    assert "the model needs 1 feature(s) the data's features lack: b" in msg
    assert "the data has 1 feature(s) the model was not trained on: d" in msg
    assert "Set data → features to the model's features, in its order: [a, b, c]" in msg


def test_feature_order_differences_are_listed():
    with pytest.raises(ModelError) as err:
        check_features("m", Path("m.skops"), ["a", "b", "c"], ["b", "a", "c"])
    msg = str(err.value)
    assert "same features in a different order" in msg
    assert "'b' is feature 2 in the model, 1 in the data" in msg
    assert "'a' is feature 1 in the model, 2 in the data" in msg
    assert "'c'" not in msg.split("order:")[1].split(".")[0]


def test_models_without_names_are_checked_by_count():
    check_features("m", Path("m"), None, ["a", "b"], n_in=2)
    with pytest.raises(ModelError, match="takes 3 features and kept no names; the data has 2"):
        check_features("m", Path("m"), None, ["a", "b"], n_in=3)


@pytest.mark.parametrize("classes,favorable,index", [
    (["bad", "good"], "good", 1),
    (["no", "yes"], "no", 0),
    ([0, 1], "0", 0),  # COMPAS-style: favorable is the label 0
    ([0, 1], "1", 1),
    ([0, 1], "good", 1),  # fairsel's own encoding: 1 = favorable
    ([False, True], "approved", 1),
])
def test_favorable_column(classes, favorable, index):
    assert favorable_column(classes, favorable, "m", Path("m")) == index


def test_unknown_classes_are_refused():
    with pytest.raises(ModelError, match=r"classes \['a', 'b'\] do not include the favorable "
                                         r"value 'good'"):
        favorable_column(["a", "b"], "good", "m", Path("m"))
    with pytest.raises(ModelError, match="has 3 classes"):
        favorable_column([0, 1, 2], "1", "m", Path("m"))


def _ctx(tmp_path, features, categorical=()):
    return SimpleNamespace(resolve=lambda p: tmp_path / p, features=list(features),
                           categorical=list(categorical), extra={"favorable": "1"})


def _spec(path, **kw):
    base = dict(name="m", kind="saved_model", path=path, threshold=0.5, trusted=False,
                sha256=None, trusted_types=[])
    return SimpleNamespace(**{**base, **kw})


def test_trusted_pickle_scores_without_refitting(tmp_path):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x1": rng.normal(size=200), "x2": rng.normal(size=200)})
    y = (X.x1 + rng.normal(size=200) > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    p = tmp_path / "m.pkl"
    p.write_bytes(pickle.dumps(model))
    c = make_saved(_spec("m.pkl", trusted=True, sha256=file_sha256(p)), _ctx(tmp_path, X.columns))
    assert c.trainable is False and c.format == "pickle"
    np.testing.assert_allclose(c.score_all(X), model.predict_proba(X)[:, 1])


def test_a_skops_sha256_is_checked_too(tmp_path):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"x1": [0.0, 1.0, 2.0, 3.0]})
    sio.dump(LogisticRegression().fit(X, [0, 0, 1, 1]), tmp_path / "m.skops")
    with pytest.raises(ModelError, match="the file has changed since it was pinned"):
        make_saved(_spec("m.skops", sha256="0" * 64), _ctx(tmp_path, ["x1"]))


def test_unknown_formats_are_refused(tmp_path):
    (tmp_path / "m.dat").write_text("not a model")
    with pytest.raises(ModelError, match="not a model format fairsel reads"):
        make_saved(_spec("m.dat"), _ctx(tmp_path, ["x1"]))


def test_a_missing_model_file(tmp_path):
    with pytest.raises(ModelError, match="model file not found"):
        make_saved(_spec("nope.skops"), _ctx(tmp_path, ["x1"]))
