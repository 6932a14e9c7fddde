"""End to end: ``fairsel audit`` on 1,000,000 synthetic rows, two candidates, 5 group-aware folds.

Targets (the audit-pipeline issue):

* everything but model fitting takes under 10 % of the wall time:
  ``(wall - fit) / wall < 0.10``, where ``wall`` is the wall time of the ``fairsel audit``
  process (interpreter start, imports, reading, splitting, metrics with a 1000-resample
  bootstrap, gates, ranking, writing results.json / predictions.parquet / junit / markdown)
  and ``fit`` is ``provenance.timings.fit`` from results.json (building the candidates,
  preparing features and fitting / scoring every fold);
* the audit process's peak resident memory stays under 4 GB.

There is no fairlearn equivalent of the whole pipeline; the "reference" here is the model
fitting itself. For context the script also times fairlearn's ``MetricFrame`` computing the same
per-group table (sex, race, sex × race) on the pooled out-of-fold predictions read back from
predictions.parquet, checks that table agrees with fairsel's results.json, and prints the ratio
to fairsel's whole metrics stage (which in addition bootstraps every figure 1000 times).

Usage::

    python benchmarks/bench_e2e.py                 # 1,000,000 rows (the target size)
    python benchmarks/bench_e2e.py --rows 20000    # a quick run (targets are defined at 1M)

Exit code: 0 every target met, 1 a target missed, 2 the benchmark could not run or fairsel
disagrees with fairlearn.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(ROOT))

TARGET_NONFIT_SHARE = 0.10
TARGET_PEAK_BYTES = 4 * 1024**3
TOLERANCE = 1e-9  # fairsel and fairlearn must agree to rounding

POLICY = """\
# written by benchmarks/bench_e2e.py
version: 1
name: bench-e2e
description: End-to-end benchmark on synthetic lending data ({rows:,} rows).
seed: {seed}

data:
  path: lending.parquet
  target: approved
  favorable: "yes"
  id: application_id
  features: auto

protected:
  - column: sex
    reference: male
  - column: race
intersections: true
min_group_size: 30

validation:
  scheme: stratified_group_kfold
  folds: {folds}
  groups: branch

candidates:
  - {{name: logreg, kind: sklearn, estimator: logistic_regression, params: {{C: 1.0}}}}
  - {{name: gbm, kind: lightgbm, params: {{n_estimators: 200, learning_rate: 0.05, num_leaves: 31}}}}

metrics:
  performance: [roc_auc, balanced_accuracy, f1, brier_score]
  fairness: [disparate_impact, demographic_parity_difference, equal_opportunity_difference, equalized_odds_difference]
  confidence: {{method: bootstrap, level: 0.95, resamples: {resamples}}}

gates:
  - {{metric: disparate_impact, min: 0.8}}
  - {{metric: equal_opportunity_difference, max: 0.1}}
  - {{metric: roc_auc, min: 0.7, severity: warn}}
decision: point

ranking:
  objective: roc_auc
  tolerance: 0.01
  fairness_tiebreak: disparate_impact

report:
  title: End-to-end benchmark
  output: out
  formats: [{formats}]
