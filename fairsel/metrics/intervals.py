"""Every interval fairsel reports, computed one way and documented once.

The metric engine hands this module point estimates, the confusion counts they come from and
the bootstrap replicates of the group rates (a multinomial draw over count cells, or whole
clusters); this module turns them into intervals.  Three rules:

* **A rate k/n** (selection rate, TPR, FPR, FNR, TNR, precision, accuracy, base rate) gets the
  Wilson score interval for k of n.  With clusters the sample size is the *effective* one,
  ``n / deff``, where the design effect, at least 1, is the cluster bootstrap's
  (``bootstrap variance / (p(1−p)/n)``) shrunk towards the one the group's own cluster sizes
  imply, ``1 + (m̄ − 1)·ρ`` (Kish: ``m̄ = Σ n_c² / Σ n_c`` over the clusters of the rate's
  denominator, ``ρ`` the intra-cluster correlation read from the same rate over all rows), by
  the group's effective number of clusters ``C = n / m̄``: weight ``C / (C + 5)`` on the
  bootstrap's, averaged on the scale of the effective size (``1/deff``; :func:`shrunk_design_effect`).  A rate of 0/n or n/n, whose bootstrap variance
  is 0, takes Kish's.  So no rate is ever narrower than
  the score interval for k of n, and 0/n or n/n is never a point: 5/5 reads [0.566, 1].
* **A disparity** (a worst case over groups: largest minus smallest rate, smallest over largest,
  or the worst group against a reference; a headline is the worst case over attributes too) is a
  maximum of signed group differences ``d_gh = θ_g − θ_h`` over a set of ordered pairs (``θ``
  the rate, or its logarithm for a ratio, which is then ``exp(−max)``).  Its interval is built
  on those signed differences — the test of equal rates inverted, not the percentile bootstrap
  of max − min (biased upwards: its interval often misses its own estimate and cannot reach 0):

  - each rate's standard error ``se`` is the larger of Wald's ``√(p(1−p)/n_eff)`` and the
    Wilson interval's half-width over z (so 0/n and n/n have one; with clusters ``n_eff`` carries
    the design effect); a pair's is ``√(se_g² + se_h²)`` (groups are taken as independent: where
    clusters span groups this errs on the wide side); ``se₀`` the same with each rate's standard
    error at least the one at the pooled rate;
  - the *shrunk configuration*: each rate's group differences times its James–Stein factor
    ``B = max(0, 1 − (k − 1)/Q)`` (``Q`` the chi-square statistic of equal rates over its k
    groups): 0 where the groups look alike, near 1 where their differences stand out.  ``S`` are
    the pairs that may be the largest there (``B·d̂ + κ·se ≥ max B·d̂``, κ = z plus the Bonferroni
    critical value over all pairs);
  - **upper end** ``U = max_S (d̂ + z·se)``;
  - **lower end**: first the simultaneous test of equal rates over every pair, ``max t =
    (d̂ − cc) / se_pooled`` against ``c₀``, the (1 − α) quantile of the largest ``|t|`` of 1,000
    normal draws of the groups (standard errors at the pooled rate; ``cc`` a continuity
    correction of half Yates's, ``¼(1/n_g + 1/n_h)``, which keeps the test at its level where
    rates move in steps of 1/n, tapered by ``min(1, e/5)`` where the pair's smallest expected
    cell count ``e`` is under Cochran's 5 — there one outcome is rare, the statistic's tail is
    short already and the whole correction made the test conservative); where it accepts,
    ``L = 0`` — so a true disparity of 0 is covered as often as that test accepts (1 − α).
    Where it rejects, ``L`` is the smallest ``x`` that the test of "the disparity is at most x"
    does not reject: no pair of S with
    ``(d̂ − x − cc) / se(x) > c(x)``.  ``se(x)`` is **score type**: the pair's standard error at
    its two rates re-estimated under the constraint ``θ_g − θ_h = x`` (maximum likelihood:
    Farrington–Manning's closed form for differences, Miettinen–Nurminen's for log ratios;
    :func:`constrained_pair_se`), not at the estimates — with standard errors at the
    estimates a low estimate of a rate near 0 or 1 inflates the very standard error that
    judges it, and the interval over-covered there (EOpD up to 1.000 at TPR 0.97).
    ``c(x)`` is the (1 − α + u(x)) quantile of ``max_S (t* − slack)`` over the same draws:
    ``slack`` is a pair's distance below the top in the shrunk configuration, in standard
    errors, less a margin of 0.75 (pairs that close to the top count as tied) — a critical
    value calibrated at a plug-in configuration (generalized moment selection) rather than at
    the least favourable one where every pair of S is tied.  ``u(x)``
    is how often the upper end can fall short of a true disparity ``x``, and the lower end
    spends the rest of α: at most ``α/2 − Φ(z − 2x/se)`` (one pair and its reverse: |d̂| + z·se
    falls short only when ``x > z·se``, so near the boundary u = 0 and the lower end is
    one-sided at level α), and at most how often every positive pair's draw is below −z at the
    configuration (near-ties: the maximum of several estimates seldom falls short).  Its floor
    is exact, not simulated: the parts' (rates') largest pairs taken as tied and independent,
    ``Φ⁻¹((1 − α + u)^(1/parts))``, which is ``c`` itself where no other pair reaches it.  The
    smallest such ``x`` is found on a grid refined four times (precision about 1e-6 of the
    largest difference).  Pairs that are no two k/n rates (average odds) keep the standard
    errors at the estimates and no continuity correction.

  The draws are seeded from the data (an audit's intervals are reproducible).  The estimate
  always lies inside (``L ≤ max d̂ ≤ U``: the lower end is searched below it, and the interval
  is widened to it otherwise); a ratio whose smallest rate is 0/n uses that rate's
  Wilson centre on the log scale and is then widened to its estimate (0).  With many groups
  whose differences are within the data's resolution the interval remains conservative (a
  configuration of several pairs truly tied at the top cannot be told from one of pairs just
  below it, and the interval must hold for both); measured coverage is in
  benchmarks/README.md.
* **Scores** (ROC AUC, Brier score) keep the percentile bootstrap; the calibration error, whose
  plug-in estimate is biased upwards, the basic ("reflected") bootstrap ``[2θ̂ − q_hi,
  2θ̂ − q_lo]`` cut at 0.  Either is widened to the estimate when the replicates lie on one side
  of it.  Balanced accuracy and F1 (not k/n) use the percentile bootstrap likewise.

Coverage of these rules is measured by simulation in ``benchmarks/bench_coverage.py``.
"""

