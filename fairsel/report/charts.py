"""Charts for the HTML and PDF reports: matplotlib (no pyplot, no GUI) drawn to inline SVG.

Colours are the Okabe–Ito palette (:data:`PALETTE`), which readers with any common colour-vision
deficiency tell apart, and every series also differs by marker shape, fill or hatching, so a
page printed in black and white still reads. Text is at least 9 pt at the size the chart is
printed (:data:`MIN_FONT_PT`). The SVG is deterministic (a fixed hash salt, no date, text
kept as text) and every ``id`` is prefixed with the chart's key, so that several charts
inlined in one HTML document never share an id. Text from the data (group names, variant
names) is escaped by matplotlib's SVG writer, control characters in it are written as escapes
(:func:`fairsel.report.tables.safe_text`), and mathtext is off, so a ``$`` in a group name
is shown as it is.

The functions take plain numbers and strings (built by :mod:`fairsel.report.context`) and
return a :class:`Chart`: ``chart.svg`` is the inline ``<svg>`` element for report.html (the
only markup the templates insert unescaped); ``chart.data_uri`` is the same drawing as a
``data:image/svg+xml`` URI, which the PDF uses so that WeasyPrint lays the chart out as one
image rather than styling each of its thousands of elements as HTML.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup

from fairsel.report.chart_jobs import draw
from fairsel.report.tables import safe_text


@dataclass(frozen=True)
class Chart:
    """One drawn chart: inline SVG markup, its size, a text label, and the PDF's copy of the
    drawing as a data: URI (:attr:`data_uri`)."""

    svg: Markup
    width_pt: float
    height_pt: float
    label: str
    #: matplotlib's drawing (flattened, namespaced), from which :attr:`data_uri` is made
    drawing: str = field(repr=False, compare=False)

    def __html__(self) -> str:
        return str(self.svg)

    @functools.cached_property
    def data_uri(self) -> str:
        """The drawing as a standalone ``data:image/svg+xml`` URI for the PDF, with
        presentation attributes and fewer elements (:func:`_presentation_attributes`). Made
        when first asked for: report.html never uses it; the PDF's chart worker makes it
        before it sends the chart."""
        standalone = _presentation_attributes(self.drawing)
        return "data:image/svg+xml;base64," + base64.b64encode(
            standalone.encode("utf-8")).decode()


def svg_bytes(chart: Chart) -> bytes:
    """The chart as a standalone SVG document (what ``chart.data_uri`` holds)."""
    return base64.b64decode(chart.data_uri.split(",", 1)[1])

#: Chart width in inches: fits the text width of A4 and Letter pages with the report's margins.
WIDTH = 6.4

#: Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour-vision
#: deficiency. Series use these (and greys) only.
PALETTE = {
    "black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
}
GREYS = ("#ffffff", "#333333", "#666666", "#999999", "#d9d9d9", "#e0e0e0")
#: The smallest text in a chart, in points at the printed size (charts are drawn at that size).
MIN_FONT_PT = 9.0

_RC = {
    "svg.fonttype": "none",            # text stays text: searchable, and no glyph defs
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # ships with matplotlib and with Debian
    "font.size": MIN_FONT_PT,
    "axes.titlesize": 9.5,
    "axes.labelsize": MIN_FONT_PT,
    "xtick.labelsize": MIN_FONT_PT,
    "ytick.labelsize": MIN_FONT_PT,
    "legend.fontsize": MIN_FONT_PT,
    "xtick.major.size": 0,             # the grid marks the values: no tick marks to draw
    "ytick.major.size": 0,
    "axes.edgecolor": "#333333",
    "axes.linewidth": 0.6,
    "hatch.linewidth": 0.5,
    "text.parse_math": False,           # "$" in a group name is text, not TeX
    "text.usetex": False,
    "svg.image_inline": True,
    "path.simplify": True,
    "axes.prop_cycle": __import__("cycler").cycler(color=["#000000"]),
}

_ID_RE = re.compile(r'\bid="([^"]+)"')


@functools.lru_cache(maxsize=1)
def _defaults() -> dict:
    """matplotlib's own defaults (its bundled matplotlibrc, not the user's), without the
    settings that choose a backend or a GUI."""
    import matplotlib

    return {k: v for k, v in matplotlib.rcParamsDefault.items()
            if not k.startswith(("backend", "interactive", "toolbar", "webagg"))}


def report_style():
    """A context in which a chart is drawn from matplotlib's defaults (each chart function
    applies :data:`_RC` where it draws), whatever the program drawing it set (rcParams, a style
    sheet, a matplotlibrc): the same chart in every process."""
    import matplotlib

    return matplotlib.rc_context(_defaults())


@dataclass(frozen=True)
class Interval:
    """A value with an optional interval, as plain floats (``None`` when undefined)."""

    value: float | None
    low: float | None = None
    high: float | None = None


def _finite(x: float | None) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def _short(label: str, limit: int = 34) -> str:
    """Truncate a long tick label (the tables keep the full text); control characters are
    written as escapes (matplotlib would put them in the SVG as they are, which then does not
    parse)."""
    label = " ".join(safe_text(str(label)).split())
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _to_svg(fig, key: str, label: str) -> Chart:
    """Serialise ``fig`` to a :class:`Chart` (inline ``<svg>``, ids prefixed by ``key``).

    ``label`` (plain text, escaped here) names the chart for screen readers.
    """
    label = safe_text(label)
    import matplotlib
    from markupsafe import escape

    buf = io.StringIO()
    with matplotlib.rc_context({**_RC, "svg.hashsalt": f"fairsel-{key}"}):
        # The layout is computed up front (no bbox_inches="tight"): one drawing pass, not two.
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    # The RDF metadata block carries the generator and namespace URLs; a report needs neither.
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S)
    # matplotlib writes rotate(-0 x y) on every label: a no-op each renderer would still parse
    svg = re.sub(r' transform="rotate\(-0 [^)]*\)"', "", svg)
    svg = drawing = _flatten(svg)
    size = re.search(r'<svg[^>]*\bwidth="([0-9.]+)pt"[^>]*\bheight="([0-9.]+)pt"', svg)
    width_pt, height_pt = (float(size.group(1)), float(size.group(2))) if size else (0.0, 0.0)
    prefix = f"{key}-"
    ids = _ID_RE.findall(svg)
    if ids:
        svg = _ID_RE.sub(lambda m: f'id="{prefix}{m.group(1)}"', svg)
        svg = re.sub(r'(href=")#([^"]+)"', lambda m: f'{m.group(1)}#{prefix}{m.group(2)}"', svg)
        svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", svg)
    # Inline SVG in HTML needs no namespace declarations; dropping them keeps the report free
    # of any "http" string, so a check for external URLs has nothing to explain away.
    svg = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg, count=2)
    svg = svg.replace("xlink:href=", "href=")
    svg = svg.replace("<svg ", f'<svg class="chart" role="img" aria-label="{escape(label)}" ', 1)
    return Chart(svg=Markup(svg.strip()), width_pt=width_pt, height_pt=height_pt, label=label,
                 drawing=drawing)


_FONT = None
_SVG_NS = "http://www.w3.org/2000/svg"
_XLINK_NS = "http://www.w3.org/1999/xlink"


def _flatten(svg: str) -> str:
    """Unwrap the ``<g id=...>`` that matplotlib puts around every artist.

    A group with no attribute but its id changes nothing in the drawing; without them the SVG
    has about 40 % fewer elements, which is what WeasyPrint's time for a chart grows with.
    """
    import xml.etree.ElementTree as ET

    ET.register_namespace("", _SVG_NS)
    ET.register_namespace("xlink", _XLINK_NS)
    root = ET.fromstring(svg)
    g = f"{{{_SVG_NS}}}g"

    def unwrap(parent) -> None:
        children = list(parent)
        out = []
        for child in children:
            unwrap(child)
            if child.tag == g and set(child.attrib) <= {"id"}:
                out.extend(list(child))
            else:
                out.append(child)
        if out != children:
            parent[:] = out

    unwrap(root)
    ET.indent(root, space="")
    return ET.tostring(root, encoding="unicode")


_STAR_RULE = re.compile(r"^\s*\*\s*\{([^{}]*)\}\s*$")


def _declarations(text: str) -> list[tuple[str, str]]:
    """``a: b; c: d`` → ``[("a", "b"), ("c", "d")]`` (matplotlib writes nothing fancier)."""
    out = []
    for part in text.split(";"):
        name, sep, value = part.partition(":")
        if sep and name.strip() and value.strip():
            out.append((name.strip(), value.strip()))
    return out


def _presentation_attributes(svg: str) -> str:
    """The same drawing with every ``style="..."`` written as presentation attributes, for the
    PDF's copy of a chart (``Chart.data_uri``).

    WeasyPrint parses each element's style attribute with its CSS tokenizer (a fifth of the
    time it spends drawing a chart) but reads presentation attributes as they are. The
    stylesheet matplotlib adds (``*{stroke-linejoin: round; stroke-linecap: butt}``) becomes
    attributes of the root ``<svg>``, which every element inherits unless it sets its own: a
    style rule would override an element's presentation attribute, its style attribute does
    not, so the drawing is the same. Any other stylesheet leaves the chart as it was.
    """
    import xml.etree.ElementTree as ET

    root = ET.fromstring(svg)
    style_tag, defs_tag = f"{{{_SVG_NS}}}style", f"{{{_SVG_NS}}}defs"
    sheets = [(parent, child) for parent in root.iter() for child in parent
              if child.tag == style_tag]
    star = [_STAR_RULE.match(child.text or "") for _, child in sheets]
    if not all(star):
        return svg
    for (parent, child), rule in zip(sheets, star):
        for name, value in _declarations(rule.group(1)):
            root.set(name, value)
        parent.remove(child)
        if parent.tag == defs_tag and len(parent) == 0 and parent in list(root):
            root.remove(parent)
    for element in root.iter():
        style = element.attrib.pop("style", None)
        if style:
            for name, value in _declarations(style):
                element.set(name, value)
    _fewer_paths(root)
    return ET.tostring(root, encoding="unicode")


#: A path ``d`` of absolute commands with coordinate pairs only (what matplotlib writes).
_ABSOLUTE_D = re.compile(r"^[\sMLCQZz0-9.eE+-]*$")
_D_TOKEN = re.compile(r"[MLCQZz]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
#: Attributes that make two paths draw otherwise as one path: a translucent overlap is drawn
#: once; a mask or filter is laid out on the path's own box; a transform, or markers at the
#: path's vertices, belong to each path.
_PER_DRAWING = ("opacity", "fill-opacity", "stroke-opacity", "mask", "filter", "transform",
                "marker-start", "marker-mid", "marker-end")
#: Inherited properties that make an element translucent (a group's own ``opacity`` is applied to
#: the group as a whole, so merging inside it changes nothing).
_TRANSLUCENT_INHERITED = ("fill-opacity", "stroke-opacity")


def _translated(d: str, dx: float, dy: float) -> str | None:
    """``d`` moved by (dx, dy), or None unless it is made of absolute coordinate pairs."""
    if not _ABSOLUTE_D.match(d):
        return None
    out, coordinate = [], 0
    for token in _D_TOKEN.findall(d):
        if token in "MLCQZz":
            out.append(token)
            continue
        value = float(token) + (dx if coordinate % 2 == 0 else dy)
        coordinate += 1
        out.append(f"{value:.6f}".rstrip("0").rstrip("."))
    return " ".join(out) if coordinate % 2 == 0 else None


def _opaque_paint(value: str | None) -> bool:
    """Whether a fill or stroke is a plain opaque colour (or none): not a gradient or pattern
    (``url(...)``, laid out on each path's own box), not a colour with alpha."""
    if value is None or value == "none":
        return True
    v = value.strip().lower()
    if v.startswith(("url(", "rgba(", "hsla(", "transparent")):
        return False
    return not (v.startswith("#") and len(v) in (5, 9))  # #rgba, #rrggbbaa


def _fewer_paths(root) -> None:
    """The same drawing with fewer elements, for the PDF's copy of a chart: WeasyPrint's time
    to draw a chart grows with its elements (a save, a transform and a restore each).

    * A marker, ``<use href="#m" x= y=>`` of a path defined once, becomes that path moved to
      (x, y), with the attributes of the ``<use>`` under the path's own (those the path sets
      win, as they do for an instance of it).
    * Sibling paths one after another with the same attributes become one path of their
      subpaths when each is only stroked (``fill="none"``: a subpath is stroked as a path is,
      its dash pattern starting again) or each is the same one-subpath marker filled and
      stroked alike (same shape, same winding, so the fill is the same and no stroke is drawn
      under another marker's fill).

    Anything else is left as it is: a relative path command, a transform, a clip or mask on a
    marker's shape, any opacity (its own, or a fill or stroke opacity inherited from a group), a
    colour with alpha, a gradient or pattern paint, an even-odd fill, a clip in the units of the
    path's box, an element with children. matplotlib's charts have none of these but the
    opacity of the trade-off's hollow markers.
    """
    svg_path, use, defs_tag = f"{{{_SVG_NS}}}path", f"{{{_SVG_NS}}}use", f"{{{_SVG_NS}}}defs"
    hrefs = (f"{{{_XLINK_NS}}}href", "href")
    shapes = {el.get("id"): el for el in root.iter(svg_path) if el.get("id")}
    marker_of: dict[int, str] = {}  # id(path made from a marker) -> the marker's id
    # a clip in the units of each path's own box clips a merged path differently
    box_clips = {f"url(#{el.get('id')})" for el in root.iter(f"{{{_SVG_NS}}}clipPath")
                 if el.get("clipPathUnits", "userSpaceOnUse") != "userSpaceOnUse"}

    def walk(parent, translucent: bool) -> None:
        translucent = translucent or any(a in parent.attrib for a in _TRANSLUCENT_INHERITED) \
            or parent.get("fill-rule", "nonzero") != "nonzero"
        children = list(parent)
        out, pieces = [], {}  # pieces: id(head of a merged run) -> its subpaths' d
        for child in children:
            if child.tag == use:
                path = _marker_as_path(child, shapes, hrefs, marker_of)
                child = child if path is None else path  # (an element without children is falsy)
            previous = out[-1] if out else None
            if (not translucent and previous is not None and child.tag == svg_path
                    and previous.tag == svg_path and previous.get("clip-path") not in box_clips
                    and _same_drawing(previous, child, marker_of)):
                pieces.setdefault(id(previous), [previous.get("d").strip()]).append(
                    child.get("d").strip())
                continue
            out.append(child)
            if child.tag != defs_tag:
                walk(child, translucent)
        for element in out:
            if id(element) in pieces:
                element.set("d", " ".join(pieces[id(element)]))
        if out != children:
            parent[:] = out

    walk(root, False)
    used = set()
    for el in root.iter():
        for name, value in el.attrib.items():
            used.update(re.findall(r"url\(#([^)]+)\)", value))
            if name in hrefs and value.startswith("#"):
                used.add(value[1:])
    for defs in [el for el in root.iter(defs_tag)]:
        for shape in [c for c in defs if c.tag == svg_path and c.get("id") not in used]:
            defs.remove(shape)
    for parent in root.iter():
        for defs in [c for c in parent if c.tag == defs_tag and len(c) == 0]:
            parent.remove(defs)


def _marker_as_path(element, shapes, hrefs, marker_of):
    """The ``<use>`` ``element`` as a path element, or None if it cannot be one."""
    import xml.etree.ElementTree as ET

    attrs = dict(element.attrib)
    ref = next((attrs.pop(h) for h in hrefs if h in attrs), "")
    shape = shapes.get(ref[1:]) if ref.startswith("#") else None
    if shape is None or len(shape) or len(element) or "d" in attrs or "transform" in attrs:
        return None
    own = {k: v for k, v in shape.attrib.items() if k not in ("id", "d")}
    # the shape's own clip, mask or filter is in its own coordinates: it would not move with it
    if set(own) & {"transform", "clip-path", "mask", "filter"}:
        return None
    if "opacity" in own and "opacity" in attrs:  # an instance's and its shape's multiply
        return None
    try:
        dx, dy = float(attrs.pop("x", 0)), float(attrs.pop("y", 0))
    except ValueError:
        return None
    d = _translated(shape.get("d", ""), dx, dy)
    if d is None:
        return None
    path = ET.Element(f"{{{_SVG_NS}}}path", {"d": d, **attrs, **own})
    path.tail = element.tail
    marker_of[id(path)] = ref[1:]
    return path


def _same_drawing(a, b, marker_of) -> bool:
    """Whether paths ``a`` and ``b`` (one after the other, neither translucent by inheritance)
    draw as one path of both."""
    if a.get("d") is None or b.get("d") is None or len(a) or len(b):
        return False
    rest_a = {k: v for k, v in a.attrib.items() if k != "d"}
    rest_b = {k: v for k, v in b.attrib.items() if k != "d"}
    if rest_a != rest_b or "id" in rest_a or set(rest_a) & set(_PER_DRAWING):
        return False
    fill, stroke = rest_a.get("fill"), rest_a.get("stroke")
    if not (_opaque_paint(fill) and _opaque_paint(stroke)):
        return False
    if fill == "none":
        return True
    if rest_a.get("fill-rule", "nonzero") != "nonzero":  # overlapping copies would leave holes
        return False
    # the same marker: one subpath (the same winding), filled and stroked alike (else one
    # marker's fill would cover another's stroke differently)
    marker = marker_of.get(id(a))
    return (marker is not None and marker == marker_of.get(id(b))
            and stroke in (None, "none", fill) and a.get("d").count("M") == 1)


@functools.lru_cache(maxsize=4096)
def text_width(text: str, size: float) -> float:
    """Width in inches of ``text`` set in DejaVu Sans at ``size`` points (for margins)."""
    global _FONT
    from matplotlib.font_manager import FontProperties, findfont
    from matplotlib.ft2font import FT2Font, LoadFlags

    if _FONT is None:
        _FONT = FT2Font(findfont(FontProperties(family="DejaVu Sans")))
    _FONT.set_size(size, 72)
    _FONT.set_text(text, 0.0, flags=LoadFlags.NO_HINTING)
    return _FONT.get_width_height()[0] / 64 / 72


#: How much wider the drawn text is than :func:`text_width` measures it (matplotlib lays
#: out hinted glyphs at its own resolution: up to 3 % wider on a long label).
_HINTED = 1.04
#: How much wider DejaVu Sans Bold sets a text than DejaVu Sans (at most, for Latin text).
_BOLD_WIDTH = 1.12


def _fitted(name: str, suffix: str, size: float, room: float, limit: int = 34) -> str:
    """``name`` (shortened with "…" as far as needed, at most ``limit`` characters) followed
    by ``suffix``, set at ``size`` points in at most ``room`` inches where it can be."""
    limit = min(limit, len(name))
    text = _short(name, limit) + suffix
    while limit > 4 and text_width(text, size) > room:
        limit -= 1
        text = _short(name, limit) + suffix
    return text


def _figure(height: float):
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(WIDTH, height))
    return fig


