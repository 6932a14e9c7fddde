"""Helpers shared by the benchmark scripts (run as scripts: ``python benchmarks/bench_x.py``)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def load_average() -> str:
    """The machine's load, printed beside every timing (a busy machine inflates wall times)."""
    try:
        return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + \
            f" on {os.cpu_count()} CPUs"
    except OSError:
        return "load average unknown"


@contextlib.contextmanager
def work_folder(keep: Path | None, prefix: str):
    """The benchmark's working folder: ``keep`` (created, kept), or a temporary one removed
    at the end."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)
