"""A variant's cell counts (:class:`~fairsel.metrics.engine.CellCounts`) summed a chunk of rows
at a time, for data larger than memory.

Every count and sum the engine reads is a sum over rows, so the chunks' sums add up to the
whole table's: confusion counts, rates, disparities, gates and significance come out exactly as
from the whole table. The only figures that are not sums are the ROC AUCs:

* **exact** while the rows seen fit under ``exact_rows`` (their scores, outcomes, groups and
  folds are kept, and sorted once at the end, as the engine does);
* past that, from a **score histogram** of ``fine_bins`` equal-width bins per (group, outcome):
  AUC = Σ_b pos_b (neg_<b + ½ neg_b) / (P N), which counts the positive–negative pairs that fall
  in one bin as ties. Its largest possible error is ½ Σ_b pos_b neg_b / (P N) over the bins
  that hold two different scores (the pairs that share such a bin, each off by at most ½; in a
  bin of one score they are true ties, counted exactly), computed from the same histogram and
  reported.

Intervals: the engine's bootstrap draws whole-table replicates as a multinomial over the cells
(each row drawn with probability 1/n, n times) — the row bootstrap itself, since every figure is
a function of the cell counts — so the merged cells give the same bootstrap as the whole table,
with no per-row random draw and nothing that depends on the chunk size. With a cluster column,
each cluster's cell counts are summed over the chunks (sparse, clusters × cells) and the
engine resamples whole clusters from them.

Score bins: on [0, 1] (scores that are probabilities) the bins are ``floor(s · fine_bins)``;
``fine_bins`` is a multiple of 10 · 2^j, so that each bin lies inside one of the calibration
error's ten bins (``floor(s · 10)``: scaling by a power of two is exact in floating point).
Other scores are binned on [lo, hi], their range (from the Parquet statistics).
"""

from __future__ import annotations

import numpy as np

from fairsel.metrics.engine import ECE_BINS, CellCounts, ClusterCells, _binned_auc, fold_brier_ece
from fairsel.metrics.scores import roc_auc_presorted, sort_scores
from fairsel.partition import Partition

#: Bins of the score histogram ROC AUC falls back to (10 · 2^14: nested in calibration bins).
FINE_BINS = 10 * 2 ** 14
#: Score bins of the engine's cells (10 · 2^2, so that FINE_BINS // COARSE_BINS bins nest).
COARSE_BINS = 40
#: Up to this many rows, ROC AUC is exact (their scores, outcomes, groups and folds are kept,
#: 14 bytes a row, then sorted once: about 1.5 GB at the peak for 10,000,000 rows).
EXACT_AUC_ROWS = 10_000_000