def _centres(values: Sequence[Interval]) -> list[float]:
    """Point values as floats (NaN where undefined, which matplotlib leaves out)."""
    return [iv.value if _finite(iv.value) else math.nan for iv in values]  # type: ignore[misc]


def _whiskers(ax, values: Sequence[Interval], ys: Sequence[float], **kw) -> None:
    """Every interval of a series as one polyline with gaps (one SVG path, not one per group)."""
    xs: list[float] = []
    yy: list[float] = []
    for iv, y in zip(values, ys):
        if _finite(iv.low) and _finite(iv.high):
            xs += [iv.low, iv.high, math.nan]  # type: ignore[list-item]
            yy += [y, y, math.nan]
    if xs:
        ax.plot(xs, yy, solid_capstyle="butt", **kw)


def _bars(ax, widths: Sequence[float], ys: Sequence[int], height: float, **kw) -> None:
    """Horizontal bars from 0 as one compound path (one SVG element for the whole series)."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path

    verts: list[tuple[float, float]] = []
    codes: list[int] = []
    for w, y in zip(widths, ys):
        if not _finite(w):
            continue
        h = height / 2
        verts += [(0, y - h), (w, y - h), (w, y + h), (0, y + h), (0, y - h)]
        codes += [Path.MOVETO, Path.LINETO, Path.LINETO, Path.LINETO, Path.CLOSEPOLY]
    if verts:
        ax.add_patch(PathPatch(Path(verts, codes), **kw))


@dataclass(frozen=True)
class Panel:
    """The groups of one attribute (or intersection) for :func:`group_rates`.

    ``reference`` is the index of the group the ratio line is drawn against (the declared
    reference, or the group with the highest selection rate among those compared); the line
    sits at ``ratio_line × selection rate of the reference``.
    """

    title: str
    groups: Sequence[str]
    n: Sequence[int]
    selection: Sequence[Interval]
    tpr: Sequence[Interval]
    fpr: Sequence[Interval]
    eligible: Sequence[bool]
    reference: int | None
    ratio_line: float | None


#: The tallest figure (inches): short figures fill the space left on a page, so a long list of
#: groups is split into several (a figure cannot break across pages).
MAX_HEIGHT = 4.6
_TOP, _BOTTOM, _GAP = 0.5, 0.42, 0.32  # legend (two lines); x axis; title space above a panel
_TOP_NO_LEGEND = 0.1
#: Margin either side of the rate axes, so that a marker at 0 or 1 is drawn whole.
RATE_PAD = 0.04


def _row_height(rows: int) -> float:
    return 0.17  # inches: a 9 pt label (0.125 in) with air; the same for any number of rows


def _pack(panels: Sequence[Panel]) -> list[list[tuple[Panel, int, int, bool]]]:
    """Panels (split where one is too tall) packed into figures no taller than MAX_HEIGHT.

    Each item is ``(panel, start, stop, continued)``: the groups ``start:stop`` of ``panel``.
    A panel too tall for one figure is cut into as few pieces as fit, of equal size (one row
    apart at most): 24 groups are 12 + 12, not 19 and a "continued" figure of 5.
    """
    room = MAX_HEIGHT - _TOP - _BOTTOM
    cap = int((room - _GAP) / _row_height(99))  # most rows one figure can hold
    pieces = []
    for p in panels:
        k = len(p.groups)
        parts = max(1, -(-k // cap))
        cuts = [round(i * k / parts) for i in range(parts + 1)]
        for start, stop in zip(cuts, cuts[1:]):
            pieces.append((p, start, stop, start > 0))
    figures: list[list[tuple[Panel, int, int, bool]]] = []
    current: list[tuple[Panel, int, int, bool]] = []
    for piece in pieces:
        trial = current + [piece]
        rows = sum(stop - start for _, start, stop, _ in trial)
        if current and rows * _row_height(rows) + _GAP * len(trial) > room:
            figures.append(current)
            current = [piece]
        else:
            current = trial
    if current:
        figures.append(current)
    return figures


def group_rates(key: str, panels: Sequence[Panel], *, level: float | None,
                title: str) -> list[Chart]:
    """Selection rate by group (bars, interval whiskers, the four-fifths line) beside TPR
    and FPR (markers with whiskers), one panel per attribute, as few figures as fit a page.

    Groups below the minimum size are hatched and marked †; the reference group is dark. The
    legend is drawn once, on the first figure of the variant (the others say so in their
    label); the rate axes run a little past 0 and 1 so that no marker is cut.
    """
    figures = _pack(panels)
    small = any(not p.eligible[j] for p in panels for j in range(len(p.groups)))
    label = f"Selection, true and false positive rates by group: {title}"
    return [draw(_group_figure, f"{key}-{i}",
                 label if i == 0 else label + " (legend as in the first chart)",
                 _group_height(figure, legend=i == 0), pieces=figure, level=level,
                 title=title, legend=i == 0, small_anywhere=small)
            for i, figure in enumerate(figures)]


def _group_height(pieces: Sequence[tuple[Panel, int, int, bool]], *, legend: bool) -> float:
    """A group figure's height in inches: its rows, a title per panel, the legend if any."""
    rows = sum(stop - start for _, start, stop, _ in pieces)
    heights = [(stop - start) * _row_height(rows) for _, start, stop, _ in pieces]
    top = _TOP if legend else _TOP_NO_LEGEND
    return top + _BOTTOM + sum(heights) + _GAP * len(pieces)


