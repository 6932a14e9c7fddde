"""Worst-slice discovery: where, beyond the declared groups, a model fails.

A *slice* is a conjunction of up to ``depth`` conditions, each a category of a categorical
feature, a quantile bin of a numeric one (missing values a level of their own) or a group of
a protected attribute: ``purpose = business ∧ 25 ≤ age < 32``. Every slice with at least
``min_rows`` rows is compared with the rest of the data, for each rate of ``metrics``:

- ``error_rate`` (fp + fn) / n, ``fnr`` fn / (tp + fn), ``fpr`` fp / (fp + tn), and
  ``selection_rate`` (tp + fp) / n, from the slice's confusion counts and the rest's (the
  totals minus the slice's);
- the difference slice − rest, with Newcombe's hybrid score interval (from the two Wilson
  intervals), and a two-proportion test (:func:`fairsel.metrics.significance.
  two_proportion_pvalues`: the pooled z-test, Fisher's exact test for small expected counts);
- Benjamini–Hochberg over every test of the variant (every slice × metric), whose count is
  reported.

The slices worse than the rest (a higher error rate, FNR or FPR; a lower selection rate) whose
adjusted p is at most ``alpha`` are ordered by their effect size taken conservatively: the
bound of the difference's interval nearest zero (the smallest detriment the data support), so
that a small slice's noisy difference does not outrank a large slice's sure one (ties: the
larger difference, then the smaller adjusted p). The first ``top`` of each metric are kept,
with the rows of each protected group inside them.

Everything comes from counts. Each variant's decision and the label make a joint state per
row (``y·2^V + Σ pred_v·2^v`` for V variants analysed together), and each column (depth 1),
pair (depth 2) or triple (depth 3) of columns costs ONE ``np.bincount`` of
``level_code · S + state`` over the rows, for every variant at once; the (level, state)
table is then folded into each variant's ``[tn, fp, fn, tp]`` by a small matrix product.
No group-by, no pass per slice. A conjunction with exactly as many rows as one of its parts
has the same rows (it is a subset of that part), and is dropped as a duplicate.

Compared with other tools: AIF360's MDSS subset scan searches for the subset with the most
anomalous *score* bias by an iterative likelihood-ratio scan (one subset, not a ranked list
with intervals); the Responsible AI toolbox's error analysis grows a decision tree on the
error indicator (paths are conjunctions too, but chosen greedily and without a test per
node); Deepchecks' weak segments check fits small trees on pairs of features and reports the
segments of lowest score, without multiple-testing control. Here every conjunction up to the
depth is enumerated exhaustively and tested, and the false discovery rate is controlled.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from fairsel.analysis.features import FeatureCodes, categorical_codes
from fairsel.analysis.proxies import quantile_bins
from fairsel.metrics.intervals import KN_RATES, wilson
from fairsel.metrics.significance import adjust_pvalues, two_proportion_pvalues
from fairsel.results import Slice, SliceAnalysis, SliceCondition, VariantSlices

#: The rates a slice is compared on: name -> (numerator cells, denominator cells) of
#: [tn, fp, fn, tp], and whether a HIGHER rate is the slice's detriment.
SLICE_METRICS: dict[str, tuple[tuple[int, ...], tuple[int, ...], bool]] = {
    "error_rate": ((1, 2), (0, 1, 2, 3), True),
    **{m: (*KN_RATES[m], m != "selection_rate") for m in ("fnr", "fpr", "selection_rate")},
}
#: The most variants analysed in one pass (the joint state has 2^(V+1) values).
MAX_JOINT = 4


@dataclass(frozen=True)
class Column:
    """One searched column: each row's level code, and each level's condition."""

    name: str
    codes: np.ndarray
    conditions: tuple[SliceCondition, ...]
    #: the code of the levels pooled by :func:`pool_rare` (never a condition of a slice)
    rare: int | None = None

    @property
    def levels(self) -> int:
        return len(self.conditions) + (self.rare is not None)


def pool_rare(col: Column, floor: int) -> Column:
    """``col`` with its levels of fewer than ``floor`` rows pooled into one code that no slice
    uses: no slice can hold them (a conjunction has at most its parts' rows), and a column of
    thousands of categories keeps at most ``rows / floor`` levels, so a pair's table stays
    small."""
    counts = np.bincount(col.codes, minlength=len(col.conditions))
    keep = counts >= floor
    if keep.all():
        return col
    new = np.full(len(counts), int(keep.sum()), dtype=np.int64)
    new[keep] = np.arange(int(keep.sum()))
    return Column(col.name, new[col.codes], tuple(c for c, k in zip(col.conditions, keep) if k),
                  rare=int(keep.sum()))


def _num(x: float, digits: int = 4) -> str:
    """A bin edge as a reader writes it: ``digits`` significant digits in plain decimals,
    never an exponent (31030, 0.25, 0.0001235; not 3.103e+04)."""
    if not math.isfinite(x):
        return f"{x:g}"
    text = format(Decimal(f"{x:.{digits}g}"), "f")
    return "0" if text in ("-0", "0") else text


def _edge_digits(edges: list[float]) -> int:
    """The fewest significant digits (4 or more) at which no two distinct edges read alike."""
    distinct = sorted(set(edges))
    digits = 4
    while digits < 15 and len({_num(e, digits) for e in distinct}) < len(distinct):
        digits += 1
    return digits


def encode_column(x: pd.Series, *, name: str, categorical: bool, bins: int,
                  codes_of: FeatureCodes | None = None) -> Column:
    """A feature as level codes with their conditions (categories, or quantile bins; missing
    values a level of their own). ``codes_of``: the audit's factorized categoricals."""
    if categorical:
        codes, uniques = categorical_codes(x, codes_of, name)
        k = len(uniques)
        conds = [SliceCondition(feature=name, kind="categorical", value=str(u),
                                text=f"{name} = {u}") for u in uniques]
        if (codes < 0).any():
            codes = np.where(codes < 0, k, codes)
            conds.append(SliceCondition(feature=name, kind="categorical", missing=True,
                                        text=f"{name} missing"))
        return Column(name, codes.astype(np.int64), tuple(conds))
    v = np.asarray(x, dtype=np.float64)
    codes, k, edges = quantile_bins(v, bins)
    conds = []
    if not np.isnan(v).all():
        bounds = [None, *(float(e) for e in edges), None]
        d = _edge_digits([float(e) for e in edges])
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            text = (f"{name} (any value)" if lo is None and hi is None
                    else f"{name} < {_num(hi, d)}" if lo is None
                    else f"{name} ≥ {_num(lo, d)}" if hi is None
                    else f"{_num(lo, d)} ≤ {name} < {_num(hi, d)}")
            conds.append(SliceCondition(feature=name, kind="numeric", low=lo, high=hi,
                                        text=text))
    if len(conds) < k:  # missing values (or an all-missing column)
        conds.append(SliceCondition(feature=name, kind="numeric", missing=True,
                                    text=f"{name} missing"))
    return Column(name, codes, tuple(conds))


def protected_column(name: str, codes: np.ndarray, labels: Sequence[str]) -> Column:
    """A protected attribute's groups as a searched column."""
    conds = tuple(SliceCondition(feature=name, kind="protected", value=str(lab),
                                 text=f"{name} = {lab}") for lab in labels)
    return Column(name, np.asarray(codes, dtype=np.int64), conds)


def joint_states(y_true: np.ndarray, preds: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(each row's joint state, the (S, V, 4) matrix folding states into confusion cells).

    The state of a row is ``y·2^V + Σ_v pred_v·2^v``; ``fold[s, v]`` is the one-hot
    ``[tn, fp, fn, tp]`` cell of variant v in state s.
    """
    n_var = len(preds)
    state = np.asarray(y_true, dtype=np.intp) << n_var
    for v, p in enumerate(preds):
        state += np.asarray(p, dtype=np.intp) << v
    s = np.arange(2 ** (n_var + 1))
    fold = np.zeros((len(s), n_var, 4))
    for v in range(n_var):
        cell = 2 * (s >> n_var) + ((s >> v) & 1)
        fold[s, v, cell] = 1.0
    return state, fold


def slice_counts(columns: Sequence[Column], state: np.ndarray, fold: np.ndarray, *, depth: int,
                 min_rows: int) -> tuple[list[tuple[tuple[int, int], ...]], np.ndarray]:
    """Every slice of up to ``depth`` conditions with at least ``min_rows`` rows, and its
    confusion counts per variant: (slices as ((column, level), ...), counts (N, V, 4)).

    One ``np.bincount`` per column combination, of ``level · S + state`` (in the platform's
    index type, which bincount takes without a copy).
    """
    n_states = fold.shape[0]
    keys: list[tuple[tuple[int, int], ...]] = []
    tables: list[np.ndarray] = []
    rows_of: dict[tuple[tuple[int, int], ...], int] = {}
    codes = [np.asarray(c.codes, dtype=np.intp) for c in columns]
    state = np.asarray(state, dtype=np.intp)
    buf = np.empty(len(state), dtype=np.intp)
    tmp = np.empty(len(state), dtype=np.intp)
    for d in range(1, depth + 1):
        # combinations grouped by their last column: its codes × S + state are made once
        for last in range(len(columns)):
            base = codes[last] * n_states + state
            for prefix in itertools.combinations(range(last), d - 1):
                combo = (*prefix, last)
                sizes = [columns[i].levels for i in combo]
                total = int(np.prod(sizes))
                if total * n_states > 50_000_000:  # pragma: no cover - absurd cardinality
                    continue
                idx = base
                stride = sizes[-1] * n_states
                for pos, i in enumerate(reversed(prefix)):
                    np.multiply(codes[i], stride, out=tmp)
                    np.add(tmp, base if pos == 0 else buf, out=buf)
                    idx = buf
                    stride *= columns[i].levels
                table = np.bincount(idx, minlength=total * n_states).reshape(total, n_states)
                rows = table.sum(axis=1)
                for flat in np.flatnonzero(rows >= min_rows):
                    levels = np.unravel_index(flat, sizes)
                    if any(columns[i].rare == lv for i, lv in zip(combo, levels)):
                        continue  # pooled rare levels are no condition
                    key = tuple((i, int(lv)) for i, lv in zip(combo, levels))
                    r = int(rows[flat])
                    # a conjunction with as many rows as one of its parts has that part's rows
                    # (the part is remembered even when it was itself such a duplicate)
                    dup = d > 1 and any(rows_of.get(key[:j] + key[j + 1:]) == r
                                        for j in range(d))
                    rows_of[key] = r
                    if dup:
                        continue
                    keys.append(key)
                    tables.append(table[flat])
    if not tables:
        return [], np.zeros((0, fold.shape[1], 4))
    counts = np.tensordot(np.asarray(tables, dtype=np.float64), fold, axes=(1, 0))
    return keys, counts


def newcombe(k1, n1, k0, n0, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval of ``k1/n1 − k0/n0`` (his method 10), elementwise."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p0 = k1 / n1, k0 / n0
    l1, u1 = wilson(k1, n1, level)
    l0, u0 = wilson(k0, n0, level)
    d = p1 - p0
    return (d - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2),
            d + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2))


def _kn(counts: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    num, den, _ = SLICE_METRICS[metric]
    return counts[..., list(num)].sum(axis=-1), counts[..., list(den)].sum(axis=-1)


def find_slices(X: pd.DataFrame, *, categorical: Sequence[str], y_true: np.ndarray,
                predictions: Mapping[str, np.ndarray],
                protected: Sequence[tuple[str, np.ndarray, Sequence[str]]] = (),
                depth: int = 2, bins: int = 5, min_support: float = 0.01, min_rows: int = 30,
                metrics: Sequence[str] = tuple(SLICE_METRICS), top: int = 10,
                alpha: float = 0.05, level: float = 0.95,
                codes: FeatureCodes | None = None, min_denominator: int = 0) -> SliceAnalysis:
    """The worst slices of each variant's out-of-fold decisions.

    Parameters
    ----------
    X
        The feature frame (categoricals as text). A protected attribute that is also a
        feature is searched once, as the attribute.
    categorical
        The categorical columns of ``X``; the others are numeric.
    y_true
        0/1 outcome (1 = favorable), one per row.
    predictions
        variant name -> its 0/1 out-of-fold decisions (every row predicted).
    protected
        (attribute name, group code per row, group labels) of each protected attribute:
        searched as columns, and counted in each reported slice.
    depth, bins, min_support, min_rows
        Conditions per slice (1 to 3); quantile bins of a numeric; the fewest rows a slice
        needs is ``max(ceil(min_support · rows), min_rows)``.
    metrics, top, alpha, level
        The rates compared; slices kept per metric; the level of the adjusted p-values; the
        intervals' confidence level.
    codes
        The categorical columns of ``X`` already factorized (shared with the proxy screen).
    min_denominator
        The audit's ``min_group_size``: a slice's rate (or the rest's) resting on fewer people
        than this (its denominator: rows, actual positives or actual negatives) is not tested,
        so it is never a finding (and is not counted among the tests).
    """
    if not 1 <= depth <= 3:
        raise ValueError(f"depth must be 1, 2 or 3, not {depth}")
    unknown = [m for m in metrics if m not in SLICE_METRICS]
    if unknown:
        raise ValueError(f"unknown slice metric(s) {unknown}; expected {list(SLICE_METRICS)}")
    n = len(y_true)
    floor = max(int(np.ceil(min_support * n)), int(min_rows), 1)
    cat = set(categorical)
    own = {name for name, _, _ in protected}
    columns = [encode_column(X[c], name=c, categorical=c in cat, bins=bins, codes_of=codes)
               for c in X.columns if c not in own]
    columns += [protected_column(name, codes, labels) for name, codes, labels in protected]
    columns = [pool_rare(c, floor) for c in columns]
    names = list(predictions)
    out: list[VariantSlices] = []
    n_slices = 0
    composition: dict = {}  # a slice's rows per protected group, shared by metrics and variants
    for start in range(0, len(names), MAX_JOINT):
        batch = names[start:start + MAX_JOINT]
        state, fold = joint_states(y_true, [predictions[v] for v in batch])
        keys, counts = slice_counts(columns, state, fold, depth=depth, min_rows=floor)
        n_slices = len(keys)
        total = np.tensordot(np.bincount(state, minlength=fold.shape[0]).astype(np.float64),
                             fold, axes=(0, 0))  # (V, 4)
        for v, name in enumerate(batch):
            out.append(_variant(name, keys, counts[:, v], total[v], columns, protected,
                                metrics=metrics, top=top, alpha=alpha, level=level,
                                composition=composition, min_denominator=min_denominator))
    return SliceAnalysis(depth=depth, bins=bins, min_rows=floor, metrics=list(metrics),
                         alpha=alpha, level=level, features=[c.name for c in columns],
                         slices=n_slices, variants=out)


def _variant(name: str, keys, counts: np.ndarray, total: np.ndarray,
             columns: Sequence[Column], protected, *, metrics, top: int, alpha: float,
             level: float, composition: dict | None = None,
             min_denominator: int = 0) -> VariantSlices:
    """Test every slice of one variant on every metric; keep the worst significant ones."""
    rest = total[None, :] - counts
    figures = []
    for m in metrics:
        k1, n1 = _kn(counts, m)
        k0, n0 = _kn(rest, m)
        p, _ = two_proportion_pvalues(k1, n1, k0, n0, test="auto")
        # a rate on too few people is not tested: it can be no finding
        p = np.where((n1 >= min_denominator) & (n0 >= min_denominator), p, np.nan)
        figures.append((m, k1, n1, k0, n0, p))
    p_all = np.concatenate([f[5] for f in figures]) if figures else np.empty(0)
    adj_all = adjust_pvalues(p_all, "bh")
    tested = int(np.isfinite(p_all).sum())
    significant = int((adj_all <= alpha).sum())
    picks = []
    offset = 0
    for m, k1, n1, k0, n0, p in figures:
        adj = adj_all[offset:offset + len(p)]
        offset += len(p)
        with np.errstate(divide="ignore", invalid="ignore"):
            diff = k1 / n1 - k0 / n0
        worse = SLICE_METRICS[m][2]
        harm = diff if worse else -diff
        chosen = np.flatnonzero((adj <= alpha) & (harm > 0))
        lo, hi = newcombe(k1[chosen], n1[chosen], k0[chosen], n0[chosen], level)
        # the smallest detriment the interval allows: a small slice's noisy difference does
        # not outrank a large slice's sure one (the winner's curse of the largest estimate)
        bound = lo if worse else -hi
        order = np.lexsort((adj[chosen], -harm[chosen], -bound))[:top]
        picks.append((m, chosen[order], lo[order], hi[order], k1, n1, k0, n0, diff, p, adj))
    if composition is not None:  # every metric's slices counted together
        compositions([keys[i] for pick in picks for i in pick[1]], columns, protected,
                     composition)
    result: dict[str, list[Slice]] = {}
    for m, chosen, lo, hi, k1, n1, k0, n0, diff, p, adj in picks:
        result[m] = [
            _slice(keys[i], columns, protected, metric=m, counts=counts[i],
                   k=(k1[i], n1[i], k0[i], n0[i]), diff=float(diff[i]),
                   ci=(float(lo[j]), float(hi[j])), p=float(p[i]), adj=float(adj[i]),
                   composition=composition)
            for j, i in enumerate(chosen)]
    return VariantSlices(variant=name, tested=tested, significant=significant, top=result)


def compositions(keys, columns: Sequence[Column], protected, cache: dict) -> None:
    """:func:`slice_groups` of every key not yet in ``cache``, added to it: the keys over the
    same columns share one ``np.bincount`` per protected attribute (of each row's combination
    of those columns' levels × its group), a few passes over the rows instead of a row
    selection per slice."""
    by_combo: dict[tuple[int, ...], list] = {}
    for key in dict.fromkeys(keys):
        if key not in cache:
            by_combo.setdefault(tuple(i for i, _ in key), []).append(key)
    for combo, combo_keys in by_combo.items():
        sizes = [columns[i].levels for i in combo]
        idx = np.asarray(columns[combo[0]].codes, dtype=np.intp)
        for i in combo[1:]:
            idx = idx * columns[i].levels + np.asarray(columns[i].codes, dtype=np.intp)
        flats = [int(np.ravel_multi_index(tuple(lv for _, lv in key), sizes))
                 for key in combo_keys]
        groups: list[dict[str, dict[str, int]]] = [{} for _ in combo_keys]
        total = int(np.prod(sizes))
        for name, codes, labels in protected:
            n_labels = len(labels)
            table = np.bincount(idx * n_labels + np.asarray(codes, dtype=np.intp),
                                minlength=total * n_labels).reshape(total, n_labels)
            for g, flat in zip(groups, flats):
                g[name] = {str(lab): int(table[flat, j]) for j, lab in enumerate(labels)}
        for key, g in zip(combo_keys, groups):
            cache[key] = g


def slice_groups(key, columns: Sequence[Column], protected) -> dict[str, dict[str, int]]:
    """How many of a slice's rows are in each protected group: the rows of its first
    condition, narrowed by the others, then one bincount per attribute."""
    (i0, lv0), *rest = key
    rows = np.flatnonzero(columns[i0].codes == lv0)
    for i, lv in rest:
        rows = rows[columns[i].codes[rows] == lv]
    groups = {}
    for name, codes, labels in protected:
        c = np.bincount(np.asarray(codes)[rows], minlength=len(labels))
        groups[name] = {str(lab): int(c[g]) for g, lab in enumerate(labels)}
    return groups


def _slice(key, columns: Sequence[Column], protected, *, metric: str, counts: np.ndarray,
           k, diff: float, ci, p: float, adj: float, composition: dict | None = None) -> Slice:
    cache = {} if composition is None else composition
    if key not in cache:
        cache[key] = slice_groups(key, columns, protected)
    groups = cache[key]
    conds = [columns[i].conditions[lv] for i, lv in key]
    k1, n1, k0, n0 = (int(x) for x in k)
    return Slice(conditions=conds, text=" ∧ ".join(c.text for c in conds), metric=metric,
                 rows=int(counts.sum()), k=k1, n=n1, rate=round(k1 / n1, 6), rest_k=k0,
                 rest_n=n0, rest_rate=round(k0 / n0, 6), difference=round(diff, 6),
                 ci=[round(ci[0], 6), round(ci[1], 6)], p_value=float(f"{p:.6g}"),
                 p_adjusted=float(f"{adj:.6g}"),
                 counts={c: int(x) for c, x in zip(("tn", "fp", "fn", "tp"), counts)},
                 groups=groups)
