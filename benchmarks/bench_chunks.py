"""Speed and memory of a predictions-only audit of a Parquet folder read in chunks.

Target (issue 11): a **100,000,000-row** Parquet folder of **10 files**, audited in chunks
(race, sex and race × sex; 1,000 bootstrap resamples), with a peak memory under **4 GB** (the
maximum resident set size of the ``fairsel audit`` process) and a wall time within **40×** a
pyarrow scan of the columns the audit needs (id, outcome, race, sex, score). fairsel is run as a
user runs it (a new ``python -m fairsel audit`` process); the scan is pyarrow's dataset scanner
streaming the same columns, best of its runs. With ``--repeats 3`` the median of fairsel's
three runs is reported.

The folder is generated under /tmp (never in the repository), a file at a time and a million
rows at a time (the generator stays well under 1 GB); int8 outcome, dictionary-encoded groups
and float32 scores keep it near 0.5 GB on disk, and the int64 ids (increasing through the
files: the audit checks data → id in the one pass) add about 0.8 GB. An existing folder with
the same rows is reused; ``--delete`` removes it at the end.

Usage (from the repository root)::

    python benchmarks/bench_chunks.py --delete                 # 100M rows, one run each
    python benchmarks/bench_chunks.py --repeats 3 --delete     # median of 3
    python benchmarks/bench_chunks.py --rows 10000000          # a smaller check

The last line reads ``RESULT: bench_chunks ... PASS|FAIL``; exit status 0 when both targets
are met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from bench_predictions import write_policy

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ["id", "approved", "sex", "race", "score"]
MEMORY_GB = 4.0
RATIO = 40.0
STEP = 1_000_000


def generate(folder: Path, rows: int, files: int, seed: int = 0) -> None:
    """``files`` Parquet files of ``rows`` rows in all, written a million rows at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    stamp = folder.parent / "ROWS"  # beside the data: the folder holds Parquet files only
    if stamp.exists() and stamp.read_text() == f"{rows} {files} {seed} id":
        print(f"reusing {folder} ({rows:,} rows, {files} files)")
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    sexes = pa.array(["female", "male"])
    races = pa.array(["asian", "black", "hispanic", "other", "white"])
    per_file = -(-rows // files)
    t = time.perf_counter()
    written = 0
    for f in range(files):
        n_file = min(per_file, rows - written)
        with pq.ParquetWriter(folder / f"part-{f:02d}.parquet", pa.schema([
                ("id", pa.int64()), ("approved", pa.int8()),
                ("sex", pa.dictionary(pa.int8(), pa.string())),
                ("race", pa.dictionary(pa.int8(), pa.string())), ("score", pa.float32())]),
                compression="snappy") as writer:
            for start in range(0, n_file, STEP):
                n = min(STEP, n_file - start)
                sex = (rng.random(n) < 0.55).astype(np.int8)  # 1 = male
                race = rng.choice(5, size=n, p=[0.06, 0.14, 0.17, 0.03, 0.60]).astype(np.int8)
                latent = rng.normal(size=n).astype(np.float32)
                latent -= np.where(sex == 0, 0.3, 0.0).astype(np.float32)
                latent -= np.where(race == 1, 0.4, 0.0).astype(np.float32)
                y = (latent + rng.normal(size=n).astype(np.float32) > -0.4).astype(np.int8)
                score = (1.0 / (1.0 + np.exp(-(latent + 0.4)))).astype(np.float32)
                first = written + start + 1
                writer.write_table(pa.table({
                    "id": np.arange(first, first + n, dtype=np.int64),
                    "approved": y,
                    "sex": pa.DictionaryArray.from_arrays(pa.array(sex), sexes),
                    "race": pa.DictionaryArray.from_arrays(pa.array(race), races),
                    "score": score,
                }), row_group_size=STEP)
        written += n_file
    stamp.write_text(f"{rows} {files} {seed} id")
    size = sum(p.stat().st_size for p in folder.glob("*.parquet")) / 1e9
    print(f"generated {rows:,} rows in {files} files ({size:.2f} GB) in "
          f"{time.perf_counter() - t:.1f} s")


def scan_seconds(folder: Path, repeats: int) -> float:
    """Best time of pyarrow's dataset scanner streaming the needed columns (every batch
    decoded, nothing kept)."""
    import pyarrow.dataset as ds

    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        rows = 0
        for batch in ds.dataset(folder, format="parquet").scanner(columns=COLUMNS).to_batches():
            rows += batch.num_rows
        best = min(best, time.perf_counter() - t)
    return best


def run_fairsel(policy: Path) -> tuple[float, float, float, int]:
    """(wall s, CPU s, peak RSS GB of the child, exit code) of one ``fairsel audit`` process."""
    env = {**os.environ, "CI": "true", "PYTHONPATH": str(ROOT)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "fairsel", "audit", "--policy", str(policy),
                           "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        print(proc.stderr, file=sys.stderr)
        raise SystemExit(f"fairsel audit failed with exit code {proc.returncode}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    # ru_maxrss of the children is the largest of any child waited for so far (KB on Linux):
    # every child is a fairsel audit of the same folder
    return wall, cpu, after.ru_maxrss / 1024 / 1024, proc.returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000_000)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--folder", type=Path, default=Path("/tmp/fairsel-bench-chunks"))
    ap.add_argument("--repeats", type=int, default=1, help="fairsel runs (median reported)")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--delete", action="store_true", help="delete the folder at the end")
    args = ap.parse_args(argv)
    if ROOT in args.folder.resolve().parents:
        raise SystemExit("--folder must be outside the repository")
    data = args.folder / "data"
    try:
        generate(data, args.rows, args.files)
        # bench_predictions' policy: its data.path, a folder here, is read in chunks
        policy = write_policy(args.folder, data, args.resamples)
        scan = scan_seconds(data, repeats=3)
        print(f"pyarrow scan of {', '.join(COLUMNS)}: {scan:.2f} s (best of 3)")
        walls, cpus = [], []
        peak, code = 0.0, 0
        for i in range(args.repeats):
            wall, cpu, peak, code = run_fairsel(policy)
            walls.append(wall)
            cpus.append(cpu)
            print(f"fairsel audit run {i + 1}: {wall:.1f} s wall, {cpu:.1f} s CPU, peak RSS "
                  f"{peak:.2f} GB, exit {code}")
        res = json.loads((args.folder / "out" / "results.json").read_text())
        chunked = res["data"]["chunked"]
        print(f"rows used {res['data']['rows_used']:,} of {res['data']['rows_read']:,}; "
              f"{chunked['chunks']} chunks; ROC AUC {chunked['auc']['vendor']} (largest error "
              f"{chunked['auc_max_error']['vendor']:.2e}); AUC "
              f"{res['variants'][0]['performance']['roc_auc']['value']:.6f}")
        wall = statistics.median(walls)
        ratio = wall / scan
        ok = peak < MEMORY_GB and ratio <= RATIO
        load = os.getloadavg()[0]
        print(f"RESULT: bench_chunks rows={args.rows:,} fairsel={wall:.1f}s "
              f"(median of {len(walls)}; CPU {statistics.median(cpus):.1f}s) scan={scan:.2f}s "
              f"ratio={ratio:.1f}x (target <= {RATIO:g}x) peak_rss={peak:.2f}GB (target < "
              f"{MEMORY_GB:g} GB) load={load:.1f} {'PASS' if ok else 'FAIL'}")
        return 0 if ok else 1
    finally:
        if args.delete:
            shutil.rmtree(args.folder, ignore_errors=True)
            print(f"deleted {args.folder}")


if __name__ == "__main__":
    sys.exit(main())
