"""predictions.parquet: one row per data row and variant."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_predictions(run, out: Path) -> list[Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = len(run.y_true)
    k = len(run.predictions)
    names = [p.name for p in run.predictions]
    row_ids = run.row_ids
    if row_ids.dtype == object:
        row_ids = row_ids.astype(str)
    table = pa.table({
        "row_id": np.tile(row_ids, k),
        "fold": np.tile(run.folds.astype(np.int32), k),
        "candidate": pa.DictionaryArray.from_arrays(
            pa.array(np.repeat(np.arange(k, dtype=np.int32), n)), pa.array(names)),
        "y_true": np.tile(run.y_true.astype(np.int8), k),
        "y_score": np.concatenate([p.y_score for p in run.predictions]) if k else np.zeros(0),
        "y_pred": np.concatenate([p.y_pred.astype(np.int8) for p in run.predictions]) if k else np.zeros(0, np.int8),
    })
    path = out / "predictions.parquet"
    pq.write_table(table, path)
    return [path]
