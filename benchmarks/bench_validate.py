"""``fairsel validate`` answers in under 2 seconds on every bundled policy (a cold process each).

``fairsel validate --policy FILE`` reads the policy and the data it names and checks them
without training, so it must not import the heavy libraries (scikit-learn, LightGBM, fairlearn,
aif360, SHAP, WeasyPrint, matplotlib) that the policy does not need: since issue 13 item 18 it
checks parameter values with the estimator's own library (only for a trained candidate that sets
``params``) and loads and scores saved models as audit does, so those policies may import
scikit-learn, SciPy, LightGBM, skops and joblib (:func:`allowed_heavy`). For every policy in ``policies/`` the script runs it in a
fresh process ``--repeats`` times (default 3) and reports the median wall time against the
2-second target.

The reference is the floor any CLI that reads the data pays: a bare interpreter
(``python -c pass``) and one that imports numpy and pandas and reads the same file with
``pandas.read_csv`` / ``read_parquet``. The ratio validate / floor is printed.

Then ``python -X importtime -m fairsel validate ...`` shows what the validate path imports:
the heaviest top-level packages by cumulative import time, with the known heavy ones flagged.

Usage::

    python benchmarks/bench_validate.py
    python benchmarks/bench_validate.py --repeats 1 --policy policies/lending.yaml

Exit code: 0 every policy under the target, 1 a target missed (or a heavy import found on the
path), 2 a policy failed to validate.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 2.0
# libraries the validate path must not import (import them where they are needed)
HEAVY = ("sklearn", "scipy", "lightgbm", "fairlearn", "aif360", "shap", "weasyprint",
         "matplotlib", "numba", "skops", "jinja2", "joblib")


def allowed_heavy(policy: Path) -> set[str]:
    """The heavy libraries validate may import for this policy (read with the YAML loader)."""
    import yaml

    try:
        cands = yaml.safe_load(policy.read_text(encoding="utf-8"))["candidates"]
    except Exception:  # noqa: BLE001 — validate itself reports a broken policy
        return set()
    allowed: set[str] = set()
    for c in cands:
        if c.get("kind") in ("sklearn", "lightgbm") and c.get("params"):
            allowed |= {"sklearn", "scipy", "joblib"}
            if c.get("kind") == "lightgbm":
                allowed.add("lightgbm")
        if c.get("kind") == "saved_model":
            allowed |= {"sklearn", "scipy", "joblib", "lightgbm", "skops"}
    return allowed


def _env() -> dict[str, str]:
    env = {**os.environ, "CI": "true"}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return env


def _load() -> str:
    from _common import load_average  # benchmarks/ is on sys.path when run as a script

    return load_average()


def timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    """Wall seconds of one cold run (the CPU seconds it used go to ``timed.cpu``)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # runs are sequential: the delta is ours
    timed.cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, proc


timed.cpu = 0.0


def data_path(policy: Path) -> Path | None:
    """The data file a policy names (read with the YAML loader only, no fairsel import)."""
    import yaml

    try:
        doc = yaml.safe_load(policy.read_text(encoding="utf-8"))
        return (policy.parent / doc["data"]["path"]).resolve()
    except Exception:  # noqa: BLE001 — the floor is context; validate itself reports problems
        return None


def import_profile(cmd: list[str]) -> tuple[list[tuple[str, float]], float, set[str]]:
    """``-X importtime``: seconds per top-level package (own import time of all its modules,
    so the numbers add up to the total), the total, and every module imported."""
    proc = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], cwd=ROOT, env=_env(),
                          capture_output=True, text=True)
    per_package: dict[str, float] = {}
    modules: set[str] = set()
    pat = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|( *)(\S+)")
    for line in proc.stderr.splitlines():
        m = pat.match(line)
        if not m:
            continue
        own, name = int(m.group(1)) / 1e6, m.group(4)
        modules.add(name)
        root = name.split(".")[0]
        per_package[root] = per_package.get(root, 0.0) + own
    total = sum(per_package.values())
    return sorted(per_package.items(), key=lambda kv: -kv[1]), total, modules


# Run fairsel with an import hook that records, for each heavy library, the fairsel frames on
# the stack when it is first imported: where the validate path pulls it in.
_WHO_IMPORTS = """
import runpy, sys, traceback
HEAVY = set(sys.argv[1].split(","))
found = {}
class _Hook:
    def find_spec(self, name, path=None, target=None):
        root = name.split(".")[0]
        if root in HEAVY and root not in found:
            found[root] = [f"{f.filename.rsplit('/fairsel/', 1)[-1]}:{f.lineno} {f.name}"
                           for f in traceback.extract_stack() if "/fairsel/" in f.filename]
        return None
sys.meta_path.insert(0, _Hook())
sys.argv = ["fairsel", *sys.argv[2:]]
try:
    runpy.run_module("fairsel", run_name="__main__")
except SystemExit:
    pass
finally:
    for root, frames in found.items():
        print("WHO", root, " <- ".join(reversed(frames[-3:])), file=sys.stderr)
"""


