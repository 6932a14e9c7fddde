"""The execution backends (fairsel/execution.py): local, --jobs 2 and Dask give the same
results.json; Dask's faults (unreachable scheduler, failing tasks, a killed worker); no
process outlives the audit."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from fairsel.execution import Backend
from fairsel.results import VOLATILE_FIELDS
from tests.conftest import SAMPLES, run_cli

distributed = pytest.importorskip("distributed")

POLICY = """
version: 1
name: grid
seed: 11
data: {{path: {data}, target: credit, favorable: good}}
protected:
  - column: sex
validation: {{scheme: stratified_kfold, folds: 3}}
candidates:
  - {{name: logreg, kind: sklearn, estimator: logistic_regression{logreg_params}}}
  - {{name: gbm, kind: lightgbm, params: {{n_estimators: 20, num_leaves: 7}}}}
{mitigation}metrics:
  confidence: {{resamples: 50}}
gates:
  - {{metric: disparate_impact, min: 0.8}}
proxies: false
report: {{formats: [json]}}
{extra}
"""


MITIGATIONS = """mitigation:
  - kind: reweighing
  - {kind: threshold, constraint: demographic_parity}
"""


def write_policy(folder: Path, *, logreg_params: str = "", extra: str = "",
                 mitigation: str = "") -> Path:
    path = folder / "policy.yaml"
    path.write_text(POLICY.format(data=SAMPLES / "german_credit.csv", mitigation=mitigation,
                                  logreg_params=logreg_params, extra=extra), encoding="utf-8")
    return path


def _strip(d: dict, dotted: str) -> None:
    head, _, rest = dotted.partition(".")
    if rest:
        if isinstance(d.get(head), dict):
            _strip(d[head], rest)
    else:
        d.pop(head, None)


def stable_text(results: Path) -> str:
    """results.json without its volatile fields, serialised in its own key order."""
    data = json.loads(results.read_text(encoding="utf-8"))
    for f in VOLATILE_FIELDS:
        _strip(data, f)
    return json.dumps(data, indent=1)


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 single-threaded worker processes, no dashboard."""
    import logging

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR) as c:
        yield c


def test_dask_local_and_jobs_2_give_byte_identical_results(tmp_path, cluster):
    policy = write_policy(tmp_path, mitigation=MITIGATIONS)
    outs = {}
    for name, extra in [("local", []), ("jobs2", ["--jobs", "2"]),
                        ("dask", ["--backend", "dask", "--scheduler", cluster.scheduler_address])]:
        outs[name] = tmp_path / name
        res = run_cli("audit", "--policy", str(policy), "--output", str(outs[name]), *extra)
        assert res.exit_code in (0, 1), res.stderr
    texts = {k: stable_text(v / "results.json") for k, v in outs.items()}
    assert texts["local"] == texts["jobs2"] == texts["dask"]
    # the grid ran: 2 candidates × 3 variants
    assert len(json.loads(texts["dask"])["variants"]) == 6
    # where it ran is not recorded: the policy in results.json has no execution key
    assert "execution" not in json.loads(texts["dask"])["policy"]
    # every out-of-fold prediction is the same too
    assert ((outs["local"] / "predictions.parquet").read_bytes()
            == (outs["dask"] / "predictions.parquet").read_bytes())


OPTUNA_SEARCH = """    search:
      method: optuna
      trials: 6
      params:
        num_leaves: [3, 7, 15]
        learning_rate: {low: 0.05, high: 0.3, log: true}
"""


def test_an_optuna_search_on_dask_gives_the_trials_and_results_of_one_process(tmp_path,
                                                                              cluster):
    """Optuna's batches run on the Dask workers (each task carrying its trial's setting)
    and give the trials and results.json of a run in one process."""
    pytest.importorskip("optuna")
    policy = write_policy(tmp_path)
    text = policy.read_text(encoding="utf-8").replace(
        "  - {name: gbm, kind: lightgbm, params: {n_estimators: 20, num_leaves: 7}}\n",
        "  - name: gbm\n    kind: lightgbm\n    params: {n_estimators: 20}\n" + OPTUNA_SEARCH)
    assert "method: optuna" in text
    policy.write_text(text, encoding="utf-8")
    outs = {}
    for name, extra in [("local", []),
                        ("dask", ["--backend", "dask", "--scheduler", cluster.scheduler_address])]:
        outs[name] = tmp_path / name
        res = run_cli("audit", "--policy", str(policy), "--output", str(outs[name]), *extra)
        assert res.exit_code in (0, 1), res.stderr
    texts = {k: stable_text(v / "results.json") for k, v in outs.items()}
    assert texts["local"] == texts["dask"]
    trials = [v["trial"]["params"] for v in json.loads(texts["dask"])["variants"] if v["trial"]]
    assert len(trials) == 6 and len({str(t) for t in trials}) == 6