from __future__ import annotations

import dataclasses
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

#: Rates that are a count over a count: name -> (numerator cells, denominator cells), cells
#: indexed as in :data:`fairsel.metrics.counts.CELLS` = (tn, fp, fn, tp).
KN_RATES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "selection_rate": ((1, 3), (0, 1, 2, 3)),
    "base_rate": ((2, 3), (0, 1, 2, 3)),
    "tpr": ((3,), (2, 3)),
    "fnr": ((2,), (2, 3)),
    "fpr": ((1,), (0, 1)),
    "tnr": ((0,), (0, 1)),
    "precision": ((3,), (1, 3)),
    "accuracy": ((0, 3), (0, 1, 2, 3)),
}
#: F1 = TP / (TP + (FP + FN) / 2): a count over a count, for its score-interval floor only.
F1_KN = ((3,), (3,), (1, 2))
#: Figures whose plug-in estimate is biased upwards: the basic bootstrap, cut at 0.
REFLECTED = ("calibration_error",)

METHOD_TEXT = (
    "Rates k/n: Wilson score interval for k of n (with clusters, on the effective sample size "
    "n / design effect, the design effect from the cluster bootstrap shrunk towards "
    "1 + (m − 1)·ρ by the group's number of clusters, m its mean cluster size, ρ the rate's "
    "intra-cluster correlation over all rows), "
    "so 0/n and n/n are never "
    "a point. Disparities (worst case over groups, or against the reference): built on the "
    "signed group differences d — upper end the largest d + z·se; lower end 0 where the "
    "simultaneous test of equal rates (continuity-corrected, the correction tapered under "
    "5 expected counts) accepts, else the smallest gap x "
    "that a score-type test no longer rejects: every (d − x)/se(x) at most c, se(x) at the "
    "group rates re-estimated under the constraint that their gap is x "
    "(Farrington–Manning; Miettinen–Nurminen for ratios), c the critical value of the "
    "largest t calibrated by normal simulation at the group rates shrunk towards each other "
    "(James–Stein), at the level α less how often the upper end can fall short (never, near "
    "0: there the lower end is one-sided at α); ratios on the log scale. "
    "ROC AUC, Brier score, balanced accuracy, F1: percentile bootstrap; calibration error: "
    "basic bootstrap cut at 0. Every interval contains its estimate; coverage is checked by "
    "simulation (benchmarks/bench_coverage.py).")


#: Performance metric name -> the rate it reads, where that rate is k/n.
_KN_METRIC = {"recall": "tpr", **{r: r for r in KN_RATES}}


def interval_text(name: str, family: str) -> str:
    """One line on how the interval of metric ``name`` is computed (``fairsel list metrics``)."""
    if family == "fairness":
        return ("signed group differences, upper end max(d + z·se), lower end 0 where the "
                "test of equal rates accepts, else the smallest gap x a score-type test "
                "accepts: (d − x)/se(x) ≤ c for every pair, se(x) at the rates constrained to "
                "the gap x (Farrington–Manning; Miettinen–Nurminen for ratios), c the critical "
                "value of the largest t at the shrunk group rates (normal simulation), at α "
                "less how often the upper end can fall short (0 near the boundary)"
                + ("; on log rates (Wilson centres)" if name.endswith("ratio")
                   or name == "disparate_impact" else ""))
    if name in _KN_METRIC:
        return "Wilson score interval for k of n (with clusters: on n / design effect)"
    if name in REFLECTED:
        return "basic bootstrap (2·estimate − quantiles), cut at 0, containing the estimate"
    return "percentile bootstrap, widened to contain the estimate"


def z_value(level: float) -> float:
    """Two-sided standard normal critical value of ``level`` (1.96 for 0.95)."""
    return NormalDist().inv_cdf(0.5 + level / 2)


