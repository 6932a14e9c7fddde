"""Coverage of fairsel's 95% intervals, by simulating audits with a known truth.

Each simulated audit draws ``groups`` groups of ``rows`` rows from a known model, computes
their intervals with the metric engine's own interval code, and checks whether each 95%
interval contains the true value.  The audits are drawn in batches as confusion counts (the
rows' counts have exactly that binomial distribution) and go through the steps that
``fairsel.metrics.evaluate_variant`` (the function the CLI calls) takes after its counts
(:func:`audit_intervals`); before the grid, :func:`check_against_engine` runs
``evaluate_variant`` itself on some of the audits, expanded back to rows, and requires the
same intervals (``--check``).  The model:

* rows: the true outcome ``y ~ Bernoulli(0.5)``; the decision ``~ Bernoulli(tpr_g)`` when
  ``y = 1`` and ``~ Bernoulli(fpr_g)`` when ``y = 0``, so group g's true selection rate is
  ``(tpr_g + fpr_g) / 2``.
* rates ``mid``: TPR 0.70, FPR 0.30 (selection rate 0.50); ``edge``: TPR 0.97, FPR 0.83
  (selection rate 0.90) — near 1, where many groups of 20–50 rows have a TPR of n/n.
* truth ``zero``: every group has the same rates (every true difference is 0, every true ratio
  1: the worst case sits on its boundary). Truth ``gap``: the groups' TPR and FPR are spread
  evenly over ``delta`` (0.10 mid, 0.05 edge) below the rates above, so the true differences are
  ``delta`` and the true disparate impact the smallest over the largest selection rate.
* clusters ``yes``: rows come in clusters of 5 inside a group; each cluster draws its own TPR
  and FPR from a Beta distribution with the group's mean and an intra-cluster correlation of
  0.1 (the marginal rates stay the same); fairsel is given the cluster column and resamples
  clusters.  ``no``: rows are independent.

Metrics: each group's selection rate and TPR (coverage over all groups of all audits),
``disparate_impact``, ``demographic_parity_difference``, ``equal_opportunity_difference``,
``equalized_odds_difference`` (fairlearn's convention: no reference group).  ``min_group_size``
is 1 so that groups of 20 take part.  Scores are the 0/1 decisions (the score figures are not
measured here, and tied scores keep the engine's score bins to two).

Targets: coverage in [0.93, 0.975] at every setting with at least 50 rows per group; at least
0.90 below that.  With 1,000 audits the Monte Carlo standard error of a coverage near 0.95 is
0.007.

Resamples: the interval method is the CLI's; ``--resamples`` sets the replicates per audit
(default 200, to keep the run short on two cores; the CLI's default is 1,000).  Rates' intervals
(Wilson) and the disparities (normal draws at the shrunk group rates) do not use the replicates
without clusters; with clusters every interval uses them for the design effects.

Usage::

    python benchmarks/bench_coverage.py                       # every setting, 1,000 audits each
    python benchmarks/bench_coverage.py --audits 200 --rows 50 --groups 4   # a quick look
    python benchmarks/bench_coverage.py --clusters no --markdown table.md

Exit code: 0 every target met; 1 a target missed.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METRICS = ("selection_rate", "tpr", "disparate_impact", "demographic_parity_difference",
           "equal_opportunity_difference", "equalized_odds_difference")
SHORT = {"selection_rate": "SR", "tpr": "TPR", "disparate_impact": "DI",
         "demographic_parity_difference": "DPD", "equal_opportunity_difference": "EOpD",
         "equalized_odds_difference": "EOdD"}
REGIMES = {"mid": (0.70, 0.30, 0.10), "edge": (0.97, 0.83, 0.05)}  # tpr, fpr, delta
CLUSTER_SIZE = 5
ICC = 0.1
LOW, HIGH, FLOOR = 0.93, 0.975, 0.90


@dataclass(frozen=True)
class Setting:
    rows: int
    groups: int
    regime: str
    clusters: bool
    truth: str  # "zero" | "gap"

    def rates(self) -> tuple[np.ndarray, np.ndarray]:
        tpr, fpr, delta = REGIMES[self.regime]
        step = (np.arange(self.groups) / max(self.groups - 1, 1)) * (delta if self.truth == "gap" else 0.0)
        return tpr - step, fpr - step

    def truth_values(self) -> dict[str, np.ndarray | float]:
        tpr, fpr = self.rates()
        sr = (tpr + fpr) / 2
        return {"selection_rate": sr, "tpr": tpr, "disparate_impact": sr.min() / sr.max(),
                "demographic_parity_difference": sr.max() - sr.min(),
                "equal_opportunity_difference": tpr.max() - tpr.min(),
                "equalized_odds_difference": max(tpr.max() - tpr.min(), fpr.max() - fpr.min())}


def _beta(rng: np.random.Generator, mean: np.ndarray, size) -> np.ndarray:
    k = (1 - ICC) / ICC
    return rng.beta(mean * k, (1 - mean) * k, size=size)


def simulate_counts(s: Setting, rng: np.random.Generator, audits: int):
    """``audits`` audits at once, as confusion counts (tn, fp, fn, tp): per group
    ``(audits, groups, 4)`` and, with clusters, per cluster ``(audits, groups, clusters, 4)``
    (``None`` without).  The same model as :func:`simulate` (rows with ``y ~ Bernoulli(0.5)``
    and the decision ``~ Bernoulli(rate)``) drawn as binomial counts: a group's or a
    cluster's counts have exactly the distribution of the rows' counts."""
    tpr, fpr = s.rates()
    if s.clusters:
        ncg = s.rows // CLUSTER_SIZE
        shape = (audits, s.groups, ncg)
        pos = rng.binomial(CLUSTER_SIZE, 0.5, size=shape)
        p1 = _beta(rng, np.broadcast_to(tpr[None, :, None], shape), shape)
        p0 = _beta(rng, np.broadcast_to(fpr[None, :, None], shape), shape)
        n = CLUSTER_SIZE
    else:
        shape = (audits, s.groups)
        pos = rng.binomial(s.rows, 0.5, size=shape)
        p1, p0 = np.broadcast_to(tpr, shape), np.broadcast_to(fpr, shape)
        n = s.rows
    tp = rng.binomial(pos, p1)
    fp = rng.binomial(n - pos, p0)
    cells = np.stack([n - pos - fp, fp, pos - tp, tp], axis=-1).astype(np.float64)
    if s.clusters:
        return cells.sum(axis=2), cells
    return cells, None


def expand_rows(counts: np.ndarray, cl_counts: np.ndarray | None):
    """One audit's counts back to rows (y_true, y_pred, group, cluster ids or None), to run
    the engine itself on the same data (:func:`check_against_engine`)."""
    cells = counts if cl_counts is None else cl_counts.reshape(-1, 4)
    reps = cells.astype(np.int64).ravel()
    unit = np.repeat(np.arange(len(cells)), 4)  # group (or cluster) of each cell
    kind = np.tile(np.arange(4), len(cells))  # cell (tn, fp, fn, tp): y = kind >= 2, pred odd
    unit, kind = np.repeat(unit, reps), np.repeat(kind, reps)
    y, pred = (kind >= 2).astype(np.int8), (kind % 2).astype(np.int8)
    if cl_counts is None:
        return y, pred, unit, None
    return y, pred, unit // cl_counts.shape[1], unit


def cluster_reps(cl_counts: np.ndarray, resamples: int, rng: np.random.Generator):
    """The engine's cluster bootstrap (every cluster of the audit drawn with replacement,
    ``multinomial(clusters, uniform)`` weights) of each audit's group counts:
    ``(resamples, audits, groups, 4)``."""
    a, g, ncg, _ = cl_counts.shape
    nc = g * ncg
    flat = cl_counts.reshape(a, nc, 4)
    out = np.empty((resamples, a, g, 4))
    step = max(1, 20_000_000 // (resamples * nc))
    for i in range(0, a, step):
        j = min(a, i + step)
        idx = rng.integers(0, nc, size=(j - i, resamples, nc))
        idx += (np.arange((j - i) * resamples) * nc).reshape(j - i, resamples, 1)
        w = np.bincount(idx.ravel(), minlength=(j - i) * resamples * nc)
        # weights @ cluster counts, per group: (audits, B, clusters) x (audits, clusters, 4)
        w = w.reshape(j - i, resamples, g, ncg).astype(np.float64)
        out[:, i:j] = np.einsum("abgc,agck->bagk", w, flat[i:j].reshape(j - i, g, ncg, 4))
    return out


FAIR = METRICS[2:]


def audit_intervals(counts: np.ndarray, cl_counts: np.ndarray | None, resamples: int,
                    level: float, rng: np.random.Generator) -> list[dict]:
    """Every audit's intervals, by the engine's own interval code.

    The steps of :func:`fairsel.metrics.evaluate_variant` after its counts (engine.py, the
    "intervals" block): each rate's :func:`rate_band` (Wilson; with clusters on the effective
    size, the design effects from the cluster bootstrap's replicates, shrunk towards the one
    expected from the group's own cluster sizes by its effective number of clusters), the disparity by :func:`disparity` over the groups
    :func:`rate_eligibility` admits, its interval by :func:`disparity_pairs` and
    :func:`disparity_interval`.  Vectorised over audits where the code is (the bands); the
    disparity intervals one audit at a time.  :func:`check_against_engine` runs the engine
    itself on the same data and compares."""
    from fairsel.metrics.counts import rate_eligibility, rates_from_counts
    from fairsel.metrics.disparity import FAIRNESS_METRICS, disparity
    from fairsel.metrics.intervals import (KN_RATES, RateBand, design_effect,
                                           disparity_interval, disparity_pairs, rate_band)

    keys = ("selection_rate", "tpr", "fpr")
    clustered = cl_counts is not None
    reps = rep_all = None
    if clustered:
        r = cluster_reps(cl_counts, resamples, rng)
        reps = rates_from_counts(r)
        rep_all = rates_from_counts(r.sum(axis=2))
    bands = {}
    for key in keys:
        fb = np.float64(1.0)
        if clustered:
            # the engine's expected one (engine._ClusterSizes): 1 + (m̄ − 1)·ρ, m̄ a group's mean
            # cluster size over the rate's denominator, ρ from all rows' design effect
            ob = rate_band(counts.sum(axis=1), key, level, reps=rep_all[key], clustered=True)
            deff_all = design_effect(ob.value, ob.n, rep_all[key])
            d = cl_counts[..., list(KN_RATES[key][1])].sum(axis=-1)  # (audits, groups, clusters)
            with np.errstate(divide="ignore", invalid="ignore"):
                m_g = np.where(d.sum(-1) > 0, (d * d).sum(-1) / d.sum(-1), 1.0)
                m_all = (d * d).sum((1, 2)) / d.sum((1, 2))
                rho = np.where(m_all > 1, np.clip((deff_all - 1) / (m_all - 1), 0, 1), 0.0)
            fb = np.maximum(1 + (m_g - 1) * rho[:, None], 1.0)
            with np.errstate(divide="ignore", invalid="ignore"):  # effective clusters n / m̄
                n_cl = np.where(d.sum(-1) > 0, d.sum(-1) ** 2 / (d * d).sum(-1), 0.0)
        bands[key] = rate_band(counts, key, level, reps=None if reps is None else reps[key],
                               clustered=clustered, fallback_deff=fb,
                               clusters=n_cl if clustered else np.inf)
    rates = rates_from_counts(counts)
    out = []
    for i in range(len(counts)):
        band_i = {k: RateBand(*(getattr(b, f)[i] for f in RateBand.__dataclass_fields__))
                  for k, b in bands.items()}
        elig = rate_eligibility(counts[i], 1)
        res = {k: (band_i[k].value, band_i[k].lo, band_i[k].hi) for k in ("selection_rate", "tpr")}
        for m in FAIR:
            spec = FAIRNESS_METRICS[m]
            v = float(disparity({k: x[i] for k, x in rates.items()}, m, reference=None,
                                eligible=elig))
            pairs = disparity_pairs(band_i, spec.rates, spec.kind, reference=None, eligible=elig)
            res[m] = (v, *disparity_interval(pairs, spec.kind, v, level))
        out.append(res)
    return out


def run_setting(s: Setting, audits: int, resamples: int, seed: int) -> dict[str, float]:
    """Coverage of each metric over ``audits`` simulated audits."""
    truth = s.truth_values()
    rng = np.random.default_rng([seed, s.rows, s.groups, len(s.regime), s.clusters,
                                 s.truth == "gap"])
    hits = {m: 0.0 for m in METRICS}
    chunk = 250
    for start in range(0, audits, chunk):
        a = min(chunk, audits - start)
        counts, cl = simulate_counts(s, rng, a)
        for res in audit_intervals(counts, cl, resamples, 0.95, rng):
            for m in ("selection_rate", "tpr"):
                v, lo, hi = res[m]
                ok = np.isfinite(v)  # an undefined TPR (no positives) has nothing to cover
                cov = (lo[ok] <= truth[m][ok]) & (truth[m][ok] <= hi[ok])
                hits[m] += float(np.mean(cov)) if cov.size else 1.0
            for m in FAIR:
                v, lo, hi = res[m]
                hits[m] += bool(np.isfinite(v) and lo - 1e-12 <= truth[m] <= hi + 1e-12)
    return {m: hits[m] / audits for m in METRICS}


def check_against_engine(s: Setting, audits: int, resamples: int, seed: int) -> float:
    """Run :func:`fairsel.metrics.evaluate_variant` (the function the CLI calls) on ``audits``
    of the simulated audits, expanded back to rows, and compare with :func:`audit_intervals`.

    Without clusters neither path uses the bootstrap for these intervals: they must agree to
    1e-9 (an ``AssertionError`` otherwise).  With clusters the two bootstraps draw different
    replicates; returns the largest difference of an interval end over its width (Monte Carlo
    noise of the design effects, which shrinks with ``resamples``)."""
    from fairsel.metrics import Confidence, Partition, evaluate_variant

    rng = np.random.default_rng([seed, 7])
    counts, cl = simulate_counts(s, rng, audits)
    fast = audit_intervals(counts, cl, resamples, 0.95, rng)
    part = Partition("g", ("g",), "attribute", tuple(f"g{i}" for i in range(s.groups)),
                     np.arange(s.groups), None)
    worst = 0.0
    for i in range(audits):
        y, pred, g, c = expand_rows(counts[i], None if cl is None else cl[i])
        res = evaluate_variant(y, pred, pred.astype(np.float64), atoms=g, n_atoms=s.groups,
                               partitions=[part], folds=np.zeros(len(y), np.int8), n_folds=1,
                               clusters=c, min_group_size=1,
                               confidence=Confidence(level=0.95, resamples=resamples),
                               seed=seed + i, label="coverage")
        attr = res.attributes[0]
        pairs = []
        for m in ("selection_rate", "tpr"):
            for j, row in enumerate(attr.groups):
                e = row.rates[m]
                pairs.append(((e.value, *e.ci) if e.value is not None else (np.nan,) * 3,
                              tuple(x[j] for x in fast[i][m])))
        for m in FAIR:
            e = attr.fairness[m]
            pairs.append(((e.value, *e.ci), fast[i][m]))
        for eng, mine in pairs:
            eng, mine = np.asarray(eng, float), np.asarray(mine, float)
            if np.isnan(eng[0]) and np.isnan(mine[0]):
                continue
            assert abs(eng[0] - mine[0]) < 1e-9, (s, i, eng, mine)
            width = max(eng[2] - eng[1], 1e-12)
            diff = float(np.max(np.abs(eng[1:] - mine[1:]))) / width
            if cl is None:
                assert diff < 1e-9 * max(1.0, 1 / width), (s, i, eng, mine)
            worst = max(worst, diff)
    return worst


def verdict(rows: int, cov: float) -> bool:
    return (LOW <= cov <= HIGH) if rows >= 50 else cov >= FLOOR


def discreteness_bound(n: int = 25, rate: float = 0.97, alpha: float = 0.05) -> dict:
    """Why no test can bring the `edge` cells' coverage at a true disparity of 0 under 0.975.

    Two groups of ``n`` positives each, the same TPR ``rate``: the interval of their
    difference covers 0 exactly when its test of equal rates accepts, so its coverage is one
    minus the test's rejection rate there. Take any non-randomized test that is monotone
    (Barnard's convexity: if it rejects k1 of n against k2 of n with k1 > k2, it rejects every
    outcome further apart, k1' >= k1 and k2' <= k2, and the same with the groups swapped).

    * If it rejects (n, n - 3), it rejects (n, k) for every k <= n - 3: that set alone has
      probability ``forced_size`` at the common rate ``worst_rate``, above ``alpha``, so the
      test does not keep its level.
    * If it does not, it rejects (k1, k2), k1 > k2, only when k2 <= n - 4 (else it would reject
      (n, k2) and so (n, n - 3)), and the same swapped: at most ``max_rejection`` of the
      outcomes at ``rate``, so the coverage is at least ``1 - max_rejection``.

    Returned with the exact binomial probabilities.
    """
    from scipy.stats import binom

    k = np.arange(n + 1)
    pmf = binom.pmf(k, n, rate)
    # without (n, n - 3): a rejected (k1, k2), k1 > k2, needs k2 <= n - 4 (else (n, n - 3) is
    # implied), and the same swapped
    low = pmf[: n - 3].sum()
    max_rejection = 2 * low - low * low
    rates = np.linspace(0.5, 0.995, 100)
    forced = [2 * binom.pmf(n, n, r) * binom.cdf(n - 3, n, r) for r in rates]
    i = int(np.argmax(forced))
    return {"n": n, "rate": rate, "max_rejection": float(max_rejection),
            "coverage_at_least": float(1 - max_rejection), "forced_size": float(forced[i]),
            "worst_rate": float(rates[i]), "alpha": alpha}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--audits", type=int, default=1000)
    ap.add_argument("--resamples", type=int, default=200)
    ap.add_argument("--rows", type=int, nargs="*", default=[20, 50, 200, 1000])
    ap.add_argument("--groups", type=int, nargs="*", default=[2, 4, 10])
    ap.add_argument("--regime", nargs="*", default=list(REGIMES))
    ap.add_argument("--clusters", nargs="*", default=["no", "yes"], choices=["no", "yes"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--markdown", type=Path, help="also write the table to this file")
    ap.add_argument("--check", type=int, default=20, metavar="N",
                    help="first run the engine itself on N simulated audits of two settings "
                         "and compare (default 20; 0 skips)")
    ap.add_argument("--bound", action="store_true",
                    help="print the discreteness bound of the edge cells at a true disparity of "
                         "0 (discreteness_bound) and stop")
    args = ap.parse_args(argv)
    if args.bound:
        b = discreteness_bound()
        print(f"two groups of {b['n']} positives, both with a TPR of {b['rate']}: a monotone "
              f"test that rejects ({b['n']}, {b['n'] - 3}) rejects with probability "
              f"{b['forced_size']:.3f} > {b['alpha']} at a common TPR of {b['worst_rate']:.3f} "
              f"(it does not keep its level); one that does not rejects at most "
              f"{b['max_rejection']:.4f} at {b['rate']}: coverage of a true difference of 0 at "
              f"least {b['coverage_at_least']:.4f} (target <= 0.975)")
        return 0
    if args.check:
        t0 = time.perf_counter()
        for s in (Setting(50, 4, "edge", False, "gap"), Setting(20, 10, "mid", False, "zero")):
            check_against_engine(s, args.check, args.resamples, args.seed)
        noise = check_against_engine(Setting(50, 4, "mid", True, "gap"), args.check, 2000,
                                     args.seed)
        print(f"check: evaluate_variant and the batch path agree on {2 * args.check} audits "
              f"without clusters (1e-9); with clusters (2,000 resamples each) the ends differ by "
              f"at most {noise:.2f} of a width ({time.perf_counter() - t0:.0f} s)", flush=True)

    head = ["rows", "groups", "rates", "clusters"] + \
        [f"{SHORT[m]} {t}" for m in METRICS for t in ("gap", "zero")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    print(f"bench_coverage: {args.audits} audits per setting, {args.resamples} resamples each",
          flush=True)
    misses, worst, t_all = [], 1.0, time.perf_counter()
    for rows, groups, regime, clusters in itertools.product(args.rows, args.groups, args.regime,
                                                            args.clusters):
        t0 = time.perf_counter()
        cells = {}
        for truth in ("gap", "zero"):
            s = Setting(rows, groups, regime, clusters == "yes", truth)
            cov = run_setting(s, args.audits, args.resamples, args.seed)
            for m in METRICS:
                cells[(m, truth)] = cov[m]
                if not verdict(rows, cov[m]):
                    misses.append(f"{rows} rows x {groups} groups, {regime}, clusters {clusters}, "
                                  f"truth {truth}: {m} {cov[m]:.3f}")
                worst = min(worst, cov[m])
        row = [str(rows), str(groups), regime, clusters] + [
            f"{cells[(m, t)]:.3f}" + ("" if verdict(rows, cells[(m, t)]) else " ✗")
            for m in METRICS for t in ("gap", "zero")]
        lines.append("| " + " | ".join(row) + " |")
        print(lines[-1] + f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    table = "\n".join(lines)
    if args.markdown:
        args.markdown.write_text(table + "\n", encoding="utf-8")
    for m in misses:
        print("  MISS", m)
    ok = not misses
    print(f"RESULT: coverage audits={args.audits} resamples={args.resamples} "
          f"settings={len(lines) - 2}x2 lowest={worst:.3f} misses={len(misses)} "
          f"time={time.perf_counter() - t_all:.0f}s {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