"""

# per-group rates compared with fairlearn (fairsel name → how fairlearn computes it below)
COMPARED = ("selection_rate", "base_rate", "tpr", "fpr", "fnr", "tnr", "precision", "accuracy",
            "balanced_accuracy", "f1", "roc_auc", "brier_score")


def _gb(n: float) -> str:
    return f"{n / 1024**3:.2f} GB"


def _load() -> str:
    from _common import load_average  # benchmarks/ is on sys.path when run as a script

    return load_average()


class TreeRss:
    """Samples the summed resident memory of a process and its descendants (for --jobs > 1).

    ``ru_maxrss`` from ``wait4`` is exact but per process (the maximum over the process and
    its reaped children, not their sum); with parallel workers the machine holds the sum.
    """

    def __init__(self, pid: int, every: float = 0.2) -> None:
        self.pid, self.every, self.peak = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _tree(self) -> list[int]:
        children: dict[int, list[int]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as fh:
                    stat = fh.read()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
        out, todo = [], [self.pid]
        while todo:
            p = todo.pop()
            out.append(p)
            todo.extend(children.get(p, []))
        return out

    def _run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.wait(self.every):
            total = 0
            for p in self._tree():
                try:
                    with open(f"/proc/{p}/statm", "rb") as fh:
                        total += int(fh.read().split()[1]) * page
                except OSError:
                    pass
            self.peak = max(self.peak, total)


def run_audit(policy: Path, out: Path, *, jobs: int, profile: Path | None,
              log: Path) -> dict:
    """Run ``fairsel audit`` in a fresh process; wall time, peak RSS and stage arrival times."""
    cmd = [sys.executable]
    if profile is not None:
        cmd += ["-m", "cProfile", "-o", str(profile)]
    cmd += ["-m", "fairsel", "audit", "--policy", str(policy), "--output", str(out),
            "--jobs", str(jobs)]
    env = {**os.environ, "CI": "true"}  # plain progress lines on stderr, which we timestamp
    env.pop("GITHUB_STEP_SUMMARY", None)
    stages: list[tuple[float, str]] = []
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []

    def read() -> None:
        for line in proc.stderr:  # type: ignore[union-attr]
            stages.append((time.perf_counter() - t0, line.rstrip()))
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    with TreeRss(proc.pid) as tree:
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    reader.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    log.write_text("".join(lines), encoding="utf-8")
    # ru_maxrss is in kilobytes on Linux
    return {"cmd": cmd, "exit_code": proc.returncode, "wall": wall, "stages": stages,
            "cpu": usage.ru_utime + usage.ru_stime,
            "maxrss": usage.ru_maxrss * 1024, "tree_peak": tree.peak, "stderr": "".join(lines)}


def fairlearn_table(pred, data, attributes):
    """fairlearn MetricFrame per-group tables on the pooled out-of-fold predictions.

    Returns ``{variant: {attribute: {group: {metric: value}}}}``, and the wall and CPU seconds
    spent in MetricFrame (building the inputs excluded).
    """
    import warnings

    import pandas as pd
    from fairlearn.metrics import (
        MetricFrame,
        count,
        false_negative_rate,
        false_positive_rate,
        mean_prediction,
        selection_rate,
        true_negative_rate,
        true_positive_rate,
    )
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        brier_score_loss,
        f1_score,
        precision_score,
        roc_auc_score,
    )

    def base_rate(y_true, y_pred):
        return float(np.mean(y_true))

    def auc(y_true, y_score):  # MetricFrame passes y_pred: here it is the score on purpose
        return roc_auc_score(y_true, y_score) if len(np.unique(y_true)) == 2 else float("nan")

    def prec(y_true, y_pred):
        return precision_score(y_true, y_pred, zero_division=np.nan)

    def f1(y_true, y_pred):
        return f1_score(y_true, y_pred, zero_division=np.nan)

    def bal(y_true, y_pred):
        return balanced_accuracy_score(y_true, y_pred) if len(np.unique(y_true)) == 2 \
            else float("nan")

    on_decisions = {"n": count, "selection_rate": selection_rate, "base_rate": base_rate,
                    "tpr": true_positive_rate, "fpr": false_positive_rate,
                    "fnr": false_negative_rate, "tnr": true_negative_rate, "precision": prec,
                    "accuracy": accuracy_score, "balanced_accuracy": bal, "f1": f1}
    on_scores = {"roc_auc": auc, "brier_score": brier_score_loss, "mean_score": mean_prediction}

    out: dict = {}
    seconds = cpu = 0.0
    for variant, frame in pred.groupby("candidate", observed=True, sort=False):
        frame = frame.reset_index(drop=True)
        pos = data.index.get_indexer(frame["row_id"].to_numpy())
        if (pos < 0).any():
            raise RuntimeError(f"predictions.parquet: {int((pos < 0).sum())} row_id(s) of "
                               f"'{variant}' are not in the data")
        y_true = frame["y_true"].to_numpy()
        y_pred = frame["y_pred"].to_numpy()
        y_score = frame["y_score"].to_numpy()
        out[str(variant)] = {}
        for attr, columns in attributes.items():
            sf = data.iloc[pos][columns].reset_index(drop=True)
            t, c = time.perf_counter(), time.process_time()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # fairlearn warns on single-class groups
                mf_d = MetricFrame(metrics=on_decisions, y_true=y_true, y_pred=y_pred,
                                   sensitive_features=sf)
                mf_s = MetricFrame(metrics=on_scores, y_true=y_true, y_pred=y_score,
                                   sensitive_features=sf)
                table = pd.concat([mf_d.by_group, mf_s.by_group], axis=1)
            seconds += time.perf_counter() - t
            cpu += time.process_time() - c
            groups = {}
            for key, row in table.iterrows():
                label = " × ".join(key) if isinstance(key, tuple) else str(key)
                groups[label] = {k: float(v) for k, v in row.items()}
            out[str(variant)][attr] = groups
    return out, seconds, cpu


def compare(results: dict, reference: dict) -> tuple[int, float, list[str]]:
    """Every per-group figure fairsel reports against fairlearn's; (checked, max diff, problems)."""
    problems: list[str] = []
    checked, worst = 0, 0.0
    for v in results["variants"]:
        if v["status"] == "ERROR":
            problems.append(f"variant '{v['name']}' failed")
            continue
        ref_v = reference.get(v["name"])
        if ref_v is None:
            problems.append(f"variant '{v['name']}' is missing from predictions.parquet")
            continue
        for attr in v["attributes"]:
            ref_a = ref_v.get(attr["attribute"])
            if ref_a is None:
                problems.append(f"{v['name']}: attribute '{attr['attribute']}' not computed")
                continue
            ours = {g["group"] for g in attr["groups"] if g["n"] > 0}
            if ours != set(ref_a):
                problems.append(f"{v['name']} / {attr['attribute']}: groups differ: fairsel "
                                f"{sorted(ours)}, fairlearn {sorted(ref_a)}")
                continue
            for g in attr["groups"]:
                if g["n"] == 0:
                    continue
                ref = ref_a[g["group"]]
                pairs = [("n", g["n"], ref["n"])]
                pairs += [(m, g["rates"][m]["value"], ref[m]) for m in COMPARED if m in g["rates"]]
                for name, a, b in pairs:
                    a = float("nan") if a is None else float(a)
                    if np.isnan(a) and np.isnan(b):
                        checked += 1
                        continue
                    diff = abs(a - b)
                    checked += 1
                    if not diff <= TOLERANCE:  # also catches one side NaN
                        problems.append(f"{v['name']} / {attr['attribute']} / {g['group']} / "
                                        f"{name}: fairsel {a!r}, fairlearn {b!r}")
                    else:
                        worst = max(worst, diff)
    if checked == 0:
        problems.append("nothing was compared")
    return checked, worst, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (1000)")
    ap.add_argument("--jobs", type=int, default=1, help="fairsel audit --jobs (default 1)")
    ap.add_argument("--formats", default="json, junit, markdown",
                    help="report formats (default: json, junit, markdown)")
    ap.add_argument("--keep", type=Path, default=None,
                    help="work in this folder and keep it (data, policy, outputs)")
    ap.add_argument("--profile", type=Path, default=None,
                    help="run the audit under cProfile and write the stats to this file")
    ap.add_argument("--no-reference", action="store_true", help="skip the fairlearn comparison")
    args = ap.parse_args(argv)

    import pandas as pd

    from fairsel.synthetic import make_lending

    print(f"bench_e2e: {args.rows:,} rows, 2 candidates, {args.folds} folds "
          f"(stratified_group_kfold by branch), {args.resamples} bootstrap resamples, "
          f"--jobs {args.jobs}")
    print(f"machine: {_load()} (before)")
    tmp = None
    if args.keep is None:
        tmp = tempfile.TemporaryDirectory(prefix="fairsel-bench-e2e-")
        work = Path(tmp.name)
    else:
        work = args.keep
        work.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        df = make_lending(args.rows, seed=args.seed)
        df.to_parquet(work / "lending.parquet", index=False)
        n_branches = df["branch"].nunique()
        del df
        gc.collect()
        print(f"data: {args.rows:,} rows, {n_branches:,} branches written to "
              f"{work / 'lending.parquet'} in {time.perf_counter() - t:.1f} s (not timed)")
        policy = work / "policy.yaml"
        formats = ", ".join(f.strip() for f in args.formats.split(",") if f.strip())
        policy.write_text(POLICY.format(rows=args.rows, seed=args.seed, folds=args.folds,
                                        resamples=args.resamples, formats=formats),
                          encoding="utf-8")
        out = work / "out"

        run = run_audit(policy, out, jobs=args.jobs, profile=args.profile,
                        log=work / "audit.stderr.txt")
        print(f"machine: {_load()} (after the audit)")
        if run["exit_code"] not in (0, 1, 5):  # 0/1/5: the audit ran (pass, gate failed, unsure)
            print(run["stderr"][-3000:])
            print(f"RESULT: bench_e2e ERROR — fairsel audit exited {run['exit_code']}")
            return 2
        results = json.loads((out / "results.json").read_text(encoding="utf-8"))
        timings = results["provenance"]["timings"]
        wall, fit = run["wall"], float(timings["fit"])
        in_audit = float(timings["total"])
        other = in_audit - fit - timings["load_and_split"] - timings["metrics"]
        # The "measuring" progress line is printed as the metrics stage starts; adding the
        # stages after it places the end of run_audit() on the wall clock, which splits the
        # time outside run_audit() into before (start-up) and after (render, exit).
        measuring = next((s for s, line in run["stages"] if "measuring" in line), None)
        if measuring is not None:
            end_of_audit = measuring + timings["metrics"] + other
            startup, tail = end_of_audit - in_audit, wall - end_of_audit
        else:
            startup = tail = float("nan")
        share = (wall - fit) / wall
        peak = max(run["maxrss"], run["tree_peak"])

        print()
        print(f"fairsel audit exit code {run['exit_code']} ({results['verdict']['status']}: "
              f"{results['verdict']['message']})")
        print(f"  wall time (fairsel audit process)      {wall:9.2f} s")
        print(f"    start-up: interpreter, imports, policy {startup:8.2f} s")
        print(f"    plan, load_and_split                 {timings['load_and_split']:9.2f} s")
        print(f"    fit (models, every fold)             {fit:9.2f} s")
        print(f"    metrics (+ {args.resamples} resamples bootstrap) "
              f"{timings['metrics']:9.2f} s")
        print(f"    gates, ranking, result assembly      {other:9.2f} s")
        print(f"    render and exit                      {tail:9.2f} s   "
              f"(results.json, predictions.parquet, {formats})")
        print(f"  CPU time of the process (user + sys)   {run['cpu']:9.2f} s   "
              f"({run['cpu'] / wall:.0%} of wall; well under 100 % with --jobs 1 means the "
              "process waited for a CPU: the machine was contended)")
        print(f"  non-fit share (wall - fit) / wall      {share:9.1%}   target < "
              f"{TARGET_NONFIT_SHARE:.0%}")
        if args.jobs == 1:  # one fit at a time in this process: its CPU is about its wall
            print(f"  for context, CPU beyond the fits       {run['cpu'] - fit:9.2f} s   "
                  f"({(run['cpu'] - fit) / run['cpu']:.1%} of the process's CPU: the proxy "
                  "screen runs in a thread beside the fits, Tree SHAP on the free cores)")
        print(f"  peak RSS (ru_maxrss of the process)    {_gb(run['maxrss']):>9}")
        print(f"  peak RSS (sampled, process tree sum)   {_gb(run['tree_peak']):>9}   "
              f"target < {_gb(TARGET_PEAK_BYTES)}")

        agree = True
        if not args.no_reference:
            pred = pd.read_parquet(out / "predictions.parquet")
            expected_rows = results["data"]["rows_used"] * sum(
                v["status"] != "ERROR" for v in results["variants"])
            data = pd.read_parquet(work / "lending.parquet",
                                   columns=["application_id", "sex", "race"])
            data = data.set_index("application_id")
            for c in ("sex", "race"):
                data[c] = data[c].astype(object).where(data[c].notna(), "unknown")
            attributes = {"sex": ["sex"], "race": ["race"], "sex × race": ["sex", "race"]}
            ref, seconds, ref_cpu = fairlearn_table(pred, data, attributes)
            checked, worst, problems = compare(results, ref)
            if len(pred) != expected_rows:
                problems.append(f"predictions.parquet has {len(pred):,} rows, expected "
                                f"{expected_rows:,}")
            if not np.isfinite(pred["y_score"].to_numpy()).all():
                problems.append("predictions.parquet has non-finite scores")
            agree = not problems
            print()
            print(f"reference: fairlearn MetricFrame, per-group table (sex, race, sex × race; "
                  f"{len(COMPARED) + 1} figures a group) on the pooled out-of-fold predictions of "
                  f"{len(ref)} variants: {seconds:.2f} s ({ref_cpu:.2f} s CPU), no confidence "
                  "intervals")
            print(f"  fairsel metrics stage, same tables + headline metrics + per-fold figures "
                  f"+ {args.resamples}-resample bootstrap CIs: {timings['metrics']:.2f} s")
            print(f"  ratio fairlearn / fairsel metrics stage: "
                  f"{seconds / max(timings['metrics'], 1e-9):.1f}x")
            print(f"  ratio fit / fairsel metrics stage: {fit / max(timings['metrics'], 1e-9):.1f}x")
            if agree:
                print(f"  agreement: {checked} per-group figures equal within {TOLERANCE:g} "
                      f"(largest difference {worst:.2e})")
            else:
                print(f"  DISAGREEMENT: {len(problems)} problem(s):")
                for p in problems[:20]:
                    print(f"    {p}")
        if args.profile is not None:
            print(f"\ncProfile stats written to {args.profile}")

        ok_share = share < TARGET_NONFIT_SHARE
        ok_peak = peak < TARGET_PEAK_BYTES
        verdict = "PASS" if ok_share and ok_peak and agree else "FAIL"
        print()
        print(f"RESULT: bench_e2e rows={args.rows} wall={wall:.1f}s fit={fit:.1f}s "
              f"nonfit_share={share:.1%} (target <{TARGET_NONFIT_SHARE:.0%}: "
              f"{'ok' if ok_share else 'MISSED'}) peak_rss={_gb(peak)} (target <4 GB: "
              f"{'ok' if ok_peak else 'MISSED'}) fairlearn_agree="
              f"{'skipped' if args.no_reference else 'yes' if agree else 'NO'} {verdict}")
        if not agree:
            return 2
        return 0 if verdict == "PASS" else 1
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