_SEL = {"plain": {"facecolor": PALETTE["sky"]}, "ref": {"facecolor": PALETTE["blue"]},
        "small": {"facecolor": "#ffffff", "hatch": "////"}}
_TPR = {"marker": "o", "color": PALETTE["vermillion"]}
_FPR = {"marker": "s", "color": PALETTE["green"], "markerfacecolor": "#ffffff"}


def _group_legend(level: float | None, small: bool) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], color="#000000", linestyle=(0, (4, 2)), linewidth=1.0,
                      label="ratio line (× reference rate)"),
               Patch(edgecolor="#000000", linewidth=0.5, label="reference group",
                     **_SEL["ref"]),
               Patch(edgecolor="#000000", linewidth=0.5, label="other groups",
                     **_SEL["plain"])]
    if small:
        handles.append(Patch(edgecolor="#000000", linewidth=0.5, label="† too small",
                             **_SEL["small"]))
    if level:
        handles.append(Line2D([], [], color="#000000", linestyle="-", linewidth=0.9,
                              label=f"{level:.0%} interval"))
    handles.append(Line2D([], [], linestyle="none", markersize=4.5, label="TPR", **_TPR))
    handles.append(Line2D([], [], linestyle="none", markersize=4.2, label="FPR", **_FPR))
    return handles


