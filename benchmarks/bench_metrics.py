"""fairsel's metric engine against fairlearn's ``MetricFrame``: the per-group table at 1M rows.

The table: for attribute A (5 levels), attribute B (2 levels) and the intersection A × B
(10 cells), per group n, tp, fp, tn, fn, selection rate, TPR, FPR, FNR, TNR, precision,
accuracy, balanced accuracy, ROC AUC (from the scores) and Brier score — and the overall row.

* fairsel: ``evaluate_variant`` with ``confidence.method = "none"`` — what a user gets, which is
  more than the table (12 disparities per attribute, calibration error, per-fold figures).
  The timed section also encodes the two label columns into atoms (``pd.factorize``) and builds
  the partitions, as ``fairsel.data`` does.  Median of ``--repeats`` runs.
* fairlearn: the same table as a fairlearn user writes it — one ``MetricFrame`` of the
  decision metrics (the confusion matrix as one metric for the four counts) and one of the
  score metrics with the *scores* passed as ``y_pred`` (``MetricFrame`` hands ``y_pred`` to every
  metric) — for A, B and A × B (a two-column ``sensitive_features``).  One run: fairlearn 0.15
  ``np.stack``s every argument element by element, so this takes minutes at 1,000,000 rows.
  ``MetricFrame`` always computes the overall row too; it has no switch to skip it.

Every value of the table is compared (|fairsel − fairlearn| ≤ 1e-9, NaN = NaN) and the ratio
fairlearn / fairsel is printed against the 100x target.  Both are single-threaded, so the ratio
is taken on process CPU time, which on a quiet machine equals the wall time and on a shared one
is not inflated by waiting for a core; the wall-time ratio is printed next to it.

Usage::

    python benchmarks/bench_metrics.py                # 1,000,000 rows (the target size)
    python benchmarks/bench_metrics.py --rows 20000   # quick check (the target is defined at 1M)

Exit code: 0 values agree and the target is met; 1 the target is missed; 2 values disagree.
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

from tests.reference import JOIN, build_partitions, synthetic_audit  # noqa: E402

TARGET = 100.0
COLUMNS = ("n", "tp", "fp", "tn", "fn", "selection_rate", "tpr", "fpr", "fnr", "tnr", "precision",
           "accuracy", "balanced_accuracy", "roc_auc", "brier")


def _load() -> str:
    from _common import load_average  # benchmarks/ is on sys.path when run as a script

    return load_average()


def fairsel_table(y_true, y_pred, y_score, a, b, folds, n_folds):
    """What a fairsel user gets: encode the groups, then ``evaluate_variant`` (no bootstrap).

    Returns the result and the CPU seconds spent encoding (included in the timed total)."""
    from fairsel.metrics import Confidence, evaluate_variant

    c0 = time.process_time()
    a_codes, a_levels = pd.factorize(a, sort=True)
    b_codes, b_levels = pd.factorize(b, sort=True)
    atoms, n_atoms, parts = build_partitions(a_codes, b_codes, list(a_levels), list(b_levels))
    encode = time.process_time() - c0
    return evaluate_variant(y_true, y_pred, y_score, atoms=atoms, n_atoms=n_atoms,
                            partitions=parts, folds=folds, n_folds=n_folds, min_group_size=30,
                            confidence=Confidence(method="none"), seed=0, label="bench"), encode


def fairlearn_tables(y_true, y_pred, y_score, a, b) -> dict[str, tuple[pd.DataFrame, pd.Series]]:
    """The same table with fairlearn's MetricFrame, for A, B and A × B."""
    import sklearn.metrics as skm
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_negative_rate,
        false_positive_rate,
        selection_rate,
        true_negative_rate,
        true_positive_rate,
    )

    decision_metrics = {
        "n": count,
        "confusion": lambda t, p: skm.confusion_matrix(t, p, labels=[0, 1]).ravel(),
        "selection_rate": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate,
        "fnr": false_negative_rate, "tnr": true_negative_rate,
        "precision": skm.precision_score, "accuracy": skm.accuracy_score,
        "balanced_accuracy": skm.balanced_accuracy_score,
    }
    score_metrics = {"roc_auc": skm.roc_auc_score, "brier": skm.brier_score_loss}
    out = {}
    for name, sf in (("A", a), ("B", b), (f"A{JOIN}B", pd.DataFrame({"A": a, "B": b}))):
        dec = MetricFrame(metrics=decision_metrics, y_true=y_true, y_pred=y_pred,
                          sensitive_features=sf)
        sco = MetricFrame(metrics=score_metrics, y_true=y_true, y_pred=y_score,
                          sensitive_features=sf)
        out[name] = (pd.concat([dec.by_group, sco.by_group], axis=1),
                     pd.concat([dec.overall, sco.overall]))
    return out


def _unpack(row: pd.Series) -> dict[str, float]:
    tn, fp, fn, tp = (float(x) for x in row["confusion"])
    d = {k: float(row[k]) for k in COLUMNS if k in row.index and k != "confusion"}
    d.update(tn=tn, fp=fp, fn=fn, tp=tp)
    return d


