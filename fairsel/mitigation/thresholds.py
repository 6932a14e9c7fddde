r"""Group-specific decision thresholds: deterministic post-processing of a candidate's scores.

Given scores, outcomes and group codes of *fitting* rows (never the rows the thresholds will
decide), :func:`fit_group_thresholds` picks one threshold ``t_g`` per group — a row of group
``g`` gets the favorable decision when ``score >= t_g`` — that maximises accuracy on the
fitting rows subject to a fairness constraint with a tolerance:

=====================  ============================================================
constraint             every fitted group's rate lies in one band of width ``tol``
=====================  ============================================================
demographic_parity     selection rate ``(TP + FP) / n``
equal_opportunity      true positive rate ``TP / (TP + FN)``
equalized_odds         true positive rate *and* false positive rate ``FP / (FP + TN)``
=====================  ============================================================

so that the largest minus the smallest group rate (fairlearn's ``between_groups``
difference) is at most ``tol``, and so is every group's distance to a reference group.

How the search works
--------------------
Each group's scores are sorted once (and its favorable rows' scores, so that counts at a
threshold are binary searches rather than an argsort); every distinct score is a candidate
threshold (plus
"no favorable decision"), thinned to at most ``max_candidates`` evenly spaced in rank for
large groups. Along a group's candidates, selection rate, TPR, FPR and the count of correct
decisions are cumulative sums. A solution is a band ``[a, a + tol]`` of rates and, in each
group, the candidate inside the band with the most correct decisions; a range-maximum table
per group answers "best candidate whose rate lies in the band" in O(1), so every band is
tried:

* one rate (demographic parity, equal opportunity): the band's lower edge runs over every
  rate any group can reach (an optimal band can always be slid down until its lower edge
  meets a chosen rate), so the solution is the exact optimum over the candidates;
* two rates (equalized odds): the lower edges of the TPR band and of the FPR band run over
  every reachable TPR and FPR when there are at most ``grid_points`` of each (the exact
  optimum again), otherwise over a grid of step ``δ = max(tol/4, 1/grid_points)``: the
  solution then satisfies the constraint at ``tol`` and is at least as accurate as the best
  solution at ``tol − δ``.

Choosing "no favorable decision" in every group satisfies every constraint, so a solution
always exists — on data where the groups' ROC curves do not meet, a tight equalized-odds
tolerance can leave little accuracy.

Differences from fairlearn's ``ThresholdOptimizer``
---------------------------------------------------
fairlearn meets the constraint *exactly* by **randomising**: a group's decision mixes two
thresholds with a coin flip (and, for equalized odds, mixes points of the group's ROC
curve). fairsel's decisions are **deterministic** — one threshold per group, the same score
always gets the same decision — and meet the constraint up to the tolerance. Equalized odds
is where this matters most: a deterministic threshold only reaches the points of each group's
ROC curve, not the area between them, so the achievable (TPR, FPR) pairs shared by all groups
are fewer than fairlearn's.

Generalisation margin
---------------------
Rates on the fitting rows differ from rates on new rows by sampling error. The thresholds are
fitted to ``fit_share × tolerance`` (half of it by default), leaving the rest of the
tolerance for the difference between fitting and scored rows.

Small groups
------------
A group with fewer than ``min_group_size`` fitting rows (including a group absent from them)
has rates too coarse or too noisy to fit a threshold of its own: all such groups are pooled
and share one threshold, fitted under the constraint like any group when the pool has at
least ``min_group_size`` rows, and otherwise left at the candidate's own threshold
(``default_threshold``) and outside the constraint. A group with no favorable outcome (or no
unfavorable one) among its fitting rows is left out of the TPR (FPR) constraint, as the
metric engine leaves an undefined rate out of a disparity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The group rates each constraint equalises.
CONSTRAINT_RATES: dict[str, tuple[str, ...]] = {
    "demographic_parity": ("selection_rate",),
    "equal_opportunity": ("tpr",),
    "equalized_odds": ("tpr", "fpr"),
}


@dataclass(frozen=True)
class GroupThresholds:
    """Fitted thresholds, one per group code, and how they were fitted."""

    thresholds: np.ndarray  # (n_groups,) float64; +inf = no favorable decision in that group
    constraint: str
    tolerance: float  # the policy's tolerance
    fit_tolerance: float  # the band width fitted on the fitting rows (fit_share × tolerance)
    status: tuple[str, ...]  # per group: "fitted" | "pooled" | "default"
    fit_disparity: float  # the constraint's disparity on the fitting rows (fitted units)
    fit_accuracy: float  # accuracy of the thresholds on the fitting rows
    base_accuracy: float  # accuracy of default_threshold on the fitting rows
    n_fit: int

    def predict(self, y_score: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """Decisions ``score >= t_group`` (0/1 int8)."""
        return apply_group_thresholds(y_score, groups, self.thresholds)


def apply_group_thresholds(y_score: np.ndarray, groups: np.ndarray,
                           thresholds: np.ndarray) -> np.ndarray:
    """The favorable decision ``1[score_i >= t_{g_i}]`` of every row (deterministic)."""
    t = np.asarray(thresholds, dtype=np.float64)[np.asarray(groups, dtype=np.int64)]
    return (np.asarray(y_score, dtype=np.float64) >= t).astype(np.int8)


@dataclass
class _Curve:
    """One fitting unit's candidate thresholds and cumulative counts along them."""

    thr: np.ndarray  # candidate thresholds, descending; thr[0] = +inf (no favorable decision)
    tp: np.ndarray
    fp: np.ndarray
    n: int
    pos: int
    neg: int

    @property
    def correct(self) -> np.ndarray:
        return self.tp + (self.neg - self.fp)

    def rate(self, name: str) -> np.ndarray | None:
        if name == "selection_rate":
            return (self.tp + self.fp) / self.n
        if name == "tpr":
            return self.tp / self.pos if self.pos else None
        return self.fp / self.neg if self.neg else None


