"""report.chart_jobs: the PDF's charts drawn on a second core while WeasyPrint lays out its pages.

matplotlib draws a report's charts in 0.6-1.5 s (plus 0.2 s to import it) and WeasyPrint lays
out the pages in 1-3 s; one does not need the other until the pages are drawn. While
:func:`fairsel.report.pdf.render_pdf` runs, a chart function does not draw: it returns a
:class:`PendingChart`, whose ``data_uri`` is a small SVG of the chart's exact size holding one
``<image>`` that names the chart (``fairsel-chart:<n>``). WeasyPrint lays the pages out with
that size and fetches the named chart only when it draws the page; by then a worker process has
drawn it (the charts are sent to it as they are asked for, and it draws them in that order).

The worker is one process (``python -c`` running :func:`main`), started only when this
process may use two CPUs: the machine's limit of one worker per core holds. Without a second
CPU, or when the worker cannot start, stops or fails on a chart, the chart is drawn here when
it is fetched: the same function on the same arguments, so the same SVG and the same PDF bytes.
A chart that fails here too stops the render with its error (WeasyPrint itself would log it and
leave the chart out).

The worker reads jobs from its standard input and writes charts to its standard output
(pickled: this process and its own child, over private pipes); it ends when its input closes,
which also happens when this process dies. Only functions of ``fairsel.report`` modules are
drawn.

A run that writes both report.html and report.pdf draws each chart once
(:func:`shared_charts`): the second format takes the first one's drawing, through the same
placeholder as a drawing of its own, so the PDF has the same bytes as when rendered alone.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fairsel.system import usable_cores

if TYPE_CHECKING:
    from fairsel.report.charts import Chart

#: The URL scheme of a chart drawn elsewhere (only the renderer that asked for it serves it).
SCHEME = "fairsel-chart"
#: Modules whose functions the worker draws with.
_MODULES = ("fairsel.report.",)
#: How long a fetch waits for the worker's chart before drawing it here (seconds).
_PATIENCE = 120.0

#: The worker's command (its argument: the folder fairsel is imported from). ``python -c``
#: (like ``-m``) puts the working directory first on the import path, where a pickle.py or
#: matplotlib.py of the folder fairsel runs in would be imported: it is taken off before
#: anything is imported. fairsel's folder is added last, if missing (as PYTHONPATH, it came
#: before the standard library: a stdlib-named module beside fairsel would have been imported).
_BOOT = ("import sys\n"
         "if sys.path and sys.path[0] == '':\n"
         "    del sys.path[0]\n"
         "if sys.argv[1] not in sys.path:\n"  # fairsel's folder, searched last (never before
         "    sys.path.append(sys.argv[1])\n"  # the standard library)
         "from fairsel.report.chart_jobs import main\n"
         "main()\n")

_ACTIVE: ContextVar[ChartJobs | None] = ContextVar("fairsel_chart_jobs", default=None)
#: The charts drawn while :func:`shared_charts` is open, by what was asked for.
_SHARED: ContextVar[dict[bytes, Chart] | None] = ContextVar("fairsel_shared_charts",
                                                             default=None)


@contextmanager
def shared_charts() -> Iterator[None]:
    """While open, a chart asked for again with the same function and arguments (report.html's
    and report.pdf's, in one :func:`fairsel.report.render_into`) is not drawn again: chart
    functions are pure (every process draws the same chart, :func:`run`), so the first drawing
    serves. What cannot be pickled is drawn each time."""
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def _shared_key(fn: Callable[..., Chart], key: str, label: str, height: float,
                kwargs: dict[str, Any]) -> bytes | None:
    try:
        payload = pickle.dumps((getattr(fn, "__module__", ""), getattr(fn, "__qualname__", ""),
                                key, label, height, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 — an argument pickle cannot carry: not shared
        return None
    return hashlib.sha256(payload).digest()


def size_text(x: float) -> str:
    """A size in points as matplotlib's SVG writer prints it (``%f``, trailing zeros dropped)."""
    return f"{x:f}".rstrip("0").rstrip(".")


def active() -> ChartJobs | None:
    """The open :class:`ChartJobs`, if any (charts asked for now are drawn by it)."""
    return _ACTIVE.get()


def draw(fn: Callable[..., Chart], key: str, label: str, height: float,
         **kwargs: Any) -> Chart | PendingChart:
    """``fn(key, label, height, **kwargs)``: drawn now, or (while a :class:`ChartJobs` is open)
    a :class:`PendingChart` of the size the drawing will have (every chart is
    :data:`fairsel.report.charts.WIDTH` wide, ``height`` inches high).
    """
    jobs, shared = _ACTIVE.get(), _SHARED.get()
    memo = None if shared is None else _shared_key(fn, key, label, height, kwargs)
    drawn = None if memo is None else shared.get(memo)
    if jobs is not None:
        return jobs.submit(fn, key, label, height, kwargs, drawn=drawn,
                           share=None if memo is None else (shared, memo))
    if drawn is None:
        drawn = run(fn, key, label, height, kwargs)
        if memo is not None:
            shared[memo] = drawn
    return drawn


@dataclass(frozen=True, eq=False)
class PendingChart:
    """A chart being drawn for the PDF: its size and label now, its drawing when asked for.

    ``data_uri`` is the placeholder the PDF lays out (the chart's size; its one ``<image>``
    names the chart); ``svg`` waits for the drawing (a template that inlines a chart in the PDF
    gets the real one).
    """

    label: str
    width_pt: float
    height_pt: float
    data_uri: str
    _jobs: ChartJobs = field(repr=False)
    _index: int = field(repr=False)

    @property
    def svg(self):
        return self._jobs.chart(self._index).svg

    def __html__(self) -> str:
        return str(self.svg)


def _placeholder(url: str, width: str, height: str) -> str:
    """An SVG ``data:`` URI ``width`` × ``height`` points that shows the image at ``url``."""
    import base64

    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}pt" height="{height}pt" '
           f'viewBox="0 0 {width} {height}"><image x="0" y="0" width="{width}" '
           f'height="{height}" href="{url}"/></svg>')
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("ascii")).decode("ascii")


