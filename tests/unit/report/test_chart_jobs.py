"""The PDF's charts drawn by a worker process while WeasyPrint lays out the pages (issue 12,
"Speed"; fairsel.report.chart_jobs): the same bytes with or without the worker, every
placeholder the size of its drawing, the worker really used, a failure never hidden, and no
process left behind."""

from __future__ import annotations

import base64
import io
import pickle
import re
import subprocess
import sys

import pytest

from fairsel.report import chart_jobs, charts, pdf
from fairsel.report.chart_jobs import ChartJobs, PendingChart
from fairsel.report.context import build_context
from fairsel.report.html import render_html
from fairsel.report.pdf import data_only_fetcher, render_pdf
from tests.unit.report.factory import make_result
from tests.unit.report.test_pdf_layout import golden_result

EXAMPLES = ["lending", "mitigation", "branches", "champion", "hiring", "recidivism"]


def _pending(value) -> list[PendingChart]:
    """Every PendingChart in a view model (dicts, lists, dataclasses), in order."""
    found: list[PendingChart] = []
    seen: set[int] = set()

    def walk(v):
        if id(v) in seen:
            return
        seen.add(id(v))
        if isinstance(v, PendingChart):
            found.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
        elif hasattr(v, "__dataclass_fields__"):
            for name in v.__dataclass_fields__:
                walk(getattr(v, name))

    walk(value)
    return found


def _svg_size(svg: bytes) -> tuple[str, str, str]:
    root = re.search(rb"<svg[^>]*>", svg).group(0)
    width = re.search(rb'\bwidth="([0-9.]+)pt"', root).group(1).decode()
    height = re.search(rb'\bheight="([0-9.]+)pt"', root).group(1).decode()
    box = re.search(rb'\bviewBox="([^"]+)"', root).group(1).decode()
    return width, height, box


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_placeholder_is_the_size_of_its_drawing(name):
    """WeasyPrint lays the page out with the placeholder: it must be exactly the size matplotlib
    draws (width, height and viewBox as written), for every chart of every shipped example."""
    result = golden_result(name)
    with ChartJobs(worker=False):
        ctx = build_context(result, with_charts=True)
    pending = _pending(ctx)
    assert pending, f"{name}: no chart in the report"
    kinds = set()
    for chart in pending:
        drawn = chart._jobs.chart(chart._index)
        kinds.add(chart._jobs._jobs[chart._index].fn.__name__)
        placeholder = base64.b64decode(chart.data_uri.split(",", 1)[1])
        assert _svg_size(placeholder) == _svg_size(charts.svg_bytes(drawn)), (name, chart.label)
        assert (chart.width_pt, chart.height_pt) == (drawn.width_pt, drawn.height_pt)
        assert chart.label == drawn.label
        assert chart.svg == drawn.svg
    if name == "lending":  # every kind of chart is in lending's report
        assert kinds == {"_group_figure", "_tradeoff", "_importance", "_group_contributions",
                         "_waterfall"}, kinds


def _worker_charts(monkeypatch) -> list[tuple[int, int]]:
    """(charts drawn by the worker, charts asked for) of every ChartJobs closed from now on."""
    seen: list[tuple[int, int]] = []
    close = ChartJobs.close

    def counting(self):
        close(self)
        seen.append((self.worker_charts, len(self._jobs)))

    monkeypatch.setattr(ChartJobs, "close", counting)
    return seen


def test_the_worker_draws_every_chart_and_the_pdf_is_byte_identical(monkeypatch):
    seen = _worker_charts(monkeypatch)
    result = golden_result("lending")
    with_worker = render_pdf(result, chart_worker=True)
    here = render_pdf(result, chart_worker=False)
    assert with_worker == here
    assert seen[0][1] == 15 and seen[0] == (15, 15)  # the worker drew all 15
    assert seen[1] == (0, 15)
    # and the same as the charts drawn before the layout (no placeholders): the same pages
    eager = render_html(result, target="pdf")
    assert "fairsel-chart" not in eager


