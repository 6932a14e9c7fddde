"""``kind: predictions`` — scores (or hard decisions) computed elsewhere, joined on ``data.id``.

Nothing is trained: the file's scores are joined to the audit's rows once, and the folds only
split those fixed scores so that per-fold figures show their spread.

Orientation. fairsel's scores are "higher = more favorable" and its decision is
``score >= threshold``. A policy states the *source* convention, and the candidate maps it:

=========================  =================================  ===============================
policy                     favorable decision (source scale)  internal score ``s'``
=========================  =================================  ===============================
``higher_is_favorable:     ``s >= threshold``                 ``s' = s``, threshold unchanged
true`` (default)
``higher_is_favorable:     ``s < threshold`` (strictly)       ``s' = 1 − s`` when every score
false``                                                       lies in [0, 1] (a probability of
                                                              the unfavorable outcome becomes
                                                              one of the favorable outcome, so
                                                              Brier and calibration keep their
                                                              meaning), else ``s' = −s`` (a
                                                              ranking score: AUC and rates are
                                                              unchanged, Brier is not
                                                              meaningful)
``decision_column``        the column's value 1 (or true);    ``s'`` = the 0/1 favorable
                           0 with ``higher_is_favorable:      decision, threshold 0.5
                           false``
=========================  =================================  ===============================

The internal threshold for ``higher_is_favorable: false`` is ``nextafter(t', +inf)`` where
``t'`` is the transformed threshold, so that ``s' >= threshold`` holds exactly when
``s' > t'``, i.e. ``s < threshold`` in the source scale; the decisions are checked against
``s < threshold`` on every row.

Data errors (exit 3), each with counts and the first offending rows: ids missing from
either side, ids repeated in the predictions file, prediction rows without an id, and
missing (NaN), infinite or non-numeric scores. Prediction rows whose id belongs to a data row
that the policy excluded (``data.exclude_rows``, a missing target) are not errors: they are
counted in :attr:`PredictionsCandidate.notes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fairsel.errors import DataError, did_you_mean
from fairsel.fileutil import same_file

#: How many offending rows a message shows.
SHOW = 5


@dataclass
class PredictionsCandidate:
    """Scores made elsewhere, aligned to the audit's rows (``score_all``)."""

    name: str
    kind: str
    path: Path
    id_column: str
    score_column: str | None
    decision_column: str | None
    higher_is_favorable: bool
    source_threshold: float
    row_ids: np.ndarray
    data_path: Path | None = None
    threshold: float = 0.5
    transform: str = "identity"
    notes: list[str] = field(default_factory=list)
    score_type: str | None = None  # declared score_type (None: inferred by the audit)
    #: The data file's columns as the audit read them (``AuditData.file_columns``), used
    #: instead of reading this file again when it is the data file and holds what is needed.
    shared: dict = field(default_factory=dict, repr=False)

    trainable = False
    uses_protected_at_decision = False

    def score_all(self, X=None) -> np.ndarray:
        """The favorable-outcome score of every audit row, in the data's row order.

        Raises
        ------
        DataError
            The file or a column is missing; ids are missing on either side, repeated or
            empty; scores are missing, infinite or not numbers; decisions are not 0/1.
        """
        try:
            return self._score_all(X)
        finally:
            self.shared = {}  # the data file's columns are not needed after (memory)

    def _score_all(self, X) -> np.ndarray:
        column = self.score_column or self.decision_column
        assert column is not None
        ids, values, loc = _read_columns(self.path, self.id_column, column, self.name,
                                         shared=self.shared)
        if X is not None and len(X) != len(self.row_ids):
            raise ValueError("score_all: X and row_ids differ in length")
        pos = self._join(ids, loc)
        rows = pos if pos is not None else np.arange(len(values))
        col = values if pos is None else _take(values, pos)
        if self.score_column:
            scores = _numeric(col, rows, ids, loc, self.path, self.name, column)
            if self.score_type == "probability":  # checked on the file's own scale and lines
                from fairsel.candidates.score_type import check_probabilities

                check_probabilities(scores, name=self.name, path=self.path,
                                    how="declared in the policy",
                                    row=lambda i: f"{loc(rows[i])} (id {_show(ids[rows[i]])})")
            return self._orient(scores)
        decisions = _decisions(col, rows, ids, loc, self.path, self.name, column)
        self.transform = "decision" if self.higher_is_favorable else "1 - decision"
        self.threshold = 0.5
        return decisions if self.higher_is_favorable else 1.0 - decisions

    # -- joining ---------------------------------------------------------------------------

    def _join(self, ids: np.ndarray, loc) -> np.ndarray | None:
        """Positions in the file of each audit row (``None`` when the file is in row order)."""
        where = f"{self.path}: candidate '{self.name}'"
        problems: list[str] = []
        no_id = _isna(ids)
        if no_id.any():
            rows = np.flatnonzero(no_id)
            problems.append(f"{len(rows)} prediction row(s) have no id in column "
                            f"'{self.id_column}'; first: {', '.join(loc(r) for r in rows[:SHOW])}")
            ids = ids[~no_id]
            keep = np.flatnonzero(~no_id)
        else:
            keep = None
        data_ids = self.row_ids
        ids, data_ids = _comparable(ids, data_ids)
        if keep is None and len(ids) == len(data_ids) and np.array_equal(ids, data_ids):
            return None  # same rows, same order: the usual case for scores written beside the data
        import pandas as pd

        index = pd.Index(ids)
        if not index.is_unique:
            dup_mask = index.duplicated(keep=False)
            rows = np.flatnonzero(dup_mask)
            file_rows = keep[rows] if keep is not None else rows
            n_extra = int(index.duplicated().sum())
            n_ids = len(pd.unique(ids[dup_mask]))
            problems.append(f"id column '{self.id_column}' has {n_extra} repeated value(s) "
                            f"({n_ids} id(s) occur more than once); first: "
                            + ", ".join(f"{loc(r)} (id {_show(ids[i])})"
                                        for r, i in zip(file_rows[:SHOW], rows[:SHOW]))
                            + "; each id must have exactly one prediction")
            raise DataError(where + ": " + "; ".join(problems))
        pos = index.get_indexer(data_ids)
        missing = np.flatnonzero(pos < 0)
        if len(missing):
            problems.append(f"{len(missing)} of the {len(data_ids)} audited row(s) have no "
                            f"prediction (no matching '{self.id_column}' in this file); first "
                            "ids: " + ", ".join(_show(self.row_ids[i]) for i in missing[:SHOW]))
        used = np.zeros(len(ids), dtype=bool)
        used[pos[pos >= 0]] = True
        extra = np.flatnonzero(~used)
        if len(extra):
            unknown, excluded = self._split_extra(ids[extra])
            if len(unknown):
                rows = extra[unknown]
                file_rows = keep[rows] if keep is not None else rows
                problems.append(f"{len(rows)} prediction row(s) have ids that are not in the "
                                f"data ({self.data_path or 'the audited rows'}); first: "
                                + ", ".join(f"{loc(r)} (id {_show(ids[i])})"
                                            for r, i in zip(file_rows[:SHOW], rows[:SHOW])))
            if excluded:
                self.notes.append(f"{excluded} prediction row(s) belong to data rows the "
                                  "policy excluded; they are not used")
        if problems:
            raise DataError(where + ": " + "; ".join(problems) + _hint(self.id_column))
        return keep[pos] if keep is not None else pos

    def _split_extra(self, extra_ids: np.ndarray) -> tuple[np.ndarray, int]:
        """(positions among ``extra_ids`` unknown to the data file, count of excluded rows)."""
        if self.data_path is None:
            return np.arange(len(extra_ids)), 0
        file_ids, _, _ = _read_columns(self.data_path, self.id_column, None, self.name,
                                       what="data file", shared=self.shared)
        file_ids, extra_ids = _comparable(file_ids, extra_ids)
        import pandas as pd

        known = pd.Index(file_ids).get_indexer_for(extra_ids) >= 0 if len(extra_ids) else \
            np.zeros(0, dtype=bool)
        return np.flatnonzero(~known), int(known.sum())

    # -- orientation -----------------------------------------------------------------------

    def _orient(self, scores: np.ndarray) -> np.ndarray:
        t = float(self.source_threshold)
        if self.higher_is_favorable:
            self.transform, self.threshold = "identity", t
            return scores
        wanted = scores < t
        if len(scores) and scores.min() >= 0.0 and scores.max() <= 1.0 and 0.0 <= t <= 1.0:
            flipped = 1.0 - scores
            thr = float(np.nextafter(1.0 - t, np.inf))
            if np.array_equal(flipped >= thr, wanted):
                self.transform, self.threshold = "1 - score", thr
                return flipped
        # negation is exact in floating point: −s ≥ nextafter(−t, +∞) ⟺ −s > −t ⟺ s < t
        self.transform, self.threshold = "-score", float(np.nextafter(-t, np.inf))
        return -scores


