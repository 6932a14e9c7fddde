"""Coverage of fairsel's 95% intervals, by simulating audits with a known truth.

Each simulated audit draws ``groups`` groups of ``rows`` rows from a known model and runs
fairsel's own metric engine on them (``fairsel.metrics.evaluate_variant``, the function the CLI
calls), then checks whether each reported 95% interval contains the true value:

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


def _beta(rng: np.random.Generator, mean: np.ndarray, size: int) -> np.ndarray:
    k = (1 - ICC) / ICC
    return rng.beta(mean * k, (1 - mean) * k, size=size)


def simulate(s: Setting, rng: np.random.Generator):
    """One audit's rows: (y_true, y_pred, group code, cluster ids or None)."""
    tpr, fpr = s.rates()
    g = np.repeat(np.arange(s.groups), s.rows)
    n = len(g)
    y = (rng.random(n) < 0.5).astype(np.int8)
    if s.clusters:
        cl = np.arange(n) // CLUSTER_SIZE  # clusters of 5 inside a group (rows is a multiple of 5)
        n_cl = cl[-1] + 1
        g_cl = g[::CLUSTER_SIZE]
        p1 = _beta(rng, tpr[g_cl], n_cl)[cl]
        p0 = _beta(rng, fpr[g_cl], n_cl)[cl]
    else:
        cl = None
        p1, p0 = tpr[g], fpr[g]
    pred = (rng.random(n) < np.where(y == 1, p1, p0)).astype(np.int8)
    return y, pred, g, cl


def run_setting(s: Setting, audits: int, resamples: int, seed: int) -> dict[str, float]:
    """Coverage of each metric over ``audits`` simulated audits."""
    from fairsel.metrics import Confidence, Partition, evaluate_variant

    truth = s.truth_values()
    part = Partition("g", ("g",), "attribute", tuple(f"g{i}" for i in range(s.groups)),
                     np.arange(s.groups), None)
    conf = Confidence(method="bootstrap", level=0.95, resamples=resamples)
    hits = {m: 0.0 for m in METRICS}
    rng = np.random.default_rng([seed, s.rows, s.groups, len(s.regime), s.clusters,
                                 s.truth == "gap"])
    folds = np.zeros(s.rows * s.groups, dtype=np.int8)
    for i in range(audits):
        y, pred, g, cl = simulate(s, rng)
        res = evaluate_variant(y, pred, pred.astype(np.float64), atoms=g, n_atoms=s.groups,
                               partitions=[part], folds=folds, n_folds=1, clusters=cl,
                               min_group_size=1, confidence=conf, seed=seed + i, label="coverage")
        attr = res.attributes[0]
        for m in ("selection_rate", "tpr"):
            cov = []
            for j, row in enumerate(attr.groups):
                e = row.rates[m]
                if e.value is None:  # an undefined TPR (no positives) has nothing to cover
                    continue
                cov.append(e.ci[0] <= truth[m][j] <= e.ci[1])
            hits[m] += float(np.mean(cov)) if cov else 1.0
        for m in METRICS[2:]:
            e = attr.fairness[m]
            hits[m] += e.value is not None and e.ci[0] - 1e-12 <= truth[m] <= e.ci[1] + 1e-12
    return {m: hits[m] / audits for m in METRICS}


def verdict(rows: int, cov: float) -> bool:
    return (LOW <= cov <= HIGH) if rows >= 50 else cov >= FLOOR


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
    args = ap.parse_args(argv)

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
