"""A predictions-only audit whose scores sit beside the labels in the data's Parquet file reads
that file once: the data loader keeps the candidates' columns of its one read
(``AuditData.file_columns``) and the candidate uses them (issue 11, the 1M-row speed target)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fairsel.audit import build_candidates, run_audit
from fairsel.data import load_data, read_table
from fairsel.errors import DataError
from fairsel.policy import load_policy
from tests.e2e.test_predictions_imports import POLICY as IMPORTS_POLICY

#: The predictions-only policy of the imports test, its candidate's file a parameter.
POLICY = IMPORTS_POLICY.replace("kind: predictions, path: {data}",
                                "kind: predictions, path: {scores}")
assert "{scores}" in POLICY


def _table(n: int = 600, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    score = rng.random(n)
    return pa.table({
        "id": np.arange(n), "approved": (rng.random(n) < score).astype(np.int8),
        "sex": pa.array(rng.choice(np.array(["female", "male"]), size=n)).dictionary_encode(),
        "score": score,
    })


def _policy(tmp_path: Path, data: Path, scores: Path | None = None):
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(data=data, scores=scores or data, out=tmp_path / "out"),
                    encoding="utf-8")
    return load_policy(path)


@pytest.fixture
def reads(monkeypatch):
    """Every ``pyarrow.parquet.read_table`` call's file (``pd.read_parquet`` goes through it)."""
    seen: list[Path] = []
    real = pq.read_table

    def counting(source, *args, **kwargs):
        seen.append(Path(source).resolve())
        return real(source, *args, **kwargs)

    monkeypatch.setattr(pq, "read_table", counting)
    return seen


def test_scores_beside_the_labels_are_read_with_the_data_once(tmp_path, reads):
    data = tmp_path / "data.parquet"
    pq.write_table(_table(), data)
    run = run_audit(_policy(tmp_path, data))
    assert run.result is not None
    assert reads.count(data.resolve()) == 1, reads


def test_a_separate_predictions_file_is_read_once_and_the_data_once(tmp_path, reads):
    t = _table()
    data, scores = tmp_path / "data.parquet", tmp_path / "scores.parquet"
    pq.write_table(t, data)
    pq.write_table(t.select(["id", "score"]).take(np.arange(t.num_rows)[::-1]), scores)
    policy = _policy(tmp_path, data, scores)
    full = load_data(policy)
    assert full.file_columns == {}  # the data file holds no candidate's columns to share
    _, _, fixed, _ = build_candidates(policy, full)
    np.testing.assert_array_equal(fixed[0], t.column("score").to_numpy())
    assert reads.count(data.resolve()) == 1 and reads.count(scores.resolve()) == 1, reads


def _outcome(policy, *, shared: bool):
    full = load_data(policy)
    if not shared:
        full.file_columns.clear()  # the candidate then reads the file itself, as before
    try:
        _, cands, fixed, _ = build_candidates(policy, full)
    except DataError as exc:
        return str(exc)
    assert full.file_columns == {} and cands[0].shared == {}  # released once scored
    return fixed[0].tolist(), cands[0].notes, cands[0].transform, cands[0].threshold


@pytest.mark.parametrize("case", ["plain", "nan_score", "excluded_rows", "text_scores"])
def test_the_shared_columns_give_what_reading_the_file_gives(tmp_path, case):
    t = _table(300)
    if case == "nan_score":
        s = t.column("score").to_numpy().copy()
        s[[4, 90]] = np.nan
        t = t.set_column(3, "score", pa.array(s))
    elif case == "excluded_rows":  # a missing target excludes the row, its score is a note
        y = pa.array(t.column("approved").to_numpy(), mask=np.arange(t.num_rows) % 50 == 0)
        t = t.set_column(1, "approved", y)
    elif case == "text_scores":
        txt = [str(v) for v in t.column("score").to_numpy()]
        txt[7] = "high"
        t = t.set_column(3, "score", pa.array(txt))
    data = tmp_path / "data.parquet"
    pq.write_table(t, data)
    policy = _policy(tmp_path, data)
    assert load_data(policy).file_columns, "the data file's score column is shared"
    shared, read = _outcome(policy, shared=True), _outcome(policy, shared=False)
    assert shared == read
    if case in ("nan_score", "text_scores"):
        assert isinstance(shared, str) and "score column 'score'" in shared
    if case == "excluded_rows":
        assert "excluded" in shared[1][0]


def test_the_frame_is_what_pandas_read_parquet_makes(tmp_path):
    """The data frame comes from the one pyarrow read through pandas' own conversion: it must
    equal ``pd.read_parquet`` of the file, whatever the column types."""
    n = 50
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({
        "i": np.arange(n), "f": rng.random(n),
        "i_null": pd.array([None if k % 7 == 0 else k for k in range(n)], dtype="Int64"),
        "s": rng.choice(["a", "b", None], size=n),
        "cat": pd.Categorical(rng.choice(["x", "y"], size=n)),
        "b": rng.random(n) < 0.5,
        "t": pd.date_range("2026-01-01", periods=n, freq="h", tz="UTC"),
        "d": [dt.date(2026, 1, 1 + k % 28) for k in range(n)],
    }, index=pd.Index(np.arange(n) * 3, name="row"))
    path = tmp_path / "types.parquet"
    frame.to_parquet(path)  # with pandas' metadata and its named index
    ours, fmt = read_table(path)
    theirs = pd.read_parquet(path)
    theirs.columns = [str(c) for c in theirs.columns]
    assert fmt == "parquet"
    pd.testing.assert_frame_equal(ours, theirs)
