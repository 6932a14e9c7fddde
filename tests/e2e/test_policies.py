"""End-to-end: every example policy through the real CLI, against its golden results.

Every ``policies/*.yaml`` is picked up by itself (a new policy needs a golden file, written by
``python tests/e2e/regenerate_golden.py NAME``; without one its test fails and says so). Each
policy's audit runs once per test session (a module-scoped fixture), alongside a second,
independent run of it for the determinism test; the tests below read their output folders.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from fairsel.cli import exit_code_for
from fairsel.results import SCHEMA_VERSION, VOLATILE_FIELDS, AuditResult
from tests.conftest import ROOT, run_cli
from tests.e2e.regenerate_golden import (
    REGENERATE_HINT,
    canonical,
    diff_json,
    discover_policies,
    golden_path,
    load_golden,
    policy_arg,
    run_policy,
    strip_volatile,
)

POLICIES = discover_policies()
MACHINE_FILES = ("results.json", "leaderboard.csv", "summary.md", "junit.xml")
PREDICTION_COLUMNS = ["row_id", "fold", "candidate", "y_true", "y_score", "y_pred"]


@dataclass
class PolicyRun:
    policy: Path
    out: Path
    exit_code: int
    stderr: str
    text: str  # results.json as written
    results: dict
    result: AuditResult
    again: Path  # the output folder of a second, independent run (for determinism)
    again_exit_code: int


@pytest.fixture(scope="module", params=POLICIES, ids=lambda p: p.stem)
def policy_run(request, tmp_path_factory) -> PolicyRun:
    """The audit of one policy, run once for every test of this module.

    A second, independent audit of the same policy runs at the same time in another process,
    for the determinism test: fairsel fits with one thread, so on two cores the pair takes
    about the wall time of one run.
    """
    policy: Path = request.param
    base = tmp_path_factory.mktemp(f"audit-{policy.stem}")
    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = pool.map(lambda d: run_policy(policy, base / d), ["out", "again"])
    out = base / "out"
    path = out / "results.json"
    assert path.exists(), (f"{policy_arg(policy)}: `fairsel audit` exited {first.exit_code} and "
                           f"wrote no results.json; stderr:\n{first.stderr}")
    text = path.read_text(encoding="utf-8")
    return PolicyRun(policy, out, first.exit_code, first.stderr, text, json.loads(text),
                     AuditResult.model_validate_json(text), base / "again", second.exit_code)


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every entry of a folder (a left-over staging folder included) with its bytes."""
    return {p.name: p.read_bytes() if p.is_file() else b"<folder>"
            for p in sorted(folder.iterdir())}


