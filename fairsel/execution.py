"""Runs an audit's grid of (candidate, fold) tasks on a backend: ``local`` or ``dask``.

The orchestrator hands :func:`run_tasks` a top-level function, the data every task shares and
the list of tasks; it gets back one result per task, in the order of the tasks, whichever
backend ran them and in whatever order they finished. Nothing here knows what a task computes.

* ``local``: in this process (one worker), or a joblib process pool clamped to the usable
  cores and to the number of tasks, shut down when the backend closes (at the audit's end).
* ``dask``: a ``distributed.Client``. With no address (or ``local``) a
  ``distributed.LocalCluster`` sized to the machine is started (one single-threaded worker
  process per usable core, on the loopback interface; no dashboard) and closed at the end.
  The shared data is scattered once; each task is one future; a task whose worker dies is
  retried by Dask (``retries`` and the scheduler's ``allowed-failures``), and tasks cancelled
  because every worker holding the scattered data died are submitted again with the data
  scattered anew. A task that fails for its own reasons must return its failure as data (the
  orchestrator's task function does): an exception that still reaches here (a worker killed
  more often than Dask retries) is turned into a failed result by ``fallback``.

The same seed gives the same results on every backend: each task is a pure function of the
shared data and its own arguments, and results are put back in task order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from fairsel.errors import UsageError
from fairsel.progress import NullProgress, Progress
from fairsel.system import usable_cores

R = TypeVar("R")

BACKENDS = ("local", "dask")
#: Seconds to wait for a remote Dask scheduler before saying it cannot be reached.
CONNECT_TIMEOUT = 5
#: How many times Dask reruns a task whose worker died (on top of the scheduler's own
#: ``allowed-failures``).
RETRIES = 2
#: The most workers a local cluster starts (and never more than the usable cores).
MAX_LOCAL_WORKERS = 8


@dataclass(frozen=True)
class Backend:
    """Where the grid runs: ``name`` (local | dask), the Dask scheduler ``address`` (None or
    ``local``: a LocalCluster on this machine) and the local pool's ``jobs``."""

    name: str = "local"
    address: str | None = None
    jobs: int = 1

    @property
    def starts_cluster(self) -> bool:
        return self.name == "dask" and self.address in (None, "", "local")


def worker_count(jobs: int, tasks: int) -> int:
    """Workers clamped to the usable cores and to the number of tasks (at least 1)."""
    return max(1, min(int(jobs), usable_cores(), int(tasks)))


def run_tasks(fn: Callable[..., R], shared: Any, tasks: Sequence[tuple], *, backend: Backend,
              fallback: Callable[[tuple, str], R], progress: Progress | None = None) -> list[R]:
    """``fn(shared, *task)`` for every task, the results in task order (see
    :meth:`Runner.run`), on a backend opened for this call and closed after it."""
    with open_backend(backend, progress) as runner:
        return runner.run(fn, shared, tasks, fallback=fallback)


@contextmanager
def open_backend(backend: Backend, progress: Progress | None = None) -> Iterator[Runner]:
    """The backend ready to run tasks: for Dask, connected to its scheduler (or with its
    local cluster started) on entry, so that an unreachable scheduler is reported before any
    data is read; closed on exit, with every process it started.

    Raises
    ------
    UsageError
        An unknown backend, ``dask`` without dask[distributed] installed, or a scheduler
        that cannot be reached (exit code 2; the message names the address).
    """
    progress = progress or NullProgress()
    if backend.name not in BACKENDS:
        raise UsageError(f"execution backend '{backend.name}' is unknown; expected one of "
                         f"{', '.join(BACKENDS)}")
    if backend.name == "local":
        try:
            # the local pool's worker processes serve every run (an optuna search's
            # batches) and end with the backend
            yield Runner(backend, progress)
        finally:
            stop_workers()
        return
    client, cluster = _connect(backend)
    try:
        yield Runner(backend, progress, client=client, local_cluster=cluster is not None)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