def run(fn: Callable[..., Chart], key: str, label: str, height: float,
        kwargs: dict[str, Any]) -> Chart:
    """Draw one chart from matplotlib's own defaults, whatever the calling program set (a
    notebook's style would otherwise reach the charts drawn in this process and not those of
    the worker): every process draws the same chart."""
    from fairsel.report.charts import report_style

    with report_style():
        return fn(key, label, height, **kwargs)


@dataclass
class _Job:
    fn: Callable[..., Chart]
    key: str
    label: str
    height: float
    kwargs: dict[str, Any]
    #: where to keep the drawing for the other format (:func:`shared_charts`), and its key
    share: tuple[dict[bytes, Chart], bytes] | None = None

    def draw(self) -> Chart:
        return run(self.fn, self.key, self.label, self.height, self.kwargs)


class ChartJobs:
    """While open (a context manager), chart functions return :class:`PendingChart`\\ s and their
    drawings come from one worker process (``worker=True`` and two CPUs) or are drawn here when
    fetched. :meth:`image` serves a chart's SVG to the PDF renderer; :meth:`wait_all` gets every
    drawing before WeasyPrint draws the pages, where an interrupt or a chart's error would be
    caught and logged by WeasyPrint (a chart that cannot be drawn stops the render here).

    The jobs go to the worker from a writer thread, so asking for a chart never waits for the
    worker (a job larger than the pipe, or a worker that stops reading, would block the view
    model); a worker that does not answer within :data:`_PATIENCE` is ended and the charts are
    drawn here."""

    def __init__(self, *, worker: bool | None = None) -> None:
        frozen = bool(getattr(sys, "frozen", False))  # sys.executable is the application
        self._want_worker = (not frozen and bool(sys.executable)
                             and (usable_cores() >= 2 if worker is None else worker))
        self._jobs: list[_Job] = []
        self._drawn: dict[int, Chart] = {}
        self._from_worker: dict[int, Chart | None] = {}
        self._unsent: set[int] = set()
        self._worker_done = False
        self._proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self._writer: threading.Thread | None = None
        self._outbox: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Condition()
        self._token = None
        self._sigpipe = None
        #: How many charts the worker drew (the rest were drawn here): for tests and benchmarks.
        self.worker_charts = 0

    # -- the context ------------------------------------------------------------------------
    def __enter__(self) -> ChartJobs:
        self._token = _ACTIVE.set(self)
        return self

    def __exit__(self, *exc) -> None:
        _ACTIVE.reset(self._token)
        self.close()

    # -- asking ------------------------------------------------------------------------------
    def submit(self, fn: Callable[..., Chart], key: str, label: str, height: float,
               kwargs: dict[str, Any], *, drawn: Chart | None = None,
               share: tuple[dict[bytes, Chart], bytes] | None = None) -> PendingChart:
        """The chart ``fn(key, label, height, **kwargs)`` to be drawn (``drawn``: already drawn,
        by the other format; ``share``: where to keep the drawing once it is made)."""
        from fairsel.report.charts import WIDTH
        from fairsel.report.tables import safe_text

        module, name = getattr(fn, "__module__", ""), getattr(fn, "__qualname__", "")
        if not module.startswith(_MODULES) or "." in name or "<" in name:
            raise ValueError(f"charts are drawn by module-level functions of fairsel.report, "
                             f"not {module}.{name}")
        index = len(self._jobs)
        job = _Job(fn, key, label, height, dict(kwargs), share)
        self._jobs.append(job)
        if drawn is not None:
            self._drawn[index] = drawn
        else:
            self._send(index, job)
        w, h = size_text(WIDTH * 72), size_text(height * 72)
        return PendingChart(label=safe_text(label), width_pt=float(w), height_pt=float(h),
                            data_uri=_placeholder(f"{SCHEME}:{index}", w, h), _jobs=self,
                            _index=index)

    def _send(self, index: int, job: _Job) -> None:
        """Hand the job to the writer thread (never waits); a job that cannot be pickled is
        drawn here."""
        if not self._want_worker or self._worker_done:
            self._unsent.add(index)
            return
        try:
            payload = pickle.dumps((index, job.fn.__module__, job.fn.__qualname__, job.key,
                                    job.label, job.height, job.kwargs),
                                   protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 — an argument pickle cannot carry: drawn here
            self._unsent.add(index)
            return
        if self._proc is None and not self._start():
            self._unsent.add(index)
            return
        self._outbox.put(payload)

    def _start(self) -> bool:
        import fairsel

        root = os.path.dirname(os.path.dirname(os.path.abspath(fairsel.__file__)))
        # the interpreter's own isolation flags (-I, -E, -s, -X, -W) are the worker's too
        flags = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]
        try:
            self._proc = subprocess.Popen(
                [sys.executable, *flags, "-c", _BOOT, root], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True)
        except OSError:
            self._worker_done = True
            return False
        self._ignore_sigpipe()
        self._reader = threading.Thread(target=self._read, name="fairsel-chart-reader",
                                        daemon=True)
        self._writer = threading.Thread(target=self._write, name="fairsel-chart-writer",
                                        daemon=True)
        self._reader.start()
        self._writer.start()
        return True

    def _ignore_sigpipe(self) -> None:
        """A program that restored SIGPIPE's default action would be killed by a write to a
        worker that died: while the worker runs, a broken pipe is an error instead."""
        import signal

        if (hasattr(signal, "SIGPIPE") and threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGPIPE) == signal.SIG_DFL):
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)
            self._sigpipe = signal.SIG_DFL

    def _write(self) -> None:
        """The writer thread: jobs to the worker as they come; None ends its input."""
        stream = self._proc.stdin
        try:
            while (payload := self._outbox.get()) is not None:
                stream.write(payload)
                stream.flush()
        except (OSError, ValueError):  # the worker is gone: the charts are drawn here
            with self._lock:
                self._worker_done = True
                self._lock.notify_all()
        finally:
            try:
                stream.close()
            except (OSError, ValueError):
                pass

    def _read(self) -> None:
        """The reader thread: the worker's charts as they come (the pipe never fills up)."""
        stream = self._proc.stdout
        try:
            while True:
                index, chart, _error = pickle.load(stream)
                with self._lock:
                    self._from_worker[index] = chart
                    self._lock.notify_all()
        except Exception:  # noqa: BLE001 — end of stream or a dead worker: drawn here instead
            pass
        finally:
            with self._lock:
                self._worker_done = True
                self._lock.notify_all()

    # -- getting -----------------------------------------------------------------------------
    def chart(self, index: int) -> Chart:
        """The drawn chart ``index`` (from the worker, or drawn here)."""
        if index in self._drawn:
            return self._drawn[index]
        chart = None
        if self._proc is not None and index not in self._unsent:
            with self._lock:
                answered = self._lock.wait_for(
                    lambda: index in self._from_worker or self._worker_done, timeout=_PATIENCE)
                chart = self._from_worker.get(index)
            if not answered:  # a worker stopped or stuck: ended, every chart drawn here
                self.close()
            if chart is not None:
                self.worker_charts += 1
        if chart is None:
            chart = self._jobs[index].draw()
        self._drawn[index] = chart
        if self._jobs[index].share is not None:
            memo, key = self._jobs[index].share
            memo[key] = chart
        return chart

    def wait_all(self) -> None:
        """Every chart drawn (by the worker, or here): called before WeasyPrint draws the
        pages, where an interrupt while waiting would be caught and logged by WeasyPrint."""
        for index in range(len(self._jobs)):
            self.chart(index)

    def image(self, url: str) -> bytes | None:
        """The SVG of the chart ``url`` names, or None if it names none of these charts."""
        from fairsel.report.charts import svg_bytes

        prefix = f"{SCHEME}:"
        number = url[len(prefix):] if url.startswith(prefix) else ""
        if not number.isdigit() or int(number) >= len(self._jobs):
            return None
        return svg_bytes(self.chart(int(number)))

    # -- ending ------------------------------------------------------------------------------
    def close(self) -> None:
        """End the worker (it stops at its next job; a chart it is drawing is abandoned)."""
        proc, self._proc = self._proc, None
        with self._lock:
            self._worker_done = True
            self._lock.notify_all()
        if proc is None:
            return
        self._outbox.put(None)  # the writer closes the worker's input: it ends
        try:
            proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for thread in (self._writer, self._reader):
            if thread is not None:
                thread.join(timeout=5)
        proc.stdout.close()
        if self._sigpipe is not None:
            import signal

            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGPIPE, self._sigpipe)
            self._sigpipe = None