def _curve(s_u: np.ndarray, y_u: np.ndarray, max_candidates: int) -> _Curve:
    # np.sort is several times faster than argsort: sort all scores and the favorable rows'
    # scores separately, and count rows at or above each candidate with searchsorted
    asc = np.sort(s_u)
    pos_asc = np.sort(s_u[y_u == 1])
    n, pos = len(asc), len(pos_asc)
    distinct = asc[np.r_[asc[1:] != asc[:-1], True]]
    if len(distinct) > max_candidates:  # thin evenly in rank
        distinct = np.unique(asc[np.linspace(0, n - 1, max_candidates).astype(np.int64)])
    thr = np.r_[np.inf, distinct[::-1]]  # descending: more favorable decisions along the curve
    sel = n - np.searchsorted(asc, thr, side="left")
    tp = pos - np.searchsorted(pos_asc, thr, side="left")
    return _Curve(thr=thr, tp=tp.astype(np.int64), fp=(sel - tp).astype(np.int64), n=n,
                  pos=pos, neg=n - pos)


class _RangeArgmax:
    """Sparse table: the index of the largest value in ``v[lo..hi]`` in O(1) (leftmost on ties)."""

    def __init__(self, v: np.ndarray) -> None:
        self.v = v
        m = len(v)
        levels = max(1, int(m).bit_length())
        table = np.zeros((levels, m), dtype=np.int64)
        table[0] = np.arange(m)
        for k in range(1, levels):
            span, half = 1 << k, 1 << (k - 1)
            width = m - span + 1
            if width <= 0:
                break
            left = table[k - 1, :width]
            right = table[k - 1, half:half + width]
            table[k, :width] = np.where(v[right] > v[left], right, left)
        self.table = table

    def query(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        length = hi - lo + 1
        k = np.frexp(length.astype(np.float64))[1] - 1  # floor(log2(length)), exact for ints
        i1 = self.table[k, lo]
        i2 = self.table[k, hi - (1 << k) + 1]
        return np.where(self.v[i2] > self.v[i1], i2, i1)


def _band_ranges(rate: np.ndarray | None, edges: np.ndarray, width: float, m: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per band lower edge, the index range of candidates whose rate lies in the band."""
    if rate is None:  # undefined rate: the unit is free in this dimension
        return np.zeros(len(edges), dtype=np.int64), np.full(len(edges), m - 1, dtype=np.int64)
    lo = np.searchsorted(rate, edges - 1e-12, side="left")
    hi = np.searchsorted(rate, edges + width + 1e-12, side="right") - 1
    return lo.astype(np.int64), hi.astype(np.int64)


def fit_group_thresholds(y_true: np.ndarray, y_score: np.ndarray, groups: np.ndarray, *,
                         constraint: str, tolerance: float = 0.05, n_groups: int | None = None,
                         min_group_size: int = 30, default_threshold: float = 0.5,
                         fit_share: float = 0.5, max_candidates: int = 2000,
                         grid_points: int = 400) -> GroupThresholds:
    r"""Fit one decision threshold per group under a fairness constraint (deterministic).

    Maximises accuracy on the fitting rows,

    .. math::

        \max_{t_1..t_G} \sum_g \big(TP_g(t_g) + TN_g(t_g)\big)
        \quad\text{s.t.}\quad \max_g r_g(t_g) - \min_g r_g(t_g) \le
        \text{fit\_share}\cdot\text{tol}

    for each rate ``r`` the constraint names (selection rate; TPR; TPR and FPR), where group
    ``g`` decides favorably when ``score >= t_g``. See the module docstring for the search,
    the pooling of small groups and the difference from fairlearn's randomised
    ``ThresholdOptimizer``.

    Parameters
    ----------
    y_true : array of 0/1
        Outcomes of the fitting rows (1 = favorable).
    y_score : array of float
        Scores of the fitting rows, higher = more favorable; they must not come from a model
        fitted on these rows' labels (use inner out-of-fold scores for a trained model).
    groups : array of int
        Group code of each fitting row, ``0 .. n_groups - 1``.
    constraint : {"demographic_parity", "equal_opportunity", "equalized_odds"}
    tolerance : float
        Largest allowed difference between group rates (default 0.05).
    n_groups : int, optional
        Number of groups, so that groups absent from the fitting rows get a threshold too.
    min_group_size : int
        Groups with fewer fitting rows share one pooled threshold.
    default_threshold : float
        The threshold of groups outside the constraint (the candidate's own).
    fit_share : float
        Share of the tolerance used on the fitting rows (the rest is the margin for new rows).
    max_candidates : int
        Most candidate thresholds per group (evenly spaced in rank when thinned).
    grid_points : int
        Most band positions per rate for equalized odds.

    Returns
    -------
    GroupThresholds
    """
    if constraint not in CONSTRAINT_RATES:
        raise ValueError(f"unknown constraint {constraint!r}; expected one of "
                         f"{', '.join(CONSTRAINT_RATES)}")
    y = np.asarray(y_true).astype(np.int64, copy=False)
    s = np.asarray(y_score, dtype=np.float64)
    g = np.asarray(groups).astype(np.int64, copy=False)
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    if n_groups is None:
        n_groups = int(g.max()) + 1 if len(g) else 0
    n = len(y)
    width = float(fit_share) * float(tolerance)

    # fitting units: each group big enough, plus one pool of the small (or absent) groups
    size = np.bincount(g, minlength=n_groups)
    big = size >= min_group_size
    unit_of_group = np.where(big, np.cumsum(big) - 1, int(big.sum()))
    n_units = int(big.sum()) + int((~big).any())
    unit = unit_of_group[g]
    unit_size = np.bincount(unit, minlength=n_units)
    fitted = unit_size >= min_group_size  # a pool too small stays at the default threshold

    # rows of each unit together (a radix sort of small integer codes), then per-unit curves
    order = np.argsort(unit.astype(np.int32), kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    starts = np.r_[0, np.cumsum(unit_size)]
    curves: dict[int, _Curve] = {}
    for u in np.flatnonzero(fitted):
        a, b = starts[u], starts[u + 1]
        curves[int(u)] = _curve(s_sorted[a:b], y_sorted[a:b], max_candidates)

    rates = CONSTRAINT_RATES[constraint]
    units = sorted(curves)
    tables = {u: _RangeArgmax(curves[u].correct) for u in units}
    edges_list = []
    for name in rates:
        reachable = [r for r in (curves[u].rate(name) for u in units) if r is not None]
        exact = np.unique(np.concatenate(reachable or [np.zeros(1)]))
        if len(rates) == 1 or len(exact) <= grid_points:
            edges_list.append(exact)  # every reachable rate: the exact optimum
        else:  # two rates: a grid keeps the product of band positions small
            step = max(width / 4.0, 1.0 / grid_points)
            top = max(0.0, 1.0 - width)
            edges_list.append(np.arange(int(np.ceil(top / step)) + 1) * step)

    choice: dict[int, int] = {}
    if units:
        shape = tuple(len(e) for e in edges_list)
        total = np.zeros(shape, dtype=np.float64)
        picks: dict[int, np.ndarray] = {}
        for u in units:
            c, m = curves[u], len(curves[u].thr)
            lo = np.zeros(shape, dtype=np.int64)
            hi = np.full(shape, m - 1, dtype=np.int64)
            for axis, (name, edges) in enumerate(zip(rates, edges_list)):
                l_, h_ = _band_ranges(c.rate(name), edges, width, m)
                expand = [np.newaxis] * len(shape)
                expand[axis] = slice(None)
                lo = np.maximum(lo, l_[tuple(expand)])
                hi = np.minimum(hi, h_[tuple(expand)])
            ok = lo <= hi
            idx = tables[u].query(np.where(ok, lo, 0), np.where(ok, hi, 0))
            total += np.where(ok, c.correct[idx], -np.inf)
            picks[u] = idx
        best = np.unravel_index(int(np.argmax(total)), shape)  # first best: lowest band
        choice = {u: int(picks[u][best]) for u in units}

    thresholds = np.full(n_groups, float(default_threshold))
    status = ["default"] * n_groups
    for grp in range(n_groups):
        u = int(unit_of_group[grp])
        if u in choice:
            thresholds[grp] = curves[u].thr[choice[u]]
            status[grp] = "fitted" if big[grp] else "pooled"

    # report what the thresholds achieve on the fitting rows
    pred = apply_group_thresholds(s, g, thresholds)
    base = (s >= default_threshold).astype(np.int8)
    disparity = 0.0
    for name in rates:
        vals = [curves[u].rate(name) for u in units]
        got = [float(v[choice[u]]) for u, v in zip(units, vals) if v is not None]
        if len(got) > 1:
            disparity = max(disparity, max(got) - min(got))
    return GroupThresholds(
        thresholds=thresholds, constraint=constraint, tolerance=float(tolerance),
        fit_tolerance=width, status=tuple(status), fit_disparity=disparity,
        fit_accuracy=float((pred == y).mean()) if n else float("nan"),
        base_accuracy=float((base == y).mean()) if n else float("nan"), n_fit=n)
