"""Predictions-only audits of data larger than memory: read in chunks, counts merged.

When ``data → path`` is a folder or glob of Parquet files (or ``data → chunk_rows`` is set),
every candidate must be of kind ``predictions`` with its scores (or decisions) a column of the
same data. The files are read a chunk at a time (only the columns needed), each chunk's rows are
encoded as :func:`fairsel.data.load_data` encodes a whole table, and each variant's cell counts
are summed over the chunks (:mod:`fairsel.metrics.cells`); the metric engine computes every
figure from the merged counts (:func:`fairsel.metrics.engine.evaluate_cells`). Counts, rates,
disparities, gates and significance are those of the whole table; intervals come from the
same bootstrap of the cells. Folds (for the per-fold spread) are assigned by a seeded hash of
each row's position in the dataset (of its cluster id with ``validation → groups``), so they
do not depend on the chunk size. The proxy screen, worst-slice search and explanations need
every row in memory; they are skipped, and results.json says so (``data.chunked.skipped``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fairsel.candidates.predictions import _decisions, _numeric
from fairsel.candidates.score_type import check_probabilities, resolve_score_type, \
    unavailable_reason
from fairsel.data import Chunk, ChunkedSummary, ChunkedTable, check_dataset_files
from fairsel.errors import PolicyError
from fairsel.fileutil import file_sha256
from fairsel.metrics.cells import EXACT_AUC_ROWS, FINE_BINS, CellAccumulator
from fairsel.metrics.engine import Confidence, evaluate_cells
from fairsel.policy import Policy, locate
from fairsel.progress import NullProgress, Progress
from fairsel.results import (
    AttributeSummary,
    ChunkedRead,
    DataSummary,
    Exclusion,
    GroupSize,
    ValidationSummary,
    VariantResult,
)

FOLDS_TEXT = ("by a hash of each row's position in the dataset (files in name order) and the "
              "seed: the same folds whatever the chunk size")
CLUSTER_FOLDS_TEXT = ("by a hash of each row's cluster id (validation.groups) and the seed: a "
                      "cluster's rows stay in one fold")


@dataclass(frozen=True)
class ChunkedMeasure:
    """What a chunked read measured: the variants (before gates) and the data's summary."""

    variants: list[VariantResult]
    data: DataSummary
    validation: ValidationSummary
    data_sha256: str


def check_chunked(policy: Policy) -> None:
    """Refuse what a chunked audit cannot do, naming the key (PolicyError, exit 2)."""
    data_path = policy.resolve(policy.data.path)
    why = ("data → path is read in chunks (a folder or glob of Parquet files, or data → "
           "chunk_rows), which measures precomputed scores only")
    for i, c in enumerate(policy.candidates):
        if c.kind != "predictions":
            raise PolicyError(locate(policy, ("candidates", i, "kind"), (
                f"candidate '{c.name}' is of kind {c.kind}; {why}: every candidate must be of "
                "kind predictions with its scores a column of the data")))
        if c.path is None or policy.resolve(c.path) != data_path:
            raise PolicyError(locate(policy, ("candidates", i, "path"), (
                f"candidate '{c.name}' reads {c.path!r}; {why}: its scores must be a column of "
                f"the same data (path: {policy.data.path}), since joining another file on "
                "data → id would need every row in memory")))
    if policy.mitigation:
        raise PolicyError(locate(policy, ("mitigation",), (
            f"{why}; mitigations fit models on the rows: remove mitigation")))
    if policy.validation.holdout is not None:
        raise PolicyError(locate(policy, ("validation", "holdout"), (
            f"{why}; a holdout refits the selected variant: remove validation → holdout")))
    if policy.validation.scheme == "leave_one_group_out":
        raise PolicyError(locate(policy, ("validation", "scheme"), (
            f"{why}; leave_one_group_out makes one fold per cluster: use group_kfold")))
    if policy.compliance == "hiring_ll144":
        raise PolicyError(locate(policy, ("compliance",), (
            f"{why}; the hiring_ll144 summary reads every row's score: audit a file that fits "
            "in memory")))


def check_dataset(policy: Policy, files: list[Path]) -> str:
    """What ``fairsel validate`` checks of a dataset read in chunks, without reading its rows:
    the policy (:func:`check_chunked`) and every file's columns. Returns a one-line summary.

    Raises
    ------
    PolicyError, DataError
        As the audit would, before reading any row.
    """
    import pyarrow.parquet as pq

    check_chunked(policy)
    check_dataset_files(policy, files)
    table = ChunkedTable(policy, files, [c.score_column or c.decision_column
                                         for c in policy.candidates])
    for f in files:
        table.check_columns(f)
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    return (f"{rows} rows in {len(files)} Parquet file(s), read in chunks of "
            f"{table.chunk_rows} rows (values are checked as the audit reads them), "
            f"{len(policy.candidates)} candidate(s) of kind predictions")


