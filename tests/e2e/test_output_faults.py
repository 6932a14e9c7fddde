"""Faults around the output folder through the command line (issue 13, items 2, 4 `--jobs`,
6, 7, 8, 9): SIGTERM, file-size limits, a second audit on the same folder, an input that is
an output, a crash log planted as a symlink, and worker processes that must not outlive the
audit."""

from __future__ import annotations

import errno
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from fairsel.cli import main
from tests.conftest import ROOT, SAMPLES, run_cli
from tests.e2e.test_cli_misc import TINY_POLICY

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and limits")

SLOW_POLICY = TINY_POLICY.replace(
    "  - {{name: tree, kind: sklearn, estimator: decision_tree, params: {{max_depth: 4}}}}",
    "  - {{name: forest, kind: sklearn, estimator: random_forest, "
    "params: {{n_estimators: 400}}}}").replace("folds: 3", "folds: 5")


@pytest.fixture
def tiny_policy(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY_POLICY.format(data=SAMPLES / "german_credit.csv"), encoding="utf-8")
    return p


@pytest.fixture
def previous(tiny_policy, tmp_path) -> tuple[Path, dict[str, bytes]]:
    """An output folder holding a finished audit, and its bytes."""
    out = tmp_path / "out"
    first = run_cli("audit", "--policy", str(tiny_policy), "--output", str(out), "--quiet")
    assert first.exit_code in (0, 1), first.stderr
    return out, _files(out)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _leftovers(folder: Path) -> list[str]:
    """Staging folders and the lock file: what a run must never leave behind."""
    return sorted(p.name for p in folder.iterdir()
                  if p.name.startswith((".fairsel-tmp-", ".fairsel-previous-", ".fairsel.lock")))


def _live_members(pgid: int) -> list[str]:
    """The processes of a process group that are still running (zombies hold no pipe or
    memory: here PID 1 may never reap them, so they are not counted)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(f"{stat.parent.name} {text[:text.rindex(')') + 1]}")
    return alive


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _wait_for_group(pgid: int, seconds: float = 5.0) -> list[str]:
    deadline = time.monotonic() + seconds
    while (alive := _live_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "CI": "true", **extra}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return env


# ---------------------------------------------------------------- item 6: SIGTERM


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_sigterm_with_jobs_2_exits_143_ends_every_worker_and_keeps_the_previous_report(
        previous, tmp_path):
    out, before = previous
    slow = tmp_path / "slow.yaml"
    slow.write_text(SLOW_POLICY.format(data=SAMPLES / "german_credit.csv"), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "fairsel", "audit", "--policy", str(slow),
                             "--output", str(out), "--jobs", "2"],
                            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        for line in proc.stderr:  # wait until the folds are being fitted
            if "cross-validating" in line:
                break
        deadline = time.monotonic() + 60
        while len(_live_members(proc.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)  # the audit and its two workers
        assert len(_live_members(proc.pid)) >= 3, _live_members(proc.pid)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=30)  # every holder of the pipes is gone
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 143, err
    assert took < 10, took
    assert "terminated (SIGTERM); no output was half-written" in err
    assert "Traceback" not in err
    assert _wait_for_group(proc.pid) == []  # no worker, no resource tracker left
    assert _files(out) == before
    assert _leftovers(out) == []


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_sigterm_while_the_pdf_charts_are_drawn_ends_the_chart_worker(tmp_path):
    """`fairsel render --format pdf` draws the charts in a worker process while WeasyPrint lays
    out the pages (fairsel.report.chart_jobs): a SIGTERM then exits 143, ends the worker and
    leaves the previous report as it was."""
    from fairsel.report import chart_jobs
    from tests.unit.report.test_pdf_layout import golden_result

    if chart_jobs.usable_cores() < 2:
        pytest.skip("the chart worker runs only with two CPUs")
    out = tmp_path / "out"
    out.mkdir()
    results = out / "results.json"
    results.write_text(golden_result("mitigation").model_dump_json(), encoding="utf-8")
    (out / "report.pdf").write_bytes(b"the previous report")
    before = _files(out)
    proc = subprocess.Popen([sys.executable, "-m", "fairsel", "render", str(results), "--format",
                             "pdf"], cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        workers: list[str] = []
        while not workers and time.monotonic() < deadline and proc.poll() is None:
            workers = [m for m in _live_members(proc.pid)
                       if "fairsel.report.chart_jobs" in _cmdline(m.split()[0])]
            time.sleep(0.01)
        assert workers, "the chart worker never started"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert _wait_for_group(proc.pid) == []  # the worker is gone too
    assert _files(out) == before
    assert _leftovers(out) == []


def test_sigterm_after_the_outputs_are_in_place_never_kills_by_signal(tiny_policy, tmp_path):
    """The last outputs are written and reported; the interpreter then takes a moment to shut
    down, during which Python had put SIGTERM back to its default action: a SIGTERM there
    killed the process by signal (-15, no message) instead of exiting with a contract code."""
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "fairsel", "audit", "--policy",
                             str(tiny_policy), "--output", str(out)],
                            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        for line in proc.stderr:
            if line.startswith("fairsel: wrote"):
                proc.send_signal(signal.SIGTERM)
                break
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode}"
    assert proc.returncode in (0, 1, 143), err
    assert (out / "results.json").exists() and _leftovers(out) == []


def test_run_leaves_sigterm_ignored_for_the_interpreter_shutdown(monkeypatch):
    """The deterministic half of the test above: CPython's shutdown resets a Python SIGTERM
    handler to the default action (death by signal) but keeps SIG_IGN, so ``run`` must leave
    SIGTERM ignored once the command is over."""
    import fairsel.cli as cli

    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    monkeypatch.setattr(cli, "main", lambda: sys.exit(0))
    monkeypatch.setattr(cli, "_tune_memory", lambda: None)
    try:
        with pytest.raises(SystemExit):
            cli.run()
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@pytest.mark.parametrize("exc, code", [(KeyboardInterrupt, 130), ("terminated", 143)])
def test_an_interrupt_outside_a_commands_handler_exits_with_its_code(monkeypatch, exc, code):
    """Ctrl-C (or SIGTERM) while click is still starting, outside every command's own handler,
    is still the contract's 130 (or 143), never a death by signal or a traceback."""
    import fairsel.cli as cli
    from fairsel.errors import Terminated

    err = Terminated() if exc == "terminated" else exc()

    def interrupted():
        raise err

    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    monkeypatch.setattr(cli, "main", interrupted)
    monkeypatch.setattr(cli, "_tune_memory", lambda: None)
    try:
        with pytest.raises(SystemExit) as info:
            cli.run()
        assert info.value.code == code
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


