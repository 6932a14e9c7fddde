"""Rewrite the golden results of the example policies (``tests/e2e/golden/<policy>.json``).

``tests/e2e/test_policies.py`` runs ``fairsel audit`` on every ``policies/*.yaml`` through the
real CLI and compares its results.json, with :data:`fairsel.results.VOLATILE_FIELDS` removed,
to the golden file of that policy. When a *deliberate* change alters the results (a metric
fixed, a field added, an example policy edited or added), regenerate the golden files and
review the difference before committing::

    python tests/e2e/regenerate_golden.py               # every policies/*.yaml
    python tests/e2e/regenerate_golden.py lending       # only policies/lending.yaml
    python tests/e2e/regenerate_golden.py --check       # compare only, write nothing
    git diff --stat tests/e2e/golden                    # then read the diff

Never run it just to make a failing e2e test pass without understanding why the numbers
moved: the golden files are the record of what fairsel computes on the example data.

Each golden file holds the policy path, the command that was run, the exit code it returned
(the e2e test asserts the same code) and the results with the volatile fields removed.
The script prints, per policy, the differences from the previous golden file (first 20 paths),
and removes golden files whose policy no longer exists (when run on every policy).

Exit status: 0 when every golden file was written (or, with ``--check``, matches), 1 when a
``--check`` finds a difference, 2 when a policy's audit wrote no results.json (an example
policy must run as it is).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: make `tests` and `fairsel` importable
    sys.path.insert(0, str(ROOT))

from fairsel.results import VOLATILE_FIELDS  # noqa: E402
from tests.conftest import run_cli  # noqa: E402

POLICIES_DIR = ROOT / "policies"
GOLDEN_DIR = ROOT / "tests" / "e2e" / "golden"
REL_TOL = 1e-9
ABS_TOL = 1e-12  # values that should be exactly 0 may differ in the last bits across BLAS builds
REGENERATE_HINT = "python tests/e2e/regenerate_golden.py"


def discover_policies() -> list[Path]:
    """Every example policy, sorted (``policies/*.yaml``)."""
    return sorted(POLICIES_DIR.glob("*.yaml"))


def golden_path(policy: Path) -> Path:
    return GOLDEN_DIR / f"{policy.stem}.json"


def policy_arg(policy: Path) -> str:
    """The policy as passed on the command line: relative to the repository, as a user would."""
    return policy.resolve().relative_to(ROOT).as_posix()


def run_policy(policy: Path, out_dir: Path):
    """``fairsel audit --policy P --output OUT`` in a real process (cwd = the repository)."""
    return run_cli("audit", "--policy", policy_arg(policy), "--output", str(out_dir))


def strip_volatile(results: dict[str, Any]) -> dict[str, Any]:
    """A copy of a parsed results.json without :data:`VOLATILE_FIELDS` (dotted paths)."""
    out = copy.deepcopy(results)
    for dotted in VOLATILE_FIELDS:
        *parents, leaf = dotted.split(".")
        node: Any = out
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return out


def canonical(results: dict[str, Any]) -> str:
    """Stable text of parsed results (key order kept as written; floats as repr, exact)."""
    return json.dumps(results, indent=2, ensure_ascii=False, allow_nan=False)


def diff_json(expected: Any, actual: Any, path: str = "", *, rel_tol: float = REL_TOL,
              abs_tol: float = ABS_TOL, limit: int = 10_000) -> list[str]:
    """Differences between two parsed JSON values, one line per differing path.

    Floats are compared with ``math.isclose(rel_tol, abs_tol)``; everything else (ints,
    strings, booleans, null, key sets, list lengths) must be equal.
    """
    out: list[str] = []

    def walk(e: Any, a: Any, p: str) -> None:
        if len(out) >= limit:
            return
        if isinstance(e, bool) or isinstance(a, bool):
            if e is not a:
                out.append(f"{p or '.'}: golden {e!r} != actual {a!r}")
            return
        if isinstance(e, (int, float)) and isinstance(a, (int, float)):
            if isinstance(e, int) and isinstance(a, int):
                ok = e == a
            else:
                ok = math.isclose(e, a, rel_tol=rel_tol, abs_tol=abs_tol)
            if not ok:
                out.append(f"{p or '.'}: golden {e!r} != actual {a!r}")
            return
        if type(e) is not type(a):
            out.append(f"{p or '.'}: golden {type(e).__name__} {_short(e)} != actual "
                       f"{type(a).__name__} {_short(a)}")
            return
        if isinstance(e, dict):
            for k in e:
                if k not in a:
                    out.append(f"{p}.{k}: in golden, missing from actual")
            for k in a:
                if k not in e:
                    out.append(f"{p}.{k}: new in actual, not in golden ({_short(a[k])})")
            for k in e:
                if k in a:
                    walk(e[k], a[k], f"{p}.{k}")
            return
        if isinstance(e, list):
            if len(e) != len(a):
                out.append(f"{p}: golden has {len(e)} item(s), actual {len(a)}")
            for i, (x, y) in enumerate(zip(e, a)):
                walk(x, y, f"{p}[{i}]")
            return
        if e != a:
            out.append(f"{p or '.'}: golden {_short(e)} != actual {_short(a)}")

    walk(expected, actual, path)
    return out


def _short(x: Any, n: int = 80) -> str:
    s = json.dumps(x, ensure_ascii=False)
    return s if len(s) <= n else s[: n - 1] + "…"


def golden_record(policy: Path, exit_code: int, results: dict[str, Any]) -> dict[str, Any]:
    return {
        "policy": policy_arg(policy),
        "command": f"fairsel audit --policy {policy_arg(policy)} --output <tmp>",
        "exit_code": exit_code,
        "volatile_fields_removed": list(VOLATILE_FIELDS),
        "regenerate_with": f"{REGENERATE_HINT} {policy.stem}",
        "results": strip_volatile(results),
    }


def load_golden(policy: Path) -> dict[str, Any] | None:
    path = golden_path(policy)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _select(names: list[str]) -> list[Path]:
    every = {p.stem: p for p in discover_policies()}
    chosen = []
    for name in names:
        stem = Path(name).stem
        if stem not in every:
            raise SystemExit(f"regenerate_golden: no policy '{name}' in {POLICIES_DIR} "
                             f"(found: {', '.join(sorted(every)) or 'none'})")
        chosen.append(every[stem])
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("policies", nargs="*",
                        help="policy names or files (default: every policies/*.yaml)")
    parser.add_argument("--check", action="store_true",
                        help="compare with the golden files, write nothing")
    args = parser.parse_args(argv)
    policies = _select(args.policies) if args.policies else discover_policies()
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    status = 0
    for policy in policies:
        tmp = Path(tempfile.mkdtemp(prefix=f"fairsel-golden-{policy.stem}-"))
        try:
            t0 = time.perf_counter()
            res = run_policy(policy, tmp / "out")
            seconds = time.perf_counter() - t0
            results_file = tmp / "out" / "results.json"
            if not results_file.exists():
                print(f"{policy_arg(policy)}: the audit exited {res.exit_code} and wrote no "
                      f"results.json; an example policy must run as it is:\n{res.stderr}",
                      file=sys.stderr)
                status = max(status, 2)
                continue
            record = golden_record(policy, res.exit_code,
                                   json.loads(results_file.read_text(encoding="utf-8")))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        old = load_golden(policy)
        if old is None:
            changes = ["(no golden file before)"]
        else:
            changes = diff_json({k: v for k, v in old.items() if k != "volatile_fields_removed"},
                                {k: v for k, v in record.items() if k != "volatile_fields_removed"})
        where = golden_path(policy).relative_to(ROOT)
        about = f"exit code {record['exit_code']}, audit took {seconds:.1f} s"
        if not changes:
            print(f"{where}: unchanged ({about})")
            continue
        print(f"{where}: {len(changes)} difference(s) ({about})")
        for line in changes[:20]:
            print(f"    {line}")
        if len(changes) > 20:
            print(f"    … and {len(changes) - 20} more")
        if args.check:
            status = max(status, 1)
            continue
        golden_path(policy).write_text(
            json.dumps(record, indent=1, ensure_ascii=False, allow_nan=False) + "\n",
            encoding="utf-8")
        print(f"{where}: written")
    if not args.policies:
        stems = {p.stem for p in discover_policies()}
        for orphan in sorted(GOLDEN_DIR.glob("*.json")):
            if orphan.stem not in stems:
                if args.check:
                    print(f"{orphan.relative_to(ROOT)}: no policy of that name any more")
                    status = max(status, 1)
                else:
                    orphan.unlink()
                    print(f"{orphan.relative_to(ROOT)}: removed (its policy is gone)")
    return status


if __name__ == "__main__":
    sys.exit(main())
