"""What keeps writing the report fast (issue 12, "Speed"): the collector pauses while the
outputs are written, the PDF's copy of a chart carries presentation attributes instead of CSS
for WeasyPrint to parse, and rendering a report imports no pandas."""

from __future__ import annotations

import base64
import gc
import subprocess
import sys
from pathlib import Path

from fairsel.report import charts, no_gc_pauses, render_into
from tests.unit.report.factory import make_result

ROOT = Path(__file__).resolve().parents[3]


def test_no_gc_pauses_turns_the_collector_off_and_back():
    assert gc.isenabled()
    with no_gc_pauses():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with no_gc_pauses():
            pass
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()


def test_outputs_are_written_with_the_collector_paused(tmp_path, monkeypatch):
    import fairsel.report.machine as machine

    seen = []
    original = machine.write_json

    def spy(result, folder):
        seen.append(gc.isenabled())
        return original(result, folder)

    monkeypatch.setattr(machine, "write_json", spy)
    render_into(make_result(n_variants=1), ["json"], tmp_path)
    assert seen == [False] and gc.isenabled()


def _standalone(chart) -> str:
    return base64.b64decode(chart.data_uri.split(",", 1)[1]).decode("utf-8")


def test_pdf_copy_of_a_chart_has_no_css_to_parse():
    panel = charts.Panel(title="sex", groups=["a", "b"], n=[10, 20],
                         selection=[charts.Interval(0.3, 0.2, 0.4),
                                    charts.Interval(0.5, 0.4, 0.6)],
                         tpr=[charts.Interval(0.6)] * 2, fpr=[charts.Interval(0.1)] * 2,
                         eligible=[True, True], reference=1, ratio_line=0.8)
    chart = charts.group_rates("k", [panel], level=0.95, title="t")[0]
    pdf, html = _standalone(chart), str(chart.svg)
    assert "style=" in html  # the inline SVG of report.html is matplotlib's own
    assert 'style="' not in pdf and "<style" not in pdf
    assert 'stroke-linejoin="round"' in pdf.split(">", 1)[0]  # the stylesheet, on the root
    assert 'stroke="#d9d9d9"' in pdf and 'font-size="9px"' in pdf
    for tag in ("<path", "<text", "<use"):
        assert pdf.count(tag) == html.count(tag), tag


def test_another_stylesheet_is_left_as_it_is():
    svg = ('<svg xmlns="http://www.w3.org/2000/svg"><style>path{fill:red}</style>'
           '<path d="M0 0" style="stroke: #000"/></svg>')
    assert charts._presentation_attributes(svg) == svg


def test_rendering_the_report_imports_no_pandas():
    code = ("import sys, fairsel.report.context, fairsel.report.html, fairsel.report.pdf; "
            "print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
