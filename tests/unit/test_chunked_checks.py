"""Checks a chunked read (fairsel/chunked.py, fairsel/data.py ChunkedTable) makes as a whole
read does: the target's two values whatever type each chunk reads them as, and data → id unique
across every chunk and file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fairsel.audit import run_audit
from fairsel.errors import DataError
from fairsel.policy import load_policy

POLICY = """version: 1
name: chunked-checks
seed: 3
data:
  path: {path}
  target: approved
  favorable: 1
  id: id
{chunk}
protected:
  - column: sex
validation: {{scheme: stratified_kfold, folds: 3}}
candidates:
  - {{name: vendor, kind: predictions, path: {path}, score_column: score, threshold: 0.5}}
metrics:
  confidence: {{method: bootstrap, level: 0.95, resamples: 20}}
proxies: false
slices: false
explain: false
report: {{output: out, formats: [json]}}
"""


def _table(n: int, seed: int, *, target_type=pa.int64(), start_id: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(np.int64)
    return pa.table({
        "id": np.arange(start_id, start_id + n, dtype=np.int64),
        "approved": pa.array(y).cast(target_type),
        "sex": rng.choice(np.array(["female", "male"]), size=n),
        "score": np.round(rng.random(n), 3),
    })


def _policy(tmp: Path, path: str, *, chunk: int | None = None) -> Path:
    p = tmp / f"{path.replace('/', '_')}{chunk or ''}.yaml"
    p.write_text(POLICY.format(path=path, chunk=f"  chunk_rows: {chunk}\n" if chunk else ""),
                 encoding="utf-8")
    return p


def _counts(result) -> list:
    return [(g.group, g.n, g.tp, g.fp, g.tn, g.fn) for a in result.variants[0].attributes
            for g in a.groups]


def test_integer_target_with_a_gap_in_one_chunk_is_one_pair_of_values(tmp_path: Path) -> None:
    """A chunk holding a missing target reads the integer column as floats (1.0), the others
    as integers (1): still the same two values, as when the file is read whole."""
    t = _table(1200, 1)
    y = t.column("approved").to_pylist()
    y[1100] = None  # in the last chunk only
    t = t.set_column(1, "approved", pa.array(y, type=pa.int64()))
    pq.write_table(t, tmp_path / "data.parquet", row_group_size=300)
    whole = run_audit(load_policy(_policy(tmp_path, "data.parquet"))).result
    chunked = run_audit(load_policy(_policy(tmp_path, "data.parquet", chunk=300))).result
    assert chunked.data.chunked is not None and chunked.data.chunked.chunks == 4
    assert chunked.data.rows_used == whole.data.rows_used == 1199
    assert _counts(chunked) == _counts(whole)


def test_files_writing_the_target_as_integers_and_as_floats_agree(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    a, b = _table(600, 2), _table(600, 3, target_type=pa.float64(), start_id=600)
    pq.write_table(a, folder / "part-0.parquet")
    pq.write_table(b, folder / "part-1.parquet")
    pq.write_table(pa.concat_tables([a.set_column(1, "approved", a.column("approved")
                                                  .cast(pa.float64())), b]),
                   tmp_path / "whole.parquet")
    whole = run_audit(load_policy(_policy(tmp_path, "whole.parquet"))).result
    chunked = run_audit(load_policy(_policy(tmp_path, "parts"))).result
    assert chunked.data.rows_used == whole.data.rows_used == 1200
    assert _counts(chunked) == _counts(whole)


def test_a_third_target_value_across_files_is_still_refused(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    a, b = _table(300, 4), _table(300, 5, start_id=300)
    b = b.set_column(1, "approved", pa.array(np.full(300, 2, dtype=np.int64)))
    pq.write_table(a, folder / "part-0.parquet")
    pq.write_table(b, folder / "part-1.parquet")
    with pytest.raises(DataError, match=r"part-1\.parquet: target column 'approved' must have "
                                        r"exactly two values .* has 3: "):
        run_audit(load_policy(_policy(tmp_path, "parts")))
