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


def _stopped_worker(monkeypatch, stop: bool = True) -> list:
    """The chart workers started from now on, for the test to check they were ended; with
    ``stop``, each is stopped at once (SIGSTOP: it never reads nor answers). Only the worker:
    subprocess.Popen is the module's, and WeasyPrint's import runs ldconfig through it."""
    import os
    import signal

    procs: list = []
    real = subprocess.Popen

    def popen(args, *a, **k):
        proc = real(args, *a, **k)
        if "fairsel.report.chart_jobs" in " ".join(map(str, args)):
            if stop:
                os.kill(proc.pid, signal.SIGSTOP)
            procs.append(proc)
        return proc

    monkeypatch.setattr(chart_jobs.subprocess, "Popen", popen)
    return procs


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
    # outside a PDF renderer, the PDF's source has the drawings, not placeholders
    assert not _placeholders(render_html(result, target="pdf"))


def _placeholders(html: str) -> list[str]:
    """The chart names the images of a PDF source point to (their SVG is base64-encoded)."""
    names = []
    for uri in re.findall(r'src="(data:image/svg\+xml;base64,[^"]+)"', html):
        svg = base64.b64decode(uri.split(",", 1)[1]).decode("utf-8")
        names += re.findall(r'href="(fairsel-chart:[^"]*)"', svg)
    return names


def test_without_a_second_cpu_no_worker_is_started(monkeypatch):
    monkeypatch.setattr(chart_jobs, "usable_cores", lambda: 1)
    started = _stopped_worker(monkeypatch, stop=False)
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
    procs = _stopped_worker(monkeypatch, stop=False)
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


def test_the_outputs_do_not_depend_on_which_was_written_first():
    """report.html after report.pdf is report.html alone; report.pdf after report.html is
    report.pdf alone (an audit writes html then pdf, `fairsel render --format pdf` the PDF only:
    the two PDFs differed, one with the charts drawn before the layout); a PDF source built
    after a PDF has the drawings, not that PDF's placeholders (which no later renderer serves:
    its charts came out blank)."""
    html_alone = render_html(make_result(n_variants=2))
    pdf_alone = render_pdf(make_result(n_variants=2), chart_worker=False)
    after_pdf = make_result(n_variants=2)
    render_pdf(after_pdf, chart_worker=False)
    assert render_html(after_pdf) == html_alone
    assert not _placeholders(render_html(after_pdf, target="pdf"))
    after_html = make_result(n_variants=2)
    render_html(after_html)
    assert render_pdf(after_html, chart_worker=False) == pdf_alone
    assert render_pdf(after_html, chart_worker=True) == pdf_alone
    # a second PDF of one result lays out its own placeholders
    assert render_pdf(after_html, chart_worker=False) == pdf_alone


def test_a_chart_name_no_renderer_serves_stops_the_pdf():
    """A PDF source with another renderer's placeholders (or a template naming a chart that
    does not exist) stopped nothing: WeasyPrint logged the refusal inside the SVG and drew the
    page without the chart."""
    from fairsel.errors import UsageError
    from fairsel.report.chart_jobs import _placeholder

    result = make_result(n_variants=1)
    html = render_html(result, target="pdf")
    stale = _placeholder("fairsel-chart:7", "460.8", "200")
    first = re.search(r'src="(data:image/svg\+xml;base64,[^"]+)"', html).group(1)
    with pytest.raises(UsageError, match="refused 'fairsel-chart:7'"):
        render_pdf(result, html=html.replace(first, stale, 1), chart_worker=False)


@pytest.mark.parametrize("url", ["file:///etc/hostname", "http://127.0.0.1:9/x"])
def test_a_url_inside_an_svg_of_a_template_stops_the_pdf(url, tmp_path):
    """README: the PDF renderer stops on any URL but data: — an <image> inside a data: SVG of
    a user template was refused (nothing fetched) but WeasyPrint went on without it."""
    from fairsel.errors import UsageError

    folder = tmp_path / "t"
    folder.mkdir()
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
           f'<image width="10" height="10" href="{url}"/></svg>')
    uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    (folder / "_cover.html.j2").write_text(
        f'<section class="cover" id="cover"><img src="{uri}" alt="x"></section>\n',
        encoding="utf-8")
    with pytest.raises(UsageError, match=re.escape(f"refused '{url}'")):
        render_pdf(make_result(n_variants=1), templates=folder, chart_worker=False)


