"""Read the audit's table, check it against the policy, and encode it once.

Everything downstream works on the arrays built here: the favorable outcome as 1, the
protected attributes as integer codes (missing values as an explicit ``unknown`` group),
their atoms and partitions, cluster codes and row ids. Rows excluded for any reason are
counted with the reason.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from fairsel.errors import DataError, PolicyError, did_you_mean
from fairsel.fileutil import file_sha256, same_file
from fairsel.partition import UNKNOWN, Partition
from fairsel.policy import Policy, locate
from fairsel.policy.limits import MAX_GROUPS


@dataclass(frozen=True)
class AuditData:
    """The encoded audit table. ``X`` holds feature columns only; arrays are row-aligned."""

    path: Path
    format: str
    sha256: str
    rows_read: int
    excluded: list[tuple[str, int]]
    target: str
    favorable: str
    X: pd.DataFrame
    y: np.ndarray  # int8, 1 = favorable
    row_ids: np.ndarray
    features: list[str]
    numeric_features: list[str]
    categorical_features: list[str]
    protected_as_features: list[str]
    attributes: list[Partition]  # one per protected attribute
    partitions: list[Partition]  # attributes, then intersections
    atoms: np.ndarray
    n_atoms: int
    clusters: np.ndarray | None
    cluster_column: str | None
    frame_columns: list[str] = field(default_factory=list)
    #: Columns of the data file that ``kind: predictions`` candidates reading the same file
    #: need (their id and score or decision columns), as the pyarrow arrays of the one read
    #: of the file (every row of the file, before any exclusion), keyed by column name. The
    #: candidates take them from here instead of reading the file again; ``build_candidates``
    #: empties it once they have (it is not needed after, and holds memory).
    file_columns: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_rows(self) -> int:
        return len(self.y)


#: How much of a CSV file is read to judge its header before pandas parses it (more is read
#: only for a header longer than this), and how many of its first rows are compared with it.
_SNIFF_BYTES = 1 << 16
_SNIFF_ROWS = 20
_MAX_HEADER_BYTES = 1 << 24


def read_table(path: Path, *, what: str = "data file",
               encoding: str = "utf-8") -> tuple[pd.DataFrame, str]:
    """Read a CSV or Parquet file, with a clear error for each way it can fail.

    ``encoding`` is the CSV file's text encoding (a UTF-8 byte-order mark is skipped). A file
    is used only when it reads as a table: a CSV file needs a header of two or more
    comma-separated names, its first rows as many fields as the header, and (CSV or Parquet)
    no column name twice. Errors about a file that is not a table never quote its content.
    """
    frame, fmt, _ = _read_source(path, what=what, encoding=encoding)
    return frame, fmt


def _parquet_frame(path: Path):
    """(frame, pyarrow table) of a Parquet file read once: the frame is what
    ``pd.read_parquet`` makes of it (pandas' own conversion of the same table); the table is
    ``None`` where this pandas lacks that conversion (before 2.2), and then pandas reads."""
    try:
        from pandas.io._util import arrow_table_to_pandas
    except ImportError:  # pragma: no cover — pandas < 2.2
        return pd.read_parquet(path), None
    import warnings

    import pyarrow.parquet as pq

    table = pq.read_table(path, use_pandas_metadata=True)  # as pd.read_parquet reads it
    with warnings.catch_warnings():  # pd.read_parquet silences the same deprecation
        warnings.filterwarnings("ignore", "make_block is deprecated")
        frame = arrow_table_to_pandas(table)
    return frame, table


def _read_source(path: Path, *, what: str = "data file", encoding: str = "utf-8"):
    """:func:`read_table`, and the pyarrow table a Parquet file was read into (else None)."""
    table = None
    if not path.exists():
        raise DataError(f"{path}: {what} not found (paths in a policy are relative to the policy file)")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, expected a CSV or Parquet {what}")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the {what} is empty (0 bytes); expected a header row and data rows")
    suffix = path.suffix.lower()
    fmt = "parquet" if suffix in (".parquet", ".pq") else "csv"
    head: _CsvHead | None = None
    ragged: tuple[int, int] | None = None
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            # the schema comes from the footer alone; pandas would refuse a repeated name
            # with a message about "FieldRef" matches
            _check_unique_names(list(pq.read_schema(path).names), path, what)
            frame, table = _parquet_frame(path)
        else:
            head = _sniff_csv(path, what, encoding)
            extra = {} if _is_utf8(encoding) else {"encoding": encoding}
            ragged = head.ragged
            try:
                frame = pd.read_csv(path, engine="pyarrow", **extra)
            except Exception as exc:  # noqa: BLE001 — the C engine gives the clearer message
                frame = pd.read_csv(path, low_memory=False, **extra)
                # the C engine fills a short row with missing values; pyarrow had refused it
                if ragged is None and "columns, got" in str(exc):
                    ragged = _first_ragged(path, encoding, len(head.names))
    except PermissionError:
        raise DataError(f"{path}: cannot read the {what} (permission denied)") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the {what} has no columns; expected a header row and data rows") from None
    except UnicodeDecodeError:
        raise _not_decodable(path, what, encoding) from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path}: cannot read the {what} as {fmt.upper()}: {first}") from None
    if head is not None:
        if ragged is not None:
            line, n = ragged
            raise DataError(f"{path}: the {what} does not look like a CSV table: its header has "
                            f"{len(head.names)} fields but line {line} has {n}; every line needs "
                            "one field per column")
        if _binary_columns(frame):  # pyarrow reads bytes that are not UTF-8 as bytes
            raise _not_decodable(path, what, encoding)
        _check_unique_names(head.names, path, what)
    if len(frame) == 0:
        # one line of text with a comma is not shown: it is as likely a secret (a minified
        # JSON key file, "password=…,user=…") as a header; a Parquet schema is a header
        shown = (f"columns: {', '.join(map(str, frame.columns[:20]))}" if fmt == "parquet"
                 else f"its one line has {len(frame.columns)} comma-separated fields, not "
                      "shown")
        raise DataError(f"{path}: the {what} has a header but no rows ({shown}); expected a "
                        "header row and data rows")
    frame.columns = [str(c) for c in frame.columns]
    return frame, fmt, table


def _is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name == "utf-8"


@dataclass(frozen=True)
class _CsvHead:
    """A CSV file's header fields and the first of its sampled rows that has another count."""

    names: list[str]
    ragged: tuple[int, int] | None  # (line, number of fields)


def _sniff_csv(path: Path, what: str, encoding: str) -> _CsvHead:
    """The header of a CSV file and the shape of its first rows, from its first bytes.

    Raises
    ------
    DataError
        The first bytes do not decode, or the header is not two or more comma-separated
        names. The message counts fields and characters; it never quotes the file.
    """
    size = _SNIFF_BYTES
    with open(path, "rb") as fh:
        data = fh.read(size)
        while True:
            at_end = len(data) < size
            try:
                text = codecs.getincrementaldecoder(encoding)().decode(data, final=at_end)
            except UnicodeDecodeError as exc:
                raise _not_decodable(path, what, encoding, found=(exc.start, data)) from None
            if text.startswith("\ufeff") and _is_utf8(encoding):
                text = text[1:]  # the byte-order mark, which pandas skips as well
            try:
                rows = csv.reader(io.StringIO(text, newline=""))
                records = [(line, r) for line, r in _numbered(rows) if r]
            except csv.Error as exc:
                raise DataError(f"{path}: the {what} does not look like a CSV table: it cannot "
                                f"be split into fields ({exc})") from None
            if not at_end:
                records = records[:-1]  # the last may be cut short
            if records or at_end or size >= _MAX_HEADER_BYTES:
                break
            data += fh.read(size)
            size *= 2
    if not records:
        why = ("it has no header row" if at_end
               else f"it has no line break in its first {_MAX_HEADER_BYTES >> 20} MB")
        raise DataError(f"{path}: the {what} does not look like a CSV table: {why}")
    names = records[0][1]
    if len(names) < 2:
        seps = [f"{n} '{c}'" if c != "\t" else f"{n} tab" for c in ";\t|:"
                if (n := names[0].count(c))]
        raise DataError(
            f"{path}: the {what} does not look like a CSV table: its first line has 1 field "
            "(no comma), and a table needs a header row naming two or more columns, separated "
            "by commas"
            + (f"; the line holds {' and '.join(seps)} characters: fairsel reads comma-separated "
               "files only" if seps else ""))
    ragged = next(((line, len(r)) for line, r in records[1:_SNIFF_ROWS + 1]
                   if len(r) != len(names)), None)
    return _CsvHead(names=names, ragged=ragged)


def _first_ragged(path: Path, encoding: str, n_fields: int) -> tuple[int, int] | None:
    """(line, number of fields) of the first record without ``n_fields`` fields, read with
    the csv module (only when pyarrow refused a row and pandas' C engine took it)."""
    with open(path, encoding=encoding, newline="") as fh:
        reader = csv.reader(fh)
        for record in reader:
            if record and len(record) != n_fields:
                return reader.line_num, len(record)
    return None


def _numbered(reader):
    """(line number where the record ends, record) for each record of a ``csv.reader``."""
    for record in reader:
        yield reader.line_num, record


def _check_unique_names(names: list[str], path: Path, what: str) -> None:
    """No column name twice: a reader would rename the second, and the audit measure the first.

    Columns without a name are left alone (pandas numbers them ``Unnamed: i``).
    """
    if len(set(names)) == len(names):
        return
    where: dict[str, list[int]] = {}
    for i, name in enumerate(names, start=1):
        if name:
            where.setdefault(name, []).append(i)
    repeated = {n: w for n, w in where.items() if len(w) > 1}
    if not repeated:
        return
    shown = "; ".join(f"{_shown(n)} {_times(len(w))} (columns {_and(w)})"
                      for n, w in list(repeated.items())[:5])
    more = f"; ... ({len(repeated)} names in all)" if len(repeated) > 5 else ""
    raise DataError(f"{path}: column names must be unique, but the {what} names {shown}{more}; "
                    "rename or remove the repeated columns (a reader renames the second one, "
                    "so the audit could measure the wrong column)")


def _times(n: int) -> str:
    return {2: "twice", 3: "three times"}.get(n, f"{n} times")


def _and(items: list) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _shown(value: object, limit: int = 40) -> str:
    """``repr(value)``, cut to ``limit`` characters: a message shows values, not whole cells."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _binary_columns(frame: pd.DataFrame) -> list[str]:
    """Columns of ``bytes`` (what pyarrow makes of text that is not UTF-8); one value each."""
    out = []
    for name in frame.columns[(frame.dtypes == object).to_numpy()]:
        col = frame[name]
        first = col.iloc[0] if len(col) and col.iloc[0] is not None else None
        if first is None:
            i = col.first_valid_index()
            first = None if i is None else col.at[i]
        if isinstance(first, bytes):
            out.append(name)
    return out


def _not_decodable(path: Path, what: str, encoding: str,
                   found: tuple[int, bytes] | None = None) -> DataError:
    """The error for a file that does not decode, naming the first byte that does not.

    ``found`` is (offset, the bytes it is an offset into) when the caller knows it; otherwise
    the file is decoded a megabyte at a time until the failure (only on this error path).
    """
    if found is not None:
        offset, data = found
        where = (offset, data[:offset].count(b"\n") + 1, data[offset])
    else:
        where = None
        dec = codecs.getincrementaldecoder(encoding)()
        offset = lines = 0
        with open(path, "rb") as fh:
            while where is None:
                chunk = fh.read(1 << 20)
                pending = dec.getstate()[0]
                try:
                    dec.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    at = offset - len(pending) + exc.start
                    before = chunk[:max(0, exc.start - len(pending))]
                    where = (at, lines + before.count(b"\n") + 1, (pending + chunk)[exc.start])
                if not chunk:
                    break
                lines += chunk.count(b"\n")
                offset += len(chunk)
        with open(path, "rb") as fh:
            data = fh.read(4)
    name = codecs.lookup(encoding).name
    bom16 = data[:2] in (b"\xff\xfe", b"\xfe\xff") and not name.startswith("utf-16")
    if bom16:
        hint = ("it starts with a UTF-16 byte-order mark: set data → encoding: utf-16 in the "
                "policy")
    elif name == "utf-8":
        hint = ("if it was saved by Excel or an older system, set data → encoding: latin-1 "
                "(or cp1252) in the policy")
    else:
        hint = ("check data → encoding in the policy (latin-1 decodes every byte; utf-8 is "
                "the default)")
    at = (f": byte 0x{where[2]:02x} at offset {where[0]} (line {where[1]}) does not decode"
          if where else "")
    return DataError(f"{path}: the {what} is not {encoding} text{at}; {hint}")


def _require(frame: pd.DataFrame, column: str, path: Path, role: str) -> None:
    """``role`` is the policy key that names the column (``data → target``)."""
    if column not in frame.columns:
        cols = list(frame.columns)
        shown = ", ".join(cols[:40]) + (f", ... ({len(cols)} in all)" if len(cols) > 40 else "")
        hint = did_you_mean(column, cols)  # "; did you mean 'x'?" or ""
        raise DataError(f"{path}: column '{column}' ({role}) not found{hint}"
                        f"{' ' if hint else '. '}The file's columns are: {shown}")


def _describe_values(series: pd.Series, limit: int = 10) -> str:
    counts = series.value_counts(dropna=False)
    parts = [f"{'missing' if pd.isna(v) else _shown(v)} ({c})"
             for v, c in counts.head(limit).items()]
    more = f", ... ({len(counts)} values in all)" if len(counts) > limit else ""
    return ", ".join(parts) + more


def _matches(series: pd.Series, value: object) -> np.ndarray:
    """Rows whose value equals ``value`` (numbers numerically, everything else as text)."""
    if isinstance(value, str) and pd.api.types.is_numeric_dtype(series) \
            and not pd.api.types.is_bool_dtype(series):
        try:  # favorable: "1" on a numeric column (read as 1.0 when it has gaps) means 1
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, int | float):
        if pd.api.types.is_bool_dtype(series) and isinstance(value, bool):
            return (series == value).to_numpy(dtype=bool, na_value=False)
        return (series.astype(str) == str(value)).to_numpy() & series.notna().to_numpy()
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        if isinstance(series.dtype, np.dtype):  # NaN equals nothing: no mask, no copy needed
            return series.to_numpy() == value
        return (series == value).to_numpy(dtype=bool, na_value=False)
    return (series.astype(str) == str(value)).to_numpy() & series.notna().to_numpy()


def _apply_row_filters(frame: pd.DataFrame, policy: Policy, path: Path,
                       excluded: list[tuple[str, int]]) -> pd.DataFrame:
    for i, f in enumerate(policy.data.exclude_rows):
        _require(frame, f.column, path, f"data → exclude_rows[{i}] → column")
        col = frame[f.column]
        if f.missing is not None:
            drop = col.isna().to_numpy() if f.missing else col.notna().to_numpy()
        elif f.equals is not None:
            values = f.equals if isinstance(f.equals, list) else [f.equals]
            drop = np.zeros(len(frame), dtype=bool)
            for v in values:
                drop |= _matches(col, v)
        else:
            if not pd.api.types.is_numeric_dtype(col):
                rule = "outside" if f.outside is not None else "below" if f.below is not None else "above"
                raise DataError(f"{path}: column '{f.column}' (data → exclude_rows[{i}], "
                                f"'{f.reason}') must be numeric for '{rule}'; found values "
                                f"{_describe_values(col, 5)}; use 'equals' for text values")
            num = col.to_numpy(dtype=float, na_value=np.nan)
            with np.errstate(invalid="ignore"):
                if f.outside is not None:
                    drop = (num < f.outside[0]) | (num > f.outside[1])
                elif f.below is not None:
                    drop = num < f.below
                else:
                    drop = num > f.above
        n = int(drop.sum())
        excluded.append((f.reason, n))
        if n:
            frame = frame.loc[~drop]
    return frame


def _n_distinct(series: pd.Series) -> int:
    """How many distinct non-missing values ``series`` holds.

    A NumPy integer, boolean or float column (without NaN) is answered from its minimum
    and maximum: one value when they are equal, two when every row is one of them; only a
    column with more distinct values than that pays for the hash of ``unique`` (and only a
    target that is about to be refused has more than two).
    """
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "iubf" and len(series):
        a = series.to_numpy()
        lo, hi = a.min(), a.max()
        if not (a.dtype.kind == "f" and (np.isnan(lo) or np.isnan(hi))):
            if lo == hi:  # 0.0 == -0.0, as for unique
                return 1
            if a.dtype.kind in "iub" and int(hi) - int(lo) == 1:  # no integer in between
                return 2
            if all(((c == lo) | (c == hi)).all() for c in _chunks(a)):
                return 2
    return len(series.dropna().unique())


def _chunks(a: np.ndarray, size: int = 1 << 20):
    """``a`` in consecutive slices (views), so that a test over it needs no full-size temporary."""
    return (a[i:i + size] for i in range(0, len(a), size))


def _encode_target(series: pd.Series, favorable: object, path: Path,
                   after: str = "") -> tuple[np.ndarray, str]:
    fav = _matches(series, favorable)
    if not fav.any():
        raise DataError(f"{path}: target column '{series.name}': the favorable value "
                        f"{favorable!r} does not occur; the values found are "
                        f"{_describe_values(series)} (set data → favorable to one of them)")
    n_values = _n_distinct(series)
    if n_values != 2:
        what = "only one value" if n_values < 2 else f"{n_values} values"
        raise DataError(f"{path}: target column '{series.name}' must have exactly two values "
                        f"(favorable {favorable!r} and one other); found {what}{after}: "
                        f"{_describe_values(series)}")
    # a bool is one byte, 0 or 1: read it as int8 without a copy (unless pandas lent it read-only)
    return (fav.view(np.int8) if fav.flags.writeable else fav.astype(np.int8)), str(favorable)


def _sort_key(label: str):
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _code_dtype(n_levels: int) -> type[np.signedinteger]:
    """The narrowest signed integer type that holds the codes 0 .. n_levels - 1."""
    for dtype in (np.int8, np.int16, np.int32):
        if n_levels <= np.iinfo(dtype).max:
            return dtype
    return np.int64


def _level_table(src_level: np.ndarray, levels: list[str],
                 missing: bool) -> tuple[np.ndarray, list[str]]:
    """Map source codes to final group codes, folding in the ``unknown`` group.

    ``src_level[i]`` is the level of source code ``i`` (any value for a code that never
    occurs). The table returned has one more entry, for source code -1 (missing), so that
    ``table[codes]`` encodes a whole column in one gather: NumPy reads index -1 as the last
    entry. A real level named ``unknown`` joins the missing values; ``unknown``, when present,
    is the last level. Every step acts on the table, not on the rows.
    """
    table = np.append(np.asarray(src_level, dtype=np.int64), -1)
    levels = list(levels)
    if missing or UNKNOWN in levels:
        if UNKNOWN in levels:  # a real level named "unknown" joins the missing values
            k = levels.index(UNKNOWN)
            table = np.where(table == k, -1, np.where(table > k, table - 1, table))
            levels.pop(k)
        table = np.where(table < 0, len(levels), table)
        levels.append(UNKNOWN)
    return table.astype(_code_dtype(len(levels))), levels


def _named_levels(names: list[str], used: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Levels of the used distinct values, named as text, sorted, alike-reading ones merged."""
    levels = sorted({n for n, u in zip(names, used) if u}, key=_sort_key)
    index = {name: i for i, name in enumerate(levels)}
    return np.array([index.get(n, -1) for n in names], dtype=np.int64), levels


def _categories_used(codes: np.ndarray, n_categories: int, chunk: int = 1 << 16) -> np.ndarray:
    """Which of a categorical's categories some row uses (code -1, missing, is skipped).

    Counted a cache-sized chunk at a time, stopping once every category has been seen (the
    usual case, after the first chunk), instead of a bincount of the whole column.
    """
    used = np.zeros(n_categories, dtype=bool)
    for start in range(0, len(codes), chunk):
        part = codes[start:start + chunk].astype(np.int64) + 1
        used |= np.bincount(part, minlength=n_categories + 1)[1:] > 0
        if used.all():
            break
    return used


def _bin_labels(spec) -> list[str]:
    """The groups of a binned attribute: its labels, or the intervals written as [a, b)."""
    return list(spec.labels or [f"[{a:g}, {b:g})" for a, b in zip(spec.bins, spec.bins[1:])])


def _grown(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` padded with zeros to length ``n``."""
    return a if len(a) >= n else np.concatenate([a, np.zeros(n - len(a), dtype=a.dtype)])


def _encode_protected(frame: pd.DataFrame, spec, path: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """Group codes (0 .. len(levels) - 1, narrowest integer type) and the level names.

    The levels are the distinct values that occur, as text, in ``_sort_key`` order (values
    that read alike merged; missing values, and a value named ``unknown``, form ``unknown``,
    last), or with ``bins`` the bin labels in order (every bin, used or not).
    """
    col = frame[spec.column]
    if spec.bins is not None:
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise DataError(f"{path}: protected column '{spec.column}' has bins, so it must be "
                            f"numeric; found values {_describe_values(col, 5)}")
        labels = _bin_labels(spec)
        cut = pd.cut(col, bins=spec.bins, right=False, labels=list(range(len(labels))))
        src = cut.cat.codes.to_numpy()
        src_level, levels = np.arange(len(labels)), list(labels)
    elif isinstance(col.dtype, pd.CategoricalDtype):
        # a categorical (Parquet dictionary columns read as one) is encoded already: read its
        # codes and name its categories, never hashing the rows. A category no row uses is not
        # a group, as with factorize, which keeps only the values that occur.
        src = col.cat.codes.to_numpy()
        n_cat = len(col.cat.categories)
        # name the categories as factorize's uniques would read (a CategoricalIndex)
        cats = pd.CategoricalIndex(pd.Categorical.from_codes(np.arange(n_cat), dtype=col.dtype))
        src_level, levels = _named_levels([str(u) for u in cats], _categories_used(src, n_cat))
    else:
        # factorize the column as it is, then name the distinct values as text; values that
        # read alike are merged
        src, uniques = pd.factorize(col, sort=False)
        src_level, levels = _named_levels([str(u) for u in uniques],
                                          np.ones(len(uniques), dtype=bool))
    missing = len(src) > 0 and src.min() < 0  # a reduction: no temporary the size of the column
    table, levels = _level_table(src_level, levels, missing)
    return table[src], tuple(levels)


#: Up to this many cells of all protected attributes, every cell is an atom (a table this
#: long is cheap); beyond it, only the cells some row is in.
_DENSE_ATOMS = 1 << 20


def _atoms(code_list: list[np.ndarray],
           dims: list[int]) -> tuple[np.ndarray, tuple[np.ndarray, ...], int]:
    """Each row's atom (its cell of all protected attributes), each atom's levels, the count.

    An atom is a row's codes read as one number in mixed radix ``dims`` (C order, as
    np.ravel_multi_index), built in place in int64 from the narrow per-attribute codes. When
    the attributes have so many levels that their product would not fit in memory (or in an
    int64), only the cells some row is in are numbered, in the same order.
    """
    if math.prod(dims) <= _DENSE_ATOMS:
        atoms = code_list[0].astype(np.int64)
        for codes, dim in zip(code_list[1:], dims[1:]):
            atoms *= dim
            atoms += codes
        n_atoms = math.prod(dims)
        return atoms, np.unravel_index(np.arange(n_atoms), dims), n_atoms
    atoms = code_list[0].astype(np.int64)
    levels = [np.arange(dims[0], dtype=np.int64)]
    for codes, dim in zip(code_list[1:], dims[1:]):
        # at most one atom per row so far, times dim levels: the key fits in an int64
        used, atoms = np.unique(atoms * dim + codes, return_inverse=True)
        levels = [lv[used // dim] for lv in levels] + [used % dim]
        atoms = atoms.ravel().astype(np.int64)
    return atoms, tuple(levels), len(levels[0])


def _too_many_groups(policy: Policy, attributes: list[Partition], n_groups: int,
                     size: int) -> None:
    """Raise the error for an audit that would measure more than :data:`MAX_GROUPS` groups."""
    counts = ", ".join(f"{a.name}: {len(a.labels):,}" for a in attributes)
    if size == 1:
        raise PolicyError(locate(policy, ("protected",), (
            f"the protected attributes have {n_groups:,} groups in the data ({counts}), more "
            f"than an audit measures (the limit on groups is {MAX_GROUPS:,}); audit fewer "
            "attributes, or bin a numeric one into fewer groups (protected[] → bins)")))
    depth = "every combination" if policy.intersections is True else \
        f"combinations of up to {policy.intersection_depth} attributes"
    fewer = "intersections: 2 (pairs only), " if size > 2 else ""
    raise PolicyError(locate(policy, ("intersections",), (
        f"the audit would measure more than {MAX_GROUPS:,} groups (the limit on groups an "
        f"audit measures is {MAX_GROUPS:,}): the attributes have groups ({counts}), and their "
        f"intersections ({depth}) reach {n_groups:,} groups by the combinations of "
        f"{size} attributes; set {fewer}intersections: false, or audit fewer attributes")))


def _reference(spec, labels: tuple[str, ...], path: Path) -> int | None:
    if spec.reference is None:
        return None
    ref = spec.reference
    for i, lab in enumerate(labels):
        if lab == str(ref) or (isinstance(ref, int | float) and not isinstance(ref, bool)
                               and _sort_key(lab)[0] == 0 and float(lab) == float(ref)):
            return i
    hint = did_you_mean(str(ref), list(labels))
    raise DataError(f"{path}: protected column '{spec.column}': reference group {ref!r} does not "
                    f"occur{hint}{' ' if hint else '. '}The groups are: {', '.join(labels)}")


def _rows_text(index: pd.Index, fmt: str, limit: int = 5) -> str:
    """Where rows are in the file: CSV lines (the header is line 1) or Parquet rows (from 1)."""
    first = 2 if fmt == "csv" else 1
    nums = [str(int(i) + first) for i in index[:limit]]
    more = f", ... ({len(index)} in all)" if len(index) > limit else ""
    return f"{'line' if fmt == 'csv' else 'row'}{'s' if len(index) > 1 else ''} {', '.join(nums)}{more}"


def _strictly_increasing(a: np.ndarray, size: int = 1 << 20) -> bool:
    """Whether each value exceeds the one before, a slice at a time (slices overlap by one)."""
    for i in range(0, len(a) - 1, size):
        c = a[i:i + size + 1]
        if not (c[1:] > c[:-1]).all():
            return False
    return True


def _unique_numbers(a: np.ndarray) -> bool:
    """Whether no value of a numeric array repeats, without a hash table.

    Integers spanning a range of under 8 values per row are marked in a table of seen values
    (one byte per possible value: no more memory than a sorted copy, and about three times
    faster than sorting); other numbers are sorted, where repeats sit side by side.
    """
    if a.dtype.kind in "iu" and len(a):
        lo, hi = int(a.min()), int(a.max())
        if hi - lo < 8 * len(a):
            wide = np.uint64 if a.dtype == np.uint64 else np.int64  # offsets cannot overflow
            base = wide(lo)
            seen = np.zeros(hi - lo + 1, dtype=bool)
            for c in _chunks(a):
                seen[c.astype(wide, copy=False) - base] = True
            return int(np.count_nonzero(seen)) == len(a)
    s = np.sort(a)
    return not bool((s[1:] == s[:-1]).any())


#: What to write instead of an infinite value, by the role of its column.
_FINITE_HINT = {
    "a feature": "leave the cell empty (a missing feature value is imputed within each fold)",
    "protected": "leave the cell empty (missing values form the 'unknown' group)",
    "the target": "leave the cell empty (rows without a target are excluded and counted)",
    "the id column": "give each row a finite id",
    "the cluster column": "give each row a finite cluster id",
}


#: The largest magnitude a feature may hold: a finite 1e308 overflows to NaN when features are
#: scaled (squares and sums), and every candidate then failed with numpy warnings.
MAX_FEATURE_MAGNITUDE = 1e100


def _has_inf(series: pd.Series, limit: float = np.inf) -> np.ndarray | None:
    """The rows of a float column holding ``inf`` or ``-inf`` (or a magnitude above
    ``limit``), or None (the usual answer).

    One test per column, a slice at a time (no full-size temporary); NaN is finite
    here (a missing value), and integer, boolean and text columns cannot hold infinity.
    """
    if not pd.api.types.is_float_dtype(series.dtype):
        return None
    a = series.to_numpy() if isinstance(series.dtype, np.dtype) \
        else series.to_numpy(dtype=float, na_value=np.nan)

    def bad(c: np.ndarray) -> np.ndarray:
        return np.isinf(c) if limit == np.inf else np.abs(c) > limit

    if not any(bad(c).any() for c in _chunks(a)):
        return None
    return bad(a)


def _check_finite(frame: pd.DataFrame, roles: dict[str | None, str], path: Path, fmt: str,
                  source_rows: pd.Index, id_column: str | None) -> None:
    """No ``inf`` or ``-inf`` in a column the audit uses (a model cannot be fitted on it).

    ``roles`` maps each used column to its role; ``source_rows`` is the position of each row
    of ``frame`` in the file, for the lines named in the message.
    """
    for column, role in roles.items():
        if column is None or column not in frame.columns:
            continue
        bad = _has_inf(frame[column], MAX_FEATURE_MAGNITUDE if role == "a feature" else np.inf)
        if bad is None:
            continue
        huge = not np.isinf(frame[column].to_numpy(dtype=float, na_value=np.nan)[bad]).any()
        rows = source_rows[bad]
        ids = ""
        if id_column and id_column != column:
            first = frame[id_column].to_numpy()[bad][:5].tolist()
            ids = "; ids " + ", ".join(_shown(v) for v in first)
        what = (f"a number larger than {MAX_FEATURE_MAGNITUDE:g} in magnitude (too large to "
                "scale: it overflows to NaN)" if huge else "an infinite value (inf or -inf)")
        raise DataError(f"{path}: column '{column}' ({role}) holds {what} in {len(rows)} "
                        f"row(s) ({_rows_text(rows, fmt)}{ids}); a number must be finite"
                        f"{' and smaller' if huge else ''}: {_FINITE_HINT[role]}")


def _check_ids(ids: pd.Series, path: Path, fmt: str) -> None:
    """Ids join precomputed predictions to rows: each row needs one, and no two may share it."""
    if not (isinstance(ids.dtype, np.dtype) and ids.dtype.kind in "iu"):  # ints cannot be empty
        missing = ids.isna()
        if missing.any():
            raise DataError(f"{path}: id column '{ids.name}' is empty in {int(missing.sum())} "
                            f"row(s) ({_rows_text(ids.index[missing.to_numpy()], fmt)}); every "
                            "row needs an id")
    if isinstance(ids.dtype, np.dtype) and ids.dtype.kind in "iuf":
        # numbers need no hash table: ids written in increasing order are unique (one pass);
        # otherwise see _unique_numbers. pandas is asked only to name the repeats of a file
        # that has some.
        a = ids.to_numpy()
        if _strictly_increasing(a) or _unique_numbers(a):
            return
    dup = ids.duplicated(keep=False)
    if dup.any():
        groups = ids[dup].groupby(ids[dup], sort=False).groups
        shown = "; ".join(f"{_shown(v)} on {_rows_text(pd.Index(rows), fmt)}"
                          for v, rows in list(groups.items())[:3])
        more = f"; ... ({len(groups)} repeated ids in all)" if len(groups) > 3 else ""
        raise DataError(f"{path}: id column '{ids.name}' must be unique, but {len(groups)} id(s) "
                        f"repeat: {shown}{more}")


def _encoding(policy: Policy) -> str:
    """``data → encoding``, checked to name a text encoding Python knows."""
    name = policy.data.encoding
    try:
        info = codecs.lookup(name)
    except LookupError:
        info = None
    if info is None or not getattr(info, "_is_text_encoding", True):
        raise PolicyError(locate(policy, ("data", "encoding"),
                                 f"unknown text encoding {name!r}; expected a name such as "
                                 "utf-8, latin-1, cp1252 or utf-16"))
    return name


def load_data(policy: Policy) -> AuditData:
    """Read and encode the data the policy names.

    Raises
    ------
    DataError
        The file is missing, empty, unreadable, not in ``data → encoding`` or not a table
        (see :func:`read_table`); a named column is absent (the message lists the columns
        that exist); the target does not have exactly two values including the favorable
        one; a reference group does not occur; ids repeat; a column the audit uses holds
        ``inf`` or ``-inf``.
    PolicyError
        ``data → encoding`` is not a text encoding.
    """
    path = policy.resolve(policy.data.path)
    frame, fmt, table = _read_source(path, encoding=_encoding(policy))
    # the file's hash (about 0.1 s per 100 MB) is taken beside the encoding: hashlib releases
    # the GIL while it hashes, and the encoding runs on one core
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fairsel-sha256") as pool:
        digest = pool.submit(file_sha256, path)
        data = _encode_table(policy, path, frame, fmt)
        return replace(data, sha256=digest.result(),
                       file_columns=_shared_columns(policy, path, table))


def _shared_columns(policy: Policy, path: Path, table) -> dict:
    """The columns of the data file's one read that predictions candidates of the same file
    read (see :attr:`AuditData.file_columns`); empty when there are none."""
    if table is None or not policy.data.id:
        return {}
    wanted = set()
    for spec in policy.candidates:
        if getattr(spec, "kind", None) == "predictions" and getattr(spec, "path", None) \
                and same_file(policy.resolve(spec.path), path):
            wanted.update(c for c in (policy.data.id, spec.score_column, spec.decision_column)
                          if c)
    names = set(table.column_names)
    return {c: table.column(c) for c in sorted(wanted) if c in names}


def _require_single_values(series: pd.Series, path: Path, key: str) -> None:
    """A column that names groups, outcomes or rows holds single values, not lists or records
    (a Parquet list, struct or map column; grouping by them crashed)."""
    if series.dtype != object or pd.api.types.infer_dtype(series, skipna=True) != "mixed":
        return  # strings, numbers, booleans: the usual answer, found in C
    nested = series.map(lambda v: isinstance(v, (list, tuple, dict, set, np.ndarray)))
    if nested.any():
        first = int(np.flatnonzero(nested.to_numpy())[0])
        raise DataError(f"{path}: column '{series.name}' ({key}) holds lists or records (a "
                        f"Parquet list, struct or map column), first in row {first + 1}; it "
                        "needs one value per row (text, a number or true/false)")


def _encode_table(policy: Policy, path: Path, frame: pd.DataFrame, fmt: str) -> AuditData:
    """Everything :func:`load_data` does once the file is read (``sha256`` left empty)."""
    rows_read = len(frame)
    spec = policy.data
    _require(frame, spec.target, path, "data → target")
    for i, p in enumerate(policy.protected):
        _require(frame, p.column, path, f"protected[{i}] → column")
    if policy.validation.groups:
        _require(frame, policy.validation.groups, path, "validation → groups, the cluster column")
    if spec.id:
        _require(frame, spec.id, path, "data → id")
    for column, key in [(spec.target, "data → target"), (spec.id, "data → id"),
                        (policy.validation.groups, "validation → groups"),
                        *((p.column, f"protected[{i}] → column")
                          for i, p in enumerate(policy.protected))]:
        if column:
            _require_single_values(frame[column], path, key)
    if spec.id:
        _check_ids(frame[spec.id], path, fmt)
    if isinstance(spec.features, list):
        for c in spec.features:
            _require(frame, c, path, "data → features")
    for c in spec.exclude:
        _require(frame, c, path, "data → exclude")

    excluded: list[tuple[str, int]] = []
    frame = _apply_row_filters(frame, policy, path, excluded)
    target = frame[spec.target]
    # a NumPy integer or bool column cannot hold a missing value: skip the full-size mask
    missing_target = None if isinstance(target.dtype, np.dtype) and target.dtype.kind in "iub" \
        else target.isna().to_numpy()
    if missing_target is not None and missing_target.any():
        excluded.append((f"missing target value ('{spec.target}')", int(missing_target.sum())))
        frame = frame.loc[~missing_target]
    if len(frame) == 0:
        raise DataError(f"{path}: no rows are left after excluding "
                        + "; ".join(f"{n} row(s) for '{r}'" for r, n in excluded)
                        + f" (of {rows_read}); check data → exclude_rows and the target column")
    source_rows = frame.index  # the rows as read, for messages about them
    # before the target is encoded: with inf, a 0/1 target would read as three values
    _check_finite(frame, {spec.target: "the target"}, path, fmt, source_rows, spec.id)
    frame = frame.reset_index(drop=True)
    dropped = [f"{r}: {n}" for r, n in excluded if n]
    after = f" after excluding rows ({'; '.join(dropped)})" if dropped else ""
    y, favorable = _encode_target(frame[spec.target], spec.favorable, path, after)

    if spec.id:
        row_ids = frame[spec.id].to_numpy()
    else:
        row_ids = np.arange(len(frame))

    encoded = []
    for p in policy.protected:  # a bad reference is reported before the next attribute's errors
        encoded.append(_encode_protected(frame, p, path))
        _reference(p, encoded[-1][1], path)
    atoms, n_atoms, attributes, partitions = _partitions(policy, path, encoded)

    clusters = None
    if policy.validation.groups:
        clusters, _ = pd.factorize(frame[policy.validation.groups], use_na_sentinel=False)
        clusters = clusters.astype(np.int64)

    protected_cols = [p.column for p in policy.protected]
    reserved = {spec.target, *(c for c in [spec.id, policy.validation.groups] if c)}
    if spec.features == "auto":
        features = [c for c in frame.columns
                    if c not in reserved and c not in protected_cols and c not in spec.exclude]
    else:
        features = [c for c in spec.features if c not in spec.exclude]
        roles = {spec.target: "the target", spec.id: "the id column",
                 policy.validation.groups: "the cluster column (validation → groups)"}
        clash = [f"'{c}' ({roles[c]})" for c in features if c in reserved]
        if clash:
            raise DataError(f"{path}: data → features lists {', '.join(clash)}; a model may not "
                            "use it as a feature: remove it from data → features")
    if not features:
        raise DataError(f"{path}: no feature columns are left (every column is the target, id, "
                        "a protected attribute, the cluster column or excluded)")
    roles = {**{c: "a feature" for c in features}, **{c: "protected" for c in protected_cols},
             spec.id: "the id column", policy.validation.groups: "the cluster column"}
    _check_finite(frame, roles, path, fmt, source_rows, spec.id)
    X = frame[features]
    numeric = [c for c in features if pd.api.types.is_numeric_dtype(X[c])]
    categorical = [c for c in features if c not in numeric]
    return AuditData(
        path=path, format=fmt, sha256="", rows_read=rows_read, excluded=excluded,
        target=spec.target, favorable=favorable, X=X, y=y, row_ids=row_ids, features=features,
        numeric_features=numeric, categorical_features=categorical,
        protected_as_features=[c for c in features if c in protected_cols],
        attributes=attributes, partitions=partitions, atoms=np.asarray(atoms, dtype=np.int64),
        n_atoms=n_atoms, clusters=clusters, cluster_column=policy.validation.groups,
        frame_columns=list(frame.columns))


def _partitions(policy: Policy, path: Path, encoded: list[tuple[np.ndarray, tuple[str, ...]]]
                ) -> tuple[np.ndarray, int, list[Partition], list[Partition]]:
    """(atom of each row, number of atoms, attributes, attributes then intersections) from
    each protected attribute's (codes, labels); the rows may be rows of the data, or one
    per distinct combination of values (a dataset read in chunks)."""
    attributes: list[Partition] = []
    code_list, dims = [], []
    for p, (codes, labels) in zip(policy.protected, encoded):
        code_list.append(codes)
        dims.append(len(labels))
        attributes.append(Partition(name=p.display_name, columns=(p.column,), kind="attribute",
                                    labels=labels, atom_to_group=np.empty(0, dtype=np.int64),
                                    reference=_reference(p, labels, path)))
    if sum(dims) > MAX_GROUPS:  # the attributes alone: refused before any atom is built
        _too_many_groups(policy, attributes, sum(dims), 1)
    atoms, atom_levels, n_atoms = _atoms(code_list, dims)
    present = np.flatnonzero(np.bincount(atoms, minlength=n_atoms))
    partitions: list[Partition] = []
    for i, a in enumerate(attributes):
        attributes[i] = Partition(a.name, a.columns, a.kind, a.labels,
                                  np.asarray(atom_levels[i], dtype=np.int64), a.reference)
        partitions.append(attributes[i])
    n_groups = sum(dims)
    for size in range(2, min(policy.intersection_depth, len(attributes)) + 1):
        for combo in itertools.combinations(range(len(attributes)), size):
            # the cells of the combination that some row is in, in the order of their levels
            # (first attribute slowest), and each atom's cell
            used, cell = np.unique(np.stack([atom_levels[i][present] for i in combo], axis=1),
                                   axis=0, return_inverse=True)
            n_groups += len(used)
            if n_groups > MAX_GROUPS:
                _too_many_groups(policy, attributes, n_groups, size)
            to_group = np.zeros(n_atoms, dtype=np.int64)
            to_group[present] = cell.ravel()
            labels = tuple(" × ".join(attributes[i].labels[lv] for i, lv in zip(combo, row))
                           for row in used.tolist())
            partitions.append(Partition(
                name=" × ".join(attributes[i].name for i in combo),
                columns=tuple(attributes[i].columns[0] for i in combo), kind="intersection",
                labels=labels, atom_to_group=to_group, reference=None))
    return atoms, n_atoms, attributes, partitions


# ------------------------------------------------------------ datasets read in chunks

#: Rows a chunk holds when ``data → chunk_rows`` is not set.
CHUNK_ROWS = 1_000_000
_GLOB = set("*?[")


def dataset_files(policy: Policy) -> list[Path] | None:
    """The Parquet files to read in chunks, or None when the data is one file read whole.

    ``data → path`` a folder holding ``*.parquet`` or ``*.pq`` files (those files) or a glob
    is read in chunks; so is one Parquet file when ``data → chunk_rows`` is set. A glob's list
    may be empty or hold other files: :func:`check_dataset_files` refuses them (after the
    policy's checks).
    """
    raw = policy.data.path
    path = policy.resolve(raw)
    if any(c in _GLOB for c in raw):
        import glob as globbing

        return sorted(Path(f) for f in globbing.glob(str(path)) if Path(f).is_file())
    if path.is_dir():  # a folder without Parquet files is refused as a folder by read_table
        files = sorted(f for f in path.iterdir() if f.is_file() and not f.name.startswith(".")
                       and f.suffix.lower() in (".parquet", ".pq"))
        return files or None
    if policy.data.chunk_rows is not None and path.suffix.lower() in (".parquet", ".pq"):
        return [path]
    return None


def check_dataset_files(policy: Policy, files: list[Path]) -> None:
    """Raise DataError when the folder or glob holds no Parquet file, or the glob matches a
    file that is not one."""
    raw = policy.data.path
    path = policy.resolve(raw)
    glob = any(c in _GLOB for c in raw)
    what = f"the glob '{raw}' (data → path)" if glob else f"the folder {path} (data → path)"
    if not files:
        raise DataError(f"{path}: {what} {'matches' if glob else 'holds'} no Parquet file "
                        "(*.parquet or *.pq); a dataset read in chunks is a folder or glob of "
                        "Parquet files")
    other = [f for f in files if f.suffix.lower() not in (".parquet", ".pq")]
    if other:
        raise DataError(f"{other[0]}: {what} matches a file that is not Parquet ({len(other)} "
                        "in all); a dataset read in chunks is Parquet files only: narrow the "
                        "glob (data/*.parquet)")


@dataclass(frozen=True)
class Chunk:
    """Encoded rows of one chunk: the rows kept, in file order."""

    file: Path
    rows: np.ndarray  # each kept row's position in the whole dataset (files in name order)
    y: np.ndarray  # int8, 1 = favorable
    keys: np.ndarray  # int64: each row's combination of protected groups (ChunkedTable.keys)
    frame: pd.DataFrame  # the kept rows of the other columns read (scores, ids), index = file row
    clusters: np.ndarray | None  # uint64 hash of each row's cluster id


@dataclass(frozen=True)
class ChunkedSummary:
    """What a chunked read knows once every chunk is read (the rows are gone)."""

    files: list[Path]
    rows_read: int
    excluded: list[tuple[str, int]]
    favorable: str
    attributes: list[Partition]
    partitions: list[Partition]
    key_atom: np.ndarray  # the atom of each key
    n_atoms: int
    key_rows: np.ndarray  # rows of each key
    key_favorable: np.ndarray  # favorable outcomes of each key
    n_chunks: int
    chunk_rows: int


def _target_text(value: object) -> str:
    """A target value as a chunked read counts it: a whole number by its value, whatever type
    the chunk reads it as (an integer column is read as floats in a chunk or file where the
    target has a gap: 1 and 1.0 are one value), anything else as its text."""
    if isinstance(value, bool | np.bool_):
        return str(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


class ChunkedTable:
    """A Parquet dataset read a chunk at a time, checked and encoded as :func:`load_data`
    does: the same exclusions (counted per reason, summed over chunks), the same target
    encoding, the same group names ("unknown" for missing values). ``columns`` are the
    other columns to read (score or decision columns, the id); only the needed columns are
    read. Iterate it for :class:`Chunk`; then :meth:`summary`.

    One table may read a part of the dataset's files (``first_row``: the dataset row of its
    first file's first row; ``as_float``: :meth:`nullable_ints` of the whole dataset) and be
    merged into another (:meth:`merge`): the files are then read as separate tasks.
    """

    def __init__(self, policy: Policy, files: list[Path], columns: list[str], *,
                 first_row: int = 0, as_float: set[str] | None = None) -> None:
        self.policy, self.files = policy, files
        self.first_row, self.as_float = first_row, as_float
        spec = policy.data
        self.chunk_rows = spec.chunk_rows or CHUNK_ROWS
        self.extra = [c for c in dict.fromkeys(columns) if c]
        needed = [spec.target, *(p.column for p in policy.protected),
                  *(f.column for f in spec.exclude_rows), *self.extra,
                  *([policy.validation.groups] if policy.validation.groups else []),
                  *([spec.id] if spec.id else [])]
        self.columns = list(dict.fromkeys(needed))
        # data → id, checked as a whole read checks it (every row has one, none repeats): the
        # ids read so far all integers increasing through the chunks, from _id_span[0] to
        # _id_span[1] (then no two rows can share one), or else a second pass (check_ids)
        self._ids_increasing = True
        self._id_span: tuple[int, int] | None = None
        self.keys: list[tuple[str, ...]] = []
        self._key_index: dict[tuple[str, ...], int] = {}
        self._rows = np.zeros(0)  # rows of each key
        self._favorable = np.zeros(0)  # favorable outcomes of each key
        self._excluded: dict[str, int] = {}
        self._targets: dict[str, int] = {}  # distinct target values (as text) -> rows
        self.rows_read = 0
        self.n_chunks = 0

    def nullable_ints(self) -> set[str]:
        """Protected columns of integers that hold a missing value in some file (or whose
        files do not say): read as floats in every chunk, as pandas reads such a column
        whole, so that a group is named alike ("1.0") in every chunk."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        out = set()
        for f in self.files:
            pf = pq.ParquetFile(f)
            md = pf.metadata
            for p in self.policy.protected:
                j = pf.schema_arrow.get_field_index(p.column)
                if j < 0 or not pa.types.is_integer(pf.schema_arrow.field(j).type):
                    continue
                k = pf.schema_arrow.names.index(p.column)
                for g in range(md.num_row_groups):
                    stats = md.row_group(g).column(k).statistics
                    if stats is None or not stats.has_null_count or stats.null_count > 0:
                        out.add(p.column)
        return out

    def check_columns(self, file: Path) -> None:
        """The file reads as Parquet and has every column the audit reads (DataError)."""
        import pyarrow.parquet as pq

        try:
            names = list(pq.read_schema(file).names)
        except Exception as exc:  # noqa: BLE001 — the reader's own words name the problem
            raise DataError(f"{file}: cannot read the data file as PARQUET: "
                            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc}"
                            ) from None
        _check_unique_names(names, file, "data file")
        spec, policy = self.policy.data, self.policy
        roles = {spec.target: "data → target", **({spec.id: "data → id"} if spec.id else {}),
                 **{f.column: f"data → exclude_rows[{i}] → column"
                    for i, f in enumerate(spec.exclude_rows)},
                 **{p.column: f"protected[{i}] → column" for i, p in enumerate(policy.protected)},
                 **({policy.validation.groups: "validation → groups, the cluster column"}
                    if policy.validation.groups else {})}
        frame = pd.DataFrame(columns=names)
        for column in self.columns:
            _require(frame, column, file, roles.get(column, "a column the candidates read"))

    def __iter__(self):
        import pyarrow.parquet as pq

        for file in self.files:
            self.check_columns(file)
        as_float = self.nullable_ints() if self.as_float is None else self.as_float
        offset = self.first_row
        for file in self.files:
            pf = pq.ParquetFile(file)
            start = 0
            for batch in pf.iter_batches(batch_size=self.chunk_rows, columns=self.columns):
                frame = batch.to_pandas()
                frame.index = pd.RangeIndex(start, start + len(frame))  # the file's rows
                for column in as_float:
                    frame[column] = frame[column].astype(np.float64)
                start += len(frame)
                self.rows_read += len(frame)
                self.n_chunks += 1
                chunk = self._encode(file, frame, offset)
                if chunk is not None:
                    yield chunk
            offset += start

    def _encode(self, file: Path, frame: pd.DataFrame, offset: int) -> Chunk | None:
        """The chunk's kept rows encoded; ``offset``: the dataset row of the file's first."""
        spec, policy = self.policy.data, self.policy
        for column, key in [(spec.target, "data → target"), (spec.id, "data → id"),
                            (policy.validation.groups, "validation → groups"),
                            *((p.column, f"protected[{i}] → column")
                              for i, p in enumerate(policy.protected))]:
            if column:
                _require_single_values(frame[column], file, key)
        if spec.id:  # every row's, excluded or not, as a whole read checks them
            _check_ids(frame[spec.id], file, "parquet")  # empty, or repeated in the chunk
            self._note_ids(frame[spec.id].to_numpy())
        excluded: list[tuple[str, int]] = []
        frame = _apply_row_filters(frame, policy, file, excluded)
        target = frame[spec.target]
        missing = target.isna().to_numpy()
        if missing.any():
            excluded.append((f"missing target value ('{spec.target}')", int(missing.sum())))
            frame = frame.loc[~missing]
        for reason, n in excluded:
            self._excluded[reason] = self._excluded.get(reason, 0) + n
        if len(frame) == 0:
            return None
        roles = {spec.target: "the target", **{p.column: "protected" for p in policy.protected},
                 policy.validation.groups: "the cluster column"}
        _check_finite(frame, roles, file, "parquet", frame.index, None)
        target = frame[spec.target]
        for value, n in target.value_counts().items():  # a few values: named as text after
            text = _target_text(value)
            self._targets[text] = self._targets.get(text, 0) + int(n)
        self._check_targets(file)
        y = _matches(target, spec.favorable).astype(np.int8)
        encoded = [_encode_protected(frame, p, file) for p in policy.protected]
        combo = np.zeros(len(frame), dtype=np.int64)
        for codes, labels in encoded:
            combo *= len(labels)
            combo += codes
        size = math.prod(len(labels) for _, labels in encoded)
        if size <= _DENSE_ATOMS:  # the usual case: a table of the combinations, no sort
            used = np.flatnonzero(np.bincount(combo, minlength=size))
            rank = np.zeros(size, dtype=np.int64)
            rank[used] = np.arange(len(used))
            inverse = rank[combo]
        else:
            used, inverse = np.unique(combo, return_inverse=True)
        lut = np.empty(len(used), dtype=np.int64)
        for j, c in enumerate(used.tolist()):
            names = []
            for _, labels in reversed(encoded):
                c, level = divmod(c, len(labels))
                names.append(labels[level])
            key = tuple(reversed(names))
            index = self._key_index.get(key)
            if index is None:
                index = self._key_index[key] = len(self.keys)
                self.keys.append(key)
            lut[j] = index
        keys = lut[inverse.ravel()]
        n_keys = len(self.keys)
        self._rows = _grown(self._rows, n_keys) + np.bincount(keys, minlength=n_keys)
        self._favorable = _grown(self._favorable, n_keys) + np.bincount(keys, weights=y,
                                                                        minlength=n_keys)
        clusters = None
        if policy.validation.groups:
            clusters = pd.util.hash_array(frame[policy.validation.groups].to_numpy())
        rows = frame.index.to_numpy(dtype=np.int64) + offset
        return Chunk(file=file, rows=rows, y=y, keys=keys, frame=frame[self.extra],
                     clusters=clusters)

    def _note_ids(self, ids: np.ndarray) -> None:
        """Follow whether the ids read so far increase through the chunks."""
        if not self._ids_increasing or not len(ids):
            return
        if ids.dtype.kind in "iu" and (self._id_span is None or ids[0] > self._id_span[1]) \
                and _strictly_increasing(ids):
            first = int(ids[0]) if self._id_span is None else self._id_span[0]
            self._id_span = (first, int(ids[-1]))
        else:
            self._ids_increasing = False

    def check_ids(self) -> None:
        """``data → id`` unique across every chunk and file (each chunk was checked alone as
        it was read). Free when the ids increase through the files, as most writers leave
        them; otherwise a second pass reads the id column of every file whole.

        Raises
        ------
        DataError
            An id repeats, naming the files and rows.
        """
        column = self.policy.data.id
        if not column or self._ids_increasing:
            return
        import pyarrow.parquet as pq

        parts = [pq.read_table(f, columns=[column]).column(0).to_pandas() for f in self.files]
        starts = np.cumsum([0, *(len(p) for p in parts)])
        ids = pd.concat(parts, ignore_index=True)  # integers and floats compare as numbers
        del parts
        if isinstance(ids.dtype, np.dtype) and ids.dtype.kind in "iuf" and \
                _unique_numbers(ids.to_numpy()):
            return
        dup = ids.duplicated(keep=False)
        if not dup.any():
            return

        def where(pos: int) -> str:
            f = int(np.searchsorted(starts, pos, side="right")) - 1
            return f"{self.files[f].name} row {pos - int(starts[f]) + 1}"

        groups = ids[dup].groupby(ids[dup], sort=False).groups
        shown = "; ".join(f"{_shown(v)} on " + ", ".join(where(int(i)) for i in rows[:5])
                          for v, rows in list(groups.items())[:3])
        more = f"; ... ({len(groups)} repeated ids in all)" if len(groups) > 3 else ""
        where_all = self.files[0] if len(self.files) == 1 else self.files[0].parent
        raise DataError(f"{where_all}: id column '{column}' must be unique across the data's "
                        f"{len(self.files)} file(s), but {len(groups)} id(s) repeat: "
                        f"{shown}{more}")

    def merge(self, other: ChunkedTable) -> np.ndarray:
        """Fold another part's counts into this table; returns the index here of each of
        ``other``'s keys (to merge its cell counts too).

        Raises
        ------
        DataError
            The parts' target values together are more than two.
        """
        key_map = np.empty(len(other.keys), dtype=np.int64)
        for j, key in enumerate(other.keys):
            index = self._key_index.get(key)
            if index is None:
                index = self._key_index[key] = len(self.keys)
                self.keys.append(key)
            key_map[j] = index
        n = len(self.keys)
        self._rows, self._favorable = _grown(self._rows, n), _grown(self._favorable, n)
        self._rows[key_map] += other._rows[:len(key_map)]
        self._favorable[key_map] += other._favorable[:len(key_map)]
        for reason, count in other._excluded.items():
            self._excluded[reason] = self._excluded.get(reason, 0) + count
        for value, count in other._targets.items():
            self._targets[value] = self._targets.get(value, 0) + count
        self._check_targets(other.files[0] if other.files else self.files[0])
        self.rows_read += other.rows_read
        self.n_chunks += other.n_chunks
        if not other._ids_increasing:
            self._ids_increasing = False
        elif other._id_span is not None and self._ids_increasing:
            if self._id_span is None or other._id_span[0] > self._id_span[1]:
                first = other._id_span[0] if self._id_span is None else self._id_span[0]
                self._id_span = (first, other._id_span[1])
            else:
                self._ids_increasing = False
        return key_map

    def _check_targets(self, file: Path) -> None:
        if len(self._targets) > 2:
            spec = self.policy.data
            raise DataError(f"{file}: target column '{spec.target}' must have exactly two "
                            f"values (favorable {spec.favorable!r} and one other); the data "
                            f"read so far has {len(self._targets)}: "
                            + ", ".join(f"{_shown(v)} ({c})" for v, c in
                                        list(self._targets.items())[:10]))

    def summary(self) -> ChunkedSummary:
        """The groups and their sizes, once every chunk is read.

        Raises
        ------
        DataError
            No row is left, the favorable value never occurs or the target has one value, a
            reference group does not occur.
        PolicyError
            More groups than an audit measures.
        """
        policy, spec = self.policy, self.policy.data
        where = self.files[0] if len(self.files) == 1 else self.files[0].parent
        if not self.keys:
            raise DataError(f"{where}: no rows are left after excluding "
                            + "; ".join(f"{n} row(s) for '{r}'" for r, n in self._excluded.items())
                            + f" (of {self.rows_read}); check data → exclude_rows and the target "
                            "column")
        rows, favorable = self._rows, self._favorable
        values = ", ".join(f"{_shown(v)} ({c})" for v, c in self._targets.items())
        if not favorable.sum():
            raise DataError(f"{where}: target column '{spec.target}': the favorable value "
                            f"{spec.favorable!r} does not occur; the values found are {values} "
                            "(set data → favorable to one of them)")
        if len(self._targets) != 2:
            raise DataError(f"{where}: target column '{spec.target}' must have exactly two "
                            f"values (favorable {spec.favorable!r} and one other); found only one "
                            f"value: {values}")
        encoded = []
        for i, p in enumerate(policy.protected):
            names = [key[i] for key in self.keys]
            if p.bins is not None:
                levels = list(_bin_labels(p))
            else:
                levels = sorted(set(names) - {UNKNOWN}, key=_sort_key)
            if UNKNOWN in names:
                levels.append(UNKNOWN)
            index = {name: j for j, name in enumerate(levels)}
            encoded.append((np.array([index[n] for n in names], dtype=np.int64), tuple(levels)))
        key_atom, n_atoms, attributes, partitions = _partitions(policy, where, encoded)
        return ChunkedSummary(
            files=self.files, rows_read=self.rows_read,
            excluded=list(self._excluded.items()), favorable=str(spec.favorable),
            attributes=attributes, partitions=partitions, key_atom=key_atom, n_atoms=n_atoms,
            key_rows=rows, key_favorable=favorable, n_chunks=self.n_chunks,
            chunk_rows=self.chunk_rows)