def compare(res, ref) -> tuple[int, float, list[str]]:
    """Every value of the table: (values compared, largest |difference|, disagreements)."""
    compared, worst, bad = 0, 0.0, []

    def check(where: str, mine: float | None, theirs: float) -> None:
        nonlocal compared, worst
        compared += 1
        m = np.nan if mine is None else float(mine)
        if np.isnan(m) and np.isnan(theirs):
            return
        diff = abs(m - theirs)
        if not diff <= 1e-9:  # also catches NaN against a number
            bad.append(f"{where}: fairsel {m!r} fairlearn {theirs!r}")
        elif diff > worst:
            worst = diff

    overall_key = {"tpr": "tpr", "fpr": "fpr", "fnr": "fnr", "tnr": "tnr", "brier": "brier_score",
                   "selection_rate": "selection_rate", "precision": "precision",
                   "accuracy": "accuracy", "balanced_accuracy": "balanced_accuracy",
                   "roc_auc": "roc_auc"}
    for attr in res.attributes:
        by_group, overall = ref[attr.attribute]
        index = [JOIN.join(map(str, i)) if isinstance(i, tuple) else str(i) for i in by_group.index]
        theirs_by_label = dict(zip(index, (by_group.iloc[i] for i in range(len(index)))))
        mine_labels = [g.group for g in attr.groups if g.n > 0]
        if sorted(mine_labels) != sorted(index):
            bad.append(f"{attr.attribute}: groups differ: {mine_labels} vs {index}")
            continue
        for g in attr.groups:
            if g.n == 0:
                continue
            theirs = _unpack(theirs_by_label[g.group])
            for col in COLUMNS:
                if col in ("n", "tp", "fp", "tn", "fn"):
                    mine = getattr(g, col)
                else:
                    mine = g.rates["brier_score" if col == "brier" else col].value
                check(f"{attr.attribute}/{g.group}/{col}", mine, theirs[col])
        over = _unpack(overall)
        for col, key in overall_key.items():
            check(f"{attr.attribute}/overall/{col}", res.performance[key].value, over[col])
    return compared, worst, bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3, help="fairsel runs (median reported)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")

    print(f"bench_metrics: {args.rows:,} rows, A (5 levels) x B (2 levels) -> 10 intersections; "
          f"{_load()}", flush=True)
    d = synthetic_audit(args.rows, seed=args.seed, decimals=4)  # 4 decimals: tied scores
    a = pd.Series(d.a, dtype=object).to_numpy()
    b = pd.Series(d.b, dtype=object).to_numpy()

    fairsel_table(d.y_true[:1000], d.y_pred[:1000], d.y_score[:1000], a[:1000], b[:1000],
                  d.folds[:1000], d.n_folds)  # warm-up: imports, first-call costs
    times, cpus, encodes, res = [], [], [], None
    for _ in range(max(1, args.repeats)):
        t0, c0 = time.perf_counter(), time.process_time()
        res, encode = fairsel_table(d.y_true, d.y_pred, d.y_score, a, b, d.folds, d.n_folds)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        encodes.append(encode)
    t_fs, c_fs = statistics.median(times), statistics.median(cpus)
    print(f"fairsel   encode + evaluate_variant (table + 12 disparities + per-fold): "
          f"cpu {c_fs:.3f} s (of which encoding the label columns {statistics.median(encodes):.3f}"
          f" s), wall {t_fs:.3f} s (median of {len(times)}; wall "
          f"{', '.join(f'{t:.3f}' for t in times)})", flush=True)

    print("fairlearn MetricFrame (A, B, A x B; decisions + scores) ...", flush=True)
    import fairlearn.metrics  # noqa: F401  (import cost is not timed)
    import sklearn.metrics  # noqa: F401

    t0, c0 = time.perf_counter(), time.process_time()
    ref = fairlearn_tables(d.y_true, d.y_pred, d.y_score, a, b)
    t_fl, c_fl = time.perf_counter() - t0, time.process_time() - c0
    print(f"fairlearn MetricFrame: cpu {c_fl:.3f} s, wall {t_fl:.3f} s", flush=True)

    compared, worst, bad = compare(res, ref)
    print(f"values compared: {compared} (largest |difference| {worst:.2e}); "
          f"disagreements: {len(bad)}")
    for line in bad[:20]:
        print("  DISAGREE", line)
    ratio = c_fl / c_fs
    print(f"ratio fairlearn / fairsel = {ratio:.1f}x on CPU time (target >= {TARGET:.0f}x), "
          f"{t_fl / t_fs:.1f}x on wall time; {_load()}")
    ok_values = not bad and compared > 0
    ok_speed = ratio >= TARGET
    verdict = "PASS" if ok_values and ok_speed else "FAIL"
    print(f"RESULT: metrics table rows={args.rows} fairsel={c_fs:.3f}s fairlearn={c_fl:.1f}s (cpu) "
          f"values={'agree' if ok_values else 'DISAGREE'} ratio={ratio:.1f}x "
          f"target={TARGET:.0f}x {verdict}")
    if not ok_values:
        return 2
    return 0 if ok_speed else 1


if __name__ == "__main__":
    sys.exit(main())
