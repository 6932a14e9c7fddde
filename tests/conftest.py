"""Shared fixtures: the repository root, and running the CLI in-process or as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto`` (pyproject.toml's addopts): one test worker per CPU this process may use
    (its affinity, as fairsel's own ``--jobs`` clamp reads it), never more; the machine is
    shared. The suite on two cores: 27 minutes in one process, 14.5 in two workers."""
    from fairsel.system import usable_cores

    return usable_cores()


POLICIES = ROOT / "policies"
SAMPLES = ROOT / "data_samples"


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 600) -> CliResult:
    """Run ``python -m fairsel ARGS`` in a real process (as a user or CI would)."""
    full_env = {**os.environ, "CI": "true", **(env or {})}
    full_env.pop("GITHUB_STEP_SUMMARY", None) if env is None or "GITHUB_STEP_SUMMARY" not in env else None
    # whatever the working folder, run this checkout's fairsel, not an installed copy
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), full_env.get("PYTHONPATH"))
                                             if p)
    proc = subprocess.run([sys.executable, "-m", "fairsel", *args], cwd=cwd or ROOT,
                          capture_output=True, text=True, env=full_env, timeout=timeout)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def run_cli_or_kill(args: list[str], cwd: Path, env: dict[str, str], timeout: float,
                    what: str) -> subprocess.CompletedProcess:
    """``python -m fairsel ARGS`` in its own process group, killed (with anything it started)
    and failed as a hang when it has not ended after ``timeout`` seconds. The fairsel run is
    this checkout's, whatever the working folder ``cwd`` (PYTHONPATH starts with ROOT)."""
    import signal

    env = {**env, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH"))
                                                 if p)}
    proc = subprocess.Popen([sys.executable, "-m", "fairsel", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{what}: fairsel did not finish within {timeout:.0f} s")
    finally:
        if proc.poll() is None:  # interrupted while waiting: leave no process behind
            os.killpg(proc.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.fixture
def cli():
    """``cli("audit", "--policy", ...)`` → CliResult(exit_code, stdout, stderr)."""
    return run_cli


@pytest.fixture
def root() -> Path:
    return ROOT
