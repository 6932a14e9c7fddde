"""A chunked read (fairsel/data.py ChunkedTable) checks what a whole read checks: the target's
two values, whatever type each chunk or file reads them as, and data → id present and unique
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


def _with_ids(t: pa.Table, ids) -> pa.Table:
    return t.set_column(t.schema.get_field_index("id"), "id", pa.array(ids))


@pytest.mark.parametrize("chunk", [None, 400])
def test_an_id_repeated_in_another_file_is_refused_as_in_a_whole_read(tmp_path: Path,
                                                                     chunk) -> None:
    t = make_table(3000, seed=5)
    ids = np.arange(3000, dtype=np.int64)
    ids[2500] = ids[10]  # file 2 repeats an id of file 1
    whole_p, chunked_p = write(tmp_path, _with_ids(t, ids), files=2, chunk=chunk)
    with pytest.raises(DataError, match=r"whole\.parquet: id column 'id' must be unique.*"
                                        r"10 on rows 11, 2501"):
        run_audit(load_policy(whole_p))
    with pytest.raises(DataError, match=r"parts: id column 'id' must be unique across the data's "
                                        r"2 file\(s\), but 1 id\(s\) repeat: 10 on "
                                        r"part-0\.parquet row 11, part-1\.parquet row 1001$"):
        run_audit(load_policy(chunked_p))


def test_an_id_repeated_in_two_chunks_of_one_file_is_refused(tmp_path: Path) -> None:
    t = make_table(2000, seed=6)
    ids = np.array([f"a{i}" for i in range(2000)], dtype=object)
    ids[1999] = ids[3]  # text ids: the repeat is in the last chunk, the first in the first
    _, chunked_p = write(tmp_path, _with_ids(t, ids), files=1, chunk=500)
    with pytest.raises(DataError, match=r"repeat: 'a3' on part-0\.parquet row 4, "
                                        r"part-0\.parquet row 2000$"):
        run_audit(load_policy(chunked_p))


def test_unique_ids_in_any_order_pass(tmp_path: Path) -> None:
    t = make_table(3000, seed=7)
    ids = np.random.default_rng(0).permutation(3000) * 3  # unique, not in order: second pass
    whole_p, chunked_p = write(tmp_path, _with_ids(t, ids), files=3, chunk=400)
    _same(run_audit(load_policy(whole_p)).result, run_audit(load_policy(chunked_p)).result)


def test_ids_increasing_through_the_files_need_no_second_pass(tmp_path: Path,
                                                             monkeypatch) -> None:
    import fairsel.data

    def refuse(*args, **kwargs):
        raise AssertionError("the id column was read again")

    _, chunked_p = write(tmp_path, make_table(3000, seed=8), files=3, chunk=400)
    monkeypatch.setattr(fairsel.data, "_unique_numbers", refuse)
    result = run_audit(load_policy(chunked_p)).result
    assert result.data.rows_read == 3000


def test_an_empty_id_names_its_file_and_row(tmp_path: Path) -> None:
    t = make_table(2000, seed=9)
    ids = pa.array([None if i == 1700 else i for i in range(2000)], type=pa.int64())
    _, chunked_p = write(tmp_path, _with_ids(t, ids), files=2, chunk=300)
    with pytest.raises(DataError, match=r"part-1\.parquet: id column 'id' is empty in 1 "
                                        r"row\(s\) \(row 701\); every row needs an id"):
        run_audit(load_policy(chunked_p))


def test_a_file_without_the_id_column_is_refused(tmp_path: Path) -> None:
    _, chunked_p = write(tmp_path, make_table(2000, seed=10), files=2, chunk=None)
    part = tmp_path / "parts" / "part-1.parquet"
    pq.write_table(pq.read_table(part).drop_columns(["id"]), part)
    with pytest.raises(DataError, match=r"part-1\.parquet.*'id'.*data → id"):
        run_audit(load_policy(chunked_p))