def _group_figure(key: str, label: str, height: float, *,
                  pieces: Sequence[tuple[Panel, int, int, bool]], level: float | None,
                  title: str, legend: bool = True, small_anywhere: bool = False) -> Chart:
    import matplotlib
    from matplotlib.ticker import NullLocator

    rows = sum(stop - start for _, start, stop, _ in pieces)
    row = _row_height(rows)
    tick_size = MIN_FONT_PT
    all_labels = []
    # the label column takes at most 0.45 of the width: a longer group name is shortened to
    # fit it, its count and mark kept (hiring: "female × American Indian or Alask… (n=20) †"
    # ran past the figure's left edge)
    room = (0.45 * WIDTH - 0.12) / _HINTED
    for p, start, stop, _ in pieces:
        for i in range(start, stop):
            all_labels.append(_fitted(p.groups[i], f"  (n={p.n[i]:,})"
                                      + ("" if p.eligible[i] else " †"), tick_size, room))
    left = 0.12 + _HINTED * max((text_width(lb, tick_size) for lb in all_labels), default=0.5)
    left = min(left, 0.45 * WIDTH)
    heights = [(stop - start) * row for _, start, stop, _ in pieces]
    top = _TOP if legend else _TOP_NO_LEGEND

    with matplotlib.rc_context(_RC):
        fig = _figure(height)
        ratios = [h + _GAP for h in heights]
        axes = fig.subplots(len(pieces), 2, squeeze=False,
                            gridspec_kw={"width_ratios": [1.15, 1], "height_ratios": ratios,
                                         "hspace": 0.0, "wspace": 0.16})
        fig.subplots_adjust(left=left / WIDTH, right=0.985, bottom=_BOTTOM / height,
                            top=1 - (top - _GAP * 0.15) / height)
        for r, (p, start, stop, continued) in enumerate(pieces):
            ax1, ax2 = axes[r]
            k = stop - start
            # Each panel's box takes its rows; the rest of its grid cell is room for the title.
            frac = heights[r] / ratios[r]
            for ax in (ax1, ax2):
                pos = ax.get_position()
                ax.set_position([pos.x0, pos.y0, pos.width, pos.height * frac])
            y = list(range(k))
            idx = list(range(start, stop))
            sel = [p.selection[i] for i in idx]
            sel_c = _centres(sel)
            # Few, compound SVG elements: a chart of 50 groups stays light for browsers and
            # for WeasyPrint, which styles every element it draws.
            kinds: dict[str, tuple[list[float], list[int]]] = {"plain": ([], []), "ref": ([], []),
                                                                "small": ([], [])}
            for j, i in enumerate(idx):
                kk = ("small" if not p.eligible[i] else
                      "ref" if p.reference is not None and i == p.reference else "plain")
                kinds[kk][0].append(sel_c[j])
                kinds[kk][1].append(j)
            for kk, (ws, ys_) in kinds.items():
                _bars(ax1, ws, ys_, 0.66, edgecolor="#000000", linewidth=0.5, zorder=2,
                      **_SEL[kk])
            _whiskers(ax1, sel, y, color="#000000", linewidth=0.9, zorder=3)
            ref_rate = (p.selection[p.reference].value if p.reference is not None else None)
            if p.ratio_line is not None and _finite(ref_rate):
                ax1.axvline(p.ratio_line * ref_rate, color="#000000", linestyle=(0, (4, 2)),
                            linewidth=1.0, zorder=4)
            off = 0.18
            y_t = [v - off for v in y]
            y_f = [v + off for v in y]
            tpr = [p.tpr[i] for i in idx]
            fpr = [p.fpr[i] for i in idx]
            _whiskers(ax2, tpr, y_t, color=_TPR["color"], linewidth=0.8, zorder=2)
            _whiskers(ax2, fpr, y_f, color=_FPR["color"], linewidth=0.8, zorder=2)
            ax2.plot(_centres(tpr), y_t, markersize=4.2, linestyle="none", zorder=3,
                     clip_on=False, **_TPR)
            ax2.plot(_centres(fpr), y_f, markersize=4.0, linestyle="none", zorder=3,
                     clip_on=False, **_FPR)
            labels = all_labels[sum(b - a for _, a, b, _ in pieces[:r]):][:k]
            for ax in (ax1, ax2):
                ax.set_xlim(-RATE_PAD, 1.0 + RATE_PAD)
                ax.set_ylim(k - 0.5, -0.5)
                ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], labels=["0", "0.25", "0.5", "0.75",
                                                                 "1"])
                ax.grid(axis="x", color="#d9d9d9", linewidth=0.5, zorder=0)
                ax.set_axisbelow(True)
                if r < len(pieces) - 1:
                    ax.tick_params(axis="x", labelbottom=False)
            ax1.set_yticks(y, labels=labels, fontsize=tick_size)
            ax2.yaxis.set_major_locator(NullLocator())  # the labels are on the left panel
            line = (f"; line at {p.ratio_line:g} × {ref_rate:.3f} = {p.ratio_line * ref_rate:.3f}"
                    if p.ratio_line is not None and _finite(ref_rate) else "")
            # the title starts at the figure's left edge, over the labels, not at the rate
            # panel's (hiring: "sex × race/ethnicity (intersection); line at 0.8 ×" was cut
            # at the right edge); a title still too long has its attribute name shortened
            title_room = (WIDTH - 0.1) / _BOLD_WIDTH
            ax1.annotate(_fitted(p.title, (" (continued)" if continued else "") + line,
                                 9.5, title_room, limit=60),
                         xy=(0, 1), xycoords=("figure fraction", "axes fraction"),
                         xytext=(3, 3), textcoords="offset points", ha="left", va="bottom",
                         fontsize=9.5, fontweight="bold")
        axes[-1][0].set_xlabel("selection rate")
        axes[-1][1].set_xlabel("TPR ●, FPR □")
        if legend:
            handles = _group_legend(level, small_anywhere)
            fig.legend(handles=handles, loc="upper left", ncols=(len(handles) + 1) // 2,
                       frameon=False, bbox_to_anchor=(0.005, 1 - 0.03 / height),
                       borderaxespad=0, handlelength=2.0, columnspacing=1.1,
                       handletextpad=0.5, labelspacing=0.3)
        return _to_svg(fig, key, label)