def nan_quantiles(arr: np.ndarray, qs: tuple[float, ...]) -> list[np.ndarray]:
    """``np.nanquantile(arr, q, axis=0)`` (linear interpolation) for each q, vectorized.

    numpy's nanquantile falls back to a Python loop over columns when any value is NaN; here
    one sort puts the NaNs last and each column's quantile is read at its own position.
    """
    a = np.sort(arr, axis=0)
    n = np.sum(~np.isnan(arr), axis=0)
    out = []
    for qv in qs:
        pos = qv * np.maximum(n - 1, 0)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
        frac = pos - lo
        v_lo = np.take_along_axis(a, lo[None, ...], axis=0)[0]
        v_hi = np.take_along_axis(a, hi[None, ...], axis=0)[0]
        with np.errstate(invalid="ignore"):
            val = v_lo + (v_hi - v_lo) * frac
        out.append(np.where(n > 0, val, np.nan))
    return out


def contain(est: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The interval widened, where needed, to contain its (finite) estimate."""
    est = np.asarray(est, dtype=np.float64)
    fin = np.isfinite(est)
    return (np.where(fin & ~(lo <= est), est, lo), np.where(fin & ~(hi >= est), est, hi))


def wilson(k: np.ndarray, n: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``k`` successes of ``n`` (``n`` may be an effective, real
    size); NaN where ``n`` is 0."""
    z = z_value(level)
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.clip(k / n, 0.0, 1.0)
        den = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / den
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
        ok = n > 0  # 0/n and n/n end exactly at 0 and 1 (not at 1 − 1e-16)
        return (np.where(ok, np.where(p <= 0, 0.0, np.clip(centre - half, 0.0, 1.0)), np.nan),
                np.where(ok, np.where(p >= 1, 1.0, np.clip(centre + half, 0.0, 1.0)), np.nan))


def kn(counts: np.ndarray, rate: str) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator of a k/n rate from confusion counts ``(..., 4)``."""
    c = np.asarray(counts, dtype=np.float64)
    if rate == "f1":
        num, full, half = F1_KN
        k = c[..., list(num)].sum(axis=-1)
        return k, c[..., list(full)].sum(axis=-1) + c[..., list(half)].sum(axis=-1) / 2
    num, den = KN_RATES[rate]
    return c[..., list(num)].sum(axis=-1), c[..., list(den)].sum(axis=-1)


@dataclass(frozen=True)
class RateBand:
    """A k/n rate's estimate, Wilson interval, score standard error and Wilson centre."""

    value: np.ndarray
    n: np.ndarray  # the denominator (rows, not the effective size)
    n_eff: np.ndarray  # n / design effect (n without clusters)
    lo: np.ndarray
    hi: np.ndarray
    se: np.ndarray  # max((hi − lo) / 2z, √(p(1−p)/n)): the one the disparity intervals use
    centre: np.ndarray  # Wilson centre (k + z²/2) / (n + z²) on the effective size


def design_effect(value: np.ndarray, n: np.ndarray, reps: np.ndarray,
                  fallback: float | np.ndarray = 1.0, floor: float = 1.0) -> np.ndarray:
    """Cluster design effect of a rate: bootstrap variance over the binomial one, at least
    ``floor``; ``fallback`` where the rate is 0 or 1 (no variance to compare), undefined, or
    without bootstrap variance.  :func:`rate_band` takes it unfloored (``floor=0``) and floors
    only the shrunk design effect: flooring each noisy estimate at 1 before averaging it with
    another biases the average upward."""
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanvar of an all-NaN column
        boot = np.nanvar(reps, axis=0, ddof=1)
        binom = value * (1 - value) / n
        deff = boot / binom
    ok = np.isfinite(deff) & (binom > 0) & (deff > 0)
    return np.maximum(np.where(ok, deff, fallback), floor)


def wilson_design_effect(value: np.ndarray, n: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                         level: float) -> np.ndarray:
    """The design effect a rate's interval was computed with: its Wilson interval on ``n_eff``
    (:func:`rate_band`) solves ``(p − x)² = z² x(1 − x) / n_eff`` at either end ``x``, so
    ``n / n_eff`` is read back from the end farther from ``p``.  At least 1; 1 where there is no
    interval."""
    z = z_value(level)
    p, n, lo, hi = (np.asarray(v, dtype=np.float64) for v in (value, n, lo, hi))
    x = np.where(np.abs(hi - p) >= np.abs(p - lo), hi, lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_eff = z * z * x * (1 - x) / (p - x) ** 2
        deff = n / n_eff
    return np.where(np.isfinite(deff) & (deff > 1.0), deff, 1.0)


#: How many clusters the design effect a group's cluster sizes imply (its floor, ``1 + (m̄ −
#: 1)·ρ`` with ρ from all rows) counts as, against the group's own cluster-bootstrap estimate:
#: :func:`shrunk_design_effect`.
DEFF_PRIOR_CLUSTERS = 5.0


def shrunk_design_effect(boot: np.ndarray, expected: float | np.ndarray,
                         clusters: float | np.ndarray) -> np.ndarray:
    """A group's design effect: its cluster-bootstrap estimate ``boot`` shrunk towards the one
    its cluster sizes imply (``expected``), weighted by the group's effective number of
    clusters ``C = n / m̄`` against :data:`DEFF_PRIOR_CLUSTERS`, on the scale of the effective
    size ``n / deff`` the interval uses (harmonic): ``1/deff = 1/expected + C/(C + C₀) ·
    (1/boot − 1/expected)``, at least 1.  Both estimates are about unbiased, and the
    bootstrap's is noisy with few clusters (relative standard deviation about √(2/C)) and
    right-skewed; their larger, the rule of the first round, overstated the design effect by
    10–20 % with 10–40 clusters a group, and their arithmetic average (the second round) by
    5–10 % on average (bench_coverage's layout: shrunk mean 1.26–1.31 against true 1.15–1.25),
    which kept the tests of equal rates conservative.  ``C`` infinite (the default of
    :func:`rate_band`): the bootstrap's."""
    c = np.asarray(clusters, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        w = np.where(np.isinf(c), 1.0, c / np.maximum(c + DEFF_PRIOR_CLUSTERS, 1e-300))
    e = np.maximum(expected, 1.0)
    # boot > 0 (design_effect), so the effective size's weights are positive
    return np.maximum(1.0 / ((1 - w) / e + w / np.asarray(boot, dtype=np.float64)), 1.0)


def rate_band(counts: np.ndarray, rate: str, level: float, *, reps: np.ndarray | None = None,
              clustered: bool = False, fallback_deff: float | np.ndarray = 1.0,
              clusters: float | np.ndarray = np.inf) -> RateBand:
    """Interval of a k/n rate per group: Wilson, on ``n / deff`` when ``clustered`` (``reps``,
    shape (B, ...), are the rate's cluster-bootstrap replicates; ``deff`` their design effect
    shrunk towards ``fallback_deff`` by the groups' effective numbers of ``clusters``,
    :func:`shrunk_design_effect`)."""
    k, n = kn(counts, rate)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
    n_eff = n
    # ``fallback_deff``: the design effect the group's cluster sizes imply
    # (engine._ClusterSizes), steadier than a small group's own bootstrap estimate; a rate of
    # 0 or 1 (no bootstrap variance to compare) takes it
    if clustered and reps is not None:
        n_eff = n / shrunk_design_effect(design_effect(value, n, reps, fallback_deff, floor=0.0),
                                         fallback_deff, clusters)
    lo, hi = wilson(value * n_eff, n_eff, level)
    z = z_value(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = np.where(n_eff > 0, (value * n_eff + z * z / 2) / (n_eff + z * z), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):  # Wald's where it is the wider
        se = np.maximum((hi - lo) / (2 * z), np.sqrt(value * (1 - value) / n_eff))
    return RateBand(value, n, np.asarray(n_eff, dtype=np.float64), lo, hi, se, centre)


def bootstrap_interval(value: np.ndarray, reps: np.ndarray, level: float, *,
                       reflected: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Percentile bootstrap interval (basic/reflected and cut at 0 when ``reflected``),
    widened to contain ``value``."""
    alpha = (1 - level) / 2
    q_lo, q_hi = nan_quantiles(reps, (alpha, 1 - alpha))
    if reflected:
        q_lo, q_hi = np.maximum(2 * value - q_hi, 0.0), 2 * value - q_lo
    return contain(value, q_lo, q_hi)


def figure_interval(key: str, value: np.ndarray, reps: np.ndarray, level: float,
                    bands: Mapping[str, RateBand]) -> tuple[np.ndarray, np.ndarray]:
    """Interval of a figure that is not a k/n rate: the bootstrap (:func:`bootstrap_interval`),
    and for balanced accuracy and F1 never narrower than their score-interval floors —
    ``(TPR + TNR) / 2`` between the means of the two Wilson ends (one class: that rate's),
    F1 = TP / (TP + (FP + FN)/2) the Wilson interval of that count — so a perfect small
    group is not a point either."""
    lo, hi = bootstrap_interval(value, reps, level, reflected=key in REFLECTED)
    floor = None
    if key == "balanced_accuracy":
        t, n = bands["tpr"], bands["tnr"]
        both = np.isfinite(t.lo) & np.isfinite(n.lo)
        floor = (np.where(both, (t.lo + n.lo) / 2, np.where(np.isfinite(t.lo), t.lo, n.lo)),
                 np.where(both, (t.hi + n.hi) / 2, np.where(np.isfinite(t.hi), t.hi, n.hi)))
    elif key == "f1":
        floor = bands["f1"].lo, bands["f1"].hi
    if floor is not None:
        lo, hi = np.fmin(lo, floor[0]), np.fmax(hi, floor[1])
    return lo, hi


# ---------- disparities ------------------------------------------------------------------------

@dataclass(frozen=True)
class Pairs:
    """Signed pair differences whose maximum is a disparity (on the log scale for a ratio).

    ``centre``, ``se`` (items,) the group rates and their score standard errors, ``se_null``
    (items,) the standard errors with every group at the pooled rate (those of the test of equal
    rates, which the lower end inverts), ``part`` (items,) which rate (or attribute, in a
    headline) an item belongs to — the groups of one part are shrunk together — and the ordered
    pairs ``(a, b)``: the disparity is ``max(centre[a] − centre[b])``.
    """

    centre: np.ndarray
    se: np.ndarray
    se_null: np.ndarray
    part: np.ndarray
    a: np.ndarray
    b: np.ndarray
    #: (items,) the rate k/n on its own scale and its effective size, for the standard errors
    #: at rates constrained to a candidate gap (:func:`constrained_pair_se`); NaN where the
    #: item is no k/n rate (average odds), whose pairs keep ``se``
    rate: np.ndarray | None = None
    n_eff: np.ndarray | None = None
    #: (items,) the rate's denominator in rows: its step 1/n sets the continuity correction
    n: np.ndarray | None = None
    #: (items,) True where ``centre`` is the logarithm of ``rate`` (a ratio's pairs)
    log: np.ndarray | None = None

    def field(self, name: str) -> np.ndarray:
        """``rate``, ``n_eff``, ``n`` or ``log``, NaN (False) where not given."""
        v = getattr(self, name)
        if v is not None:
            return v
        return np.zeros(len(self.centre), bool) if name == "log" else np.full(len(self.centre),
                                                                             np.nan)

    @staticmethod
    def concat(parts: list[Pairs]) -> Pairs | None:
        if not parts:
            return None
        offsets = np.cumsum([0] + [len(p.centre) for p in parts[:-1]])
        part_offsets = np.cumsum([0] + [int(p.part.max()) + 1 for p in parts[:-1]])
        return Pairs(np.concatenate([p.centre for p in parts]),
                     np.concatenate([p.se for p in parts]),
                     np.concatenate([p.se_null for p in parts]),
                     np.concatenate([p.part + o for p, o in zip(parts, part_offsets)]),
                     np.concatenate([p.a + o for p, o in zip(parts, offsets)]),
                     np.concatenate([p.b + o for p, o in zip(parts, offsets)]),
                     *(np.concatenate([p.field(f) for p in parts])
                       for f in ("rate", "n_eff", "n", "log")))


#: Normal draws of the calibration (per disparity; the seed is taken from the data, so an
#: audit's intervals are reproducible).
DRAWS = 1000
#: Pairs whose shrunk slack is within this many standard errors of the top count as tied
#: (1.0 before the score-type standard errors: with them it over-covered with 4–10 groups).
TIE_MARGIN = 0.75
#: The lower end's search: rounds of a grid of candidates, each inside the last bracket (its
#: precision: the largest difference / (SEARCH_GRID + 1)**SEARCH_ROUNDS, about 1e-6 of it).
SEARCH_ROUNDS = 4
SEARCH_GRID = 31
_NORMAL = NormalDist()


def shrink_factor(centre: np.ndarray, se: np.ndarray, part: np.ndarray,
                  items: np.ndarray) -> np.ndarray:
    """Per part, the James–Stein factor ``B = max(0, 1 − (k − 1)/Q)`` by which the spread of
    its k groups is shrunk towards their precision-weighted mean (``Q`` the chi-square statistic
    of equal rates): 0 when the groups look alike, near 1 when their differences stand out."""
    th, w, pt = centre[items], 1.0 / se[items] ** 2, part[items]
    n_parts = int(part.max()) + 1
    sw = np.bincount(pt, w, n_parts)
    mean = np.bincount(pt, w * th, n_parts) / np.where(sw > 0, sw, 1.0)
    q = np.bincount(pt, w * (th - mean[pt]) ** 2, n_parts)
    k = np.bincount(pt, None, n_parts)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(q > 0, 1.0 - (k - 1) / q, 0.0)
    return np.clip(f, 0.0, 1.0)


def constrained_pair_se(p1: np.ndarray, n1: np.ndarray, p2: np.ndarray, n2: np.ndarray,
                        x: float, log: np.ndarray) -> np.ndarray:
    """Standard error of ``θ₁ − θ₂`` at the rates constrained to a true gap ``x`` (score type).

    The two rates ``k/n`` are replaced by their maximum-likelihood estimates under the
    hypothesis ``p₁ − p₂ = x`` (Farrington–Manning's closed form, the cubic's root in [0, 1]) or,
    where ``log`` (a ratio's pairs, ``θ = log p``), ``p₁ = eˣ·p₂`` (Miettinen–Nurminen's
    quadratic), and the standard error is the one those rates imply: ``√(Σ p(1 − p)/n)``, or
    ``√(Σ (1 − p)/(n·p))`` on the log scale.  Inverting a test whose standard error sits at the
    hypothesis rather than at the estimates is what keeps a rate near 0 or 1 from studentizing
    its own noise: a low estimate of a rate near 1 no longer inflates the standard error that
    judges it.  ``n`` may be an effective (real) size.  NaN where an input is.
    """
    p1, n1, p2, n2 = (np.asarray(v, dtype=np.float64) for v in (p1, n1, p2, n2))
    log = np.asarray(log, dtype=bool)
    out = np.full(np.broadcast_shapes(p1.shape, p2.shape, np.shape(x), log.shape), np.nan)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if not log.all():  # differences: Farrington & Manning (1990), p1 − p2 = x, θ = n2/n1
            th = n2 / n1
            a_ = 1 + th
            b_ = -(1 + th + p1 + th * p2 + x * (th + 2))
            c_ = x * x + x * (2 * p1 + th + 1) + p1 + th * p2
            d_ = -p1 * x * (1 + x)
            v = b_ ** 3 / (3 * a_) ** 3 - b_ * c_ / (6 * a_ * a_) + d_ / (2 * a_)
            u = np.sign(v) * np.sqrt(np.maximum(b_ * b_ / (3 * a_) ** 2 - c_ / (3 * a_), 0.0))
            ratio = np.where(u != 0, v / u ** 3, 0.0)
            w = (np.pi + np.arccos(np.clip(ratio, -1.0, 1.0))) / 3
            q1 = np.clip(2 * u * np.cos(w) - b_ / (3 * a_), 0.0, 1.0)
            q2 = np.clip(q1 - x, 0.0, 1.0)
            out = np.where(log, out, np.sqrt(q1 * (1 - q1) / n1 + q2 * (1 - q2) / n2))
        if log.any():  # log ratios: Miettinen & Nurminen (1985), p1 = φ·p2
            phi = np.exp(x)
            k1, k2 = p1 * n1, p2 * n2
            qa = (n1 + n2) * phi
            qb = -(n1 * phi + k1 + n2 + k2 * phi)
            r2 = np.clip((-qb - np.sqrt(np.maximum(qb * qb - 4 * qa * (k1 + k2), 0.0)))
                         / (2 * qa), 1e-12, 1.0)
            r1 = np.clip(phi * r2, 1e-12, 1.0)
            out = np.where(log, np.sqrt((1 - r1) / (n1 * r1) + (1 - r2) / (n2 * r2)), out)
    return np.where(np.isfinite(p1 + p2 + n1 + n2), out, np.nan)


#: The continuity correction of the tests the lower end inverts, as a fraction of Yates's
#: half a step of each rate, ``½(1/n₁ + 1/n₂)`` (on the log scale ``½(1/(n₁p₁) + 1/(n₂p₂))``).
CONTINUITY = 0.5
#: Cochran's rule: the normal approximation of a 2×2 table is trusted where every cell's
#: expected count is at least this (:mod:`fairsel.metrics.significance` switches to Fisher's
#: exact test below it; here the continuity correction is tapered below it).
MIN_EXPECTED = 5.0


def continuity(p1: np.ndarray, n1: np.ndarray, p2: np.ndarray, n2: np.ndarray,
               log: np.ndarray) -> np.ndarray:
    """Per pair, the continuity correction subtracted from ``d − x`` (0 where the pair is no two
    k/n rates).

    :data:`CONTINUITY` of Yates's, times ``min(1, e / MIN_EXPECTED)``, ``e`` the smallest
    expected cell count of the pair's 2×2 table at its pooled rate, ``min(n₁, n₂)·min(p̄, 1 − p̄)``.
    The correction keeps the normal test at its level where rates move in steps of 1/n and both
    outcomes are common; where one outcome is rare (a TPR of 0.97 on 100 positives: 3 expected
    misses) the discrete statistic's tail is already short and the full correction made the
    test conservative (a true disparity of 0 covered 0.979–0.993 of the time at 200 rows).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        cc = np.where(log, 0.5 * (1 / (n1 * p1) + 1 / (n2 * p2)), 0.5 * (1 / n1 + 1 / n2))
        pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
        expected = np.minimum(n1, n2) * np.minimum(pooled, 1 - pooled)
        taper = np.clip(expected / MIN_EXPECTED, 0.0, 1.0)
    return np.where(np.isfinite(cc) & np.isfinite(taper), CONTINUITY * cc * taper, 0.0)


def _quantile_of_max(t: np.ndarray, level: float) -> float:
    """The ``level`` quantile of each draw's largest pair statistic."""
    m = t.max(axis=1)
    k = min(len(m) - 1, int(np.ceil(level * len(m))) - 1)
    return float(np.partition(m, k)[k])


def max_pair_interval(p: Pairs, level: float) -> tuple[float, float]:
    """Interval of ``D = max over pairs of (θ_a − θ_b)``, a non-negative worst case.

    Upper end ``max(d̂ + z·se)``.  Lower end: 0 when the simultaneous test of equal rates over
    every pair accepts (largest ``t = (d̂ − cc)/se₀`` at most ``c₀``, the (1 − α) quantile of
    the largest ``|t|`` of normal draws, ``cc`` :func:`continuity`); otherwise the smallest
    ``x`` with no pair of S at ``(d̂ − x − cc) / se(x) > c(x)``, ``se(x)`` at the rates
    constrained to the gap ``x`` (:func:`constrained_pair_se`; the estimates' where a pair is
    no two k/n rates), ``c(x)`` the (1 − α + u(x)) quantile of ``max(t* − slack)`` over the
    pairs that may be the largest (the slack of a pair its distance below the top in the
    James–Stein-shrunk configuration less :data:`TIE_MARGIN` standard errors), ``u(x)`` a
    bound on how often the upper end falls short of a true ``x`` (0 near the boundary).  See
    the module docstring.
    """
    if len(p.a) == 0:
        return np.nan, np.nan
    alpha = 1 - level
    z = z_value(level)
    se_low_item = np.fmax(p.se, p.se_null)

    def pair_se(se: np.ndarray) -> np.ndarray:
        return np.sqrt(se[p.a] ** 2 + se[p.b] ** 2)

    d = p.centre[p.a] - p.centre[p.b]
    s = pair_se(p.se)
    # the lower end tests "the rates differ by at most L": near L = 0 that is the test of equal
    # rates, whose standard errors are at the pooled rate (an extreme group's own p(1 − p) is
    # too small there, and the largest |t| too large)
    s_low = pair_se(se_low_item)
    keep = np.isfinite(d) & np.isfinite(s) & (s > 0)
    if not keep.any():
        return np.nan, np.nan
    a, b, d, s, s_low = p.a[keep], p.b[keep], d[keep], s[keep], s_low[keep]
    rate, n_eff, n_rows, log = (p.field(f) for f in ("rate", "n_eff", "n", "log"))
    n_pairs = max(1, (len(d) + 1) // 2)  # ordered pairs come in both orientations
    kappa = z + NormalDist().inv_cdf(1 - alpha / (2 * n_pairs))
    # the shrunk configuration: each part's differences times its James–Stein factor
    shrunk = shrink_factor(p.centre, p.se, p.part, np.unique(np.r_[a, b]))[p.part[a]] * d
    # pairs that may be the largest (generous: where every group is alike, all of them)
    sel = np.flatnonzero(shrunk + kappa * s >= shrunk.max())
    hi = float(np.max((d + z * s)[sel]))
    items, inv = np.unique(np.r_[a, b], return_inverse=True)
    ia_all, ib_all = inv[:len(a)], inv[len(a):]
    # seeded from the differences rounded to 1e-6 (a last-digit change on another platform
    # does not change the draws)
    key = np.ascontiguousarray(np.round(d, 6) + 0.0)
    rng = np.random.default_rng(zlib.crc32(key.tobytes()))
    zs = rng.standard_normal((DRAWS, len(items)), dtype=np.float32)

    def studentized(se_item: np.ndarray, ia: np.ndarray, ib: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(draws, pairs) pair noise over its standard error, and the pairs' standard errors,
        for the pairs ``(items[ia], items[ib])``."""
        sp = np.sqrt(se_item[items[ia]] ** 2 + se_item[items[ib]] ** 2)
        e = zs * se_item[items].astype(np.float32)
        return (e[:, ia] - e[:, ib]) / sp.astype(np.float32), sp

    # the simultaneous test of equal rates over every pair (not only those that look largest:
    # chosen by the data, they would make the test too lenient), standard errors at the pooled
    # rate (exact there)
    t0, s0 = studentized(np.where(p.se_null > 0, p.se_null, p.se), ia_all, ib_all)
    cc_all = continuity(rate[a], n_rows[a], rate[b], n_rows[b], log[a])
    if np.max((d - cc_all) / s0) <= max(z, _quantile_of_max(np.abs(t0), level)):  # accepts
        return 0.0, max(hi, 0.0)
    cc = cc_all[sel]
    a, b, d, s, s_low, shrunk = a[sel], b[sel], d[sel], s[sel], s_low[sel], shrunk[sel]
    ia, ib = ia_all[sel], ib_all[sel]
    t, _ = studentized(se_low_item, ia, ib)
    # the floor of the critical value: the largest pair of each part (rate) counted as tied
    # with the other parts' (each part is shrunk by its own factor, so their slack is not read
    # from the shrunk configuration); those pairs share no group, so the floor is exact
    pa = p.part[a]
    parts = np.unique(pa)
    tops = np.array([np.flatnonzero(pa == q)[np.argmax(d[pa == q])] for q in parts])
    t -= np.maximum(0.0, (shrunk.max() - shrunk) / s_low - TIE_MARGIN).astype(np.float32)
    m_all = np.sort(t.max(axis=1))
    others = np.ones(len(d), dtype=bool)
    others[tops] = False
    m_others = np.sort(t[:, others].max(axis=1)) if others.any() else np.full(DRAWS, -np.inf)
    # how often the upper end falls short at the configuration: every positive pair's t* below
    # −z (a reversed pair, d < 0, is the folding bounded below) — the parts' top pairs all
    # below −z (exact: Φ(−z)^parts), times how often the other positive pairs are then below
    # too (1 where they never reach it, as with one dominant pair)
    short = t[:, tops].max(axis=1) < -z
    rest = others & (d >= 0)
    frac = (float(np.mean(t[short][:, rest].max(axis=1) < -z))
            if rest.any() and short.any() else 1.0)
    p_config = (alpha / 2) ** len(parts) * frac
    s_top = float(s[np.argmax(d)])

    def critical(x: float) -> float:
        """The lower end's critical value for a true disparity ``x``: the lower end may miss
        as often as α less what the upper end does.  The upper end misses ``x`` at most as
        often as for one pair and its reverse (|d̂| + z·se < x: α/2 − Φ(z − 2x/se), 0 while
        x < z·se — at the boundary the upper end cannot miss), and at most as often as at the
        configuration."""
        p_up = min(p_config, max(0.0, alpha / 2 - _NORMAL.cdf(z - 2 * x / s_top)))
        floor = _NORMAL.inv_cdf((1 - alpha + p_up) ** (1 / len(parts)))
        k = min(DRAWS - 1, int(np.ceil((1 - alpha + p_up) * DRAWS)) - 1)
        # where no other pair reaches the floor, the floor is the critical value (one dominant
        # pair: the ordinary interval of a difference, without simulation noise)
        return floor if m_others[k] <= floor else max(floor, float(m_all[k]))

    c_near = critical(0.0)  # c(x) while x ≤ z·se of the top pair (the upper end cannot miss)
    gap = d - cc  # a pair can reject "at most x" only where its gap exceeds x

    def rejects(xs: np.ndarray) -> np.ndarray:
        """For each candidate ``x`` (ascending), whether the test of "the disparity is at most
        x" rejects: some pair's ``(d − x − cc) / se(x)`` above ``c(x)``, ``se(x)`` the pair's
        standard error at rates constrained to the gap ``x`` (score type,
        :func:`constrained_pair_se`; ``s_low`` for a pair that is no two k/n rates)."""
        j = np.flatnonzero(gap > xs[0])
        if len(j) == 0:
            return np.zeros(len(xs), dtype=bool)
        c = np.array([c_near if x <= z * s_top else critical(float(x)) for x in xs])
        sx = constrained_pair_se(rate[a[j], None], n_eff[a[j], None], rate[b[j], None],
                                 n_eff[b[j], None], xs[None, :], log[a[j], None])
        sx = np.where(np.isfinite(sx) & (sx > 0), sx, s_low[j, None])
        return np.any(gap[j, None] - xs[None, :] > c[None, :] * sx, axis=0)

    # lower end: the smallest x the test no longer rejects (the statistic falls with x and c
    # grows with it): a grid search, each round on a finer grid inside the last bracket
    if not rejects(np.zeros(1))[0]:
        return 0.0, max(hi, 0.0)
    lo, top = 0.0, float(np.max(d))
    for _ in range(SEARCH_ROUNDS):
        xs = np.linspace(lo, top, SEARCH_GRID + 2)[1:-1]
        rej = rejects(xs)
        first = int(np.argmin(rej)) if not rej.all() else len(xs)
        lo = float(xs[first - 1]) if first > 0 else lo
        top = float(xs[first]) if first < len(xs) else top
    return lo, max(hi, lo)


def _items(centre: np.ndarray, se: np.ndarray, se_null: np.ndarray, usable: np.ndarray,
           reference: int | None) -> Pairs | None:
    """The ordered pairs of one rate over its usable groups (all of them, or each group against
    the reference in both directions)."""
    idx = np.flatnonzero(usable)
    if reference is not None:
        if not usable[reference]:
            return None
        others = idx[idx != reference]
        a = np.concatenate([others, np.full(len(others), reference)])
        b = np.concatenate([np.full(len(others), reference), others])
    else:
        a, b = (x.ravel() for x in np.meshgrid(idx, idx, indexing="ij"))
        a, b = a[a != b], b[a != b]
    if len(a) == 0:
        return None
    return Pairs(centre, se, se_null, np.zeros(len(centre), dtype=np.int64), a, b)


def disparity_pairs(bands: Mapping[str, RateBand], rates: tuple[str, ...], kind: str, *,
                    reference: int | None,
                    eligible: np.ndarray | Mapping[str, np.ndarray]) -> Pairs | None:
    """The signed pairs whose maximum is a disparity of ``rates`` over the eligible groups.

    ``eligible`` is the set of groups allowed in (per rate when a mapping); it is an input — who
    is eligible is decided by the engine, not here.  ``avg_odds`` is (TPR + FPR) / 2.  With
    clusters the bands' standard errors already carry the design effects.
    """
    parts = []
    for r in rates:
        if r == "avg_odds":
            t, f = bands["tpr"], bands["fpr"]
            band = RateBand((t.value + f.value) / 2, np.minimum(t.n, f.n),
                            np.minimum(t.n_eff, f.n_eff), t.lo, t.hi,
                            np.sqrt(t.se ** 2 + f.se ** 2) / 2, (t.centre + f.centre) / 2)
            elig = _elig(eligible, "tpr") & _elig(eligible, "fpr")
        else:
            band, elig = bands[r], _elig(eligible, r)
        usable = elig & np.isfinite(band.value) & np.isfinite(band.se) & (band.se > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(usable, band.n_eff, 0.0)
            pooled = np.nansum(w * np.where(usable, band.value, 0.0)) / max(w.sum(), 1e-300)
            se_null = np.sqrt(pooled * (1 - pooled) / band.n_eff)
        kn_rate = r != "avg_odds"  # (TPR + FPR) / 2 is no k/n: its pairs keep ``se``
        if kind == "ratio":  # the log scale; a rate of 0/n takes its Wilson centre (finite)
            centre = np.where(band.value > 0, band.value, band.centre)
            usable &= centre > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                items = _items(np.log(centre), band.se / centre, se_null / pooled, usable,
                               reference)
        else:
            centre = band.value
            items = _items(band.value, band.se, se_null, usable, reference)
        if items is not None:
            nan = np.full(len(centre), np.nan)
            parts.append(dataclasses.replace(
                items, rate=np.asarray(centre if kn_rate else nan, dtype=np.float64),
                n_eff=np.asarray(band.n_eff if kn_rate else nan, dtype=np.float64),
                n=np.asarray(band.n if kn_rate else nan, dtype=np.float64),
                log=np.full(len(centre), kind == "ratio")))
    return Pairs.concat(parts)


def _elig(eligible: np.ndarray | Mapping[str, np.ndarray], rate: str) -> np.ndarray:
    e = eligible[rate] if isinstance(eligible, Mapping) else eligible
    return np.asarray(e, dtype=bool)


def disparity_interval(pairs: Pairs | None, kind: str, value: float,
                       level: float) -> tuple[float, float]:
    """Interval of a disparity on the metric's scale (a ratio is ``exp(−worst log gap)``),
    widened to contain ``value``."""
    if pairs is None or not np.isfinite(value):
        return np.nan, np.nan
    lo, hi = max_pair_interval(pairs, level)
    if kind == "difference":  # rates lie in [0, 1]: no difference of two exceeds 1
        lo, hi = min(lo, 1.0), min(hi, 1.0)
    if kind == "ratio":
        lo, hi = float(np.exp(-hi)), float(np.exp(-lo))
    out = contain(np.array(value), np.array(lo), np.array(hi))
    return float(out[0]), float(out[1])