def test_asking_for_charts_never_waits_for_the_worker(monkeypatch):
    """The jobs went to the worker's pipe from the view model: a result whose jobs exceed the
    pipe (many_groups(20): 81 charts, over 500 KB) blocked until the worker had read them — for
    ever if it stopped. A writer thread sends them now."""
    import time

    from tests.unit.report.factory import many_groups

    result = many_groups(20)
    procs = _stopped_worker(monkeypatch)
    t0 = time.monotonic()
    with ChartJobs(worker=True) as jobs:
        render_html(result, target="pdf")
        took = time.monotonic() - t0
        assert len(jobs._jobs) > 40
    assert took < 5, took  # the view model alone: well under a second
    assert procs[0].poll() is not None


def test_an_interrupt_while_waiting_for_a_chart_is_not_swallowed(monkeypatch):
    """WeasyPrint catches every exception, an interrupt too, while it draws an image: a
    Ctrl-C while it waited for the worker's chart was logged and the render went on (a SIGTERM
    too, for minutes). The charts are awaited before WeasyPrint draws the pages."""
    import os
    import signal
    import threading
    import time

    class Interrupted(BaseException):
        pass

    def handler(signum, frame):
        raise Interrupted

    monkeypatch.setattr(chart_jobs, "_PATIENCE", 60.0)
    procs = _stopped_worker(monkeypatch)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGUSR1))
    chart = ChartJobs.chart

    def waiting(self, index):  # the interrupt comes while the first chart is waited for
        if not timer.is_alive() and not timer.finished.is_set():
            timer.start()
        return chart(self, index)

    monkeypatch.setattr(ChartJobs, "chart", waiting)
    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        t0 = time.monotonic()
        with pytest.raises(Interrupted):
            render_pdf(make_result(n_variants=2), chart_worker=True)
        assert time.monotonic() - t0 < 20
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)
    assert procs and procs[0].poll() is not None


def test_the_callers_matplotlib_settings_do_not_reach_the_charts():
    """A notebook's rcParams reached the charts drawn in its process and not those of the
    worker: the PDF depended on which process drew each chart."""
    import matplotlib

    from fairsel.report import explain_charts

    def draw():
        return (charts.group_rates("g", [charts.Panel(
                    title="sex", groups=["a", "b"], n=[50, 60],
                    selection=[charts.Interval(0.5, 0.4, 0.6), charts.Interval(0.3, 0.2, 0.4)],
                    tpr=[charts.Interval(0.7)] * 2, fpr=[charts.Interval(0.2)] * 2,
                    eligible=[True, True], reference=0, ratio_line=0.8)],
                    level=0.95, title="v")[0].svg,
                explain_charts.importance("i", features=["x", "y"], values=[0.3, 0.1],
                                          units="log-odds").svg)

    plain = draw()
    with matplotlib.rc_context({"font.size": 20, "lines.linewidth": 5, "axes.grid": True,
                                "xtick.major.size": 9, "hatch.linewidth": 3}):
        styled = draw()
    assert styled == plain


def test_a_chart_asked_for_again_is_not_waited_for(monkeypatch):
    """chart() took the worker's drawing out of its inbox: a second asker (another thread, for
    which the first had not yet stored it) waited out the whole patience and ended the worker."""
    import time

    monkeypatch.setattr(chart_jobs, "_PATIENCE", 5.0)
    with ChartJobs(worker=True) as jobs:
        pending = charts.tradeoff("t", names=["a", "b"], ranks=[1, 2], x=[0.1, 0.2],
                                  y=[0.5, 0.6], passing=[True, True], selected=0,
                                  frontier=[0, 1], x_label="x", y_label="y", x_threshold=None,
                                  y_threshold=None)
        first = jobs.chart(pending._index)
        assert jobs.worker_charts == 1
        jobs._drawn.clear()  # as for a thread that asked before the first stored it
        t0 = time.monotonic()
        again = jobs.chart(pending._index)
        took = time.monotonic() - t0
        assert jobs._proc is not None  # the worker was not given up on
    assert again.svg == first.svg
    assert took < 1, took


def test_a_worker_that_dies_never_kills_a_program_that_restored_sigpipe(monkeypatch):
    """A program that put SIGPIPE back to its default (as many do) was killed, without a word,
    by the write to a worker that had died; the renderer ignores SIGPIPE while a worker runs
    and puts the program's setting back."""
    import signal

    result = make_result(n_variants=2)
    expected = render_pdf(result, chart_worker=False)
    monkeypatch.setattr(chart_jobs.sys, "executable", "/bin/true")  # exits at once
    previous = signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        assert render_pdf(result, chart_worker=True) == expected
        assert signal.getsignal(signal.SIGPIPE) == signal.SIG_DFL  # put back
    finally:
        signal.signal(signal.SIGPIPE, previous)


