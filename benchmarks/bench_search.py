"""A random search through fairsel against the same trials as a plain loop of LightGBM fits.

``fairsel audit`` runs a 30-trial random search of LightGBM (``candidates[].search``) on
synthetic lending data (``fairsel.synthetic.make_lending``, 200,000 rows by default), 5
``stratified_group_kfold`` folds by branch, protected sex and race with intersections, 1,000
bootstrap resamples, three gates, results.json only (``--format json``). The reference is what
a user would write without fairsel: read the same Parquet file, then for each trial (the same
parameters, read back from results.json) fit ``LGBMClassifier`` on each fold's training rows
(the same folds, read back from predictions.parquet) and score its test rows, then compute
the pooled out-of-fold ROC AUC per trial. Both use one thread (fairsel ``--jobs 1``; the loop
``n_jobs=1``), the same LightGBM settings (``deterministic``, ``force_row_wise``, the policy's
seed as ``random_state``) and the categories as LightGBM's native categorical features.

Target: fairsel's wall time (the whole ``fairsel audit`` process: start-up, reading, splitting,
every fit, metrics with intervals for every trial, gates, ranking, writing results.json and
predictions.parquet) within 1.3× of the loop's (reading and fitting), median of 3 runs each,
the runs interleaved (fairsel, loop, fairsel, loop, ...) so that a change of the machine's load
during the benchmark falls on both sides.
The trials agree when each trial's pooled AUC matches between the two to 0.01 (fairsel prepares
the features through its own pipeline, so tiny differences are expected, not identical models).

    python benchmarks/bench_search.py                     # 200,000 rows, 30 trials, 3 runs
    python benchmarks/bench_search.py --rows 50000 --repeats 1

Exit code 0: target met and the trials agree; 1: the ratio is above 1.3; 2: fairsel failed or
the trials disagree.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(ROOT))

TARGET_RATIO = 1.3
AUC_AGREEMENT = 0.01

POLICY = """\
# written by benchmarks/bench_search.py
version: 1
name: bench-search
seed: {seed}
data:
  path: lending.parquet
  target: approved
  favorable: "yes"
  id: application_id
protected:
  - column: sex
  - column: race
validation:
  scheme: stratified_group_kfold
  folds: {folds}
  groups: branch
candidates:
  - name: gbm
    kind: lightgbm
    params: {{n_estimators: {trees}}}
    search:
      method: random
      trials: {trials}
      params:
        num_leaves: [15, 31, 63]
        learning_rate: {{low: 0.01, high: 0.3, log: true}}
        min_child_samples: {{low: 5, high: 100, integer: true}}
metrics:
  confidence: {{method: bootstrap, level: 0.95, resamples: {resamples}}}
gates:
  - {{metric: disparate_impact, min: 0.8}}
  - {{metric: equal_opportunity_difference, max: 0.1}}
  - {{metric: roc_auc, min: 0.7, severity: warn}}
proxies: false
report:
  output: out
  formats: [json]
"""


def write_search(work: Path, *, rows: int, seed: int = 11, folds: int = 5, trees: int = 100,
                 trials: int = 30, resamples: int = 1000) -> Path:
    """The search's data (``lending.parquet``, ``make_lending``) and policy (``policy.yaml``,
    results to ``out``) written into ``work``; the policy's path. bench_dask.py audits the same
    search."""
    from fairsel.synthetic import make_lending

    make_lending(rows, seed=seed).to_parquet(work / "lending.parquet", index=False)
    policy = work / "policy.yaml"
    policy.write_text(POLICY.format(seed=seed, folds=folds, trees=trees, trials=trials,
                                    resamples=resamples), encoding="utf-8")
    return policy


def _load() -> str:
    from _common import load_average  # benchmarks/ is on sys.path when run as a script

    return load_average()


def run_fairsel(policy: Path, out: Path) -> tuple[float, float, int, str]:
    """Wall time, CPU time, exit code and stderr tail of one ``fairsel audit`` process."""
    import resource

    env = {**os.environ, "CI": "true", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "fairsel", "audit", "--policy", str(policy), "--output",
           str(out), "--format", "json", "--quiet", "--jobs", "1"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=policy.parent, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.returncode, proc.stderr[-2000:]


def plain_loop(data: Path, trials: list[dict], folds, seed: int) -> tuple[float, float, dict]:
    """The same trials fitted in a plain loop: wall time, CPU time, each trial's pooled AUC."""
    import lightgbm as lgb
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    t, cpu0 = time.perf_counter(), time.process_time()
    df = pd.read_parquet(data)
    y = (df.pop("approved") == "yes").to_numpy(np.int8)
    X = df.drop(columns=["application_id", "sex", "race", "branch"])
    for c in X.columns:
        if X[c].dtype == object or str(X[c].dtype).startswith(("string", "str")):
            X[c] = X[c].astype("category")
        elif X[c].dtype == bool:
            X[c] = X[c].astype("float64")
    n_folds = int(folds.max()) + 1
    aucs = {}
    for trial in trials:
        scores = np.empty(len(y))
        for k in range(n_folds):
            test = folds == k
            model = lgb.LGBMClassifier(n_jobs=1, verbose=-1, deterministic=True,
                                       force_row_wise=True, random_state=seed,
                                       **trial["params"])
            model.fit(X[~test], y[~test])
            scores[test] = model.predict_proba(X[test])[:, 1]
        aucs[trial["name"]] = float(roc_auc_score(y, scores))
    return time.perf_counter() - t, time.process_time() - cpu0, aucs


