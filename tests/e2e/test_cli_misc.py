"""CLI behaviour owned by cli.py: list, schema, init, --jobs, interruption, internal errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from fairsel.cli import main
from fairsel.results import VOLATILE_FIELDS
from tests.conftest import POLICIES, ROOT, SAMPLES, run_cli

TINY_POLICY = """
version: 1
name: tiny
seed: 3
data: {{path: {data}, target: credit, favorable: good}}
protected:
  - column: sex
validation: {{scheme: stratified_kfold, folds: 3}}
candidates:
  - {{name: logreg, kind: sklearn, estimator: logistic_regression}}
  - {{name: tree, kind: sklearn, estimator: decision_tree, params: {{max_depth: 4}}}}
metrics:
  confidence: {{resamples: 50}}
gates:
  - {{metric: disparate_impact, min: 0.8}}
report: {{formats: [json, markdown, junit]}}
"""


@pytest.fixture
def tiny_policy(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY_POLICY.format(data=SAMPLES / "german_credit.csv"), encoding="utf-8")
    return p


def _strip(d: dict, dotted: str) -> None:
    head, _, rest = dotted.partition(".")
    if not rest:
        d.pop(head, None)
    elif isinstance(d.get(head), dict):
        _strip(d[head], rest)


def _stable(results_path: Path) -> dict:
    data = json.loads(results_path.read_text(encoding="utf-8"))
    for f in VOLATILE_FIELDS:
        _strip(data, f)
    return data


@pytest.mark.parametrize("what,expected", [
    ("metrics", ["disparate_impact", "equal_opportunity_difference", "roc_auc", "brier_score"]),
    ("estimators", ["logistic_regression", "random_forest", "extra_trees",
                    "hist_gradient_boosting", "decision_tree", "lightgbm"]),
    ("formats", ["json", "markdown", "junit", "html", "pdf"]),
    ("mitigations", ["reweighing", "threshold", "reductions", "postprocessing"]),
    ("compliance", ["generic", "lending", "hiring_ll144"]),
])
def test_list_names_every_entry_with_a_meaning(what, expected):
    res = CliRunner().invoke(main, ["list", what])
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stdout.splitlines() if ln.strip()]
    names = [ln.split()[0] for ln in lines]
    for name in expected:
        assert name in names
    assert all(len(ln.split(None, 1)) == 2 for ln in lines), "every name has a one-line meaning"


@pytest.mark.parametrize("what,title", [("policy", "Policy"), ("results", "AuditResult")])
def test_schema_prints_a_json_schema(what, title):
    res = CliRunner().invoke(main, ["schema", what])
    assert res.exit_code == 0
    schema = json.loads(res.stdout)
    assert schema["title"] == title
    assert "properties" in schema
    if what == "results":
        assert "schema_version" in schema["properties"]


def test_results_json_validates_against_the_printed_schema(tiny_policy, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    out = tmp_path / "out"
    res = run_cli("audit", "--policy", str(tiny_policy), "--output", str(out), "--quiet")
    assert res.exit_code in (0, 1), res.stderr
    schema = json.loads(CliRunner().invoke(main, ["schema", "results"]).stdout)
    jsonschema.validate(json.loads((out / "results.json").read_text()), schema)


def test_init_writes_a_policy_that_validates(tmp_path):
    data = tmp_path / "credit.csv"
    shutil.copy(SAMPLES / "german_credit.csv", data)
    out = tmp_path / "credit.policy.yaml"
    res = run_cli("init", str(data), "--target", "credit", "--favorable", "good",
                  "--output", str(out))
    assert res.exit_code == 0, res.stderr
    text = out.read_text()
    assert "column: sex" in text and "column: age" in text and "column: foreign_worker" in text
    assert "likely protected columns (confirm): " in res.stderr
    again = run_cli("init", str(data), "--target", "credit", "--output", str(out))
    assert again.exit_code == 2 and "exists already" in again.stderr
    check = run_cli("validate", "--policy", str(out))
    assert check.exit_code == 0, check.stderr


def test_jobs_do_not_change_the_results(tiny_policy, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    ra = run_cli("audit", "--policy", str(tiny_policy), "--output", str(a), "--quiet")
    rb = run_cli("audit", "--policy", str(tiny_policy), "--output", str(b), "--quiet",
                 "--jobs", "2")
    assert ra.exit_code == rb.exit_code
    assert _stable(a / "results.json") == _stable(b / "results.json")


def test_internal_error_exits_70_with_a_log_in_the_output_folder(tiny_policy, tmp_path,
                                                                 monkeypatch):
    import fairsel.audit

    def boom(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(fairsel.audit, "run_audit", boom)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["audit", "--policy", str(tiny_policy), "--output", str(out)])
    assert res.exit_code == 70
    assert "internal error (a bug): RuntimeError: simulated bug" in res.stderr
    log = out / "fairsel-error.log"
    assert log.exists() and "Traceback" in log.read_text()
    assert "Traceback" not in res.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_exits_130_and_leaves_the_previous_report_intact(tmp_path):
    out = tmp_path / "out"
    first = run_cli("audit", "--policy", str(POLICIES / "lending.yaml"), "--output", str(out),
                    "--quiet", "--format", "json")
    assert first.exit_code in (0, 1), first.stderr
    before = (out / "results.json").read_bytes()
    env = {**os.environ, "CI": "true"}
    # a shell starts background jobs with SIGINT ignored, and Python then installs no
    # KeyboardInterrupt handler: give the audit the default disposition a terminal gives it
    proc = subprocess.Popen([sys.executable, "-m", "fairsel", "audit", "--policy",
                             str(POLICIES / "lending.yaml"), "--output", str(out), "--quiet"],
                            cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(2.5)  # inside training
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert (out / "results.json").read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.startswith(".fairsel-tmp-")]


def test_output_that_is_a_file_is_a_usage_error(tiny_policy, tmp_path):
    target = tmp_path / "report.txt"
    target.write_text("not a folder")
    res = run_cli("audit", "--policy", str(tiny_policy), "--output", str(target))
    assert res.exit_code == 2
    assert f"{target}: the output path exists and is not a folder" in res.stderr


def test_a_bad_policy_name_creates_no_output_folder(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY_POLICY.format(data=SAMPLES / "german_credit.csv").replace(
        "estimator: decision_tree", "estimator: decision_trees"), encoding="utf-8")
    out = tmp_path / "never"
    res = run_cli("audit", "--policy", str(bad), "--output", str(out))
    assert res.exit_code == 2
    assert "unknown estimator 'decision_trees'; did you mean 'decision_tree'?" in res.stderr
    assert not out.exists()


def test_a_closed_pipe_is_not_an_internal_error(tmp_path):
    proc = subprocess.run(f"'{sys.executable}' -m fairsel schema results | head -c 10",
                          shell=True, cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, "CI": "true"})
    assert "internal error" not in proc.stderr
    assert not (tmp_path / "fairsel-error.log").exists()


def test_a_failure_while_measuring_leaves_the_previous_report_and_no_partial_predictions(
        tiny_policy, tmp_path, monkeypatch):
    """predictions.parquet is written into the staging folder while the metrics run; when the
    audit then fails, the writer is waited for and the folder removed: the old report stays."""
    import fairsel.audit
    import fairsel.report.predictions as rp

    out = tmp_path / "out"
    first = CliRunner().invoke(main, ["audit", "--policy", str(tiny_policy), "--output", str(out),
                                      "--quiet"])
    assert first.exit_code in (0, 1), first.output
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert "predictions.parquet" in before

    started = []
    real_job = rp.PredictionsJob

    class Spy(real_job):
        def __init__(self, run, folder):
            started.append(folder)
            super().__init__(run, folder)

    def boom(*args, **kwargs):
        raise RuntimeError("simulated failure while measuring")

    monkeypatch.setattr(rp, "PredictionsJob", Spy)
    monkeypatch.setattr(fairsel.audit, "evaluate_variant", boom)
    res = CliRunner().invoke(main, ["audit", "--policy", str(tiny_policy), "--output", str(out),
                                    "--quiet"])
    assert res.exit_code == 70
    assert "simulated failure while measuring" in res.stderr
    assert started and started[0].parent == out  # the writer ran, inside the staging folder
    assert not started[0].exists()  # ... which is gone
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "fairsel-error.log"}
    assert after == before


def test_a_variant_that_failed_on_a_fold_keeps_its_rows_in_predictions_parquet(
        tiny_policy, tmp_path, monkeypatch):
    """One row per data row and variant (docs/contract.md), failures included: the rows of the fold
    where 'tree' failed have null y_score and y_pred; its other rows keep their predictions."""
    import pandas as pd

    import fairsel.audit

    real = fairsel.audit.fold_variants

    def tree_fails_on_fold_1(cand, *args, **kwargs):
        if cand.name == "tree" and kwargs["fold"] == 1:
            raise RuntimeError("simulated fit failure")
        return real(cand, *args, **kwargs)

    monkeypatch.setattr(fairsel.audit, "fold_variants", tree_fails_on_fold_1)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["audit", "--policy", str(tiny_policy), "--output", str(out),
                                    "--quiet"])
    assert res.exit_code in (0, 1), res.output
    results = json.loads((out / "results.json").read_text())
    status = {v["name"]: v["status"] for v in results["variants"]}
    assert status["tree"] == "ERROR" and status["logreg"] != "ERROR"
    preds = pd.read_parquet(out / "predictions.parquet")
    n = results["data"]["rows_used"]
    assert preds.groupby("candidate", observed=True).size().to_dict() == {"logreg": n, "tree": n}
    tree = preds[preds["candidate"] == "tree"]
    assert tree["y_score"].isna().equals(tree["fold"] == 1)  # null exactly on the failed fold
    assert tree["y_pred"].isna().equals(tree["fold"] == 1)
    assert preds.loc[preds["candidate"] == "logreg", ["y_score", "y_pred"]].notna().all().all()


_MEMORY_PROBE = """
import ctypes, os, sys
from fairsel.cli import _tune_memory
if sys.argv[1] == "tuned":
    _tune_memory()
import numpy as np

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
a = np.ones(100_000_000 // 8)  # a 100 MB array
info = libc.mallinfo2()
previous = np._core.multiarray._set_madvise_hugepage(True)  # returns the setting numpy had
print(info.hblkhd >= 100_000_000, previous)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
@pytest.mark.parametrize(("mode", "env", "expected"), [
    ("plain", {}, "True True"),          # a 100 MB block is its own mmap; numpy asks for THP
    ("tuned", {}, "False False"),        # the program: no per-block mmap, small pages
    ("tuned", {"NUMPY_MADVISE_HUGEPAGE": "1"}, "False True"),  # a user's setting wins
])
def test_the_program_tunes_its_memory(mode, env, expected):
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc's malloc")
    base = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    proc = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, mode], cwd=ROOT,
                          env={**base, **env}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == expected.split()
