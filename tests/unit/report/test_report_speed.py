"""What keeps writing the report fast (issue 12, "Speed"): the collector pauses while the
outputs are written, the PDF's copy of a chart carries presentation attributes instead of CSS
for WeasyPrint to parse, and rendering a report imports no pandas."""

from __future__ import annotations

import base64
import gc
import re
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
    assert pdf.count("<text") == html.count("<text")
    assert "<use" in html and "<use" not in pdf  # markers are paths in the PDF's copy
    _same_drawing(pdf, html)


_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def _drawing(svg: str) -> list[tuple[tuple, str, tuple]]:
    """What an SVG draws, in order: (attributes, commands, coordinates) for every subpath of
    every path and marker, a marker (``<use>``) taken as its shape moved to (x, y) with the
    shape's own attributes over the marker's, ``style`` read as attributes."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(svg if "xmlns=" in svg else
                         svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" '
                                     'xmlns:xlink="http://www.w3.org/1999/xlink" ', 1))
    ns = "{http://www.w3.org/2000/svg}"

    clips = {el.get("id"): tuple(sorted(el[0].attrib.items()))
             for el in root.iter(f"{ns}clipPath")}

    def attrs(el) -> dict:
        out = {k.split("}")[-1]: v for k, v in el.attrib.items()
               if k.split("}")[-1] not in ("d", "id", "href", "x", "y", "style")}
        for part in el.get("style", "").split(";"):
            name, _, value = part.partition(":")
            if name.strip():
                out[name.strip()] = value.strip()
        if "clip-path" in out:  # the clip's rectangle (report.html's ids carry a prefix)
            out["clip-path"] = clips[re.fullmatch(r"url\(#(.+)\)", out["clip-path"])[1]]
        return {k: re.sub(r"url\(#(?:[^)]*-)?([^)-]+)\)", r"url(#\1)", v) if isinstance(v, str)
                else v for k, v in out.items()}

    shapes = {el.get("id"): el for el in root.iter(f"{ns}path") if el.get("id")}
    defs = {id(el) for d in root.iter(f"{ns}defs") for el in d.iter()}
    drawn = []
    for el in root.iter():
        if id(el) in defs:
            continue
        if el.tag == f"{ns}path":
            d, dx, dy, a = el.get("d"), 0.0, 0.0, attrs(el)
        elif el.tag == f"{ns}use":
            href = next(v for k, v in el.attrib.items() if k.split("}")[-1] == "href")
            shape = shapes[href[1:]]
            d, dx, dy = shape.get("d"), float(el.get("x", 0)), float(el.get("y", 0))
            a = {**attrs(el), **attrs(shape)}
        else:
            continue
        key = tuple(sorted(a.items()))
        for sub in re.findall(r"M[^M]*", d):
            numbers = [float(x) for x in re.findall(_NUM, sub)]
            moved = tuple(v + (dx if i % 2 == 0 else dy) for i, v in enumerate(numbers))
            drawn.append((key, re.sub(_NUM + r"|\s", "", sub), moved))
    return drawn


def _same_drawing(a: str, b: str) -> None:
    """Assert that SVGs ``a`` and ``b`` draw the same (coordinates to 1e-5 pt)."""
    drawn_a, drawn_b = _drawing(a), _drawing(b)
    assert len(drawn_a) == len(drawn_b)
    for (key_a, commands_a, xy_a), (key_b, commands_b, xy_b) in zip(drawn_a, drawn_b):
        assert (key_a, commands_a, len(xy_a)) == (key_b, commands_b, len(xy_b))
        assert max((abs(u - v) for u, v in zip(xy_a, xy_b)), default=0) < 1e-5


def test_the_pdf_copy_draws_what_the_html_chart_draws_with_fewer_elements():
    """Markers as paths, runs of stroked paths or of one marker as one path: every chart kind
    of the lending report (group rates, trade-off, importances, contributions, waterfall)
    draws the same subpaths with the same attributes in the same order, with fewer
    elements."""
    from fairsel.report.chart_jobs import ChartJobs
    from fairsel.report.context import build_context
    from tests.unit.report.test_chart_jobs import _pending
    from tests.unit.report.test_pdf_layout import golden_result

    with ChartJobs(worker=False):
        ctx = build_context(golden_result("lending"), with_charts=True)
        drawn = [c._jobs.chart(c._index) for c in _pending(ctx)]
    assert len(drawn) >= 5
    fewer = 0
    for chart in drawn:
        html, pdf = str(chart.svg), _standalone(chart)
        _same_drawing(pdf, html)
        fewer += html.count("<") - pdf.count("<")
    assert fewer > 0.15 * sum(str(c.svg).count("<") for c in drawn)


_NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'


def _fewer(body: str) -> str:
    """``body`` in an SVG after charts._fewer_paths, without namespace prefixes."""
    import xml.etree.ElementTree as ET

    root = ET.fromstring(f"<svg {_NS}>{body}</svg>")
    charts._fewer_paths(root)
    text = ET.tostring(root, encoding="unicode")
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"|\b(ns\d+|xlink):', "", text)


def _drawn(body: str) -> list[str]:
    """The attributes of each element drawn (outside <defs>) after charts._fewer_paths."""
    out = _fewer(body)
    out = re.sub(r"<defs>.*?</defs>", "", out, flags=re.S)
    return re.findall(r"<(?:path|use) ([^>]*?) ?/?>", out)


DOT = '<defs><path id="dot" d="M 0 1 L 1 0 L 0 -1 z" stroke="#f00"/></defs>'


def test_paths_are_merged_only_where_the_drawing_stays_the_same():
    # the same marker twice, filled and stroked alike: one path (the shape's own stroke wins
    # over the marker's)
    assert _drawn(DOT + '<use xlink:href="#dot" x="10" y="20" fill="#f00" stroke="#0f0"/>'
                  '<use xlink:href="#dot" x="30" y="40" fill="#f00" stroke="#0f0"/>') == [
        'd="M 10 21 L 11 20 L 10 19 z M 30 41 L 31 40 L 30 39 z" fill="#f00" stroke="#f00"']
    # two stroked lines: one path
    assert _drawn('<path d="M 0 0 L 5 5" fill="none" stroke="#000"/>'
                  '<path d="M 1 0 L 6 5" fill="none" stroke="#000"/>') == [
        'd="M 0 0 L 5 5 M 1 0 L 6 5" fill="none" stroke="#000"']
    kept_apart = {
        # a marker filled unlike its stroke: one's fill would cover the other's stroke
        "fill and stroke differ": DOT + '<use xlink:href="#dot" x="1" y="2" fill="#00f"/>'
                                        '<use xlink:href="#dot" x="1.5" y="2" fill="#00f"/>',
        # two filled shapes: their windings could cancel out
        "filled shapes": '<path d="M 0 0 L 5 0 L 5 5 z" fill="#000"/>'
                         '<path d="M 9 0 L 5 0 L 5 5 z" fill="#000"/>',
        # translucent: an overlap drawn once would be lighter
        "stroke opacity": '<path d="M 0 0 L 5 5" fill="none" stroke="#000" stroke-opacity="0.5"/>'
                          '<path d="M 0 0 L 5 6" fill="none" stroke="#000" stroke-opacity="0.5"/>',
        "a colour with alpha": '<path d="M 0 0 L 5 5" fill="none" stroke="#0008"/>'
                               '<path d="M 0 0 L 5 6" fill="none" stroke="#0008"/>',
        "rgba": '<path d="M 0 0 L 5 5" fill="none" stroke="rgba(0,0,0,0.5)"/>'
                '<path d="M 0 0 L 5 6" fill="none" stroke="rgba(0,0,0,0.5)"/>',
        "an opacity inherited from a group":
            '<g stroke-opacity="0.5"><path d="M 0 0 L 5 5" fill="none" stroke="#000"/>'
            '<path d="M 0 0 L 5 6" fill="none" stroke="#000"/></g>',
        # a gradient is laid out on each path's own box
        "a gradient stroke": '<path d="M 0 0 L 5 5" fill="none" stroke="url(#g)"/>'
                             '<path d="M 0 0 L 5 6" fill="none" stroke="url(#g)"/>',
        # an even-odd fill leaves a hole where two copies overlap
        "even-odd": '<defs><path id="e" d="M 0 1 L 1 0 L 0 -1 z" fill-rule="evenodd"/></defs>'
                    '<use xlink:href="#e" x="1" y="2" fill="#f00"/>'
                    '<use xlink:href="#e" x="1.5" y="2" fill="#f00"/>',
        # a marker shape of two subpaths (their windings may differ)
        "two subpaths": '<defs><path id="t" d="M 0 0 L 1 0 L 1 1 z M 0 0 L 0 1 L 1 1 z"/></defs>'
                        '<use xlink:href="#t" x="1" y="2" fill="#f00"/>'
                        '<use xlink:href="#t" x="1.5" y="2" fill="#f00"/>',
        # a child (a title) would be lost
        "a child": '<path d="M 0 0 L 5 5" fill="none" stroke="#000"><title>a</title></path>'
                   '<path d="M 0 0 L 5 6" fill="none" stroke="#000"/>',
        # no d: nothing to merge (no error either)
        "no d": '<path fill="none" stroke="#000"/><path fill="none" stroke="#000"/>',
    }
    for why, body in kept_apart.items():
        assert len(_drawn(body)) == 2, why
    # a clip in the units of each path's box
    box_clip = ('<defs><clipPath id="c" clipPathUnits="objectBoundingBox"><rect width="0.5" '
                'height="1"/></clipPath></defs>')
    assert len(_drawn(box_clip + '<path d="M 0 0 L 5 5" fill="none" stroke="#000" '
                      'clip-path="url(#c)"/><path d="M 0 0 L 5 6" fill="none" stroke="#000" '
                      'clip-path="url(#c)"/>')) == 2
    # kept as markers: a shape in relative commands, a marker with a transform or its own d,
    # a shape with its own clip (in the shape's coordinates: it would not move with it)
    for body in ['<defs><path id="r" d="m 0 1 l 1 0 z"/></defs><use xlink:href="#r" x="1"/>',
                 DOT + '<use xlink:href="#dot" x="1" y="2" transform="scale(2)"/>',
                 DOT + '<use xlink:href="#dot" x="1" y="2" d="M 0 0 L 9 9"/>',
                 '<defs><path id="k" d="M 0 1 L 1 0 z" clip-path="url(#c)"/></defs>'
                 '<use xlink:href="#k" x="1" y="2"/>']:
        assert "<use" in _fewer(body), body
    # a shape no marker uses any more is dropped with its empty <defs>
    assert _fewer('<defs><path id="m" d="M 0 0 L 1 1"/></defs>'
                  '<use xlink:href="#m" x="1" y="1" stroke="#000"/>') == (
        '<svg><path d="M 1 1 L 2 2" stroke="#000" /></svg>')


def test_a_long_run_of_markers_is_merged_in_linear_time():
    """Each merge used to copy the whole path so far: 32,000 markers took a minute."""
    import time

    body = DOT + "".join(f'<use xlink:href="#dot" x="{i}" y="{i % 7}" fill="#f00"/>'
                         for i in range(20_000))
    started = time.perf_counter()
    drawn = _drawn(body)
    assert len(drawn) == 1 and drawn[0].count("M") == 20_000
    assert time.perf_counter() - started < 10  # about 1 s; the quadratic merge took ~25 s


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
