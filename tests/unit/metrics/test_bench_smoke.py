"""The metric benchmarks still run and still agree with fairlearn on small inputs.

Timings are not asserted (the targets are defined at the benchmark sizes, on a quiet machine):
exit code 1 (target missed) is accepted, 2 (disagreement) is not.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def _run(*args: str) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    return proc.returncode, proc.stdout + proc.stderr


def test_bench_metrics_small():
    code, out = _run("benchmarks/bench_metrics.py", "--rows", "5000", "--repeats", "1")
    result = [line for line in out.splitlines() if line.startswith("RESULT:")]
    assert code in (0, 1), out
    assert len(result) == 1 and "values=agree" in result[0], out
    assert "values compared: 285 " in out  # 17 groups x 15 figures + 3 x 10 overall


def test_bench_bootstrap_small():
    code, out = _run("benchmarks/bench_bootstrap.py", "--rows", "5000", "--resamples", "40",
                     "--big-rows", "20000", "--big-resamples", "100", "--repeats", "1")
    result = [line for line in out.splitlines() if line.startswith("RESULT:")]
    assert code in (0, 1), out
    assert len(result) == 1 and "intervals=agree" in result[0], out
    assert "endpoints compared: 48;" in out  # (5 groups + overall) x 4 metrics x 2 endpoints