# -- reading -------------------------------------------------------------------------------

def _read_columns(path: Path, id_column: str, value_column: str | None, name: str, *,
                  what: str = "predictions file", shared: dict | None = None):
    """(ids, values, row locator) read with pyarrow, only the columns needed.

    ``shared``: columns of the audit's data file already read (the caller passes them only
    when ``path`` is that file, a Parquet file); when they hold every column needed, they are
    used and the file is not read again.
    """
    wanted = [id_column] + ([value_column] if value_column else [])
    if shared and all(c in shared for c in wanted):
        import pyarrow as pa

        table = pa.table({c: shared[c] for c in wanted})
        return _columns_of(table, id_column, value_column, True, what, name, path)
    if not path.exists():
        raise DataError(f"{path}: {what} of candidate '{name}' not found (paths in a policy "
                        "are relative to the policy file)")
    if path.is_dir() or path.stat().st_size == 0:
        raise DataError(f"{path}: the {what} of candidate '{name}' is "
                        f"{'a folder' if path.is_dir() else 'empty (0 bytes)'}; expected a CSV "
                        "or Parquet file with a header")
    parquet = path.suffix.lower() in (".parquet", ".pq")
    try:
        if parquet:
            import pyarrow.parquet as pq

            columns = list(pq.read_schema(path).names)
        else:
            columns = _csv_header(path)
    except Exception as exc:  # noqa: BLE001 — the reader's own words name the problem
        raise DataError(f"{path}: cannot read the {what} of candidate '{name}' as "
                        f"{'Parquet' if parquet else 'CSV'}: {_first_line(exc)}") from None
    for col, role in zip(wanted, ["id (data → id)", "score/decision"]):
        if col not in columns:
            shown = ", ".join(columns[:40]) + (f", ... ({len(columns)} in all)"
                                               if len(columns) > 40 else "")
            raise DataError(f"{path}: candidate '{name}': {role} column '{col}' not found in the "
                            f"{what}{did_you_mean(col, columns)}; the columns are: {shown}")
    try:
        if parquet:
            table = pq.read_table(path, columns=wanted)
        else:
            from pyarrow import csv as pacsv

            table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
                include_columns=wanted, strings_can_be_null=True))
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{path}: cannot read the {what} of candidate '{name}': "
                        f"{_first_line(exc)}") from None
    return _columns_of(table, id_column, value_column, parquet, what, name, path)