def test_a_failing_task_on_dask_is_an_error_and_the_others_go_on(tmp_path, cluster):
    # lbfgs cannot fit an l1 penalty: logreg fails in every fold, on the workers
    policy = write_policy(tmp_path, logreg_params=", params: {solver: lbfgs, penalty: l1}",
                          mitigation="mitigation: [{kind: reweighing}]\n")
    out = tmp_path / "out"
    res = run_cli("audit", "--policy", str(policy), "--output", str(out), "--backend", "dask",
                  "--scheduler", cluster.scheduler_address)
    assert res.exit_code in (0, 1), res.stderr
    results = json.loads((out / "results.json").read_text())
    status = {v["name"]: v["status"] for v in results["variants"]}
    assert status["logreg"] == "ERROR"
    assert status["gbm"] != "ERROR" and status["gbm+reweighing"] != "ERROR"
    assert {f["fold"] for f in results["failures"] if f["candidate"] == "logreg"} == {0, 1, 2}
    assert "only 'l2' or None penalties" in results["failures"][0]["message"]


def test_an_unreachable_scheduler_exits_2_naming_its_address(tmp_path):
    policy = write_policy(tmp_path)
    t0 = time.perf_counter()
    res = run_cli("audit", "--policy", str(policy), "--output", str(tmp_path / "out"),
                  "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9")
    assert res.exit_code == 2, res.stderr
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in res.stderr
    assert "Traceback" not in res.stderr
    assert time.perf_counter() - t0 < 60  # a short connect timeout, not Dask's 30 s default
    assert not (tmp_path / "out" / "results.json").exists()


def test_the_policy_execution_key_chooses_the_backend(tmp_path):
    policy = write_policy(tmp_path, extra="execution: {backend: dask, address: tcp://127.0.0.1:9}")
    res = run_cli("audit", "--policy", str(policy), "--output", str(tmp_path / "out"))
    assert res.exit_code == 2 and "tcp://127.0.0.1:9" in res.stderr, res.stderr
    assert "reading data" not in res.stderr  # the scheduler is reached before the data is read


def test_a_scheduler_with_backend_local_is_a_usage_error(tmp_path):
    policy = write_policy(tmp_path)
    res = run_cli("audit", "--policy", str(policy), "--backend", "local", "--scheduler",
                  "tcp://127.0.0.1:9", "--output", str(tmp_path / "out"))
    assert res.exit_code == 2
    assert "--scheduler tcp://127.0.0.1:9: a scheduler address needs --backend dask" in res.stderr


def _marked(marker: str) -> list:
    import psutil

    found = []
    for p in psutil.process_iter(["pid"]):
        try:
            if p.environ().get("FAIRSEL_TEST_MARK") == marker:
                found.append(p)
        except (psutil.Error, OSError):
            continue
    return found


def test_the_local_cluster_is_closed_with_no_process_left(tmp_path):
    pytest.importorskip("psutil")
    policy = write_policy(tmp_path)
    marker = uuid.uuid4().hex
    res = run_cli("audit", "--policy", str(policy), "--output", str(tmp_path / "out"),
                  "--backend", "dask", env={"FAIRSEL_TEST_MARK": marker})
    assert res.exit_code in (0, 1), res.stderr
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert f"on Dask (a local cluster, {min(cores, 8)} worker(s))" in res.stderr
    # the workers' own logs stay quiet, and no dashboard or HTTP server claims port 8787
    assert "Traceback" not in res.stderr and "8787" not in res.stderr, res.stderr
    _assert_none_left(marker)


def _assert_none_left(marker: str) -> None:
    deadline = time.time() + 10
    while _marked(marker) and time.time() < deadline:
        time.sleep(0.2)
    assert _marked(marker) == []


@pytest.mark.slow
def test_sigterm_during_a_dask_audit_exits_143_and_closes_the_cluster(tmp_path):
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    pytest.importorskip("psutil")
    policy = write_policy(tmp_path)
    marker = uuid.uuid4().hex
    env = {**os.environ, "CI": "true", "FAIRSEL_TEST_MARK": marker, "PYTHONPATH": str(ROOT)}
    err = tmp_path / "stderr.txt"
    with open(err, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "fairsel", "audit", "--policy",
                                 str(policy), "--output", str(tmp_path / "out"), "--backend",
                                 "dask"], cwd=ROOT, env=env, stderr=fh)
        deadline = time.time() + 120
        while "on Dask" not in err.read_text() and time.time() < deadline:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 143
    text = err.read_text()
    assert "terminated (SIGTERM)" in text and "Traceback" not in text, text
    _assert_none_left(marker)


def test_progress_counts_every_completed_task_on_every_backend(cluster):
    from fairsel.execution import Backend, run_tasks

    class Count:
        def __init__(self):
            self.done, self.notes = 0, []

        def stage(self, name, total=None):
            pass

        def advance(self, steps=1):
            self.done += steps

        def note(self, message):
            self.notes.append(message)

    tasks = [(i,) for i in range(7)]
    for backend in (Backend(), Backend(jobs=2),
                    Backend(name="dask", address=cluster.scheduler_address)):
        progress = Count()
        out = run_tasks(np.multiply, 3, tasks, backend=backend, progress=progress,
                        fallback=lambda t, err: None)
        assert [int(x) for x in out] == [3 * i for i in range(7)]
        assert progress.done == 7