def _serve(stdin, stdout) -> None:
    """The worker: draw each job read from ``stdin``; write ``(index, chart, error)``."""
    import importlib

    while True:
        try:
            index, module, name, key, label, height, kwargs = pickle.load(stdin)
        except EOFError:
            return
        try:
            if not module.startswith(_MODULES):
                raise ValueError(f"not a report module: {module}")
            fn = getattr(importlib.import_module(module), name)
            chart = run(fn, key, label, height, kwargs)
            chart.data_uri  # noqa: B018 — the PDF's copy made here, on the worker's core
            reply = (index, chart, None)
        except Exception as exc:  # noqa: BLE001 — the parent draws it itself and sees the error
            reply = (index, None, f"{type(exc).__name__}: {exc}")
        pickle.dump(reply, stdout, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.flush()


def main() -> None:
    """The worker (:data:`_BOOT`): serve until the input closes, then leave at once
    (the interpreter's teardown of matplotlib would keep the renderer waiting 0.1-0.2 s)."""
    code = 0
    try:
        import matplotlib.figure  # noqa: F401 — imported while the first job is on its way

        _serve(sys.stdin.buffer, sys.stdout.buffer)
    except (BrokenPipeError, KeyboardInterrupt):
        pass
    except BaseException:  # noqa: BLE001 — the renderer draws the charts itself
        code = 1
    os._exit(code)


if __name__ == "__main__":
    main()
