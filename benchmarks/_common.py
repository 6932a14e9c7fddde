"""Helpers shared by the benchmark scripts (run as scripts: ``python benchmarks/bench_x.py``)."""

from __future__ import annotations

import os


def load_average() -> str:
    """The machine's load, printed beside every timing (a busy machine inflates wall times)."""
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + \
            f" on {os.cpu_count()} CPUs"
    except OSError:
        return "load average unknown"