def _hash64(x: np.ndarray, seed: int) -> np.ndarray:
    """splitmix64 of ``x`` (uint64) mixed with ``seed``: a fold that no chunk boundary moves."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64((seed * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def fold_of(chunk: Chunk, n_folds: int, seed: int) -> np.ndarray:
    """Each row's fold: a seeded hash of its dataset row (or cluster id) modulo ``n_folds``."""
    key = chunk.clusters if chunk.clusters is not None else chunk.rows
    return (_hash64(np.asarray(key), seed) % np.uint64(n_folds)).astype(np.int64)


def _score_range(files: list[Path], column: str) -> tuple[float, float]:
    """The column's smallest and largest value, from the files' statistics where present."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    lo, hi = np.inf, -np.inf
    for f in files:
        pf = pq.ParquetFile(f)
        j = pf.schema_arrow.get_field_index(column)
        md = pf.metadata
        stats = [md.row_group(g).column(j).statistics for g in range(md.num_row_groups)]
        if all(s is not None and s.has_min_max for s in stats) and \
                all(isinstance(s.min, (int, float, bool, np.number)) for s in stats):
            if stats:
                lo = min(lo, min(float(s.min) for s in stats))
                hi = max(hi, max(float(s.max) for s in stats))
            continue
        for batch in pf.iter_batches(columns=[column]):  # no statistics: one pass of the column
            try:
                mm = pc.min_max(batch.column(0)).as_py()
            except Exception:  # noqa: BLE001 — text scores are refused, with rows, when read
                continue
            if mm["min"] is not None:
                lo, hi = min(lo, float(mm["min"])), max(hi, float(mm["max"]))
    if not np.isfinite(lo):
        lo, hi = 0.0, 1.0
    return lo, hi


class _Scorer:
    """One ``kind: predictions`` candidate read from the chunks: scores oriented as
    :class:`fairsel.candidates.predictions.PredictionsCandidate` orients them (higher =
    favorable), decisions exact in the source scale."""

    def __init__(self, spec, files: list[Path], data_path: Path) -> None:
        self.spec, self.name = spec, spec.name
        self.column = spec.score_column or spec.decision_column
        self.data_path = data_path
        t = float(spec.threshold)
        if spec.decision_column:
            self.transform, lo, hi = "decision", 0.0, 1.0
        else:
            lo, hi = _score_range(files, self.column)
            if spec.higher_is_favorable:
                self.transform = "identity"
            elif 0.0 <= lo and hi <= 1.0 and 0.0 <= t <= 1.0:
                self.transform, lo, hi = "1 - score", 1.0 - hi, 1.0 - lo
            else:
                self.transform, lo, hi = "-score", -hi, -lo
        self.lo, self.hi = lo, hi
        self.stype, self.how = resolve_score_type(spec.score_type, trainable=False,
                                                  kind="predictions", scores=np.array([lo, hi]))

    def scores(self, chunk: Chunk) -> tuple[np.ndarray, np.ndarray]:
        """(internal scores, favorable decisions) of the chunk's rows."""
        import pyarrow as pa

        values = pa.array(chunk.frame[self.column], from_pandas=True)
        rows = np.arange(len(values))
        file_rows = chunk.frame.index.to_numpy()
        ids = file_rows + 1

        def loc(i: int) -> str:
            return f"row {int(file_rows[i]) + 1}"

        if self.spec.decision_column:
            d = _decisions(values, rows, ids, loc, chunk.file, self.name, self.column)
            if not self.spec.higher_is_favorable:
                d = 1.0 - d
            return d, d.astype(np.int8)
        s = _numeric(values, rows, ids, loc, chunk.file, self.name, self.column)
        t = float(self.spec.threshold)
        if self.spec.score_type == "probability":
            check_probabilities(s, name=self.name, path=chunk.file, how="declared in the policy",
                                row=lambda i: f"row {int(file_rows[i]) + 1}")
        if self.transform == "identity":
            return s, (s >= t).astype(np.int8)
        pred = (s < t).astype(np.int8)
        return (1.0 - s if self.transform == "1 - score" else -s), pred