def test_without_a_second_cpu_no_worker_is_started(monkeypatch):
    monkeypatch.setattr(chart_jobs, "_cpus", lambda: 1)
    started = []
    real = subprocess.Popen
    monkeypatch.setattr(chart_jobs.subprocess, "Popen",
                        lambda *a, **k: started.append(a) or real(*a, **k))
    seen = _worker_charts(monkeypatch)
    render_pdf(make_result(n_variants=2))
    assert started == [] and seen and seen[0][0] == 0 and seen[0][1] > 0


def test_a_worker_that_cannot_start_or_dies_leaves_the_charts_to_this_process(monkeypatch):
    result = make_result(n_variants=2)
    expected = render_pdf(result, chart_worker=False)
    seen = _worker_charts(monkeypatch)
    # a worker that exits at once (its interpreter runs nothing)
    monkeypatch.setattr(chart_jobs.sys, "executable", "/bin/true")
    assert render_pdf(result, chart_worker=True) == expected
    # no interpreter at all
    monkeypatch.setattr(chart_jobs.sys, "executable", "/nonexistent/python")
    assert render_pdf(result, chart_worker=True) == expected
    assert [s[0] for s in seen] == [0, 0]


def test_a_chart_that_fails_stops_the_render(monkeypatch):
    """WeasyPrint logs an image it cannot draw and leaves it out; a report chart that fails
    must stop the render instead, whether it failed here or in the worker (which then leaves
    it to this process, where it fails again)."""

    def broken(*args, **kwargs):
        raise RuntimeError("chart broke")

    broken.__module__ = "fairsel.report.charts"
    broken.__qualname__ = "_no_such_chart"  # the worker cannot draw it either
    monkeypatch.setattr(charts, "_group_figure", broken)
    seen = _worker_charts(monkeypatch)
    for worker in (False, True):
        with pytest.raises(RuntimeError, match="chart broke"):
            render_pdf(make_result(n_variants=1), chart_worker=worker)
    assert [s[0] for s in seen] == [0, 0]


def test_the_worker_ends_with_the_render(monkeypatch):
    procs = []
    real = subprocess.Popen

    def popen(*a, **k):
        procs.append(real(*a, **k))
        return procs[-1]

    monkeypatch.setattr(chart_jobs.subprocess, "Popen", popen)
    render_pdf(make_result(n_variants=1), chart_worker=True)
    assert len(procs) == 1 and procs[0].returncode is not None
    # and when the render stops half-way (an interrupt while WeasyPrint works)
    procs.clear()

    def interrupted(when):
        raise KeyboardInterrupt

    monkeypatch.setattr(pdf, "reproducible", interrupted)
    with pytest.raises(KeyboardInterrupt):
        render_pdf(make_result(n_variants=3), chart_worker=True)
    assert len(procs) == 1 and procs[0].returncode is not None


def test_the_worker_serves_until_its_input_closes_and_draws_only_report_functions():
    jobs = io.BytesIO()
    pickle.dump((0, "os", "system", "k", "label", 1.0, {"command": "echo hacked"}), jobs)
    pickle.dump((1, "fairsel.report.explain_charts", "_importance", "k", "Importance", 1.5,
                 {"features": ["a", "b"], "values": [0.2, 0.1], "units": "log-odds"}), jobs)
    jobs.seek(0)
    out = io.BytesIO()
    chart_jobs._serve(jobs, out)  # returns at the end of its input
    out.seek(0)
    first, second = pickle.load(out), pickle.load(out)
    assert first[0] == 0 and first[1] is None and "not a report module" in first[2]
    assert second[0] == 1 and second[2] is None and second[1].label == "Importance"
    assert second[1].height_pt == 108.0


