"""The metric engine: every table of one variant from its out-of-fold predictions.

Rows are encoded once as *atoms*: the cell of the finest partition of the protected
attributes (every combination of their levels, "unknown" included). Each attribute or
intersection is a coarsening of the atoms, so one ``np.bincount`` over
``atom * 4 + 2 * y_true + y_pred`` gives every group's confusion counts, and a bootstrap
replicate is a multinomial draw over (atom, label, decision, score-bin) cells — or, with
clusters, a weighted sum of the clusters' cell-count vectors. No data frame is resampled.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from fairsel.metrics.catalog import FAIRNESS_NAMES, PERFORMANCE_RATE
from fairsel.metrics.counts import (
    confusion_counts,
    rate_denominators,
    rate_eligibility,
    rate_fractions,
    rates_from_counts,
)
from fairsel.metrics.disparity import FAIRNESS_METRICS, compared_rates, disparity
from fairsel.metrics.intervals import (
    KN_RATES,
    Pairs,
    design_effect,
    disparity_interval,
    disparity_pairs,
    figure_interval,
    nan_quantiles,  # noqa: F401  (re-exported: it lived here)
    rate_band,
)
from fairsel.metrics.scores import (
    brier_by_group,
    calibration_error_by_group,
    roc_auc_presorted,
    sort_scores,
)
from fairsel.partition import Partition
from fairsel.results import AttributeMetrics, Estimate, FoldMetrics, GroupRow, Headline

GROUP_RATES = ("selection_rate", "base_rate", "tpr", "fpr", "fnr", "tnr", "precision",
               "accuracy", "balanced_accuracy", "f1")
SCORE_RATES = ("roc_auc", "brier_score", "calibration_error")
#: Figures that exist only for scores that are probabilities (``score_type: probability``).
PROBABILITY_ONLY = ("brier_score", "calibration_error")
#: The group rates some fairness metric compares (a fold marks its small cells of these).
FAIRNESS_RATES = tuple(dict.fromkeys(r for m in FAIRNESS_METRICS for r in compared_rates(m)))


@dataclass(frozen=True)
class Confidence:
    method: str = "bootstrap"  # "bootstrap" | "none"
    level: float = 0.95
    resamples: int = 1000


@dataclass(frozen=True)
class VariantMetrics:
    performance: dict[str, Estimate]
    fairness: dict[str, Headline]
    attributes: list[AttributeMetrics]
    folds: list[FoldMetrics]


def _small(a) -> np.ndarray:
    """A non-negative integer array in its smallest dtype (gathers move fewer bytes)."""
    a = np.asarray(a)
    if a.dtype == bool:
        return a.view(np.int8)
    if a.dtype.kind in "iu" and len(a) and a.min() >= 0:
        return a.astype(np.min_scalar_type(int(a.max())), copy=False)
    return a.astype(np.int64, copy=False)


def _f(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _est(value, lo=None, hi=None, with_ci: bool = False) -> Estimate:
    return Estimate(value=_f(value), ci=(_f(lo), _f(hi)) if with_ci else None)


ECE_BINS = 10


def _ece_cuts(s_sorted: np.ndarray) -> np.ndarray:
    """Positions where the calibration bin ``clip(int(s · 10), 0, 9)`` steps up, in sorted scores.

    The bin is a non-decreasing function of the score, so each step is found by bisection
    (9 thresholds × log₂ n probes) instead of computing the bin of every row.
    """
    n = len(s_sorted)
    j = np.arange(1, ECE_BINS)
    lo, hi = np.zeros(len(j), dtype=np.int64), np.full(len(j), n, dtype=np.int64)
    while n and (lo < hi).any():
        mid = (lo + hi) // 2
        probe = s_sorted[np.minimum(mid, n - 1)]
        ok = np.clip((probe * ECE_BINS).astype(np.int64), 0, ECE_BINS - 1) >= j
        open_ = lo < hi
        hi = np.where(open_ & ok, mid, hi)
        lo = np.where(open_ & ~ok, mid + 1, lo)
    return lo


def _score_bins(s_sorted: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Score bins of the sorted rows, for the bootstrap of AUC, Brier and calibration error.

    Rank-quantile bins (``k`` of them; ties share a bin), further cut where the calibration
    error's equal-width bin changes, so that every bin lies inside one calibration bin.
    Returns (bin of each sorted row, calibration bin of each score bin).
    """
    n = len(s_sorted)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64)
    cuts = [_ece_cuts(s_sorted)]
    if k > 1:
        edges = s_sorted[np.linspace(0, n - 1, k + 1).astype(np.int64)[1:-1]]
        cuts.append(np.searchsorted(s_sorted, edges, side="left"))
    cuts = np.unique(np.concatenate(cuts))
    cuts = cuts[(cuts > 0) & (cuts < n)]
    starts = np.concatenate([[0], cuts])
    bins = np.repeat(np.arange(len(starts), dtype=np.int64), np.diff(np.append(starts, n)))
    ece_of_bin = np.clip((s_sorted[starts] * ECE_BINS).astype(np.int64), 0, ECE_BINS - 1)
    return bins, ece_of_bin