#: Where a point's label may go, in points from the point (right-above first).
_LABEL_SPOTS = ((4, 3), (4, -11), (-4, 3), (-4, -11), (4, 12), (-4, 12), (4, -20), (-4, -20))


#: Half the width of a point's marker (and of the ring around the selected one), in points.
_MARKER_HALF, _RING_HALF = 4.0, 6.5


def _place_labels(fig, ax, labels: list[tuple[str, float, float, bool]]) -> None:
    """Each point's label at the first spot around it that covers no earlier label and no
    point's marker (labels of near points were drawn over each other: "5 6 8" read as one;
    mitigation's "9" sat on the cross of variant 10)."""
    scale = fig.dpi / 72.0
    at = [ax.transData.transform((xv, yv)) for _, xv, yv, _ in labels]  # in pixels
    taken: list[tuple[float, float, float, float]] = []
    for (px, py), (_, _, _, ringed) in zip(at, labels):  # every marker first: labels go round
        half = (_RING_HALF if ringed else _MARKER_HALF) * scale
        taken.append((px - half, py - half, px + half, py + half))
    for (px, py), (text, xv, yv, ringed) in zip(at, labels):
        w, h = (0.62 * MIN_FONT_PT * len(text) + 1) * scale, MIN_FONT_PT * scale
        chosen = None
        for dx, dy in _LABEL_SPOTS:
            if ringed:  # clear of the ring around the selected variant
                dx, dy = dx + (3 if dx > 0 else -3), dy + (2 if dy > 0 else -2)
            x0 = px + dx * scale - (w if dx < 0 else 0)
            y0 = py + dy * scale
            box = (x0, y0, x0 + w, y0 + h)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                       for b in taken):
                chosen = (dx, dy, box)
                break
        if chosen is None:  # every spot taken: the first, as before
            dx, dy = _LABEL_SPOTS[0]
            chosen = (dx, dy, (px + dx * scale, py + dy * scale,
                               px + dx * scale + w, py + dy * scale + h))
        dx, dy, box = chosen
        taken.append(box)
        ax.annotate(text, (xv, yv), xytext=(dx, dy), textcoords="offset points",
                    fontsize=MIN_FONT_PT, ha="right" if dx < 0 else "left")