# ---------------------------------------------------------------- `--jobs` (item 4)


def test_jobs_is_clamped_to_the_cores_and_the_tasks(tiny_policy, tmp_path, monkeypatch):
    import joblib

    # scikit-learn subclasses joblib.Parallel when first imported: imported under the spy, its
    # Parallel kept the spy (min(None, 2) failed every later fit in this process)
    import sklearn.utils.parallel  # noqa: F401

    from fairsel.system import usable_cores

    asked: list[int] = []
    real = joblib.Parallel

    class Spy(real):
        def __init__(self, n_jobs=None, **kwargs):
            asked.append(n_jobs)
            # should the clamp ever break, this test must not start 10,000 processes
            super().__init__(n_jobs=min(n_jobs, 2), **kwargs)

    monkeypatch.setattr(joblib, "Parallel", Spy)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["audit", "--policy", str(tiny_policy), "--output", str(out),
                                    "--jobs", "10000"])
    assert res.exit_code in (0, 1), res.stderr
    cores = usable_cores()
    expected = min(cores, 6)  # 2 candidates × 3 folds
    assert asked == ([expected] if expected > 1 else [])
    assert (f"fairsel: --jobs 10000: using {expected} worker process(es) ({cores} core(s) "
            "available, 6 task(s) to run)") in res.stderr
    quiet = CliRunner().invoke(main, ["audit", "--policy", str(tiny_policy), "--output",
                                      str(out), "--jobs", "10000", "--quiet"])
    assert quiet.exit_code in (0, 1) and "--jobs" not in quiet.stderr


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_no_worker_outlives_an_audit_with_more_jobs_than_cores(tiny_policy, tmp_path):
    from fairsel.system import usable_cores

    # more jobs than cores (and, on a small machine, than the 6 tasks), but few enough that a
    # broken clamp does not exhaust the machine running the test
    jobs = usable_cores() + 2
    proc = subprocess.Popen([sys.executable, "-m", "fairsel", "audit", "--policy",
                             str(tiny_policy), "--output", str(tmp_path / "out"), "--jobs",
                             str(jobs), "--quiet"], cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        peak = 0
        while proc.poll() is None:
            peak = max(peak, sum("LokyProcess" in _cmdline(m.split()[0])
                                 for m in _live_members(proc.pid)))
            time.sleep(0.05)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode in (0, 1), err
    assert 1 <= peak <= min(usable_cores(), 6), peak  # workers: no more than cores and tasks
    assert _wait_for_group(proc.pid) == []


# ---------------------------------------------------------------- item 8: write failures


def _limit_file_size(limit: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails: EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_file_size_limit_is_exit_74_naming_the_file_and_the_report_stays(previous,
                                                                            tiny_policy):
    out, before = previous
    proc = subprocess.run([sys.executable, "-m", "fairsel", "audit", "--policy",
                           str(tiny_policy), "--output", str(out), "--quiet"], cwd=ROOT,
                          env=_env(), capture_output=True, text=True, timeout=300,
                          preexec_fn=_limit_file_size(4096))
    assert proc.returncode == 74, proc.stderr
    assert f"{out}/" in proc.stderr and "cannot write the output (File too large)" in proc.stderr
    assert "the previous report is left intact" in proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    assert _files(out) == before
    assert _leftovers(out) == []


@pytest.mark.parametrize("writer", ["fairsel.report.machine:write_junit",
                                    "fairsel.report.predictions:write_predictions"])
def test_a_full_disk_is_exit_74_naming_the_file(tiny_policy, tmp_path, monkeypatch, writer):
    import importlib

    out = tmp_path / "out"
    first = CliRunner().invoke(main, ["audit", "--policy", str(tiny_policy), "--output", str(out),
                                      "--quiet"])
    assert first.exit_code in (0, 1), first.stderr
    before = _files(out)
    module, name = writer.split(":")
    target = {"write_junit": "junit.xml", "write_predictions": "predictions.parquet"}[name]

    def full(run_or_result, folder):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(folder / target))

    monkeypatch.setattr(importlib.import_module(module), name, full)
    res = CliRunner().invoke(main, ["audit", "--policy", str(tiny_policy), "--output", str(out),
                                    "--quiet"])
    assert res.exit_code == 74, res.stderr
    assert res.stderr.startswith(f"fairsel: error: {out / target}: cannot write the output "
                                 "(No space left on device); the previous report is left intact")
    assert _files(out) == before
    assert not (out / "fairsel-error.log").exists()


# ---------------------------------------------------------------- item 2: the crash log


def test_the_crash_log_replaces_a_planted_symlink_never_writes_through_it(tiny_policy,
                                                                           tmp_path, monkeypatch):
    import fairsel.audit

    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"precious\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "fairsel-error.log").symlink_to(victim)

    def boom(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(fairsel.audit, "run_audit", boom)
    res = CliRunner().invoke(main, ["audit", "--policy", str(tiny_policy), "--output", str(out)])
    assert res.exit_code == 70
    assert victim.read_bytes() == b"precious\n"
    log = out / "fairsel-error.log"
    assert not log.is_symlink() and "RuntimeError: simulated bug" in log.read_text()


# ---------------------------------------------------------------- item 7: a second audit


def test_a_second_audit_on_a_locked_folder_exits_2_naming_the_folder_and_pid(tiny_policy,
                                                                              tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from fairsel.report.io import folder_lock\n"
         "with folder_lock(Path(sys.argv[1])):\n print('held', flush=True); time.sleep(60)",
         str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        res = run_cli("audit", "--policy", str(tiny_policy), "--output", str(out), timeout=120)
    finally:
        holder.kill()
        holder.wait()
    assert res.exit_code == 2, res.stderr
    assert (f"fairsel: error: {out}: another fairsel run (pid {holder.pid}) is writing to this "
            "output folder; waited 10 s") in res.stderr
    assert sorted(p.name for p in out.iterdir()) == [".fairsel.lock"]  # the holder's, killed


# ---------------------------------------------------------------- item 9: input = output


@pytest.mark.parametrize("how", ["path", "hardlink"])
def test_an_input_that_is_an_output_file_is_refused_before_anything_is_written(tmp_path, how):
    out = tmp_path / "out"
    out.mkdir()
    board = out / "leaderboard.csv"
    data = SAMPLES / "german_credit.csv"
    if how == "path":
        board.write_bytes(data.read_bytes())
        named = "out/leaderboard.csv"
    else:  # another name for the same file
        named = str(tmp_path / "data.csv")
        (tmp_path / "data.csv").write_bytes(data.read_bytes())
        os.link(tmp_path / "data.csv", board)
    policy = tmp_path / "p.yaml"
    policy.write_text(TINY_POLICY.format(data=named).replace(
        "report: {{formats: [json, markdown, junit]}}".replace("{{", "{").replace("}}", "}"),
        "report: {formats: [json], output: out}"), encoding="utf-8")
    before = board.read_bytes()
    res = run_cli("audit", "--policy", str(policy))
    assert res.exit_code == 2, res.stderr
    shown = tmp_path / named if how == "path" else Path(named)
    assert (f"fairsel: error: {policy}: data → path: {shown} is {out}/leaderboard.csv, a file "
            f"the audit writes in its output folder {out}: the audit would destroy its own "
            "input") in res.stderr
    assert board.read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["leaderboard.csv"]


def test_the_policy_file_inside_the_output_folder_under_an_output_name_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    policy = out / "summary.md"  # a policy named like an output, in the output folder
    policy.write_text(TINY_POLICY.format(data=SAMPLES / "german_credit.csv"), encoding="utf-8")
    res = run_cli("audit", "--policy", str(policy), "--output", str(out))
    assert res.exit_code == 2, res.stderr
    assert f"the policy file: {policy} is {out}/summary.md" in res.stderr