@dataclass(frozen=True)
class _Shared:
    """What every file's task needs (sent once to each worker)."""

    policy: Policy
    files: list[Path]
    columns: list[str]
    scorers: list
    first_rows: list[int]  # the dataset row of each file's first row
    as_float: set[str]
    clustered: bool  # cluster-bootstrap cells wanted
    exact_rows: int  # rows kept for an exact ROC AUC (0: histogram)


@dataclass
class FilePart:
    """One file's counts: its table's groups and exclusions, each candidate's cells."""

    table: ChunkedTable
    accs: list[CellAccumulator]
    fold_sizes: np.ndarray
    clusters: np.ndarray  # the distinct cluster hashes met (empty without clusters)


def read_file(shared: _Shared, i: int) -> FilePart:
    """Read file ``i`` a chunk at a time and sum its rows' cells (a task of its own)."""
    policy = shared.policy
    n_folds = policy.validation.folds
    table = ChunkedTable(policy, [shared.files[i]], shared.columns,
                         first_row=shared.first_rows[i], as_float=shared.as_float)
    accs = [CellAccumulator(n_folds=n_folds, lo=s.lo, hi=s.hi, clustered=shared.clustered,
                            exact_rows=shared.exact_rows) for s in shared.scorers]
    fold_sizes = np.zeros(n_folds, dtype=np.int64)
    clusters = []
    for chunk in table:
        folds = fold_of(chunk, n_folds, policy.seed)
        fold_sizes += np.bincount(folds, minlength=n_folds)
        if chunk.clusters is not None:
            clusters.append(np.unique(chunk.clusters))
        for scorer, acc in zip(shared.scorers, accs):
            score, pred = scorer.scores(chunk)
            acc.add(chunk.keys, chunk.y, pred, score, folds, n_keys=len(table.keys),
                    clusters=chunk.clusters if acc.clustered else None)
    return FilePart(table=table, accs=accs, fold_sizes=fold_sizes,
                    clusters=np.unique(np.concatenate(clusters)) if clusters else
                    np.zeros(0, dtype=np.uint64))