def _grow(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` with zeros appended along axis 0 up to ``n`` entries."""
    if len(a) >= n:
        return a
    return np.concatenate([a, np.zeros((n - len(a),) + a.shape[1:], dtype=a.dtype)])


class CellAccumulator:
    """Sums one variant's cells over chunks of rows; :meth:`finish` gives its ``CellCounts``.

    Rows are identified by a *key* (their combination of protected groups, numbered as the
    chunks meet them) that :meth:`finish` maps to the engine's atoms.
    """

    def __init__(self, *, n_folds: int, lo: float, hi: float, clustered: bool = False,
                 exact_rows: int = EXACT_AUC_ROWS, fine_bins: int = FINE_BINS,
                 coarse_bins: int = COARSE_BINS) -> None:
        assert fine_bins % coarse_bins == 0 and coarse_bins % ECE_BINS == 0
        self.n_folds, self.K, self.k = n_folds, fine_bins, coarse_bins
        self.unit = lo >= 0.0 and hi <= 1.0
        self.lo, self.hi = (0.0, 1.0) if self.unit else (float(lo), float(hi))
        self.exact_rows = exact_rows
        self.kept: list[tuple[np.ndarray, ...]] | None = []
        self.n_rows = 0
        k4 = 4 * coarse_bins
        self.cnt = np.zeros((0, n_folds, k4))
        self.s_sum = np.zeros((0, n_folds, k4))
        self.se_sum = np.zeros((0, n_folds, k4))
        self.hist = np.zeros((0, 2, fine_bins), dtype=np.int64)  # (key, outcome, bin)
        self.fold_hist = np.zeros((n_folds, 2, fine_bins), dtype=np.int64)
        self.clustered = clustered
        # a score seen in each bin, and whether a bin holds two different scores: the pairs
        # of a bin that holds one score are exact ties, counted exactly (half)
        self.bin_score = np.full(fine_bins, np.nan)
        self.mixed = np.zeros(fine_bins, dtype=bool)
        self.by_cluster: list[tuple[np.ndarray, object, tuple]] = []

    def bins(self, score: np.ndarray) -> np.ndarray:
        """The fine histogram bin of each score."""
        K = self.K
        if self.unit:
            b = (score * K).astype(np.int64)
        else:
            width = self.hi - self.lo
            b = ((score - self.lo) * (K / width)).astype(np.int64) if width > 0 else \
                np.zeros(len(score), dtype=np.int64)
        np.clip(b, 0, K - 1, out=b)
        return b

    def ece_of_bin(self) -> np.ndarray:
        """The calibration bin of each coarse bin (on [0, 1] the one it nests in; otherwise
        that of its lower edge, for scores that are not probabilities)."""
        if self.unit:
            return np.arange(self.k) // (self.k // ECE_BINS)
        edges = self.lo + (self.hi - self.lo) * np.arange(self.k) / self.k
        return np.clip((edges * ECE_BINS).astype(np.int64), 0, ECE_BINS - 1)

    def add(self, keys: np.ndarray, y: np.ndarray, pred: np.ndarray, score: np.ndarray,
            folds: np.ndarray, n_keys: int, clusters: np.ndarray | None = None) -> None:
        """Add a chunk's rows: ``keys`` < ``n_keys``, ``y`` and ``pred`` 0/1, ``folds``."""
        K, k, F = self.K, self.k, self.n_folds
        keys = np.asarray(keys, dtype=np.int64)
        y = np.asarray(y, dtype=np.int64)
        fine = self.bins(score)
        coarse = fine // (K // k)
        cell = ((keys * 2 + y) * 2 + pred) * k + coarse  # (key, outcome, decision, bin)
        code = (keys * F + folds) * (4 * k) + cell % (4 * k)
        size = n_keys * F * 4 * k
        se = (score - y) ** 2
        shape = (n_keys, F, 4 * k)
        for name, w in (("cnt", None), ("s_sum", score), ("se_sum", se)):
            total = _grow(getattr(self, name), n_keys)
            total += np.bincount(code, weights=w, minlength=size).reshape(shape)
            setattr(self, name, total)
        self.hist = _grow(self.hist, n_keys)
        self.hist += np.bincount((keys * 2 + y) * K + fine, minlength=n_keys * 2 * K
                                 ).reshape(n_keys, 2, K)
        self.fold_hist += np.bincount((folds * 2 + y) * K + fine, minlength=F * 2 * K
                                      ).reshape(F, 2, K)
        unseen = np.isnan(self.bin_score)
        self.bin_score[fine] = np.where(unseen[fine], score, self.bin_score[fine])
        self.mixed[fine[score != self.bin_score[fine]]] = True
        if clusters is not None:
            import pandas as pd

            from fairsel.metrics.engine import cluster_cells

            local, uniques = pd.factorize(clusters)
            m = cluster_cells(local, len(uniques), cell, n_keys * 4 * k,
                              np.column_stack([se, score]))
            self.by_cluster.append((np.asarray(uniques), m.count.tocoo(),
                                    tuple(v.tocoo() for v in m.values)))
        self.n_rows += len(keys)
        if self.kept is not None:
            if self.n_rows > self.exact_rows:
                self.kept = None  # too many to keep: ROC AUC from the histogram
            else:
                self.kept.append((np.array(score, dtype=np.float64), y.astype(np.int8),
                                  keys.astype(np.int32), np.asarray(folds, dtype=np.int16)))

    def merge(self, other: CellAccumulator, key_map: np.ndarray) -> None:
        """Add another accumulator's sums (of other rows); ``key_map``: the key here of each of
        ``other``'s keys (:meth:`fairsel.data.ChunkedTable.merge`)."""
        key_map = np.asarray(key_map, dtype=np.int64)
        n = int(key_map.max()) + 1 if len(key_map) else 0
        for name in ("cnt", "s_sum", "se_sum", "hist"):
            total = _grow(getattr(self, name), n)
            part = getattr(other, name)
            total[key_map[:len(part)]] += part  # distinct keys: no index repeats
            setattr(self, name, total)
        self.fold_hist += other.fold_hist
        seen, seen_other = ~np.isnan(self.bin_score), ~np.isnan(other.bin_score)
        self.mixed |= other.mixed | (seen & seen_other & (self.bin_score != other.bin_score))
        self.bin_score = np.where(seen, self.bin_score, other.bin_score)
        k4 = 4 * self.k
        for uniques, count, values in other.by_cluster:
            def moved(m):
                from scipy import sparse

                return sparse.coo_matrix((m.data, (m.row, key_map[m.col // k4] * k4 + m.col % k4)),
                                         shape=(m.shape[0], (n if n else 1) * k4))
            self.by_cluster.append((uniques, moved(count), tuple(moved(v) for v in values)))
        self.n_rows += other.n_rows
        if self.kept is None or other.kept is None or self.n_rows > self.exact_rows:
            self.kept = None
        else:
            self.kept += [(s, y, key_map[keys].astype(np.int32), f) for s, y, keys, f in other.kept]

    def finish(self, key_atom: np.ndarray, partitions: list[Partition]
               ) -> tuple[CellCounts, list[np.ndarray], float | None]:
        """``(cells, a2g, auc_max_error)``: the cells over the atoms that occur, each partition's
        group of those atoms, and the largest error of any ROC AUC (None when exact)."""
        key_atom = np.asarray(key_atom, dtype=np.int64)
        n_keys = len(key_atom)
        present, key_new = np.unique(key_atom, return_inverse=True)
        key_new = key_new.ravel()
        n_atoms = len(present)
        a2g = [np.asarray(p.atom_to_group)[present] for p in partitions]
        F, k = self.n_folds, self.k

        def to_atoms(a: np.ndarray) -> np.ndarray:
            a = _grow(a, n_keys)[:n_keys]
            out = np.zeros((n_atoms,) + a.shape[1:], dtype=a.dtype)
            np.add.at(out, key_new, a)
            return out

        f_cnt, f_s, f_se = (to_atoms(a).transpose(1, 0, 2).reshape(F, n_atoms * 4 * k)
                            for a in (self.cnt, self.s_sum, self.se_sum))
        ece_of_bin = self.ece_of_bin()
        fold_brier, fold_ece = fold_brier_ece(f_cnt, f_s, f_se, n_atoms, ece_of_bin)
        fold_conf = f_cnt.reshape(F, n_atoms, 2, 2, k).sum(axis=-1).reshape(F, n_atoms, 4)
        error: float | None = None
        if self.kept is not None:
            auc, auc_groups, auc_folds = self._exact_auc(key_new, a2g, partitions)
        else:
            hist = to_atoms(self.hist).astype(np.float64)
            bounds = []

            def binned(h: np.ndarray) -> np.ndarray:  # (..., 2, K) -> AUC (...)
                pos, neg = h[..., 1, :], h[..., 0, :]
                P, N = pos.sum(axis=-1), neg.sum(axis=-1)
                with np.errstate(divide="ignore", invalid="ignore"):
                    bound = 0.5 * (pos * neg)[..., self.mixed].sum(axis=-1) / (P * N)
                bounds.append(np.atleast_1d(bound))
                return _binned_auc(pos, neg)

            auc = float(binned(hist.sum(axis=0)))
            auc_groups = []
            for i, p in enumerate(partitions):
                g = np.zeros((p.n_groups, 2, self.K))
                np.add.at(g, a2g[i], hist)
                auc_groups.append(binned(g))
            auc_folds = binned(self.fold_hist.astype(np.float64))
            finite = np.concatenate(bounds)
            finite = finite[np.isfinite(finite)]
            error = float(finite.max()) if len(finite) else 0.0
        clusters = self._clusters(key_new, n_atoms) if self.clustered else None
        cells = CellCounts(
            n_atoms=n_atoms, ece_of_bin=ece_of_bin, cnt=f_cnt.sum(axis=0), s_sum=f_s.sum(axis=0),
            se_sum=f_se.sum(axis=0), fold_conf=fold_conf, fold_brier=fold_brier,
            fold_ece=fold_ece, auc=auc, auc_groups=tuple(auc_groups), auc_folds=auc_folds,
            clusters=clusters)
        return cells, a2g, error

    def _exact_auc(self, key_new: np.ndarray, a2g: list[np.ndarray],
                   partitions: list[Partition]):
        """Exact ROC AUCs (overall, per group, per fold) from the kept rows: one sort."""
        assert self.kept is not None
        s, y, keys, folds = (np.concatenate([c[j] for c in self.kept]) if self.kept else
                             np.zeros(0, dtype=np.int64) for j in range(4))
        self.kept = []  # the copies above are all that is needed
        order, s_sorted = sort_scores(s)
        y_s = y[order].astype(np.int8)
        atoms_s = key_new[keys[order].astype(np.int64)]
        ties = bool(len(s) > 1 and np.any(s_sorted[1:] == s_sorted[:-1]))
        auc = float(roc_auc_presorted(y_s, s_sorted, np.zeros(0, np.int64), 1, ties=ties)[0])
        groups = [roc_auc_presorted(y_s, s_sorted, a2g[i][atoms_s], p.n_groups, ties=ties)
                  for i, p in enumerate(partitions)]
        by_fold = roc_auc_presorted(y_s, s_sorted, folds[order].astype(np.int64), self.n_folds,
                                    ties=ties)
        return auc, groups, by_fold

    def _clusters(self, key_new: np.ndarray, n_atoms: int) -> ClusterCells:
        """Each cluster's cells over the atoms, summed over the chunks."""
        from scipy import sparse

        k4 = 4 * self.k
        hashes = np.concatenate([u for u, _, _ in self.by_cluster])
        codes, inverse = np.unique(hashes, return_inverse=True)
        inverse = inverse.ravel()
        offsets = np.cumsum([0] + [len(u) for u, _, _ in self.by_cluster])

        def merged(j: int):
            rows, cols, vals = [], [], []
            for c, (_, count, values) in enumerate(self.by_cluster):
                m = count if j < 0 else values[j]
                rows.append(inverse[offsets[c] + m.row])
                cols.append(key_new[m.col // k4] * k4 + m.col % k4)
                vals.append(m.data)
            return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                             np.concatenate(cols))),
                                     shape=(len(codes), n_atoms * k4))

        return ClusterCells(count=merged(-1), values=(merged(0), merged(1)))