def _columns_of(table, id_column: str, value_column: str | None, parquet: bool, what: str,
                name: str, path: Path | str = ""):
    """(ids, values, row locator) of the columns read (see :func:`_read_columns`)."""
    if table.num_rows == 0:
        raise DataError(f"{path}: the {what} of candidate '{name}' has a header but no rows")
    ids = _to_numpy(table.column(id_column))
    values = table.column(value_column) if value_column else None
    if parquet:
        def loc(i: int) -> str:
            return f"row {int(i) + 1}"
    else:
        def loc(i: int) -> str:  # the header is line 1
            return f"line {int(i) + 2}"
    return ids, values, loc


def _csv_header(path: Path) -> list[str]:
    import csv

    with open(path, newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        raise ValueError("no header row")
    return [h.strip() for h in header]


def _to_numpy(col) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if pa.types.is_integer(col.type) and col.null_count == 0:
        return col.to_numpy()
    if pa.types.is_integer(col.type) or pa.types.is_floating(col.type):
        return pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
    return np.asarray(col.to_pylist(), dtype=object)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _isna(a: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "f":
        return np.isnan(a)
    if a.dtype.kind == "O":
        import pandas as pd

        return pd.isna(a)
    return np.zeros(len(a), dtype=bool)


def _comparable(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ids of the two sides in one type: numbers stay numbers, otherwise both become text."""
    import pandas as pd

    def kind(x: np.ndarray) -> str:
        if x.dtype.kind in "iuf":
            return "num"
        if x.dtype.kind == "b":
            return "num"
        return "text"

    ka, kb = kind(a), kind(b)
    if ka == kb == "num":
        if a.dtype.kind == "f" or b.dtype.kind == "f":  # 17.0 and 17 are the same id
            return a.astype(np.float64), b.astype(np.float64)
        return a, b
    if ka == kb == "text" and a.dtype == object and b.dtype == object:
        return a, b

    def text(x: np.ndarray) -> np.ndarray:
        if x.dtype.kind == "f" and len(x) and np.all(np.mod(x[~np.isnan(x)], 1) == 0):
            return np.asarray(pd.array(x, dtype="Int64").astype(str), dtype=object)
        return np.asarray(pd.Series(x).astype(str), dtype=object)
    return text(a), text(b)


def _show(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return repr(v) if isinstance(v, str) else str(v)


def _hint(id_column: str) -> str:
    return (f". Fix the predictions file so that it has one row per audited id (column "
            f"'{id_column}', the policy's data → id)")


def _take(values, rows: np.ndarray):
    """The file's values at ``rows`` (file positions, in the audit's row order)."""
    import pyarrow as pa

    return values.take(pa.array(rows))


def _numeric(values, rows: np.ndarray, ids: np.ndarray, loc, path: Path, name: str,
             column: str) -> np.ndarray:
    """Scores as float64; NaN, infinite and non-numeric values are a DataError.

    ``values`` are already in the audit's row order; ``rows`` are their positions in the file
    (for the messages).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    col = values
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    problems: list[str] = []
    if pa.types.is_boolean(col.type) or pa.types.is_integer(col.type) \
            or pa.types.is_floating(col.type) or pa.types.is_decimal(col.type):
        scores = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
        bad_text = np.zeros(len(scores), dtype=bool)
    else:
        import pandas as pd

        text = pd.Series(np.asarray(col.to_pylist(), dtype=object))
        scores = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
        bad_text = np.isnan(scores) & text.notna().to_numpy()
        if bad_text.any():
            idx = np.flatnonzero(bad_text)
            problems.append(f"{len(idx)} non-numeric score(s); first: "
                            + ", ".join(f"{loc(rows[i])} (id {_show(ids[rows[i]])}): "
                                        f"{text.iloc[i]!r}" for i in idx[:SHOW]))
    nan = np.isnan(scores) & ~bad_text
    if nan.any():
        idx = np.flatnonzero(nan)
        problems.append(f"{len(idx)} missing or NaN score(s); first: "
                        + ", ".join(f"{loc(rows[i])} (id {_show(ids[rows[i]])})"
                                    for i in idx[:SHOW]))
    inf = np.isinf(scores)
    if inf.any():
        idx = np.flatnonzero(inf)
        problems.append(f"{len(idx)} infinite score(s); first: "
                        + ", ".join(f"{loc(rows[i])} (id {_show(ids[rows[i]])}): {scores[i]}"
                                    for i in idx[:SHOW]))
    if problems:
        raise DataError(f"{path}: candidate '{name}': score column '{column}': "
                        + "; ".join(problems) + "; every audited row needs a finite numeric score")
    return scores


def _decisions(values, rows: np.ndarray, ids: np.ndarray, loc, path: Path, name: str,
               column: str) -> np.ndarray:
    """Hard decisions as 0.0/1.0 (1 = the column's value 1 or true)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    col = values
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if pa.types.is_boolean(col.type) or pa.types.is_integer(col.type) \
            or pa.types.is_floating(col.type):
        d = pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)
        ok = (d == 0) | (d == 1)
        shown = pd.Series(d)
    else:
        text = pd.Series(np.asarray(col.to_pylist(), dtype=object))
        low = text.astype("string").str.strip().str.lower()
        mapping = {"0": 0.0, "1": 1.0, "false": 0.0, "true": 1.0}
        d = low.map(mapping).to_numpy(dtype=np.float64, na_value=np.nan)
        ok = ~np.isnan(d)
        shown = text
    if not ok.all():
        idx = np.flatnonzero(~ok)
        counts = shown[~ok].value_counts(dropna=False).head(SHOW)
        raise DataError(
            f"{path}: candidate '{name}': decision column '{column}' must hold 0/1 (or true/false) "
            f"decisions, 1 = the favorable decision (0 with higher_is_favorable: false); "
            f"{len(idx)} row(s) hold something else: "
            + ", ".join(f"{v!r} ({c})" for v, c in counts.items())
            + "; first: " + ", ".join(f"{loc(rows[i])} (id {_show(ids[rows[i]])})"
                                      for i in idx[:SHOW]))
    return d


def make_predictions(spec, ctx) -> PredictionsCandidate:
    """Factory for ``kind: predictions`` (see the module docstring for the orientation)."""
    extra = ctx.extra or {}
    data_path = extra.get("data_path")
    path = ctx.resolve(spec.path)
    # the data file's columns as the audit read them: used when this file is the data file
    shared = extra.get("data_columns") or {}
    if shared and not (data_path and same_file(Path(path), Path(data_path))):
        shared = {}
    return PredictionsCandidate(
        name=spec.name, kind=spec.kind, path=path, id_column=ctx.id_column,
        score_column=spec.score_column, decision_column=spec.decision_column,
        higher_is_favorable=spec.higher_is_favorable, source_threshold=spec.threshold,
        row_ids=ctx.row_ids, data_path=Path(data_path) if data_path else None,
        threshold=spec.threshold, score_type=spec.score_type, shared=shared)
