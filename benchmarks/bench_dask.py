"""The Dask backend against the local process pool on the same search (issue 11, part 2).

Target: ``fairsel audit --backend dask`` (a LocalCluster of 2 single-threaded workers, started
and closed by fairsel) within **1.3×** the wall time of ``fairsel audit --jobs 2`` on the same
30-trial random search of LightGBM at 200,000 rows, both run as a user runs them (a new process
each), interleaved, median of ``--repeats`` runs. The search is bench_search.py's (its
``write_search``: synthetic lending data, 100 trees, ``num_leaves``, ``learning_rate`` and
``min_child_samples`` drawn, 5 ``stratified_group_kfold`` folds by branch, sex and race with
their intersection), with ``--resamples`` bootstrap resamples (default 100: the engines differ
in the fits, not in the metrics): 30 trials × 5 folds = 150 fit-and-score tasks. The two
results.json are also checked to be identical (volatile fields aside): exit 2 when they are
not.

Usage (from the repository root; it writes its data to a temporary folder)::

    python benchmarks/bench_dask.py
    python benchmarks/bench_dask.py --rows 20000 --repeats 1     # quicker

The last line reads ``RESULT: bench_dask ... PASS|FAIL``. Exit status: 0 when the target is
met, 1 when it is missed, 2 when an audit failed or the two backends disagree.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import load_average  # noqa: E402
from benchmarks.bench_search import write_search  # noqa: E402 — the same search, one builder
from fairsel.results import VOLATILE_FIELDS  # noqa: E402

TARGET = 1.3


def audit(policy: Path, out: Path, *extra: str) -> float:
    env = {**os.environ, "CI": "true"}
    env.pop("GITHUB_STEP_SUMMARY", None)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "fairsel", "audit", "--policy", str(policy),
                           "--output", str(out), "--quiet", *extra], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode not in (0, 1):
        print(proc.stderr, file=sys.stderr)
        print(f"RESULT: bench_dask audit {' '.join(extra)} failed with exit code "
              f"{proc.returncode} FAIL")
        raise SystemExit(2)
    return wall


def stable(results: Path) -> str:
    """results.json without its volatile fields (timestamps, durations, paths)."""
    data = json.loads(results.read_text(encoding="utf-8"))
    for dotted in VOLATILE_FIELDS:
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return json.dumps(data)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--resamples", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"bench_dask: {args.rows:,} rows, {args.trials}-trial random search of LightGBM "
          f"({args.trees} trees), 5 folds, {args.resamples} resamples, median of "
          f"{args.repeats}; {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        folder = Path(tmp)
        policy = write_search(folder, rows=args.rows, trials=args.trials, trees=args.trees,
                              resamples=args.resamples)
        tasks = args.trials * 5
        times: dict[str, list[float]] = {"jobs2": [], "dask": []}
        runs = {"jobs2": ("--jobs", "2"), "dask": ("--backend", "dask")}
        for r in range(args.repeats):  # interleaved: a change of load hits both alike
            for name, extra in runs.items():
                wall = audit(policy, folder / name, *extra)
                times[name].append(wall)
                print(f"run {r + 1} {name:5s} {wall:7.2f} s  ({load_average()})", flush=True)
        same = stable(folder / "jobs2" / "results.json") == stable(folder / "dask" /
                                                                   "results.json")
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["dask"] / med["jobs2"]
    ok = ratio <= TARGET and same
    print(f"search: {args.trials} trials x 5 folds = {tasks} tasks, {args.rows:,} rows")
    print(f"median wall: --jobs 2 {med['jobs2']:.2f} s, --backend dask {med['dask']:.2f} s; "
          f"dask/jobs2 = {ratio:.2f}x (target <= {TARGET}x); results identical: "
          f"{'yes' if same else 'NO'}")
    print(f"RESULT: bench_dask rows={args.rows} tasks={tasks} ratio={ratio:.2f}x "
          f"identical={'yes' if same else 'no'} {'PASS' if ok else 'FAIL'}")
    if not same:
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