def who_imports(cmd: list[str]) -> dict[str, str]:
    """For every heavy library the command imports: the fairsel call chain that imports it."""
    proc = subprocess.run([cmd[0], "-c", _WHO_IMPORTS, ",".join(HEAVY), *cmd[3:]], cwd=ROOT,
                          env=_env(), capture_output=True, text=True)
    out = {}
    for line in proc.stderr.splitlines():
        if line.startswith("WHO "):
            _, root, chain = line.split(" ", 2)
            out[root] = chain
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="cold runs per policy (median kept)")
    ap.add_argument("--policy", type=Path, action="append", default=None,
                    help="only this policy (repeatable; default: every policies/*.yaml)")
    ap.add_argument("--top", type=int, default=8, help="import-time rows to show")
    args = ap.parse_args(argv)

    policies = args.policy or sorted((ROOT / "policies").glob("*.yaml"))
    if not policies:
        print("RESULT: bench_validate ERROR — no policies found")
        return 2
    py = sys.executable
    print(f"bench_validate: {len(policies)} policies, {args.repeats} cold run(s) each, "
          f"target < {TARGET_SECONDS:g} s (median)")
    print(f"machine: {_load()}")

    bare = statistics.median(timed([py, "-c", "pass"])[0] for _ in range(args.repeats))
    print(f"floor: bare interpreter {bare:.2f} s")
    print("(validate: median wall seconds of a cold process; cpu: its median user + sys seconds — "
          "close to the wall time a quiet machine would show; pandas floor: a process that "
          "imports pandas and reads the same data file; ratio: validate / floor)")
    print()
    header = (f"{'policy':<28} {'validate':>9} {'runs':<22} {'cpu':>6} {'pandas floor':>12} "
              f"{'ratio':>6}  exit")
    print(header)
    print("-" * len(header))

    worst, failed, errors = 0.0, [], []
    commands: list[tuple[str, list[str]]] = []
    for policy in policies:
        rel = os.path.relpath(policy, ROOT)
        cmd = [py, "-m", "fairsel", "validate", "--policy", rel]
        commands.append((rel, cmd))
        runs, cpus, proc = [], [], None
        for _ in range(args.repeats):
            seconds, proc = timed(cmd)
            runs.append(seconds)
            cpus.append(timed.cpu)
        med = statistics.median(runs)
        cpu = statistics.median(cpus)
        worst = max(worst, med)
        floor = float("nan")
        path = data_path(Path(policy))
        if path is not None and path.exists():
            reader = "read_parquet" if path.suffix == ".parquet" else "read_csv"
            code = f"import numpy, pandas; pandas.{reader}({str(path)!r})"
            floor = statistics.median(timed([py, "-c", code])[0] for _ in range(args.repeats))
        assert proc is not None
        print(f"{rel:<28} {med:8.2f}s {' '.join(f'{r:.2f}' for r in runs):<22} {cpu:5.2f}s "
              f"{floor:11.2f}s {med / floor:5.1f}x  {proc.returncode}")
        if proc.returncode != 0:
            errors.append(f"{rel}: exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
        elif med >= TARGET_SECONDS:
            failed.append(f"{rel} {med:.2f}s")

    heavy_found: set[str] = set()
    for policy, cmd in commands:
        print()
        top, total, modules = import_profile(cmd)
        heavy = {m.split(".")[0] for m in modules} & set(HEAVY)
        allowed = allowed_heavy(ROOT / policy)
        if heavy & allowed:
            print(f"  needed by this policy's candidates: {', '.join(sorted(heavy & allowed))}")
        heavy -= allowed
        heavy_found |= heavy
        print(f"imports on the validate path for {policy} (python -X importtime: import "
              f"seconds per package, its own modules only): {total:.2f} s in all, "
              f"{len(modules)} modules")
        for name, seconds in top[: args.top]:
            flag = "  <- heavy" if name in HEAVY else ""
            print(f"  {name:<24} {seconds:6.3f} s{flag}")
        if heavy:
            print(f"  heavy libraries imported on this path: {', '.join(sorted(heavy))}")
            for root, chain in sorted(who_imports(cmd).items()):
                print(f"    {root:<10} first imported by {chain}")
        elif allowed:
            print("  no other heavy library is imported")
        else:
            print(f"  none of {', '.join(HEAVY)} is imported")

    for e in errors:
        print(f"ERROR {e}")
    ok = not failed and not errors and not heavy_found
    verdict = "PASS" if ok else "FAIL"
    print()
    print(f"RESULT: bench_validate policies={len(policies)} worst_median={worst:.2f}s "
          f"(target <{TARGET_SECONDS:g}s: {'ok' if not failed else 'MISSED ' + ', '.join(failed)}) "
          f"heavy_imports={','.join(sorted(heavy_found)) or 'none'} "
          f"errors={len(errors)} {verdict}")
    if errors:
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