def _run_patched(prelude: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The real CLI in a real process, with ``prelude`` run first (to inject a fault)."""
    code = prelude + "\nfrom fairsel.cli import main\nmain(prog_name='fairsel')\n"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300,
                          env={**os.environ, "CI": "true", "PYTHONPATH": str(ROOT)})


def test_example_policies_are_discovered():
    assert POLICIES, f"no policies/*.yaml found under {ROOT}"
    # a golden file whose policy was removed or renamed is stale
    stale = [p.name for p in golden_path(POLICIES[0]).parent.glob("*.json")
             if p.stem not in {q.stem for q in POLICIES}]
    assert not stale, (f"golden file(s) {stale} have no policy in policies/; run "
                       f"`{REGENERATE_HINT}` (it removes them)")


def test_golden_comparison_can_fail():
    """The comparison used against the golden files: 1e-9 relative on floats, exact elsewhere."""
    golden = {"v": [{"auc": 0.7723857142857142, "n": 1000, "name": "forest", "ok": True,
                     "ci": [0.74, None]}]}
    same = json.loads(json.dumps(golden))
    assert diff_json(golden, same) == []
    close = json.loads(json.dumps(golden))
    close["v"][0]["auc"] *= 1 + 1e-12
    assert diff_json(golden, close) == []
    for path, value in [(("auc",), 0.7723857142857142 * (1 + 1e-8)), (("n",), 1001),
                        (("name",), "gbm"), (("ok",), False), (("ci",), [0.74, 0.8])]:
        changed = json.loads(json.dumps(golden))
        changed["v"][0][path[0]] = value
        assert len(diff_json(golden, changed)) == 1, path
    extra = json.loads(json.dumps(golden))
    extra["v"].append({})
    assert diff_json(golden, extra) == [".v: golden has 1 item(s), actual 2"]
    stripped = strip_volatile({"provenance": {"started": "x", "seed": 1}, "data": {"path": "p"}})
    assert stripped == {"provenance": {"seed": 1}, "data": {}}


def test_results_match_golden(policy_run: PolicyRun):
    golden = load_golden(policy_run.policy)
    if golden is None:
        pytest.fail(f"{policy_arg(policy_run.policy)} has no golden file "
                    f"{golden_path(policy_run.policy).relative_to(ROOT)}: run "
                    f"`{REGENERATE_HINT} {policy_run.policy.stem}`, check the results it "
                    "prints, and commit the file")
    assert policy_run.exit_code == golden["exit_code"], (
        f"`fairsel audit --policy {policy_arg(policy_run.policy)}` exited {policy_run.exit_code}, "
        f"the golden file records {golden['exit_code']}; stderr:\n{policy_run.stderr}")
    assert policy_run.results.get("schema_version") == SCHEMA_VERSION
    assert set(golden["volatile_fields_removed"]) == set(VOLATILE_FIELDS), (
        f"VOLATILE_FIELDS changed since the golden file was written: run "
        f"`{REGENERATE_HINT}`")
    stripped = canonical(strip_volatile(policy_run.results))
    for local in (str(ROOT), str(policy_run.out)):  # would differ in another checkout or run
        assert local not in stripped, (
            f"results.json holds the local path {local} outside VOLATILE_FIELDS; it cannot be "
            "compared across machines (make it relative, or list the field as volatile)")
    diffs = diff_json(golden["results"], strip_volatile(policy_run.results))
    assert not diffs, (
        f"{policy_arg(policy_run.policy)}: results.json differs from the golden file in "
        f"{len(diffs)} place(s):\n  " + "\n  ".join(diffs[:25])
        + ("\n  …" if len(diffs) > 25 else "")
        + f"\nIf the change is deliberate, run `{REGENERATE_HINT} {policy_run.policy.stem}` "
          "and review `git diff tests/e2e/golden`.")


def test_exit_code_is_computed_from_the_result(policy_run: PolicyRun):
    r = policy_run.result
    assert policy_run.exit_code == exit_code_for(r, "error") == r.verdict.exit_code
    assert r.verdict.selected == r.ranking.selected
    assert sorted(v.name for v in r.variants) == sorted(r.ranking.order)
    # the policy's gates, then the proxy screen's two (unless proxies: false), per variant
    proxy = 0 if r.analysis.proxies is None else 2
    assert len(r.gates) == len(r.variants) * (len(r.policy["gates"]) + proxy)


def test_same_policy_twice_gives_identical_results(policy_run: PolicyRun):
    again = policy_run.again
    assert policy_run.again_exit_code == policy_run.exit_code
    second = json.loads((again / "results.json").read_text(encoding="utf-8"))
    # every non-volatile byte of results.json (key order and float repr included)
    first, second_text = (canonical(strip_volatile(policy_run.results)),
                          canonical(strip_volatile(second)))
    if first != second_text:
        diffs = diff_json(strip_volatile(policy_run.results), strip_volatile(second),
                          rel_tol=0.0, abs_tol=0.0)
        pytest.fail("two runs of the same policy differ:\n  " + "\n  ".join(diffs[:25]))
    for name in ("leaderboard.csv", "summary.md", "junit.xml", "predictions.parquet"):
        assert (again / name).read_bytes() == (policy_run.out / name).read_bytes(), \
            f"{name} differs between two runs of {policy_arg(policy_run.policy)}"


def test_predictions_parquet(policy_run: PolicyRun):
    import pyarrow.parquet as pq
    from sklearn.metrics import roc_auc_score

    r = policy_run.result
    table = pq.read_table(policy_run.out / "predictions.parquet")
    assert table.column_names == PREDICTION_COLUMNS
    df = table.to_pandas()
    evaluated = [v.name for v in r.variants if v.status != "ERROR"]
    n = r.data.rows_used
    assert len(df) == n * len(evaluated)
    assert sorted(df["candidate"].astype(str).unique()) == sorted(evaluated)
    fold_sizes = np.asarray(r.validation.fold_sizes)
    for name, part in df.groupby(df["candidate"].astype(str), observed=True):
        assert len(part) == n and part["row_id"].is_unique, name
        assert set(part["y_true"].unique()) <= {0, 1} and set(part["y_pred"].unique()) <= {0, 1}
        assert np.isfinite(part["y_score"].to_numpy()).all(), name
        assert part["y_true"].mean() == pytest.approx(r.data.favorable_rate, rel=1e-12)
        np.testing.assert_array_equal(np.bincount(part["fold"], minlength=len(fold_sizes)),
                                      fold_sizes)
        # the pooled AUC in results.json is the AUC of these out-of-fold scores
        auc = r.variant(name).performance.get("roc_auc")
        if auc is not None and auc.value is not None:
            assert auc.value == pytest.approx(roc_auc_score(part["y_true"], part["y_score"]),
                                              rel=1e-9), name
    # one fold assignment shared by every variant
    folds = df.pivot(index="row_id", columns="candidate", values="fold")
    assert (folds.nunique(axis=1) == 1).all()


def test_leaderboard_csv(policy_run: PolicyRun):
    r = policy_run.result
    with open(policy_run.out / "leaderboard.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(r.variants)
    assert [row["variant"] for row in rows] == r.ranking.order
    for row in rows:
        v = r.variant(row["variant"])
        assert row["rank"] == str(v.rank) and row["status"] == v.status
        assert row["selected"] == str(v.name == r.ranking.selected)


def test_junit_xml(policy_run: PolicyRun):
    r = policy_run.result
    root = ET.parse(policy_run.out / "junit.xml").getroot()
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == len(r.gates) == int(root.get("tests"))
    assert int(root.get("failures")) == sum(g.status == "FAIL" for g in r.gates)
    assert len(root.findall("./testsuite/testcase/failure")) == int(root.get("failures"))


def test_summary_md(policy_run: PolicyRun):
    r = policy_run.result
    text = (policy_run.out / "summary.md").read_text(encoding="utf-8")
    assert f"**Verdict: {r.verdict.status}**" in text
    table_rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table_rows) == 1 + len(r.variants)  # header + one per variant


def test_render_rebuilds_the_same_files_without_retraining(policy_run: PolicyRun, tmp_path):
    original = _snapshot(policy_run.out)
    # a copy of the output folder without the files render rebuilds from results.json
    work = tmp_path / "work"
    shutil.copytree(policy_run.out, work)
    for name in ("leaderboard.csv", "summary.md", "junit.xml"):
        (work / name).unlink()
    # run_audit / load_data must not be called: rendering is a function of results.json alone
    no_training = ("import fairsel.audit, fairsel.data\n"
                   "def _no(*a, **k): raise AssertionError('render retrained or re-read data')\n"
                   "fairsel.audit.run_audit = fairsel.audit.fold_variants = _no\n"
                   "fairsel.data.load_data = _no\n")
    res = _run_patched(no_training, "render", str(work / "results.json"),
                       "--format", "json,markdown,junit", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    rebuilt = _snapshot(work)
    assert sorted(rebuilt) == sorted(original)  # no file added (no tmp folder, no log)
    for name in MACHINE_FILES + ("predictions.parquet",):
        assert rebuilt[name] == original[name], f"render rebuilt a different {name}"


@pytest.fixture(scope="module")
def small_results(tmp_path_factory) -> str:
    """results.json of a tiny in-process audit (the fault tests need any valid result)."""
    from fairsel.audit import run_audit
    from fairsel.policy import load_policy
    from tests.unit.test_registries import tiny_policy, write_tiny_data

    folder = tmp_path_factory.mktemp("small")
    write_tiny_data(folder)
    result = run_audit(load_policy(tiny_policy(folder))).result
    return result.model_dump_json(indent=2) + "\n"


@pytest.mark.parametrize("fault, code", [("RuntimeError('disk on fire')", 70),
                                         ("KeyboardInterrupt()", 130)])
def test_failed_render_leaves_the_previous_files(small_results, tmp_path, fault, code):
    # an earlier report in the output folder, recognisably different from a new one
    out = tmp_path / "report"
    out.mkdir()
    for name in MACHINE_FILES:
        (out / name).write_text(f"previous {name}\n", encoding="utf-8")
    before = _snapshot(out)
    src = tmp_path / "results.json"
    src.write_text(small_results, encoding="utf-8")
    # junit is written last, after results.json, leaderboard.csv and summary.md are staged
    boom = (f"import fairsel.report.machine as m\n"
            f"def _boom(*a, **k): raise {fault}\n"
            f"m.write_junit = _boom\n")
    res = _run_patched(boom, "render", str(src), "--format", "json,markdown,junit",
                       "--output", str(out), cwd=tmp_path)
    assert res.returncode == code, res.stderr
    after = {n: b for n, b in _snapshot(out).items() if n != "fairsel-error.log"}
    assert after == before, "a failed render changed the previous report"
    if code == 70:  # the traceback goes to a log inside the output folder, not the cwd
        assert "disk on fire" in (out / "fairsel-error.log").read_text(encoding="utf-8")
        assert not (tmp_path / "fairsel-error.log").exists()
    # the same render without the fault does replace them (so the check above can fail)
    res = run_cli("render", str(src), "--format", "json,markdown,junit", "--output", str(out))
    assert res.exit_code == 0, res.stderr
    assert _snapshot(out)["results.json"] == small_results.encode("utf-8")
    assert _snapshot(out)["summary.md"] != before["summary.md"]