def measure_chunked(policy: Policy, files: list[Path], *, progress: Progress | None = None,
                    confidence: Confidence = Confidence(), exact_auc_rows: int | None = None,
                    run: Callable | None = None) -> ChunkedMeasure:
    """Read the dataset in chunks and measure every candidate (see the module docstring).

    Each file is one task, ``read_file(shared, i)``; ``run(fn, shared, tasks)`` runs them (the
    audit's backend: in this process, local worker processes or Dask workers; default: here,
    one after another), and their counts are merged in file order, so every backend gives the
    same result. ROC AUC is exact when the files hold at most ``exact_auc_rows`` rows (default
    :data:`fairsel.metrics.cells.EXACT_AUC_ROWS`).

    Raises
    ------
    PolicyError
        The policy asks for what a chunked audit cannot do (:func:`check_chunked`).
    DataError
        A file, column, score or target is refused, with the file and row.
    """
    progress = progress or NullProgress()
    check_chunked(policy)
    check_dataset_files(policy, files)
    n_folds = policy.validation.folds
    import pyarrow.parquet as pq

    files = [f.resolve() for f in files]
    data_path = policy.resolve(policy.data.path)
    table = ChunkedTable(policy, files, [c.score_column or c.decision_column
                                         for c in policy.candidates])
    for f in files:  # every file's columns, before any row is read
        table.check_columns(f)
    scorers = [_Scorer(c, files, data_path) for c in policy.candidates]
    sizes = [pq.ParquetFile(f).metadata.num_rows for f in files]
    limit = EXACT_AUC_ROWS if exact_auc_rows is None else exact_auc_rows
    shared = _Shared(policy=policy, files=files, columns=table.extra, scorers=scorers,
                     first_rows=np.concatenate([[0], np.cumsum(sizes)[:-1]]).tolist(),
                     as_float=table.nullable_ints(),
                     clustered=policy.validation.groups is not None and confidence.method ==
                     "bootstrap" and confidence.resamples > 0,
                     exact_rows=limit if sum(sizes) <= limit else 0)
    progress.stage(f"reading {len(files)} Parquet file(s) in chunks", total=len(files))
    tasks = [(i,) for i in range(len(files))]
    if run is None:
        parts = []
        for t in tasks:
            parts.append(read_file(shared, *t))
            progress.advance()
    else:
        parts = run(read_file, shared, tasks)
    accs = [CellAccumulator(n_folds=n_folds, lo=s.lo, hi=s.hi, clustered=shared.clustered,
                            exact_rows=shared.exact_rows) for s in scorers]
    fold_sizes = np.zeros(n_folds, dtype=np.int64)
    clusters: set | None = set() if policy.validation.groups else None
    for part in parts:  # in file order: the same sums whichever worker read each file
        key_map = table.merge(part.table)
        for acc, other in zip(accs, part.accs):
            acc.merge(other, key_map)
        fold_sizes += part.fold_sizes
        if clusters is not None:
            clusters.update(part.clusters.tolist())
    table.check_ids()
    summary = table.summary()
    progress.stage("measuring", total=len(scorers))
    variants, methods, errors = [], {}, {}
    for scorer, acc in zip(scorers, accs):
        cells, a2g, error = acc.finish(summary.key_atom, summary.partitions)
        vm = evaluate_cells(cells, partitions=summary.partitions, a2g=a2g,
                            min_group_size=policy.min_group_size, confidence=confidence,
                            seed=policy.seed, label=scorer.name,
                            probability=scorer.stype == "probability")
        methods[scorer.name] = "exact" if error is None else "histogram"
        errors[scorer.name] = 0.0 if error is None else error
        variants.append(VariantResult(
            name=scorer.name, candidate=scorer.name, kind="predictions", mitigation=None,
            base=None, uses_protected_at_decision=False, protected_as_features=[],
            details={}, trial=None, status="PASS",
            performance=vm.performance, fairness=vm.fairness, attributes=vm.attributes,
            folds=vm.folds, score_type=scorer.stype,  # type: ignore[arg-type]
            unavailable=unavailable_reason(scorer.name, scorer.stype, scorer.how)))
        progress.advance()
    skipped = [name for name, on in (("proxies", policy.proxy_screen), ("slices",
               policy.slice_search), ("explain", policy.explain_settings)) if on is not None]
    for name in skipped:
        progress.note(f"{name} skipped: it needs every row in memory (data read in chunks)")
    read_info = ChunkedRead(
        files=len(files), chunk_rows=summary.chunk_rows, chunks=summary.n_chunks,
        folds=CLUSTER_FOLDS_TEXT if policy.validation.groups else FOLDS_TEXT, auc=methods,
        auc_bins=FINE_BINS, auc_max_error=errors, skipped=skipped)
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.name}\0{file_sha256(f)}\n".encode())
    return ChunkedMeasure(
        variants=variants,
        data=_summary(policy, summary, data_path, read_info,
                      n_clusters=len(clusters) if clusters is not None else None),
        validation=ValidationSummary(scheme="hashed", folds=n_folds,
                                     groups=policy.validation.groups,
                                     fold_sizes=fold_sizes.tolist(), seed=policy.seed),
        data_sha256=digest.hexdigest())


def _summary(policy: Policy, s: ChunkedSummary, path: Path, read: ChunkedRead, *,
             n_clusters: int | None) -> DataSummary:
    """The data's summary (group sizes per attribute) from the rows and favorable outcomes
    of each combination of groups."""
    n_atom = np.bincount(s.key_atom, weights=s.key_rows, minlength=s.n_atoms)
    fav_atom = np.bincount(s.key_atom, weights=s.key_favorable, minlength=s.n_atoms)
    attrs = []
    for part in s.partitions:
        n = np.bincount(part.atom_to_group, weights=n_atom, minlength=part.n_groups)
        fav = np.bincount(part.atom_to_group, weights=fav_atom, minlength=part.n_groups)
        groups = [GroupSize(group=label, n=int(n[g]), favorable=int(fav[g]),
                            favorable_rate=float(fav[g] / n[g]) if n[g] else None,
                            flags=(["small"] if n[g] < policy.min_group_size else [])
                            + (["unknown"] if part.is_missing(g) else []))
                  for g, label in enumerate(part.labels)]
        attrs.append(AttributeSummary(
            attribute=part.name, columns=list(part.columns), kind=part.kind,  # type: ignore[arg-type]
            reference=part.labels[part.reference] if part.reference is not None else None,
            groups=groups))
    rows_used = int(s.key_rows.sum())
    return DataSummary(
        path=str(path), format="parquet", rows_read=s.rows_read, rows_used=rows_used,
        excluded=[Exclusion(reason=r, count=c) for r, c in s.excluded],
        target=policy.data.target, favorable=s.favorable,
        favorable_rate=float(s.key_favorable.sum() / rows_used), features=[],
        protected_as_features=[], attributes=attrs, cluster_column=policy.validation.groups,
        n_clusters=n_clusters, chunked=read)