def _trials_and_folds(work: Path) -> tuple[list[dict], object]:
    """Each trial's name and parameters (fixed and searched) from results.json, and each
    row's fold (in the data file's row order) from predictions.parquet."""
    import pandas as pd

    results = json.loads((work / "out" / "results.json").read_text(encoding="utf-8"))
    fixed = results["policy"]["candidates"][0]["params"]
    trials = [{"name": v["name"], "params": {**fixed, **v["trial"]["params"]}}
              for v in results["variants"] if v.get("trial") and not v["mitigation"]]
    preds = pd.read_parquet(work / "out" / "predictions.parquet",
                            columns=["row_id", "fold", "candidate"])
    first = preds[preds["candidate"] == trials[0]["name"]]
    row_order = pd.read_parquet(work / "lending.parquet", columns=["application_id"])
    folds = first.set_index("row_id")["fold"].reindex(row_order["application_id"]).to_numpy()
    return trials, folds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=200_000, help="rows (default 200,000)")
    ap.add_argument("--trials", type=int, default=30, help="search trials (default 30)")
    ap.add_argument("--trees", type=int, default=100, help="n_estimators of every trial")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (1000)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each side (median)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    args = ap.parse_args(argv)

    print(f"bench_search: {args.rows:,} rows, {args.trials}-trial random search of LightGBM "
          f"({args.trees} trees), {args.folds} folds, {args.resamples} resamples, "
          f"median of {args.repeats}")
    print(f"machine: {_load()} (before)")
    from _common import work_folder  # benchmarks/ is on sys.path when run as a script

    with work_folder(args.keep, "fairsel-bench-search-") as work:
        policy = write_search(work, rows=args.rows, seed=args.seed, folds=args.folds,
                              trees=args.trees, trials=args.trials, resamples=args.resamples)
        # interleaved (fairsel, loop, fairsel, loop, ...): on a shared machine the load
        # drifts, and running all of one side first would hand the drift to the ratio.
        # The loop needs the trials and folds of a first fairsel run.
        fairsel_walls, fairsel_cpus, loop_walls, loop_cpus = [], [], [], []
        trials = folds = None
        loop_auc: dict = {}
        for i in range(args.repeats):
            wall, cpu, code, err = run_fairsel(policy, work / "out")
            if code not in (0, 1, 5):
                print(err)
                print(f"RESULT: bench_search ERROR — fairsel audit exited {code}")
                return 2
            fairsel_walls.append(wall)
            fairsel_cpus.append(cpu)
            print(f"  fairsel audit run {i + 1}: {wall:8.2f} s wall, {cpu:8.2f} s CPU "
                  f"(exit {code}; {_load()})")
            if trials is None:
                trials, folds = _trials_and_folds(work)
            wall, cpu, loop_auc = plain_loop(work / "lending.parquet", trials, folds, args.seed)
            loop_walls.append(wall)
            loop_cpus.append(cpu)
            print(f"  plain LightGBM loop run {i + 1}: {wall:8.2f} s wall, {cpu:8.2f} s CPU "
                  f"({_load()})")
        results = json.loads((work / "out" / "results.json").read_text(encoding="utf-8"))
        print(f"machine: {_load()} (after)")
        fs_auc = {v["name"]: v["performance"]["roc_auc"]["value"] for v in results["variants"]}
        worst = max(abs(fs_auc[n] - a) for n, a in loop_auc.items())
        fw, lw = statistics.median(fairsel_walls), statistics.median(loop_walls)
        ratio = fw / lw
        timings = results["provenance"]["timings"]
        print()
        print(f"  fairsel audit (median)        {fw:9.2f} s   of which fit "
              f"{timings['fit']:.2f} s, metrics {timings['metrics']:.2f} s")
        print(f"  plain loop (median)           {lw:9.2f} s")
        print(f"  ratio fairsel / loop          {ratio:9.2f}    target ≤ {TARGET_RATIO}")
        cpu_ratio = statistics.median(fairsel_cpus) / statistics.median(loop_cpus)
        print(f"  CPU-time ratio (for context)  {cpu_ratio:9.2f}    (both single-threaded: on a "
              "contended machine this is the steadier figure)")
        print(f"  trials agree (pooled AUC)     max |Δ| {worst:.4f} (≤ {AUC_AGREEMENT})")
        agree = worst <= AUC_AGREEMENT
        ok = ratio <= TARGET_RATIO and agree
        print(f"RESULT: bench_search rows={args.rows} trials={len(trials)} ratio={ratio:.2f} "
              f"cpu_ratio={cpu_ratio:.2f} "
              f"agree={'yes' if agree else 'no'} {'PASS' if ok else 'FAIL'}")
        if not agree:
            return 2
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