def test_dask_not_installed_is_a_usage_error(monkeypatch):
    import sys

    from fairsel.errors import UsageError
    from fairsel.execution import Backend, run_tasks

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    with pytest.raises(UsageError, match=r"needs dask\[distributed\].*pip install 'fairsel\[dask\]'"):
        run_tasks(np.multiply, 1, [(1,)], backend=Backend(name="dask"),
                  fallback=lambda t, err: None)


@pytest.mark.slow
@pytest.mark.parametrize("n_workers", [1, 2])
def test_a_worker_killed_mid_audit_has_its_tasks_retried(tmp_path, n_workers):
    """A worker is killed (SIGKILL) when the first task completes; its nanny starts a new
    one, Dask reruns the lost tasks (with one worker the scattered data is lost too, and
    fairsel scatters it again and resubmits the cancelled tasks), and the results are those
    of the local backend."""
    import logging
    import signal

    from fairsel.audit import run_audit
    from fairsel.execution import Backend
    from fairsel.policy import load_policy

    policy = load_policy(write_policy(tmp_path))
    expected = run_audit(policy).result
    with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR) as c, \
            distributed.Client(c) as client:
        pids = client.run(os.getpid)
        killed = threading.Event()

        class KillOnFirst:
            def stage(self, name, total=None):
                pass

            def advance(self, steps=1):
                if not killed.is_set():
                    killed.set()
                    os.kill(next(iter(pids.values())), signal.SIGKILL)

            def note(self, message):
                pass

        got = run_audit(policy, progress=KillOnFirst(),
                        backend=Backend(name="dask", address=c.scheduler_address)).result
    assert killed.is_set()
    assert not got.failures
    strip = {"provenance"}
    assert got.model_dump(exclude=strip) == expected.model_dump(exclude=strip)


def test_options_override_the_policy_execution(tmp_path):
    from fairsel.cli import _backend
    from fairsel.policy import load_policy

    on_dask = load_policy(write_policy(
        tmp_path, extra="execution: {backend: dask, address: tcp://127.0.0.1:8786}"))
    assert _backend(on_dask, None, None, 1) == Backend("dask", "tcp://127.0.0.1:8786", 1)
    # --backend local wins; the policy's address is not carried to another backend
    assert _backend(on_dask, "local", None, 2) == Backend("local", None, 2)
    assert _backend(on_dask, None, "tcp://127.0.0.1:1", 1) == Backend("dask",
                                                                       "tcp://127.0.0.1:1", 1)
    plain = load_policy(write_policy(tmp_path))
    assert _backend(plain, None, None, 2) == Backend("local", None, 2)
    # --scheduler alone means Dask
    assert _backend(plain, None, "tcp://127.0.0.1:1", 1).name == "dask"
    assert _backend(plain, "dask", None, 1) == Backend("dask", None, 1)
    assert Backend("dask", None).starts_cluster and Backend("dask", "local").starts_cluster
    assert not Backend("dask", "tcp://127.0.0.1:1").starts_cluster


@pytest.mark.slow
def test_a_task_that_kills_every_worker_it_runs_on_becomes_a_failed_result():
    """Past every retry, the task's result is its fallback: the audit goes on. (With one
    worker the scattered data dies with it each time, so the task is lost, not failed.)"""
    import logging

    from fairsel.execution import run_tasks

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.CRITICAL) as c:
        # os._exit(3): the worker process dies at once, every time the task runs
        out = run_tasks(os._exit, 3, [()], fallback=lambda t, err: ("failed", t, err),
                        backend=Backend(name="dask", address=c.scheduler_address))
    assert out[0][:2] == ("failed", ())
    assert out[0][2] == "the task was lost with its Dask workers 3 times (on Dask)"


def test_the_local_pool_serves_every_run_until_released():
    """Consecutive runs (an optuna search's batches) reuse one pool of worker processes;
    release() (the audit's grid is done) and closing the backend end them."""
    from joblib.externals.loky import reusable_executor

    from fairsel.execution import open_backend
    from fairsel.system import usable_cores

    if usable_cores() < 2:
        pytest.skip("one usable core: runs stay in this process")
    with open_backend(Backend(jobs=2)) as runner:
        assert runner.run(np.multiply, 3, [(1,), (2,)], fallback=None) == [3, 6]
        pool = reusable_executor._executor
        assert pool is not None  # kept for the next run
        assert runner.run(np.multiply, 2, [(1,), (2,)], fallback=None) == [2, 4]
        assert reusable_executor._executor is pool
        runner.release()
        assert reusable_executor._executor is None
        assert runner.run(np.multiply, 1, [(5,), (6,)], fallback=None) == [5, 6]
    assert reusable_executor._executor is None  # closed with the backend