def tradeoff(key: str, *, names: Sequence[str], ranks: Sequence[int | None],
             x: Sequence[float | None], y: Sequence[float | None], passing: Sequence[bool],
             selected: int | None, frontier: Sequence[int], x_label: str, y_label: str,
             x_threshold: float | None, y_threshold: float | None,
             blocked: Sequence[bool] | None = None,
             x_ci: Sequence[tuple[float | None, float | None] | None] | None = None,
             y_ci: Sequence[tuple[float | None, float | None] | None] | None = None
             ) -> Chart | None:
    """Performance against fairness for every variant, with the Pareto frontier.

    Points are labelled with their leaderboard rank (the names are in the table below).
    Blue circles pass every error-severity gate, vermilion crosses do not; orange hollow
    diamonds may not be selected whatever they score (``blocked``: they decide with the
    protected attribute and the policy forbids it); the selected variant is ringed. ``x_ci`` and
    ``y_ci`` (intervals per variant) are drawn as whiskers. None when fewer than two variants
    have both figures: one point shows no trade-off (the report says so instead).
    """
    if sum(1 for xv, yv in zip(x, y) if _finite(xv) and _finite(yv)) < 2:
        return None
    return draw(_tradeoff, key, f"{y_label} against {x_label}, every variant", 4.1,
                names=names, ranks=ranks, x=x, y=y, passing=passing, selected=selected,
                frontier=frontier, x_label=x_label, y_label=y_label, x_threshold=x_threshold,
                y_threshold=y_threshold, blocked=blocked, x_ci=x_ci, y_ci=y_ci)


