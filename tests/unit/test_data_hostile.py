"""Data that used to pass silently or crash (issue 13, items 5, 10, 13, 14).

A file that is not a table is refused without quoting it; a column name given twice is refused
with its positions; a file that does not decode in ``data → encoding`` is refused with the
offset and line of the first bad byte (and decodes as declared); ``inf`` in a column the audit
uses is refused with its rows before any fit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairsel.data import _SNIFF_BYTES, _has_inf, load_data, read_table
from fairsel.errors import DataError, ExitCode, PolicyError
from tests.unit.test_data import _fails, _frame, _load, _policy


def _read_fails(path: Path, **kw) -> str:
    with pytest.raises(DataError) as info:
        read_table(path, **kw)
    assert info.value.exit_code == ExitCode.DATA
    return str(info.value)


# ------------------------------------------------------- item 5: files that are not tables

SHADOW = ("root:*:19500:0:99999:7:::\ndaemon:*:19500:0:99999:7:::\n"
          "svc:$6$salt$c2VjcmV0aGFzaA:19500:0:99999:7:::\n")


def test_a_file_without_commas_is_not_a_table_and_is_not_quoted(tmp_path: Path):
    f = tmp_path / "shadow"
    f.write_text(SHADOW)
    msg = _read_fails(f)
    assert msg == (f"{f}: the data file does not look like a CSV table: its first line has 1 "
                   "field (no comma), and a table needs a header row naming two or more "
                   "columns, separated by commas; the line holds 8 ':' characters: fairsel "
                   "reads comma-separated files only")
    for line in SHADOW.splitlines():
        for part in line.split(":"):
            assert len(part) < 3 or part not in msg.replace(str(f), "")


def test_the_policy_never_sees_the_columns_of_a_file_that_is_not_a_table(tmp_path: Path):
    f = tmp_path / "shadow"
    f.write_text(SHADOW)
    with pytest.raises(DataError) as info:
        load_data(_policy(f))
    msg = str(info.value).replace(str(f), "")
    assert "columns are" not in msg and "root" not in msg and "daemon" not in msg
    assert "does not look like a CSV table" in msg


def test_semicolon_separated_file_gets_a_hint(tmp_path: Path):
    f = tmp_path / "semi.csv"
    f.write_text("a;b;t\n1;2;yes\n3;4;no\n")
    msg = _read_fails(f)
    assert msg.endswith("; the line holds 2 ';' characters: fairsel reads comma-separated "
                        "files only")


def test_prose_with_commas_is_not_a_table_and_is_not_quoted(tmp_path: Path):
    f = tmp_path / "notes.txt"
    f.write_text("Dear team, the password is hunter2, regards\nsee you\n\nbye\n")
    msg = _read_fails(f)
    assert msg == (f"{f}: the data file does not look like a CSV table: its header has 3 fields "
                   "but line 2 has 1; every line needs one field per column")
    assert "hunter2" not in msg and "Dear" not in msg


def test_rows_with_one_field_more_than_the_header_are_refused(tmp_path: Path):
    # pandas would take the first field as an index and shift every name by one column
    f = tmp_path / "shifted.csv"
    f.write_text("a,b,t\n1,2,3,yes\n4,5,6,no\n")
    assert _read_fails(f) == (f"{f}: the data file does not look like a CSV table: its header "
                              "has 3 fields but line 2 has 4; every line needs one field per "
                              "column")


def test_a_short_row_far_down_the_file_is_refused_with_its_line(tmp_path: Path):
    f = tmp_path / "d.csv"
    rows = "".join(f"{i},{i},yes\n" for i in range(3000))
    f.write_text("a,b,t\n" + rows + "7,secret\n" + rows)
    msg = _read_fails(f)
    assert msg == (f"{f}: the data file does not look like a CSV table: its header has 3 fields "
                   "but line 3002 has 2; every line needs one field per column")
    assert "secret" not in msg


def test_a_table_still_lists_its_columns(tmp_path: Path):
    msg = _fails(tmp_path, _frame(), target="income")
    assert msg.endswith("The file's columns are: sex, x, t")


def test_old_mac_line_endings_and_quoted_newlines_still_read(tmp_path: Path):
    f = tmp_path / "cr.csv"
    f.write_bytes(b'a,"b\nc",t\r1,2,yes\r3,4,no\r')
    frame, _ = read_table(f)
    assert list(frame.columns) == ["a", "b\nc", "t"] and len(frame) == 2


def test_a_header_longer_than_the_first_read_is_read_whole(tmp_path: Path):
    names = [f"column_{i:05d}" for i in range(12_000)]  # about 160 kB of header
    f = tmp_path / "wide.csv"
    f.write_text(",".join(names) + "\n" + ",".join("1" for _ in names) + "\n")
    assert len(",".join(names)) > 2 * _SNIFF_BYTES
    frame, _ = read_table(f)
    assert list(frame.columns) == names


def test_values_in_messages_are_cut_short(tmp_path: Path):
    long = "x" * 500
    msg = _fails(tmp_path, _frame(t=[long, "no", "no"] * 4), favorable='"yes"')
    assert long not in msg and "'xxxxxxxx" in msg and "…" in msg


# -------------------------------------------------------- item 10: a column name twice

def test_a_csv_column_named_twice_is_refused_with_its_positions(tmp_path: Path):
    f = tmp_path / "d.csv"
    f.write_text("id,sex,age,sex,x,t,age,age\n1,f,30,m,1.0,yes,1,2\n2,m,40,f,2.0,no,3,4\n")
    msg = _read_fails(f)
    assert msg == (f"{f}: column names must be unique, but the data file names 'sex' twice "
                   "(columns 2 and 4); 'age' three times (columns 3, 7 and 8); rename or "
                   "remove the repeated columns (a reader renames the second one, so the audit "
                   "could measure the wrong column)")


def test_the_audit_never_measures_a_renamed_duplicate(tmp_path: Path):
    f = tmp_path / "d.csv"
    _frame().to_csv(f, index=False)
    text = f.read_text().splitlines()
    f.write_text("\n".join([text[0] + ",sex"] + [r + ",m" for r in text[1:]]) + "\n")
    with pytest.raises(DataError, match=r"names 'sex' twice \(columns 1 and 4\)"):
        load_data(_policy(f))


def test_a_parquet_column_named_twice_is_refused(tmp_path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    f = tmp_path / "d.parquet"
    pq.write_table(pa.table([pa.array(["f", "m"]), pa.array([1.0, 2.0]), pa.array(["m", "f"]),
                             pa.array(["yes", "no"])], names=["sex", "x", "sex", "t"]), f)
    assert _read_fails(f) == (f"{f}: column names must be unique, but the data file names "
                              "'sex' twice (columns 1 and 3); rename or remove the repeated "
                              "columns (a reader renames the second one, so the audit could "
                              "measure the wrong column)")


def test_names_that_are_only_spaces_count_as_names(tmp_path: Path):
    f = tmp_path / "d.csv"
    f.write_text("a, ,b, ,t\n1,2,3,4,yes\n5,6,7,8,no\n")
    assert "names ' ' twice (columns 2 and 4)" in _read_fails(f)


def test_columns_without_a_name_are_not_duplicates(tmp_path: Path):
    f = tmp_path / "d.csv"
    f.write_text("a,,b,,t\n1,2,3,4,yes\n5,6,7,8,no\n")
    frame, _ = read_table(f)
    assert list(frame.columns) == ["a", "Unnamed: 1", "b", "Unnamed: 3", "t"]


# ------------------------------------------------------------------ item 13: encodings

def _german(tmp_path: Path, encoding: str, name: str = "d.csv", pad: int = 0) -> Path:
    """A German-credit-like table with ``männlich`` in it, in ``encoding``; ``pad`` rows of
    plain ASCII come first (to put the first non-ASCII byte beyond the first read)."""
    sex = ["weiblich"] * pad + ["männlich", "weiblich"] * 6
    n = len(sex)
    frame = pd.DataFrame({"sex": sex, "x": np.arange(n, dtype=float),
                          "t": (["yes", "no", "no"] * n)[:n]})
    path = tmp_path / name
    frame.to_csv(path, index=False, encoding=encoding)
    return path


def test_latin1_file_is_refused_with_offset_line_and_a_hint(tmp_path: Path):
    f = _german(tmp_path, "latin-1")
    with pytest.raises(DataError) as info:
        load_data(_policy(f))
    offset = f.read_bytes().index(b"\xe4")
    assert str(info.value) == (f"{f}: the data file is not utf-8 text: byte 0xe4 at offset "
                               f"{offset} (line 2) does not decode; if it was saved by Excel or "
                               "an older system, set data → encoding: latin-1 (or cp1252) in "
                               "the policy")


def test_a_bad_byte_beyond_the_first_read_is_found_too(tmp_path: Path):
    f = _german(tmp_path, "latin-1", pad=8000)
    data = f.read_bytes()
    offset = data.index(b"\xe4")
    assert offset > _SNIFF_BYTES
    line = data[:offset].count(b"\n") + 1
    msg = _read_fails(f)
    assert f"byte 0xe4 at offset {offset} (line {line}) does not decode" in msg
    assert "b'm" not in msg


def test_latin1_declared_reads_the_labels_as_text(tmp_path: Path):
    f = _german(tmp_path, "latin-1", pad=8000)
    d = load_data(_policy(f, data_extra="  encoding: latin-1\n"))
    assert d.partitions[0].labels == ("männlich", "weiblich")


def test_a_byte_the_declared_encoding_lacks_is_refused(tmp_path: Path):
    f = _german(tmp_path, "latin-1", pad=8000)
    data = f.read_bytes()
    f.write_bytes(data + b"m\x81nnlich,1.0,no\n")  # 0x81 is not a cp1252 character
    msg = _read_fails(f, encoding="cp1252")
    line = data.count(b"\n") + 1
    assert msg == (f"{f}: the data file is not cp1252 text: byte 0x81 at offset {len(data) + 1} "
                   f"(line {line}) does not decode; check data → encoding in "
                   "the policy (latin-1 decodes every byte; utf-8 is the default)")


def test_utf8_byte_order_mark_is_skipped(tmp_path: Path):
    f = _german(tmp_path, "utf-8-sig")
    assert f.read_bytes().startswith(b"\xef\xbb\xbf")
    d = load_data(_policy(f))
    assert d.partitions[0].labels == ("männlich", "weiblich")
    assert d.frame_columns[0] == "sex"


def test_utf16_file_is_read_when_declared_and_named_when_not(tmp_path: Path):
    f = _german(tmp_path, "utf-16")
    assert "UTF-16 byte-order mark: set data → encoding: utf-16" in _read_fails(f)
    d = load_data(_policy(f, data_extra="  encoding: utf-16\n"))
    assert d.partitions[0].labels == ("männlich", "weiblich")


@pytest.mark.parametrize("name", ["klingon", "rot13", "base64"])
def test_unknown_or_non_text_encoding_is_a_policy_error(tmp_path: Path, name: str):
    f = _german(tmp_path, "utf-8")
    with pytest.raises(PolicyError) as info:
        load_data(_policy(f, data_extra=f"  encoding: {name}\n"))
    assert info.value.exit_code == ExitCode.USAGE
    assert str(info.value).endswith(f"data → encoding: unknown text encoding '{name}'; expected "
                                    "a name such as utf-8, latin-1, cp1252 or utf-16")


# ---------------------------------------------------------------- item 14: inf and -inf

def test_inf_in_a_feature_names_the_column_lines_and_ids(tmp_path: Path):
    x = np.arange(12, dtype=float)
    x[[3, 7]] = [np.inf, -np.inf]
    msg = _fails(tmp_path, _frame(x=x, id=range(100, 112)), data_extra="  id: id\n")
    assert msg == (f"{tmp_path / 'd.csv'}: column 'x' (a feature) holds an infinite value (inf "
                   "or -inf) in 2 row(s) (lines 5, 9; ids 103, 107); a number must be finite: "
                   "leave the cell empty (a missing feature value is imputed within each fold)")


def test_inf_lines_count_rows_excluded_before(tmp_path: Path):
    x = np.arange(12, dtype=float)
    x[7] = np.inf
    f = _frame(x=x, age=[10] + [30] * 11)
    msg = _fails(tmp_path, f, data_extra="  exclude_rows:\n    - {column: age, below: 18, "
                                        "reason: minors}\n")
    assert "in 1 row(s) (line 9);" in msg


@pytest.mark.parametrize("text", ["inf", "-inf", "Inf", "+inf", "INF", "infinity", "1e999",
                                  "-1e400"])
def test_inf_written_in_any_way_in_a_numeric_looking_column(tmp_path: Path, text: str):
    f = tmp_path / "d.csv"
    rows = "".join(f"{s},{x},{t}\n" for s, x, t in zip(["f", "m"] * 6, range(12),
                                                         ["yes", "no", "no"] * 4))
    f.write_text("sex,x,t\n" + rows.replace("\nm,5,", f"\nm,{text},", 1))
    with pytest.raises(DataError, match=r"column 'x' \(a feature\) holds an infinite value .* "
                                        r"in 1 row\(s\) \(line 7\)"):
        load_data(_policy(f))


@pytest.mark.parametrize(("column", "role", "kw"), [
    ("t", "the target", {}),
    ("age", "protected", {"protected": "  - column: sex\n  - column: age\n"}),
    ("age", "protected", {"protected": "  - column: age\n    bins: [0, 30, 200]\n"}),
    ("id", "the id column", {"data_extra": "  id: id\n"}),
    ("branch", "the cluster column",
     {"validation": "  scheme: group_kfold\n  folds: 2\n  groups: branch\n"}),
])
def test_inf_in_target_protected_id_and_cluster_columns(tmp_path: Path, column, role, kw):
    cols = {"t": [1.0, 0.0, 0.0] * 4, "age": [20.0, 40.0] * 6, "id": np.arange(12.0),
            "branch": [1.0, 2.0, 3.0] * 4}
    cols[column] = list(cols[column])
    cols[column][4] = np.inf
    msg = _fails(tmp_path, _frame(**cols), **{"favorable": "1", **kw})
    assert f"column '{column}' ({role}) holds an infinite value (inf or -inf) in 1 row(s) " \
           "(line 6" in msg


def test_nan_stays_allowed_and_inf_in_unused_or_excluded_places_is_no_error(tmp_path: Path):
    x = np.arange(12, dtype=float)
    x[2] = np.nan
    w = np.zeros(12)
    w[5] = np.inf  # an excluded column
    age = np.full(12, 30.0)
    age[9] = np.inf  # a row excluded by a filter
    d = _load(tmp_path, _frame(x=x, w=w, age=age),
              data_extra="  exclude: [w]\n  exclude_rows:\n    - {column: age, above: 100, "
                         "reason: implausible}\n")
    assert d.n_rows == 11 and np.isnan(d.X["x"]).sum() == 1


def test_inf_in_parquet_names_rows(tmp_path: Path):
    x = np.arange(12, dtype=float)
    x[0] = np.inf
    msg = _fails(tmp_path, _frame(x=x), fmt="parquet")
    assert "in 1 row(s) (row 1);" in msg


def test_has_inf_answers_from_every_slice():
    a = np.zeros(3 << 20)
    assert _has_inf(pd.Series(a)) is None
    a[-1] = -np.inf  # in the last slice only
    assert _has_inf(pd.Series(a)).nonzero()[0].tolist() == [len(a) - 1]
    assert _has_inf(pd.Series(np.arange(5))) is None  # integers cannot be infinite
    assert _has_inf(pd.Series([np.nan, 1.0])) is None
    nullable = pd.Series([1.0, None, np.inf], dtype="Float64")
    assert _has_inf(nullable).tolist() == [False, False, True]
