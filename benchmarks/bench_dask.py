"""The Dask backend against the local process pool on the same grid (issue 11, part 2).

Target: ``fairsel audit --backend dask`` (a LocalCluster of 2 single-threaded workers, started
and closed by fairsel) within **1.3×** the wall time of ``fairsel audit --jobs 2`` on the same
grid of (candidate, fold) fits, both run as a user runs them (a new process each), median of
``--repeats`` runs. The grid is fixed LightGBM candidates (``--candidates``, default 6, with
different ``num_leaves`` and ``learning_rate``) over 5 folds at ``--rows`` rows (default
200,000): 30 fit-and-score tasks, as a 30-trial search would give. The two results.json are
also checked to be identical (volatile fields aside): exit 2 when they are not.

Usage (from the repository root; it writes its data to a temporary folder)::

    python benchmarks/bench_dask.py
    python benchmarks/bench_dask.py --rows 50000 --repeats 1     # quicker

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

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import load_average  # noqa: E402
from fairsel.results import VOLATILE_FIELDS  # noqa: E402

TARGET = 1.3


def make_data(n: int, path: Path, seed: int = 0) -> None:
    """Ten numeric features, two protected attributes and an outcome, written as Parquet."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 10))
    sex = rng.choice(np.array(["female", "male"]), size=n)
    race = rng.choice(np.array(["a", "b", "c"]), size=n, p=[0.6, 0.25, 0.15])
    latent = X[:, :4] @ np.array([1.0, -0.7, 0.5, 0.3]) - 0.3 * (sex == "female")
    y = (latent + rng.normal(size=n) > 0).astype(np.int8)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(10)])
    frame["sex"], frame["race"], frame["approved"] = sex, race, y
    frame.to_parquet(path, index=False)


def write_policy(folder: Path, data: Path, n_candidates: int) -> Path:
    cands = "\n".join(
        f"  - {{name: gbm{i}, kind: lightgbm, params: {{n_estimators: 100, "
        f"num_leaves: {[15, 31, 63][i % 3]}, learning_rate: {[0.05, 0.1][i % 2]}}}}}"
        for i in range(n_candidates))
    text = f"""version: 1
name: bench-dask
seed: 5
data: {{path: {data}, target: approved, favorable: 1}}
protected:
  - column: sex
  - column: race
validation: {{scheme: stratified_kfold, folds: 5}}
candidates:
{cands}
metrics:
  confidence: {{resamples: 100}}
gates:
  - {{metric: disparate_impact, min: 0.8}}
proxies: false
report: {{formats: [json]}}
"""
    path = folder / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


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
    ap.add_argument("--candidates", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        folder = Path(tmp)
        data = folder / "data.parquet"
        make_data(args.rows, data)
        policy = write_policy(folder, data, args.candidates)
        tasks = args.candidates * 5
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
    print(f"grid: {args.candidates} LightGBM candidates x 5 folds = {tasks} tasks, "
          f"{args.rows:,} rows")
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
