"""predictions.parquet: one row per data row and variant."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np


def write_predictions(run, out: Path) -> list[Path]:
    """Write ``predictions.parquet``: row_id, fold, candidate, y_true, y_score, y_pred.

    The variants follow one another (one block of every row per variant), failed variants
    included: where a variant has no prediction (it failed on that row's fold), y_score and
    y_pred are null. Only the candidate
    column is dictionary-encoded: trying a dictionary for ids and scores (pyarrow's default)
    costs a third of the writing time at 10,000,000 rows and does not shrink them.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = len(run.y_true)
    k = len(run.predictions)
    names = [p.name for p in run.predictions]
    row_ids = run.row_ids
    if row_ids.dtype == object:
        row_ids = row_ids.astype(str)

    def repeat(a: np.ndarray) -> np.ndarray:
        return a if k == 1 else np.tile(a, k)

    if k:
        scores = np.concatenate([np.asarray(p.y_score, dtype=np.float64) for p in run.predictions])
        preds = np.concatenate([np.asarray(p.y_pred).astype(np.int8, copy=False)
                                for p in run.predictions])
    else:
        scores, preds = np.zeros(0), np.zeros(0, np.int8)
    variant = np.repeat(np.arange(k, dtype=np.int8 if k < 128 else np.int32), n)
    # rows of a variant that failed on their fold: y_score and y_pred are null
    missing = None
    if any(getattr(p, "missing", None) is not None for p in run.predictions):
        missing = np.concatenate([np.zeros(n, dtype=bool) if p.missing is None else p.missing
                                  for p in run.predictions])
    table = pa.table({
        "row_id": repeat(row_ids),
        "fold": repeat(run.folds.astype(np.int32, copy=False)),
        "candidate": pa.DictionaryArray.from_arrays(pa.array(variant), pa.array(names)),
        "y_true": repeat(run.y_true.astype(np.int8, copy=False)),
        "y_score": pa.array(scores, mask=missing),
        "y_pred": pa.array(preds, mask=missing),
    })
    path = out / "predictions.parquet"
    from fairsel.report.io import naming

    with naming(path):  # pyarrow names neither the file nor the errno
        pq.write_table(table, path, use_dictionary=["candidate"])
    return [path]


class PredictionsJob:
    """predictions.parquet written on a background thread (pyarrow encodes and compresses
    without holding the GIL), so that it overlaps the metrics computed meanwhile.

    ``wait()`` returns the file written, or raises what the writer raised.
    """

    def __init__(self, run, out: Path) -> None:
        self._paths: list[Path] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._write, args=(run, out),
                                        name="fairsel-predictions", daemon=True)
        self._thread.start()

    def _write(self, run, out: Path) -> None:
        try:
            self._paths = write_predictions(run, out)
        except BaseException as exc:  # noqa: BLE001 — handed to wait()
            self._error = exc

    def join(self) -> None:
        """Wait for the writer to stop (whatever happened to it)."""
        self._thread.join()

    def wait(self) -> list[Path]:
        self.join()
        if self._error is not None:
            raise self._error
        return self._paths
