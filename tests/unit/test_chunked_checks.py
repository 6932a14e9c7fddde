"""A chunked read (fairsel/data.py ChunkedTable) counts the target's two values as a whole
read does, whatever type each chunk or file reads them as."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fairsel.audit import run_audit
from fairsel.errors import DataError
from fairsel.policy import load_policy
from tests.unit.test_chunked import _groups, make_table, write


def _target(t: pa.Table, values, type_) -> pa.Table:
    i = t.schema.get_field_index("approved")
    return t.set_column(i, "approved", pa.array(values, type=type_))


def _no_gaps(t: pa.Table) -> np.ndarray:
    return np.nan_to_num(t.column("approved").to_numpy(), nan=0.0)


def _same(whole, chunked) -> None:
    assert chunked.data.chunked is not None
    assert (chunked.data.rows_read, chunked.data.rows_used) == \
        (whole.data.rows_read, whole.data.rows_used)
    assert [(e.reason, e.count) for e in chunked.data.excluded] == \
        [(e.reason, e.count) for e in whole.data.excluded]
    gw, gc = _groups(whole), _groups(chunked)
    assert gw.keys() == gc.keys()
    assert all(gw[k][:5] == gc[k][:5] for k in gw)


def test_integer_target_with_a_gap_in_one_chunk_is_one_pair_of_values(tmp_path: Path) -> None:
    """The chunk holding a missing target reads the integer column as floats (1.0), the
    others as integers (1): still the same two values, as when the file is read whole."""
    t = make_table(3000, seed=2)
    y = [int(v) for v in _no_gaps(t)]
    y[2990] = None  # in the last chunk only
    whole_p, chunked_p = write(tmp_path, _target(t, y, pa.int64()), files=1, chunk=500)
    whole = run_audit(load_policy(whole_p)).result
    chunked = run_audit(load_policy(chunked_p)).result
    assert chunked.data.chunked.chunks == 6
    _same(whole, chunked)


def test_files_writing_the_target_as_integers_and_as_floats_agree(tmp_path: Path) -> None:
    t = make_table(3000, seed=3)
    t = _target(t, _no_gaps(t), pa.float64())
    whole_p, chunked_p = write(tmp_path, t, files=2, chunk=None)
    part = tmp_path / "parts" / "part-0.parquet"
    first = pq.read_table(part)
    pq.write_table(_target(first, first.column("approved").to_numpy().astype(np.int64),
                           pa.int64()), part)
    whole = run_audit(load_policy(whole_p)).result
    chunked = run_audit(load_policy(chunked_p)).result
    _same(whole, chunked)


def test_a_third_target_value_in_another_file_is_still_refused(tmp_path: Path) -> None:
    t = make_table(2000, seed=4)
    y = _no_gaps(t).astype(np.int64)
    y[1500] = 2  # in the second file
    _, chunked_p = write(tmp_path, _target(t, y, pa.int64()), files=2, chunk=None)
    with pytest.raises(DataError, match=r"part-1\.parquet: target column 'approved' must have "
                                        r"exactly two values .* has 3: .*'2' \(1\)"):
        run_audit(load_policy(chunked_p))
