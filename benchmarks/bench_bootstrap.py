"""fairsel's bootstrap intervals against fairlearn's ``MetricFrame(n_boot=..., ci_quantiles=...)``.

Part 1 — 50,000 rows, 100 resamples, 95% percentile intervals:

* fairsel: ``evaluate_variant`` with ``Confidence(resamples=100)`` — every interval it reports:
  overall performance, every group rate of A (5 levels), B (2) and A × B (10), 12 disparities
  per attribute and the headlines (count-cell multinomial bootstrap; AUC and Brier through
  score-bin cells).  Median of ``--repeats`` runs.
* fairlearn: ``MetricFrame(n_boot=100, ci_quantiles=[0.025, 0.975])`` — by default on a core
  subset only, attribute A with selection rate, TPR, FPR (decisions) and ROC AUC (scores passed
  as ``y_pred`` in a second frame), because fairlearn 0.15 recomputes the frame on a resampled
  DataFrame per replicate and ``np.stack``s every argument element by element: the full table
  takes over half an hour.  fairlearn therefore does a fraction of fairsel's work and the ratio
  *understates* fairsel's advantage.  ``--full`` bootstraps the whole table (10 rates for A, B
  and A × B) with fairlearn.

Agreement: both are percentile bootstraps of the same rows with 100 replicates, so their
endpoints differ by Monte Carlo error.  For a quantile q estimated from B replicates, the
standard deviation of the endpoint is ≈ √(q(1−q)/B) / φ(z_q) · σ (σ the bootstrap standard
error; 0.267 σ for q = 0.025, B = 100), and the difference of two independent estimates
√2 times that: 0.378 σ.  σ is measured per value from a separate 4,000-replicate fairsel run
(half-width of its ±1σ interval).  Each endpoint pair must agree within
``--tolerance`` (default 4.5) such standard deviations; the largest and median |z| are printed
(median |z| of pure Monte Carlo noise ≈ 0.67; it must stay below 1.2, a check against a
systematic bias that per-value tolerances would let through).

Times: both are single-threaded, so the ratio is taken on process CPU time, which on a quiet
machine equals the wall time and on a shared one is not inflated by waiting for a core; the
wall-time ratio is printed next to it.

Part 2 — 1,000 resamples on 1,000,000 rows with fairsel: the time is printed (no reference:
fairlearn would take days), with the no-bootstrap time for comparison.

Usage::

    python benchmarks/bench_bootstrap.py
    python benchmarks/bench_bootstrap.py --rows 20000 --big-rows 100000   # quick check

Exit code: 0 intervals agree and the target is met; 1 the target is missed; 2 intervals disagree.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reference import JOIN, synthetic_audit  # noqa: E402

TARGET = 200.0
ONE_SIGMA = 0.6826894921370859
QUANTILES = (0.025, 0.975)


def _load() -> str:
    from _common import load_average  # benchmarks/ is on sys.path when run as a script

    return load_average()


def endpoint_mc_sd(q: float, b: int) -> float:
    """Monte Carlo SD of a percentile-bootstrap endpoint, in units of the bootstrap SE
    (normal approximation: √(q(1−q)/B) / φ(z_q))."""
    from scipy.stats import norm

    return float(np.sqrt(q * (1 - q) / b) / norm.pdf(norm.ppf(q)))


def run_fairsel(d, resamples: int, level: float = 0.95, seed: int = 0):
    from fairsel.metrics import Confidence, evaluate_variant

    return evaluate_variant(d.y_true, d.y_pred, d.y_score, atoms=d.atoms, n_atoms=d.n_atoms,
                            partitions=d.partitions, folds=d.folds, n_folds=d.n_folds,
                            min_group_size=30, seed=seed, label="bench",
                            confidence=Confidence(method="bootstrap" if resamples else "none",
                                                  level=level, resamples=max(resamples, 1)))


def run_fairlearn(d, n_boot: int, full: bool, seed: int):
    """fairlearn's bootstrap: {(attribute, group, metric): (lo, hi)}, overall as group None."""
    import sklearn.metrics as skm
    from fairlearn.metrics import (
        MetricFrame,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_negative_rate,
        true_positive_rate,
    )

    dec = {"selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate}
    sco = {"roc_auc": skm.roc_auc_score}
    attrs = {"A": d.a}
    if full:
        dec.update(fnr=false_negative_rate, tnr=true_negative_rate,
                   precision=skm.precision_score, accuracy=skm.accuracy_score,
                   balanced_accuracy=skm.balanced_accuracy_score)
        sco["brier_score"] = skm.brier_score_loss
        attrs.update({"B": d.b, f"A{JOIN}B": pd.DataFrame({"A": d.a, "B": d.b})})
    out = {}
    for name, sf in attrs.items():
        for metrics, y_pred in ((dec, d.y_pred), (sco, d.y_score)):
            mf = MetricFrame(metrics=metrics, y_true=d.y_true, y_pred=y_pred, sensitive_features=sf,
                             n_boot=n_boot, ci_quantiles=list(QUANTILES), random_state=seed)
            lo, hi = mf.by_group_ci
            for idx in lo.index:
                label = JOIN.join(map(str, idx)) if isinstance(idx, tuple) else str(idx)
                for m in metrics:
                    out[(name, label, m)] = (float(lo.loc[idx, m]), float(hi.loc[idx, m]))
            olo, ohi = mf.overall_ci
            for m in metrics:
                out[(None, None, m)] = (float(olo[m]), float(ohi[m]))
    return out


def _ci(res, attribute, group, metric):
    if attribute is None:
        est = res.performance[metric]
    else:
        attr = next(a for a in res.attributes if a.attribute == attribute)
        est = next(g for g in attr.groups if g.group == group).rates[metric]
    return est.ci


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--resamples", type=int, default=100)
    ap.add_argument("--big-rows", type=int, default=1_000_000)
    ap.add_argument("--big-resamples", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3, help="fairsel runs (median reported)")
    ap.add_argument("--full", action="store_true",
                    help="bootstrap the whole table with fairlearn too (over half an hour)")
    ap.add_argument("--tolerance", type=float, default=4.5,
                    help="allowed |difference| of two endpoints, in Monte Carlo SDs")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    print(f"bench_bootstrap: {args.rows:,} rows, {args.resamples} resamples; {_load()}", flush=True)

    d = synthetic_audit(args.rows, seed=args.seed, decimals=4)
    run_fairsel(synthetic_audit(2000, seed=1), 10)  # warm-up: imports, first-call costs
    times, cpus, res = [], [], None
    for _ in range(max(1, args.repeats)):
        t0, c0 = time.perf_counter(), time.process_time()
        res = run_fairsel(d, args.resamples, seed=args.seed)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    t_fs, c_fs = statistics.median(times), statistics.median(cpus)
    print(f"fairsel   evaluate_variant, {args.resamples} resamples, every interval: "
          f"cpu {c_fs:.3f} s, wall {t_fs:.3f} s (median of {len(times)}; wall "
          f"{', '.join(f'{t:.3f}' for t in times)})", flush=True)
    sigma_run = run_fairsel(d, 4000, level=ONE_SIGMA, seed=args.seed + 1)

    import fairlearn.metrics  # noqa: F401  (import cost is not timed)
    import sklearn.metrics  # noqa: F401

    what = "full table (A, B, A x B; 10 rates)" if args.full else \
        "core subset (A; selection_rate, tpr, fpr, roc_auc)"
    print(f"fairlearn MetricFrame(n_boot={args.resamples}) on the {what} ...", flush=True)
    t0, c0 = time.perf_counter(), time.process_time()
    ref = run_fairlearn(d, args.resamples, args.full, args.seed)
    t_fl, c_fl = time.perf_counter() - t0, time.process_time() - c0
    print(f"fairlearn MetricFrame bootstrap: cpu {c_fl:.2f} s, wall {t_fl:.2f} s", flush=True)

    mc = np.sqrt(2) * np.array([endpoint_mc_sd(q, args.resamples) for q in QUANTILES])
    zs, bad, n_fl_values = [], [], 0
    for (attribute, group, metric), (flo, fhi) in sorted(ref.items(), key=str):
        ci = _ci(res, attribute, group, metric)
        sig_ci = _ci(sigma_run, attribute, group, metric)
        sigma = (sig_ci[1] - sig_ci[0]) / 2
        where = f"{attribute or 'overall'}/{group or ''}/{metric}"
        for k, (mine, theirs) in enumerate(zip(ci, (flo, fhi))):
            n_fl_values += 1
            if not (sigma > 0 and np.isfinite(theirs) and mine is not None):
                bad.append(f"{where}[{QUANTILES[k]}]: fairsel {mine} fairlearn {theirs} "
                           f"sigma {sigma}")
                continue
            z = (mine - theirs) / (mc[k] * sigma)
            zs.append(abs(z))
            if abs(z) > args.tolerance:
                bad.append(f"{where}[{QUANTILES[k]}]: fairsel {mine:.5f} fairlearn {theirs:.5f} "
                           f"(sigma {sigma:.5f}, z {z:+.2f})")
    zs = np.array(zs)
    med = float(np.median(zs)) if len(zs) else float("nan")
    print(f"endpoints compared: {n_fl_values}; |z| median {med:.2f} (noise ~0.67), "
          f"max {zs.max() if len(zs) else float('nan'):.2f} (tolerance {args.tolerance}); "
          f"1 MC SD = {mc[0]:.3f} sigma")
    for line in bad[:20]:
        print("  DISAGREE", line)
    ok_values = not bad and len(zs) > 0 and med < 1.2
    ratio = c_fl / c_fs
    print(f"ratio fairlearn / fairsel = {ratio:.1f}x on CPU time (target >= {TARGET:.0f}x; "
          f"fairlearn did {'the same table' if args.full else 'a subset'}), "
          f"{t_fl / t_fs:.1f}x on wall time; {_load()}", flush=True)

    # ---- part 2: 1,000 resamples on 1,000,000 rows -----------------------------------------
    big = synthetic_audit(args.big_rows, seed=args.seed + 2, decimals=4)
    t0, c0 = time.perf_counter(), time.process_time()
    run_fairsel(big, 0)
    t_point, c_point = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    big_res = run_fairsel(big, args.big_resamples, seed=args.seed)
    t_big, c_big = time.perf_counter() - t0, time.process_time() - c0
    contained = all(e.ci is None or e.value is None or e.ci[0] <= e.value <= e.ci[1]
                    for e in big_res.performance.values())
    print(f"fairsel {args.big_rows:,} rows x {args.big_resamples} resamples: wall {t_big:.2f} s, "
          f"cpu {c_big:.2f} s (point estimates alone: wall {t_point:.2f} s, cpu {c_point:.2f} s); "
          f"intervals contain the estimates: {contained}; {_load()}")

    verdict = "PASS" if ok_values and ratio >= TARGET and contained else "FAIL"
    print(f"RESULT: bootstrap rows={args.rows} resamples={args.resamples} fairsel={c_fs:.3f}s "
          f"fairlearn={c_fl:.1f}s (cpu) intervals={'agree' if ok_values else 'DISAGREE'} "
          f"max|z|={zs.max() if len(zs) else float('nan'):.2f} "
          f"big={args.big_rows}x{args.big_resamples}:{t_big:.2f}s "
          f"ratio={ratio:.1f}x target={TARGET:.0f}x {verdict}")
    if not ok_values or not contained:
        return 2
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