def test_the_worker_process_exits_when_its_input_closes():
    proc = subprocess.Popen([sys.executable, "-m", "fairsel.report.chart_jobs"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out, _ = proc.communicate(b"", timeout=60)
    assert proc.returncode == 0 and out == b""


def test_chart_names_resolve_only_for_the_charts_of_the_render():
    """The PDF fetches nothing but data: URIs and the renderer's own charts: a template's
    fairsel-chart: URL that names none of them is refused like any other URL."""
    from weasyprint.urls import FatalURLFetchingError

    with ChartJobs(worker=False) as jobs:
        chart = charts.tradeoff("t", names=["a", "b"], ranks=[1, 2], x=[0.1, 0.2],
                                y=[0.5, 0.6], passing=[True, True], selected=0, frontier=[0, 1],
                                x_label="x", y_label="y", x_threshold=None, y_threshold=None)
        assert isinstance(chart, PendingChart)
        fetcher = data_only_fetcher(jobs)
        assert fetcher("fairsel-chart:0").read().startswith(b"<svg")
        for url in ("fairsel-chart:1", "fairsel-chart:../0", "fairsel-chart:"):
            with pytest.raises(FatalURLFetchingError):
                fetcher(url)
    with pytest.raises(FatalURLFetchingError):
        data_only_fetcher()("fairsel-chart:0")


def test_report_html_after_the_pdf_reuses_the_charts_drawn_for_it():
    """An audit writes report.pdf and report.html from one view model: the HTML gets the same
    drawings as if it had been written alone."""
    result = make_result(n_variants=2)
    alone = render_html(result)
    other = make_result(n_variants=2)  # an equal result, another object: no shared view model
    render_pdf(other, chart_worker=False)
    assert render_html(other) == alone
    # and a second PDF of it lays out its own placeholders (those of the first are gone)
    assert render_pdf(other, chart_worker=False) == render_pdf(make_result(n_variants=2),
                                                               chart_worker=False)


def test_the_worker_never_imports_from_the_working_directory(tmp_path, monkeypatch):
    """`python -m` puts the working directory first on the import path: a pickle.py or a
    matplotlib.py in the folder fairsel runs in must not run in the worker."""
    marker = tmp_path / "ran"
    for name in ("pickle", "matplotlib", "fairsel"):
        (tmp_path / f"{name}.py").write_text(
            f"open({str(marker)!r}, 'a').write({name!r})\nraise SystemExit(3)\n")
    monkeypatch.chdir(tmp_path)
    seen = _worker_charts(monkeypatch)
    render_pdf(make_result(n_variants=1), chart_worker=True)
    assert not marker.exists(), marker.read_text()
    assert seen[0][0] == seen[0][1] > 0  # the worker drew every chart


def test_a_stuck_worker_is_waited_for_once_then_ended(monkeypatch):
    """A worker that stops answering (stopped, swapped out, deadlocked) costs one wait of
    _PATIENCE, not one per chart: it is ended and the charts are drawn here."""
    import os
    import signal
    import time

    patience = 2.0
    monkeypatch.setattr(chart_jobs, "_PATIENCE", patience)
    result = make_result(n_variants=3)
    t0 = time.monotonic()
    expected = render_pdf(result, chart_worker=False)
    alone = time.monotonic() - t0
    procs = []
    real = subprocess.Popen

    def popen(*a, **k):
        procs.append(real(*a, **k))
        os.kill(procs[-1].pid, signal.SIGSTOP)  # it never answers
        return procs[-1]

    monkeypatch.setattr(chart_jobs.subprocess, "Popen", popen)
    seen = _worker_charts(monkeypatch)
    t0 = time.monotonic()
    assert render_pdf(result, chart_worker=True) == expected
    took = time.monotonic() - t0
    charts_asked = seen[0][1]
    assert seen[0][0] == 0 and charts_asked >= 3
    # one wait, not one per chart (which would be charts_asked × patience)
    assert took < alone + 2 * patience < alone + charts_asked * patience, (took, alone)
    assert procs[0].poll() is not None  # ended (a stopped process is killed)