def _binned_auc(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """AUC from per-bin positive/negative counts along the last axis (a bin's rows tie)."""
    cum_neg = np.cumsum(neg, axis=-1) - neg
    num = np.sum(pos * (cum_neg + 0.5 * neg), axis=-1)
    P = pos.sum(axis=-1)
    N = neg.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((P > 0) & (N > 0), num / np.where(P * N > 0, P * N, 1.0), np.nan)


def seed_for(seed: int, label: str) -> np.random.SeedSequence:
    """A seed stream for one named computation (stable across runs and platforms)."""
    return np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(label.encode())])


class _ToGroups:
    """Sums over the atoms of each group: the atoms sorted by group once, then one
    ``np.add.reduceat`` per call — linear in the atoms, whatever the number of groups (a dense
    one-hot would be atoms × groups), and no SciPy import on this path."""

    def __init__(self, atom_to_group: np.ndarray, n_groups: int) -> None:
        a2g = np.asarray(atom_to_group, dtype=np.int64)
        self.n_groups = n_groups
        self.order = np.argsort(a2g, kind="stable")  # within a group, atoms in index order
        sizes = np.bincount(a2g, minlength=n_groups)
        self.nonempty = np.flatnonzero(sizes)
        self.starts = (np.cumsum(sizes) - sizes)[self.nonempty]

    def __call__(self, x: np.ndarray, axis: int) -> np.ndarray:
        x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, 0)
        out = np.zeros((self.n_groups,) + x.shape[1:])
        if len(self.starts):
            out[self.nonempty] = np.add.reduceat(x[self.order], self.starts, axis=0)
        return np.moveaxis(out, 0, axis)


def _dense_codes(x: np.ndarray) -> tuple[np.ndarray, int]:
    """(codes 0..k-1 in the sorted order of the values, k), as ``np.unique(x,
    return_inverse=True)`` — by a bincount where ``x`` is already small non-negative integers
    (the data's cluster codes), without sorting a million values."""
    x = np.asarray(x)
    if x.dtype.kind in "iu" and len(x) and x.min() >= 0 and x.max() < max(4 * len(x), 1 << 16):
        present = np.bincount(x) > 0
        renumber = np.cumsum(present) - 1
        return renumber[x], int(present.sum())
    codes, inv = np.unique(x, return_inverse=True)
    return inv.ravel(), len(codes)