def _tradeoff(key: str, label: str, height: float, *, names: Sequence[str],
              ranks: Sequence[int | None], x: Sequence[float | None],
              y: Sequence[float | None], passing: Sequence[bool], selected: int | None,
              frontier: Sequence[int], x_label: str, y_label: str,
              x_threshold: float | None, y_threshold: float | None,
              blocked: Sequence[bool] | None,
              x_ci: Sequence[tuple[float | None, float | None] | None] | None,
              y_ci: Sequence[tuple[float | None, float | None] | None] | None) -> Chart:
    """Draws :func:`tradeoff`'s chart (``height`` inches)."""
    import matplotlib
    from matplotlib.lines import Line2D

    pts = [(i, xv, yv) for i, (xv, yv) in enumerate(zip(x, y)) if _finite(xv) and _finite(yv)]
    blocked = list(blocked) if blocked is not None else [False] * len(names)
    with matplotlib.rc_context(_RC):
        fig = _figure(height)
        ax = fig.subplots()
        fig.subplots_adjust(left=0.75 / WIDTH, right=0.98, bottom=0.5 / height,
                            top=1 - 0.95 / height)
        # the axes' ranges first: the whiskers are drawn within them, capped where they end
        # inside and with an arrowhead where they run on beyond (a whisker that reached the
        # frame read as a gridline)
        xs = [p[1] for p in pts] + ([x_threshold] if x_threshold is not None else [])
        ys = [p[2] for p in pts] + ([y_threshold] if y_threshold is not None else [])
        dx = (max(xs) - min(xs)) or 0.05
        dy = (max(ys) - min(ys)) or 0.02

        def reach(values: list[float], cis, d: float) -> tuple[float, float]:
            """The points' range grown to take in their intervals, by at most ``d`` a side."""
            ends = [e for c in (cis or []) if c is not None for e in c if _finite(e)]
            lo = min([*values, *(max(e, min(values) - d) for e in ends)])
            hi = max([*values, *(min(e, max(values) + d) for e in ends)])
            return lo, hi
        x0, x1 = reach(xs, x_ci, dx)
        y0, y1 = reach(ys, y_ci, dy)
        xlim = (x0 - 0.04 * (x1 - x0 or dx), x1 + 0.06 * (x1 - x0 or dx))
        ylim = (y0 - 0.05 * (y1 - y0 or dy), y1 + 0.06 * (y1 - y0 or dy))
        beyond = False
        for cis, horizontal in ((x_ci, True), (y_ci, False)):
            if not cis:
                continue
            lim, other = (xlim, ylim) if horizontal else (ylim, xlim)
            cap = 0.012 * (other[1] - other[0])
            segs_x: list[float] = []
            segs_y: list[float] = []
            arrows: list[tuple[float, float, str]] = []
            for i, xv, yv in pts:
                ci = cis[i] if i < len(cis) else None
                if ci is None or not (_finite(ci[0]) and _finite(ci[1])):
                    continue
                lo, hi = max(ci[0], lim[0]), min(ci[1], lim[1])  # type: ignore[type-var]
                at = yv if horizontal else xv
                ends = [(lo, ci[0] < lim[0], "<" if horizontal else "v"),  # type: ignore[operator]
                        (hi, ci[1] > lim[1], ">" if horizontal else "^")]  # type: ignore[operator]
                line = [(lo, at), (hi, at)]
                for end, cut, mark in ends:
                    if cut:
                        arrows.append((end, at, mark))
                        beyond = True
                    else:
                        line += [(math.nan, math.nan), (end, at - cap), (end, at + cap)]
                for a, b in line + [(math.nan, math.nan)]:
                    segs_x.append(a if horizontal else b)
                    segs_y.append(b if horizontal else a)
            if segs_x:
                ax.plot(segs_x, segs_y, color="#999999", linewidth=0.7, zorder=2)
            for end, at, mark in arrows:
                ax.plot([end if horizontal else at], [at if horizontal else end], marker=mark,
                        markersize=4, color="#999999", linestyle="none", zorder=2,
                        clip_on=False)
        groups = {
            "ok": ([p for p in pts if passing[p[0]] and not blocked[p[0]]],
                   {"marker": "o", "markersize": 6, "color": PALETTE["blue"]}),
            "bad": ([p for p in pts if not passing[p[0]] and not blocked[p[0]]],
                    {"marker": "x", "markersize": 6.5, "markeredgewidth": 1.5,
                     "color": PALETTE["vermillion"]}),
            "blocked": ([p for p in pts if blocked[p[0]]],
                        {"marker": "D", "markersize": 6, "markeredgewidth": 1.4,
                         "color": PALETTE["orange"], "markerfacecolor": "none"}),
        }
        for members, style in groups.values():
            if members:
                ax.plot([p[1] for p in members], [p[2] for p in members], linestyle="none",
                        zorder=3, clip_on=False, **style)
        if selected is not None and _finite(x[selected]) and _finite(y[selected]):
            ax.plot([x[selected]], [y[selected]], marker="o", markersize=13, color="#000000",
                    markerfacecolor="none", markeredgewidth=1.0, linestyle="none", zorder=4,
                    clip_on=False)
        fr = sorted((x[i], y[i]) for i in frontier if _finite(x[i]) and _finite(y[i]))
        if len(fr) >= 2:
            ax.plot([p[0] for p in fr], [p[1] for p in fr], color="#000000", linewidth=0.9,
                    linestyle=(0, (4, 2)), zorder=2)
        if x_threshold is not None:
            ax.axvline(x_threshold, color="#666666", linestyle=(0, (1, 1.5)), linewidth=1.0)
        if y_threshold is not None:
            ax.axhline(y_threshold, color="#666666", linestyle=(0, (1, 1.5)), linewidth=1.0)
        handles = []
        labels = {"ok": "passes every error gate", "bad": "fails a gate",
                  "blocked": "may not be selected (decides with the protected attribute)"}
        for kind, (members, style) in groups.items():
            if members:  # only the kinds drawn
                handles.append(Line2D([], [], linestyle="none", label=labels[kind], **style))
        if selected is not None:
            handles.append(Line2D([], [], marker="o", color="#000000", markerfacecolor="none",
                                  markersize=11, linestyle="none", label="selected"))
        if len(fr) >= 2:  # a frontier of one variant draws no line (review8: a legend entry
            # for a line that is not there)
            handles.append(Line2D([], [], color="#000000", linestyle=(0, (4, 2)),
                                  linewidth=0.9, label="Pareto frontier"))
        if x_ci or y_ci:
            handles.append(Line2D([], [], color="#999999", linewidth=0.8,
                                  label="interval (an arrowhead: it runs on beyond the plot)"
                                  if beyond
                                  else "interval"))
        if x_threshold is not None or y_threshold is not None:
            handles.append(Line2D([], [], color="#666666", linestyle=(0, (1, 1.5)),
                                  linewidth=1.0, label="gate threshold"))
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.01, 0.995),
                   ncols=2, frameon=False, handletextpad=0.4, columnspacing=1.5,
                   borderaxespad=0, labelspacing=0.25)
        # the plot starts just below the legend's rows (9 pt text, 0.25 line spacing)
        legend_rows = (len(handles) + 1) // 2
        fig.subplots_adjust(top=1 - (0.12 + 0.19 * legend_rows) / height)
        ax.set_xlabel(safe_text(x_label))
        ax.set_ylabel(safe_text(y_label))
        ax.grid(color="#e0e0e0", linewidth=0.5)
        ax.set_axisbelow(True)
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        _place_labels(fig, ax, [(str(ranks[i]) if ranks[i] is not None else _short(names[i], 12),
                                 xv, yv, i == selected) for i, xv, yv in pts])
        return _to_svg(fig, key, label)


__all__ = ["GREYS", "MAX_HEIGHT", "MIN_FONT_PT", "PALETTE", "RATE_PAD", "WIDTH", "Chart",
           "Interval", "Panel", "group_rates", "tradeoff"]
