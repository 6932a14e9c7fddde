"""A thread count in a candidate's params cannot start more threads than the machine has cores.

``--jobs`` is clamped to the cores (issue 13 item 4); ``params: {n_jobs: 10000}`` (scikit-learn
forests) or ``num_threads: 10000`` (LightGBM, any alias) in a policy is the same attack from a
small policy: each fit, and validate's LightGBM value check, started that many threads.
"""

from __future__ import annotations

import pytest

from fairsel.candidates.estimators import ESTIMATORS, LIGHTGBM, bounded_threads
from fairsel.candidates.trainable import TrainableCandidate, lightgbm_value_problems
from fairsel.system import usable_cores


def _threads() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("Threads:"))


def _candidate(kind, entry, params):
    return TrainableCandidate(name="c", kind=kind, entry=entry, params=params, seed=0,
                              threshold=0.5, numeric=["x"], categorical=[])


@pytest.mark.parametrize("key", ["n_jobs", "num_threads", "nthread", "nthreads", "num_thread"])
def test_lightgbm_thread_count_is_clamped_to_the_cores(key):
    est = _candidate("lightgbm", LIGHTGBM, {key: 10_000}).build().named_steps["model"]
    assert est.get_params()[key] == usable_cores()


def test_forest_n_jobs_is_clamped_to_the_cores():
    est = _candidate("sklearn", ESTIMATORS.get("random_forest"),
                     {"n_jobs": 10_000}).build().named_steps["model"]
    assert est.get_params()["n_jobs"] == usable_cores()


def test_smaller_or_special_thread_counts_are_kept():
    assert bounded_threads({"n_jobs": -1, "num_threads": 1, "C": 10_000, "flag": True}) == \
        {"n_jobs": -1, "num_threads": 1, "C": 10_000, "flag": True}


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/status"), reason="Linux only")
def test_validate_lightgbm_check_starts_no_more_threads_than_cores():
    before = _threads()
    assert lightgbm_value_problems({"num_threads": 40}) == []
    assert _threads() - before <= usable_cores()