class Runner:
    """Runs tasks on an open backend (made by :func:`open_backend`)."""

    def __init__(self, backend: Backend, progress: Progress, *, client: Any = None,
                 local_cluster: bool = False) -> None:
        self.backend, self.progress = backend, progress
        self.client, self.local_cluster = client, local_cluster
        self._scattered: tuple[Any, Any] | None = None  # (shared data, its Dask future)

    def run(self, fn: Callable[..., R], shared: Any, tasks: Sequence[tuple], *,
            fallback: Callable[[tuple, str], R],
            skip: Callable[[tuple], bool] | None = None,
            on_result: Callable[[tuple, R], None] | None = None) -> list[R]:
        """``fn(shared, *task)`` for every task, the results in task order.

        ``progress.advance()`` is called as each task completes (the caller has started the
        stage with the number of tasks). ``fallback(task, message)`` makes the result of a
        task that raised on a Dask worker (a worker killed more often than Dask retries).
        In this process (one worker), ``skip(task)`` true leaves a task out (a pruned
        trial's later folds) and ``on_result(task, result)`` sees each result as it comes;
        on workers every task runs and the caller judges the results afterwards.
        """
        if not tasks:
            return []
        if self.client is not None:
            return self._run_dask(fn, shared, tasks, fallback)
        progress, jobs = self.progress, self.backend.jobs
        workers = worker_count(jobs, len(tasks))
        if workers < jobs:
            progress.note(f"--jobs {jobs}: using {workers} worker process(es) "
                          f"({usable_cores()} core(s) available, {len(tasks)} task(s) to run)")
        if workers == 1:
            out = []
            for t in tasks:
                if skip is not None and skip(t):
                    progress.advance()
                    continue
                r = fn(shared, *t)
                out.append(r)
                if on_result is not None:
                    on_result(t, r)
                progress.advance()
            return out
        from joblib import Parallel, delayed

        out = []
        # results arrive in task order as they complete: progress counts them
        for r in Parallel(n_jobs=workers, prefer="processes", return_as="generator")(
                delayed(fn)(shared, *t) for t in tasks):
            out.append(r)
            progress.advance()
        return out

    def _run_dask(self, fn, shared, tasks, fallback) -> list:
        from distributed import as_completed

        client = self.client
        where = "a local cluster" if self.local_cluster else self.backend.address
        workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
        self.progress.note(f"running {len(tasks)} task(s) on Dask ({where}, "
                           f"{workers} worker(s))")
        out: dict[int, Any] = {}
        pending = list(range(len(tasks)))
        for attempt in range(RETRIES + 1):
            # the shared data travels once to the workers (once for every run of the same
            # object: an optuna search's batches); each task carries only its arguments.
            # Scattered data cannot be recomputed: when the workers holding it die, the
            # tasks waiting on it are cancelled, and are submitted again here
            ref = self._scatter(shared, fresh=attempt > 0)
            futures = {i: client.submit(fn, ref, *tasks[i], pure=False, retries=RETRIES)
                       for i in pending}
            for fut in as_completed(list(futures.values())):
                if fut.status != "cancelled":
                    self.progress.advance()
            for i, fut in futures.items():
                if fut.status == "finished":
                    out[i] = fut.result()
                elif fut.status == "error":
                    exc = fut.exception()
                    out[i] = fallback(tasks[i], f"{type(exc).__name__}: {exc} (on Dask)")
            pending = [i for i in pending if i not in out]
            if not pending:
                break
        for i in pending:  # still lost after every attempt
            out[i] = fallback(tasks[i], f"the task was lost with its Dask workers "
                                        f"{RETRIES + 1} times (on Dask)")
            self.progress.advance()
        return [out[i] for i in range(len(tasks))]

    def release(self) -> None:
        """Free what runs keep for the next one (the local pool's worker processes, the
        data scattered to Dask) once the caller has no more to run; closing the backend
        does it too."""
        self._scattered = None
        if self.client is None:
            stop_workers()

    def _scatter(self, shared: Any, *, fresh: bool) -> Any:
        """The Dask future of ``shared``: scattered on its first run (or anew with
        ``fresh``), reused while the same object is run again."""
        if not fresh and self._scattered is not None and self._scattered[0] is shared:
            return self._scattered[1]
        [ref] = self.client.scatter([shared], broadcast=False, hash=False)
        self._scattered = (shared, ref)
        return ref


def stop_workers() -> None:
    """End joblib's worker processes now, rather than minutes after the audit.

    joblib keeps its process pool for reuse (idle workers live for minutes, holding the
    caller's stdout and stderr, so a CI step reading those pipes would wait for them). An audit
    uses the pool once: after it (on success or failure) its workers are shut down and joined;
    on Ctrl-C or SIGTERM joblib has already killed them. loky's resource tracker ends with the
    interpreter (it exits when this process's end of its pipe closes).
    """
    import sys

    if "joblib.externals.loky.reusable_executor" not in sys.modules:
        return  # no pool was ever started: nothing to end (and no import of loky for it)
    try:
        from joblib.externals.loky import reusable_executor
    except ImportError:  # pragma: no cover - joblib without loky
        return
    with reusable_executor._executor_lock:
        executor = reusable_executor._executor
        reusable_executor._executor = None
    if executor is not None:
        executor.shutdown(wait=True)


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise UsageError(
            "--backend dask: the Dask backend needs dask[distributed], which is not installed "
            f"({exc}); install it with pip install 'fairsel[dask]', or use --backend local "
            "with --jobs N") from None
    return distributed


def _connect(backend: Backend):
    """A ``(client, cluster)`` pair: a new LocalCluster's, or a client of the scheduler at
    the backend's address (``cluster`` None)."""
    distributed = _import_distributed()
    if backend.starts_cluster:
        workers = min(usable_cores(), MAX_LOCAL_WORKERS)
        # on the loopback interface only; no dashboard, and the scheduler's small HTTP server
        # (health checks) on a free port rather than 8787, which another cluster may hold
        cluster = distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.CRITICAL)
        try:
            return distributed.Client(cluster), cluster
        except BaseException:
            cluster.close()
            raise
    address = str(backend.address)
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT), None
    except (OSError, TimeoutError, ValueError) as exc:
        raise UsageError(
            f"cannot reach the Dask scheduler at {address} within {CONNECT_TIMEOUT} s "
            f"({type(exc).__name__}: {exc}); check the address (--scheduler, or the policy's "
            "execution → address; e.g. tcp://host:8786) and that the scheduler is running, or "
            "leave the address out to start a local cluster") from None