def test_two_pdfs_rendered_in_two_threads_are_those_rendered_alone():
    """Rendering patches process-wide state (SOURCE_DATE_EPOCH, two WeasyPrint functions): two
    renders in threads mixed them up (both PDFs differed; SOURCE_DATE_EPOCH stayed set)."""
    import os
    import threading

    a, b = make_result(n_variants=1), make_result(n_variants=3)
    alone = [render_pdf(a), render_pdf(b)]
    out: dict[int, bytes] = {}
    threads = [threading.Thread(target=lambda i=i, r=r: out.__setitem__(i, render_pdf(r)))
               for i, r in enumerate((a, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [out[0], out[1]] == alone
    assert "SOURCE_DATE_EPOCH" not in os.environ


def test_the_worker_puts_fairsels_folder_last_and_the_working_folder_nowhere(tmp_path):
    """PYTHONPATH=<fairsel's folder> put site-packages (a wheel install) before the standard
    library in the worker; its boot appends the folder instead, and drops the working folder
    that `python -c` puts first."""
    from fairsel.report.chart_jobs import _BOOT

    boot = _BOOT.replace("from fairsel.report.chart_jobs import main\nmain()\n",
                         "print(repr(sys.path))\n")
    out = subprocess.run([sys.executable, "-c", boot, "/nonexistent/root"], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    path = eval(out)  # noqa: S307 — the repr of a list of strings printed just above
    assert path[-1] == "/nonexistent/root"
    assert "" not in path and str(tmp_path) not in path



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
    import time

    patience = 2.0
    monkeypatch.setattr(chart_jobs, "_PATIENCE", patience)
    result = make_result(n_variants=3)
    t0 = time.monotonic()
    expected = render_pdf(result, chart_worker=False)
    alone = time.monotonic() - t0
    procs = _stopped_worker(monkeypatch)
    seen = _worker_charts(monkeypatch)
    t0 = time.monotonic()
    assert render_pdf(result, chart_worker=True) == expected
    took = time.monotonic() - t0
    charts_asked = seen[0][1]
    assert seen[0][0] == 0 and charts_asked >= 3
    # one wait, not one per chart (which would be charts_asked × patience)
    assert took < alone + 2 * patience < alone + charts_asked * patience, (took, alone)
    assert procs[0].poll() is not None  # ended (a stopped process is killed)


def _drawn_here(monkeypatch) -> list[str]:
    """The keys of the charts drawn in this process from now on."""
    keys: list[str] = []
    real = chart_jobs.run

    def counting(fn, key, label, height, kwargs):
        keys.append(key)
        return real(fn, key, label, height, kwargs)

    monkeypatch.setattr(chart_jobs, "run", counting)
    return keys


@pytest.mark.parametrize("formats", [("html", "pdf"), ("pdf", "html")])
def test_an_audit_writing_html_and_pdf_draws_each_chart_once(formats, monkeypatch, tmp_path):
    """report.html and report.pdf of one run share their drawings (chart_jobs.shared_charts):
    after the HTML the PDF starts no worker and draws nothing; after the PDF the HTML draws
    nothing. Each file is byte for byte the file written alone."""
    from fairsel.report import render_into

    alone = {}
    for name in formats:
        out = tmp_path / f"alone-{name}"
        out.mkdir()
        render_into(make_result(n_variants=2), [name], out)
        alone[name] = (out / f"report.{name}").read_bytes()
    here = _drawn_here(monkeypatch)
    workers = _stopped_worker(monkeypatch, stop=False)
    seen = _worker_charts(monkeypatch)
    both = tmp_path / "both"
    both.mkdir()
    render_into(make_result(n_variants=2), list(formats), both)
    assert [(both / f"report.{n}").read_bytes() == alone[n] for n in formats] == [True, True]
    (by_worker, asked), = seen  # the PDF's charts
    assert asked > 0
    assert len(here) + by_worker == asked  # every chart drawn once, here or by the worker
    assert len(set(here)) == len(here)
    if formats[0] == "html":
        assert by_worker == 0 and workers == []  # the PDF had every drawing already
    for proc in workers:
        assert proc.wait(timeout=10) is not None