def _sparse_sums(row: np.ndarray, col: np.ndarray, weights: np.ndarray | None, n_rows: int,
                 width: int):
    """The (n_rows × width) sparse matrix of ``weights`` (or counts) summed per (row, col).
    Where the dense table is small, one bincount builds it already sorted and without
    duplicates (SciPy's constructor would sort and merge a million entries)."""
    from scipy import sparse

    if n_rows * width <= 1 << 24:
        key = row.astype(np.int64) * width + col
        table = np.bincount(key, weights=weights, minlength=n_rows * width)
        at = np.flatnonzero(np.bincount(key, minlength=n_rows * width)) if weights is not None \
            else np.flatnonzero(table)
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(at // width, minlength=n_rows), out=indptr[1:])
        m = sparse.csr_matrix((table[at], at % width, indptr), shape=(n_rows, width))
        m.has_sorted_indices = True
        return m
    data = np.ones(len(col)) if weights is None else weights
    return sparse.csr_matrix((data, (row, col)), shape=(n_rows, width))


class _ClusterSizes:
    """How a rate's denominator is spread over the clusters, for the design effect a group's
    rate is expected to have: ``1 + (m̄ − 1)·ρ``, ``m̄ = Σ_c n_c² / Σ_c n_c`` the group's mean
    cluster size (as its rows see it) and ``ρ`` the intra-cluster correlation read from all
    rows' design effect (Kish). A group's own bootstrap design effect is noisy; it is shrunk
    towards this one by the group's effective number of clusters (``clusters``), which steadies
    it without charging a group spread thinly over many clusters the design effect of
    all rows (a rate on 30 people in 30 branches is not as clustered as one on 3,000)."""

    def __init__(self, count, n_atoms: int, k: int) -> None:
        cells = count.shape[1]
        cell = np.arange(cells)
        to_conf = _sparse_sums(cell, cell // k, None, cells, n_atoms * 4)
        self.conf = (count @ to_conf).tocsc()  # (clusters, atom × [tn fp fn tp])
        self.n_atoms = n_atoms

    def _sums(self, key: str, atom_to_group: np.ndarray, n_groups: int
              ) -> tuple[np.ndarray, np.ndarray]:
        """Per group, ``Σ_c n_c`` and ``Σ_c n_c²`` of the rate's denominator over the clusters."""
        if key == "f1":  # TP + (FP + FN) / 2: its rows are the TP, FP and FN ones
            den, weight = (1, 2, 3), np.array([0.0, 0.5, 0.5, 1.0])
        else:
            den, weight = KN_RATES[key][1], np.ones(4)
        atom = np.repeat(np.arange(self.n_atoms), len(den))
        col = atom * 4 + np.tile(den, self.n_atoms)
        to_group = _sparse_sums(col, np.asarray(atom_to_group)[atom],
                                np.tile(weight[list(den)], self.n_atoms), self.n_atoms * 4,
                                n_groups)
        d = self.conf @ to_group  # (clusters, groups)
        return (np.asarray(d.sum(axis=0)).ravel(),
                np.asarray(d.multiply(d).sum(axis=0)).ravel())

    def _mbar(self, key: str, atom_to_group: np.ndarray, n_groups: int) -> np.ndarray:
        total, squares = self._sums(key, atom_to_group, n_groups)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total > 0, squares / np.where(total > 0, total, 1), 1.0)

    def clusters(self, key: str, atom_to_group: np.ndarray, n_groups: int) -> np.ndarray:
        """Each group's effective number of clusters ``(Σ n_c)² / Σ n_c² = n / m̄`` (0 for an
        empty group): how far its own bootstrap design effect is trusted
        (:func:`fairsel.metrics.intervals.shrunk_design_effect`)."""
        total, squares = self._sums(key, atom_to_group, n_groups)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(squares > 0, total * total / np.where(squares > 0, squares, 1), 0.0)

    def icc(self, key: str, deff_all: float) -> float:
        """ρ of a rate from all rows' design effect: (deff − 1) / (m̄ − 1), in [0, 1]."""
        mbar = float(self._mbar(key, np.zeros(self.n_atoms, dtype=np.int64), 1)[0])
        if not np.isfinite(deff_all) or mbar <= 1.0:
            return 0.0
        return float(np.clip((deff_all - 1.0) / (mbar - 1.0), 0.0, 1.0))

    def expected_deff(self, key: str, atom_to_group: np.ndarray, n_groups: int,
                      rho: float) -> np.ndarray:
        """Each group's ``1 + (m̄ − 1)·ρ`` (1 for an empty group)."""
        return np.maximum(1.0 + (self._mbar(key, atom_to_group, n_groups) - 1.0) * rho, 1.0)


class _Bootstrap:
    """Replicates of cell counts: multinomial over rows, or cluster-weighted sums.

    Cells are (atom, outcome, decision, score bin), ``k`` score bins each nested in one of the
    calibration bins (``ece_of_bin``). A replicate gives every cell's count, and the two sums
    the score figures need at the resolution they read them: squared errors per atom (Brier)
    and scores per (atom, calibration bin) (calibration error).
    """

    def __init__(self, counts: np.ndarray, sums: np.ndarray, rng: np.random.Generator, *,
                 n_atoms: int, ece_of_bin: np.ndarray) -> None:
        """``counts`` (cells,) and ``sums`` (cells, 2): each cell's rows and sums of the
        squared errors and the scores (see :meth:`use_clusters` to resample whole
        clusters)."""
        self.rng = rng
        self.n_cells = len(counts)
        self.n_atoms, self.k = n_atoms, len(ece_of_bin)
        self.ece_of_bin = np.asarray(ece_of_bin)
        self.to_ece = _to_ece(self.ece_of_bin)
        self.counts = counts.astype(np.float64, copy=False)
        self.sums = sums
        self.n = int(self.counts.sum())
        self.clusters: int | None = None

    def use_clusters(self, matrices: ClusterCells) -> None:
        """Resample whole clusters, given each cluster's cell counts and sums (squared errors,
        scores). The sums are first added up to the resolution read — per atom, and per (atom,
        calibration bin) — a fraction of the cells, so of each replicate's products."""
        cell = np.arange(self.n_cells)
        atom = cell // (4 * self.k)
        to_atom = _sparse_sums(cell, atom, None, self.n_cells, self.n_atoms)
        to_ece = _sparse_sums(cell, atom * ECE_BINS + self.ece_of_bin[cell % self.k], None,
                              self.n_cells, self.n_atoms * ECE_BINS)
        se, s = matrices.values
        self.m_count = matrices.count
        self.m_se, self.m_s = (se @ to_atom).tocsr(), (s @ to_ece).tocsr()
        self.clusters = matrices.count.shape[0]

    def draw(self, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``b`` replicates of (cell counts (b, cells), squared-error sums per atom
        (b, atoms), score sums per atom and calibration bin (b, atoms, calibration bins)).

        Row bootstrap: a multinomial draw of the cells, each drawn row carrying its cell's mean
        values. Cluster bootstrap: clusters drawn with replacement, their exact sums added.
        """
        a, k = self.n_atoms, self.k
        if self.clusters is None:
            p = self.counts / max(self.n, 1)
            draws = self.rng.multinomial(self.n, p, size=b).astype(np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                mean = np.where(self.counts[:, None] > 0,
                                self.sums / np.maximum(self.counts, 1)[:, None], 0.0)
            se_atoms = (draws * mean[:, 0]).reshape(b, a, 4 * k).sum(axis=-1)
            s_e = (draws * mean[:, 1]).reshape(b, a, 2, 2, k).sum(axis=(2, 3)) @ self.to_ece
            return draws, se_atoms, s_e
        nc = self.clusters
        wt = self.rng.multinomial(nc, np.full(nc, 1.0 / nc), size=b).astype(np.float64).T
        return ((self.m_count.T @ wt).T, (self.m_se.T @ wt).T,
                (self.m_s.T @ wt).T.reshape(b, a, ECE_BINS))


@dataclass(frozen=True)
class ClusterCells:
    """Each cluster's cell counts and cell sums (sparse, clusters × cells): the cluster
    bootstrap's input. Sums over row subsets add, so chunks of rows are merged by ``+``."""

    count: object  # scipy.sparse matrix (clusters, cells)
    values: tuple  # one matrix (clusters, cells) per summed row quantity


def cluster_cells(cluster: np.ndarray, n_clusters: int, cell: np.ndarray, n_cells: int,
                  values: np.ndarray) -> ClusterCells:
    """:class:`ClusterCells` of rows (cluster code, cell, ``values`` (rows, m))."""
    return ClusterCells(count=_sparse_sums(cluster, cell, None, n_clusters, n_cells),
                        values=tuple(_sparse_sums(cluster, cell, values[:, j], n_clusters,
                                                  n_cells) for j in range(values.shape[1])))


@dataclass(frozen=True)
class CellCounts:
    """The sufficient statistics of one variant: all the engine reads from its rows.

    Cells are (atom, y_true, y_pred, score bin), flattened in C order; score bins nest inside
    the calibration error's bins (``ece_of_bin``). Every field but the AUCs is a sum over
    rows, so the statistics of chunks of rows add up to those of the whole (which is how a
    dataset larger than memory is measured: :mod:`fairsel.metrics.cells`).
    """

    n_atoms: int
    ece_of_bin: np.ndarray  # (k,) calibration bin of each score bin
    cnt: np.ndarray  # (n_atoms * 4 * k,) rows per cell
    s_sum: np.ndarray  # sums of the scores per cell
    se_sum: np.ndarray  # sums of the squared errors (score - y_true)^2 per cell
    fold_conf: np.ndarray  # (n_folds, n_atoms, 4) confusion counts (tn, fp, fn, tp) per fold
    fold_brier: np.ndarray  # (n_folds,)
    fold_ece: np.ndarray  # (n_folds,)
    auc: float  # overall ROC AUC
    auc_groups: tuple  # per partition, (n_groups,) ROC AUC
    auc_folds: np.ndarray  # (n_folds,)
    clusters: ClusterCells | None = None  # with a cluster column: the cluster bootstrap's input

    @property
    def k(self) -> int:
        return len(self.ece_of_bin)


def fold_brier_ece(f_cnt: np.ndarray, f_s_sum: np.ndarray, f_se_sum: np.ndarray, n_atoms: int,
                   ece_of_bin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Brier score and calibration error of each fold from its cells (n_folds, cells)."""
    n_folds, k = len(f_cnt), len(ece_of_bin)
    to_ece = _to_ece(ece_of_bin)
    f_cells = f_cnt.reshape(n_folds, n_atoms, 2, 2, k)
    f_n = f_cnt.sum(axis=1)
    f_pos = f_cells[:, :, 1].sum(axis=(1, 2)) @ to_ece  # (fold, calibration bin)
    f_ssum = f_s_sum.reshape(n_folds, n_atoms * 4, k).sum(axis=1) @ to_ece
    with np.errstate(divide="ignore", invalid="ignore"):
        brier = np.where(f_n > 0, f_se_sum.sum(axis=1) / np.where(f_n > 0, f_n, 1), np.nan)
        ece = np.where(f_n > 0, np.abs(f_pos - f_ssum).sum(axis=1) / np.where(f_n > 0, f_n, 1),
                       np.nan)
    return brier, ece


def _to_ece(ece_of_bin: np.ndarray) -> np.ndarray:
    k = len(ece_of_bin)
    to_ece = np.zeros((k, ECE_BINS))
    to_ece[np.arange(k), ece_of_bin] = 1.0  # score bin -> calibration bin
    return to_ece


def evaluate_variant(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray, *,
                     atoms: np.ndarray, n_atoms: int, partitions: list[Partition],
                     folds: np.ndarray, n_folds: int, clusters: np.ndarray | None = None,
                     min_group_size: int = 30, confidence: Confidence = Confidence(),
                     seed: int = 0, label: str = "", probability: bool = True) -> VariantMetrics:
    """Pooled and per-fold metrics of one variant, with bootstrap intervals.

    Parameters
    ----------
    y_true, y_pred : 0/1 arrays (1 = favorable); y_score : float array (favorable probability)
    atoms : int array, the atom code of each row; n_atoms : number of atoms
    partitions : the attributes and intersections to audit, as coarsenings of the atoms
    folds : int array, the test fold of each row; n_folds : number of folds
    clusters : optional array of cluster ids; the bootstrap then resamples clusters
    min_group_size : a group rate whose denominator (rows, actual positives, actual negatives
        or predicted positives: :func:`fairsel.metrics.counts.rate_eligibility`) is smaller is
        reported, flagged in ``small_rates`` and left out of every disparity — pooled, per fold
        and in every bootstrap replicate (one mask per attribute and rate, from the counts)
    confidence : bootstrap settings (``method="none"`` for point estimates only)
    seed, label : the random stream is derived from both, so results are reproducible
    probability : whether the scores are probabilities; when not, Brier score and calibration
        error are undefined (None) everywhere
    """
    y_true = _small(y_true)
    y_pred = _small(y_pred)
    y_score = np.asarray(y_score, dtype=np.float64)
    atoms = np.asarray(atoms).astype(np.int64, copy=False)
    folds = np.asarray(folds)
    n = len(y_true)
    # only the atoms that occur matter (with many protected attributes most combinations are
    # empty): renumber them 0..k-1, and map each partition's groups from the renumbered atoms
    present = np.flatnonzero(np.bincount(atoms, minlength=n_atoms)) if n else np.zeros(0, np.int64)
    if len(present) < n_atoms:
        renumber = np.zeros(n_atoms, dtype=np.int64)
        renumber[present] = np.arange(len(present))
        atoms, n_atoms = renumber[atoms], len(present)
    a2g = [np.asarray(p.atom_to_group)[present] for p in partitions]

    # One sort per variant; from here on every row array is in score order: each AUC (overall,
    # per group, per fold) reads it, and the score bins are runs of it. The order of the rows
    # changes no count or sum, so nothing is scattered back.
    order, s_sorted = sort_scores(y_score)
    y_s, p_s = y_true[order], y_pred[order]
    atoms_s = _small(atoms)[order]
    folds_s = _small(folds)[order]
    ties = bool(n > 1 and np.any(s_sorted[1:] == s_sorted[:-1]))

    def auc(codes_sorted: np.ndarray | None, n_groups: int) -> np.ndarray:
        if codes_sorted is None:
            return roc_auc_presorted(y_s, s_sorted, np.zeros(0, np.int64), 1, ties=ties)
        return roc_auc_presorted(y_s, s_sorted, codes_sorted, n_groups, ties=ties)

    # Cells (fold, atom, outcome, decision, score bin): one bincount each of the rows, their
    # scores and squared errors gives every confusion count, Brier and calibration sum —
    # pooled, per group and per fold — and the cells the bootstrap resamples. Score bins nest
    # inside the calibration error's bins.
    # the same bins with and without intervals: the point estimates must not depend on it
    k = int(np.clip(8192 // max(n_atoms * 4, 1), 4, 64))
    bins_s, ece_of_bin = _score_bins(s_sorted, k)
    k = len(ece_of_bin)
    n_cells = n_atoms * 4 * k
    by_fold = n_folds * n_cells <= 1 << 22  # else per-fold figures take their own passes
    code = atoms_s.astype(np.int64)
    code *= 2
    code += y_s
    code *= 2
    code += p_s
    code *= k
    code += bins_s
    del bins_s
    if by_fold:
        code += folds_s.astype(np.int64) * n_cells
    size = n_folds * n_cells if by_fold else n_cells
    se = s_sorted - y_s
    np.square(se, out=se)
    cnt = np.bincount(code, minlength=size).astype(np.float64)
    s_sum = np.bincount(code, weights=s_sorted, minlength=size)
    se_sum = np.bincount(code, weights=se, minlength=size)
    if by_fold:
        f_cnt, f_s_sum, f_se_sum = (x.reshape(n_folds, n_cells) for x in (cnt, s_sum, se_sum))
        cnt, s_sum, se_sum = f_cnt.sum(axis=0), f_s_sum.sum(axis=0), f_se_sum.sum(axis=0)
        fold_conf = f_cnt.reshape(n_folds, n_atoms, 2, 2, k).sum(axis=-1).reshape(
            n_folds, n_atoms, 4)
        fold_brier, fold_ece = fold_brier_ece(f_cnt, f_s_sum, f_se_sum, n_atoms, ece_of_bin)
    else:
        fold_conf = confusion_counts(y_s, p_s, folds_s.astype(np.int64) * n_atoms + atoms_s,
                                     n_folds * n_atoms).reshape(n_folds, n_atoms, 4)
        fold_brier = brier_by_group(y_s, s_sorted, folds_s, n_folds)
        fold_ece = calibration_error_by_group(y_s, s_sorted, folds_s, n_folds)
    with_ci = confidence.method == "bootstrap" and confidence.resamples > 0 and n > 0
    by_cluster = None
    if with_ci and clusters is not None:
        inv, n_clusters = _dense_codes(np.asarray(clusters)[order])
        by_cluster = cluster_cells(inv, n_clusters, code % n_cells if by_fold else code,
                                   n_cells, np.column_stack([se, s_sorted]))
    cells = CellCounts(
        n_atoms=n_atoms, ece_of_bin=ece_of_bin, cnt=cnt, s_sum=s_sum, se_sum=se_sum,
        fold_conf=fold_conf, fold_brier=fold_brier, fold_ece=fold_ece, auc=auc(None, 1)[0],
        auc_groups=tuple(auc(_small(a2g[i])[atoms_s], part.n_groups)
                         for i, part in enumerate(partitions)),
        auc_folds=auc(folds_s, n_folds), clusters=by_cluster)
    return evaluate_cells(cells, partitions=partitions, a2g=a2g, min_group_size=min_group_size,
                          confidence=confidence, seed=seed, label=label, probability=probability)


def evaluate_cells(cells: CellCounts, *, partitions: list[Partition],
                   a2g: list[np.ndarray] | None = None, min_group_size: int = 30,
                   confidence: Confidence = Confidence(), seed: int = 0, label: str = "",
                   probability: bool = True) -> VariantMetrics:
    """Pooled and per-fold metrics of one variant from its cell counts (:class:`CellCounts`).

    Every figure but ROC AUC (given in ``cells``) follows from the counts and sums; the
    bootstrap resamples the cells (or, with ``cells.clusters``, whole clusters). ``a2g``: each
    partition's group of every atom of ``cells`` (default: ``partition.atom_to_group``). The
    other parameters are :func:`evaluate_variant`'s.
    """
    n_atoms, k = cells.n_atoms, cells.k
    cnt, s_sum, se_sum = cells.cnt, cells.s_sum, cells.se_sum
    n_folds = len(cells.fold_conf)
    if a2g is None:
        a2g = [np.asarray(p.atom_to_group) for p in partitions]
    aggs = [_ToGroups(a2g[i], p.n_groups) for i, p in enumerate(partitions)]
    agg_all = _ToGroups(np.zeros(n_atoms, dtype=np.int64), 1)
    n = int(round(float(cnt.sum())))
    with_ci = confidence.method == "bootstrap" and confidence.resamples > 0 and n > 0
    n_cells = n_atoms * 4 * k
    to_ece = _to_ece(cells.ece_of_bin)
    cells_4 = cnt.reshape(n_atoms, 2, 2, k)
    conf_atoms = cells_4.sum(axis=-1).reshape(n_atoms, 4)

    # ---------- pooled point estimates -----------------------------------------------
    overall_rates = rates_from_counts(conf_atoms.sum(axis=0))
    # Brier and calibration error add up over atoms: per-atom sums, groups sum atoms
    se_atom = se_sum.reshape(n_atoms, 4 * k).sum(axis=1)
    n_cal = cells_4.sum(axis=(1, 2)) @ to_ece  # (atom, calibration bin)
    y_cal = cells_4[:, 1].sum(axis=1) @ to_ece
    s_cal = s_sum.reshape(n_atoms, 2, 2, k).sum(axis=(1, 2)) @ to_ece

    def brier_ece(agg: _ToGroups) -> dict[str, np.ndarray]:
        n = agg(n_cal.sum(axis=1), 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return {"brier_score": np.where(n > 0, agg(se_atom, 0) / np.where(n > 0, n, 1), np.nan),
                    "calibration_error": np.where(
                        n > 0, np.abs(agg(y_cal, 0) - agg(s_cal, 0)).sum(axis=1)
                        / np.where(n > 0, n, 1), np.nan)}

    overall_scores = {"roc_auc": cells.auc,
                      **{k: v[0] for k, v in brier_ece(agg_all).items()}}
    part_counts, part_rates, part_scores, part_eligible, part_fair = [], [], [], [], []
    for i, part in enumerate(partitions):
        counts = aggs[i](conf_atoms, 0)  # (G, 4)
        rates = rates_from_counts(counts)
        scores = {
            "roc_auc": np.asarray(cells.auc_groups[i], dtype=np.float64),
            **brier_ece(aggs[i]),
        }
        eligible = rate_eligibility(counts, min_group_size)  # rate -> (G,) by its denominator
        fair = {m: disparity(rates, m, reference=part.reference, eligible=eligible)
                for m in FAIRNESS_NAMES}
        part_counts.append(counts)
        part_rates.append(rates)
        part_scores.append(scores)
        part_eligible.append(eligible)
        part_fair.append(fair)

    # ---------- bootstrap -----------------------------------------------------------------
    ci_overall: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    ci_group: list[dict[str, tuple[np.ndarray, np.ndarray]]] = [{} for _ in partitions]
    ci_fair: list[dict[str, tuple[np.ndarray, np.ndarray]]] = [{} for _ in partitions]
    ci_head: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if with_ci:
        rng = np.random.default_rng(seed_for(seed, "bootstrap:" + label))
        boot = _Bootstrap(cnt, np.stack([se_sum, s_sum], axis=-1), rng, n_atoms=n_atoms,
                          ece_of_bin=cells.ece_of_bin)
        if cells.clusters is not None:
            boot.use_clusters(cells.clusters)

        def ece_parts(pos_e: np.ndarray, s_e: np.ndarray, n_a: np.ndarray,
                      agg: _ToGroups) -> np.ndarray:
            """Calibration error per group from per-atom favorable counts and score sums in each
            calibration bin (b, atom, bin) and per-atom row counts (b, atom)."""
            pos = agg(pos_e, 1)
            ssum = agg(s_e, 1)
            n = agg(n_a, 1)
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(n > 0, np.abs(pos - ssum).sum(axis=-1) / np.where(n > 0, n, 1), np.nan)
        # binned AUC at the point estimate, to centre the binned replicates on the exact AUC
        pt = boot.counts.reshape(n_atoms, 2, 2, k)

        def auc_parts(pos_k: np.ndarray, neg_k: np.ndarray, agg: _ToGroups) -> np.ndarray:
            """Binned AUC per group from per-atom positive/negative counts per score bin."""
            return _binned_auc(agg(pos_k, -2), agg(neg_k, -2))

        pt_pos, pt_neg = pt[:, 1].sum(axis=1), pt[:, 0].sum(axis=1)
        shift_all = overall_scores["roc_auc"] - auc_parts(pt_pos, pt_neg, agg_all)[0]
        shifts = [part_scores[i]["roc_auc"] - auc_parts(pt_pos, pt_neg, aggs[i])
                  for i in range(len(partitions))]
        reps_overall: dict[str, list[np.ndarray]] = {}
        reps_group: list[dict[str, list[np.ndarray]]] = [{} for _ in partitions]
        total = confidence.resamples
        chunk = max(1, min(total, 2_000_000 // max(n_cells, 1)))
        done = 0
        while done < total:
            b = min(chunk, total - done)
            done += b
            draws, se_atoms, s_e = boot.draw(b)
            c4 = draws.reshape(b, n_atoms, 2, 2, k)
            conf = c4.sum(axis=-1).reshape(b, n_atoms, 4)
            # per-atom quantities every partition sums over (computed once per chunk)
            pos_k, neg_k = c4[:, :, 1].sum(axis=2), c4[:, :, 0].sum(axis=2)  # (b, atom, bin)
            pos_e = pos_k @ to_ece  # (b, atom, ece bin), like s_e
            n_a = conf.sum(axis=-1)  # (b, atom)
            r_all = rates_from_counts(conf.sum(axis=1))
            with np.errstate(divide="ignore", invalid="ignore"):
                r_all["brier_score"] = se_atoms.sum(axis=1) / r_all["n"]
            r_all["roc_auc"] = np.clip(auc_parts(pos_k, neg_k, agg_all)[:, 0] + shift_all, 0.0, 1.0)
            r_all["calibration_error"] = ece_parts(pos_e, s_e, n_a, agg_all)[:, 0]
            for key, val in r_all.items():
                reps_overall.setdefault(key, []).append(val)
            for i, part in enumerate(partitions):
                agg = aggs[i]
                counts = agg(conf, 1)
                rates = rates_from_counts(counts)
                with np.errstate(divide="ignore", invalid="ignore"):
                    rates["brier_score"] = agg(se_atoms, 1) / rates["n"]
                # shifted onto the exact AUC, a replicate must still lie in [0, 1]
                rates["roc_auc"] = np.clip(auc_parts(pos_k, neg_k, agg) + shifts[i], 0.0, 1.0)
                rates["calibration_error"] = ece_parts(pos_e, s_e, n_a, agg)
                for key, val in rates.items():
                    reps_group[i].setdefault(key, []).append(val)
        # intervals (fairsel/metrics/intervals.py): Wilson on the effective n for k/n rates,
        # signed group differences for disparities, bootstrap for the score figures
        level = confidence.level
        clustered = cells.clusters is not None
        ro = {key: np.concatenate(v) for key, v in reps_overall.items()}
        overall_value = {**overall_rates, **overall_scores}
        overall_conf = conf_atoms.sum(axis=0)
        o_bands = {}
        icc: dict[str, float] = {}
        sizes = _ClusterSizes(cells.clusters.count, n_atoms, k) if clustered else None
        for key in (*KN_RATES, "f1"):
            band = rate_band(overall_conf, key, level, reps=ro[key], clustered=clustered)
            o_bands[key] = band
            if sizes is not None:
                icc[key] = sizes.icc(key, float(np.ravel(
                    design_effect(band.value, band.n, ro[key]))[0]))
        for key in GROUP_RATES + SCORE_RATES:
            ci_overall[key] = ((o_bands[key].lo, o_bands[key].hi) if key in KN_RATES else
                               figure_interval(key, overall_value[key], ro[key], level, o_bands))
        pairs_by: dict[str, list[Pairs]] = {m: [] for m in FAIRNESS_NAMES}
        for i, part in enumerate(partitions):
            rg = {key: np.concatenate(v) for key, v in reps_group[i].items()}
            bands = {key: rate_band(part_counts[i], key, level, reps=rg[key], clustered=clustered,
                                    fallback_deff=1.0 if sizes is None else
                                    sizes.expected_deff(key, a2g[i], part.n_groups, icc[key]),
                                    clusters=np.inf if sizes is None else
                                    sizes.clusters(key, a2g[i], part.n_groups))
                     for key in (*KN_RATES, "f1")}
            value = {**part_rates[i], **part_scores[i]}
            for key in GROUP_RATES + SCORE_RATES:
                ci_group[i][key] = ((bands[key].lo, bands[key].hi) if key in KN_RATES else
                                    figure_interval(key, value[key], rg[key], level, bands))
            for m in FAIRNESS_NAMES:
                spec = FAIRNESS_METRICS[m]
                pairs = disparity_pairs(bands, spec.rates, spec.kind,
                                        reference=part.reference, eligible=part_eligible[i])
                ci_fair[i][m] = disparity_interval(pairs, spec.kind, part_fair[i][m], level)
                if pairs is not None and np.isfinite(part_fair[i][m]):
                    pairs_by[m].append(pairs)
        head_value: dict[str, float] = {}
        from fairsel.metrics.catalog import METRICS

        for m in FAIRNESS_NAMES:
            vals = np.array([part_fair[i][m] for i in range(len(partitions))], dtype=float)
            if np.isfinite(vals).any():
                hib = METRICS.get(m).higher_is_better
                head_value[m] = float(np.nanmin(vals) if hib else np.nanmax(vals))
                finite = [i for i in range(len(partitions)) if np.isfinite(vals[i])]
                ci_head[m] = (ci_fair[finite[0]][m] if len(finite) == 1 else  # the same figure
                              disparity_interval(Pairs.concat(pairs_by[m]),
                                                 FAIRNESS_METRICS[m].kind, head_value[m], level))

    # ---------- assemble pooled results -----------------------------------------------------
    no_prob = set() if probability else set(PROBABILITY_ONLY)

    def overall_est(name: str) -> Estimate:
        key = PERFORMANCE_RATE.get(name, name)
        if key in no_prob:
            return _est(np.nan)
        value = overall_scores[key] if key in overall_scores else overall_rates[key]
        lo_hi = ci_overall.get(key)
        if lo_hi is None:
            return _est(value)
        return _est(value, lo_hi[0], lo_hi[1], with_ci=True)

    from fairsel.metrics.catalog import METRICS, PERFORMANCE_NAMES

    performance = {name: overall_est(name) for name in PERFORMANCE_NAMES}
    attributes: list[AttributeMetrics] = []
    for i, part in enumerate(partitions):
        counts, rates, scores = part_counts[i], part_rates[i], part_scores[i]
        # plain Python lists, read once per group below
        fractions = {r: list(zip(np.rint(k_).astype(np.int64).tolist(),
                                 np.rint(d_).astype(np.int64).tolist()))
                     for r, (k_, d_) in rate_fractions(counts).items()}
        small = {r: (~part_eligible[i][r]).tolist() for r in GROUP_RATES + SCORE_RATES
                 if r not in no_prob}
        groups = []
        for g, label_g in enumerate(part.labels):
            tn, fp, fn, tp = (int(round(x)) for x in counts[g])
            n = tn + fp + fn + tp
            flags = []
            if n == 0:
                flags.append("empty")
            elif n < min_group_size:
                flags.append("small")
            if n and tp + fn == 0:
                flags.append("no_favorable_outcome")
            if n and tn + fp == 0:
                flags.append("no_unfavorable_outcome")
            if part.is_missing(g):
                flags.append("unknown")
            group_rates: dict[str, Estimate] = {}
            for key in GROUP_RATES + SCORE_RATES:
                if key in no_prob:
                    group_rates[key] = _est(np.nan)
                    continue
                value = rates[key][g] if key in rates else scores[key][g]
                lo_hi = ci_group[i].get(key)
                group_rates[key] = (_est(value, lo_hi[0][g], lo_hi[1][g], with_ci=True)
                                    if lo_hi is not None else _est(value))
            groups.append(GroupRow(
                group=label_g, n=n, tp=tp, fp=fp, tn=tn, fn=fn, flags=flags, rates=group_rates,
                fractions={r: fr[g] for r, fr in fractions.items()},
                small_rates=[r for r, flag in small.items() if flag[g]]))
        fairness = {}
        for m in FAIRNESS_NAMES:
            lo_hi = ci_fair[i].get(m)
            fairness[m] = (_est(part_fair[i][m], lo_hi[0], lo_hi[1], with_ci=True)
                           if lo_hi is not None else _est(part_fair[i][m]))
        attributes.append(AttributeMetrics(
            attribute=part.name, columns=list(part.columns), kind=part.kind,  # type: ignore[arg-type]
            reference=part.labels[part.reference] if part.reference is not None else None,
            reference_rule="declared" if part.reference is not None else "fairlearn_min_max",
            groups=groups,
            eligible_groups=[lab for lab, ok in zip(part.labels,
                                                    part_eligible[i]["selection_rate"]) if ok],
            fairness=fairness))

    fairness_head: dict[str, Headline] = {}
    for m in FAIRNESS_NAMES:
        hib = METRICS.get(m).higher_is_better
        vals = np.array([part_fair[i][m] for i in range(len(partitions))], dtype=float)
        worst_attr = None
        value = np.nan
        if np.isfinite(vals).any():
            j = int(np.nanargmin(vals) if hib else np.nanargmax(vals))
            worst_attr, value = partitions[j].name, vals[j]
        lo_hi = ci_head.get(m)
        fairness_head[m] = Headline(
            value=_f(value),
            ci=(_f(lo_hi[0]), _f(lo_hi[1])) if lo_hi is not None else None,
            attribute=worst_attr,
            by_attribute={a.attribute: a.fairness[m] for a in attributes})

    # ---------- per fold -------------------------------------------------------------------
    fold_conf, fold_brier, fold_ece = cells.fold_conf, cells.fold_brier, cells.fold_ece
    fold_rates = rates_from_counts(fold_conf.sum(axis=1))
    fold_auc = cells.auc_folds
    # Each fold's figure is computed on the pooled figure's groups (the pooled eligibility
    # mask, broadcast over folds), so that the pooled value and its per-fold spread describe
    # the same comparison; a group whose count in a fold is below min_group_size is kept and
    # marked in that fold's small_cells (left out only where the fold has none of it).
    fold_fair: list[dict[str, np.ndarray]] = []
    fold_small: list[dict[str, np.ndarray]] = []
    for i, part in enumerate(partitions):
        counts = aggs[i](fold_conf, 1)  # (n_folds, G, 4)
        rates = rates_from_counts(counts)
        fold_fair.append({m: disparity(rates, m, reference=part.reference,
                                       eligible=part_eligible[i]) for m in FAIRNESS_NAMES})
        den = rate_denominators(counts)
        fold_small.append({r: part_eligible[i][r] & (den[r] < min_group_size)
                           for r in FAIRNESS_RATES})
    fold_results = []
    for f in range(n_folds):
        perf: dict[str, float | None] = {}
        for name in PERFORMANCE_NAMES:
            key = PERFORMANCE_RATE.get(name, name)
            src = {"roc_auc": fold_auc, "brier_score": fold_brier,
                   "calibration_error": fold_ece}.get(key)
            perf[name] = (None if key in no_prob else
                          _f(src[f] if src is not None else fold_rates[key][f]))
        fair = {m: {part.name: _f(fold_fair[i][m][f]) for i, part in enumerate(partitions)}
                for m in FAIRNESS_NAMES}
        small_cells: dict[str, dict[str, list[str]]] = {}
        for r in FAIRNESS_RATES:
            for i, part in enumerate(partitions):
                marked = np.flatnonzero(fold_small[i][r][f])
                if len(marked):
                    small_cells.setdefault(r, {})[part.name] = [part.labels[g] for g in marked]
        fold_results.append(FoldMetrics(fold=f, n=int(fold_rates["n"][f]), performance=perf,
                                        fairness=fair, small_cells=small_cells))
    return VariantMetrics(performance=performance, fairness=fairness_head,
                          attributes=attributes, folds=fold_results)
