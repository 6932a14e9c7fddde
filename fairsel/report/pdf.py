"""report.pdf: the audit report as a paginated compliance document (WeasyPrint).

The PDF is laid out from the same HTML as report.html (print media: page size from
``report → paper``, page numbers, a running header with the report id, a table of contents
with page numbers, table headers repeated across pages). results.json is embedded as an
attachment, so the document carries the data it was made from.

Rendering touches nothing outside its inputs: the URL fetcher refuses every URL but ``data:``
(no network, no local file), and a template that asks for anything else is an error.

The same result gives the same bytes on every machine: every date in the file (metadata, the
attachment, the ``head`` table of each embedded font) is the audit's ``provenance.finished``.
WeasyPrint subsets fonts with HarfBuzz's subsetting library when it is installed and with
fontTools otherwise; fontTools stamps the font with ``SOURCE_DATE_EPOCH`` or the clock, so that
variable is set to the audit's time while rendering, and WeasyPrint's warning about the
fallback (which needs no action from a fairsel user) is dropped.

Speed: fontTools' subsetter decompiles a font's GSUB and GPOS tables (hundreds of kerning
lookups in DejaVu) before it drops them, which WeasyPrint asks it to do; that was most of the
subsetting time. While rendering, the fontTools path deletes those tables unread first
(:func:`_lean_fonttools_subset`): the embedded fonts hold the glyphs the text is drawn with,
without the glyphs only GSUB substitutions would reach (WeasyPrint shapes the text itself and
embeds glyph ids, so those were never drawn).

WeasyPrint draws an SVG ``<text>`` one letter at a time (a Pango layout per letter, so that
per-letter ``x``/``dx``/``rotate`` lists work); the charts' labels have none of those, and the
letters of 650 labels were half the time of a 60-page PDF. While rendering, a ``<text>`` with
a single position and no per-letter attribute is laid out and drawn as one line
(:func:`_whole_line_svg_text`); any other falls back to WeasyPrint's own code.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timezone
from pathlib import Path

from fairsel.errors import UsageError
from fairsel.report.chart_jobs import SCHEME, ChartJobs
from fairsel.results import AuditResult


def _import_weasyprint():
    """Import WeasyPrint without its DeprecationWarning about a missing HarfBuzz-Subset (the
    fontTools fallback it announces makes the same PDF here; see the module's docstring), and
    with its C libraries found from one read of the linker cache (:func:`_one_ldconfig`)."""
    import sys
    import warnings

    if "weasyprint" in sys.modules:
        return
    with warnings.catch_warnings(), _one_ldconfig():
        warnings.filterwarnings("ignore", message="HarfBuzz-Subset will be required",
                                category=DeprecationWarning)
        import weasyprint  # noqa: F401


def _ldconfig_abi() -> str:
    """The ABI tag ``ldconfig -p`` prints for this interpreter's libraries (as ctypes does)."""
    import struct

    machine = os.uname().machine + ("-32" if struct.calcsize("l") == 4 else "-64")
    return {"x86_64-64": "libc6,x86-64", "ppc64-64": "libc6,64bit", "sparc64-64": "libc6,64bit",
            "s390x-64": "libc6,64bit", "ia64-64": "libc6,IA-64"}.get(machine, "libc6")


@contextmanager
def _one_ldconfig() -> Iterator[None]:
    """While WeasyPrint loads its C libraries (Linux): ``ctypes.util.find_library`` answers from
    one read of ``ldconfig -p``.

    WeasyPrint tries up to six names per library and cffi asks ``find_library`` about each name
    it cannot open, which runs ``ldconfig``, ``gcc`` and ``ld`` every time: 68 processes per
    ``fairsel render --format pdf`` (0.3-0.5 s, more on a busy machine). The answer is the one
    ctypes' own ldconfig lookup gives; a name the cache does not list is reported missing, and
    WeasyPrint's next name, the library's soname, is then opened directly by the loader (which
    also searches ``LD_LIBRARY_PATH``). Elsewhere (no ldconfig, not Linux), nothing changes.
    """
    import ctypes.util
    import re
    import subprocess
    import sys

    if not sys.platform.startswith("linux") or not os.path.exists("/sbin/ldconfig"):
        yield
        return
    try:
        listing = subprocess.run(["/sbin/ldconfig", "-p"], stdin=subprocess.DEVNULL,
                                 capture_output=True, env={"LC_ALL": "C", "LANG": "C"},
                                 timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        listing = b""
    if not listing:
        yield
        return
    abi = _ldconfig_abi()
    original = ctypes.util.find_library

    def find_library(name: str) -> str | None:
        pattern = os.fsencode(r"\s+(lib%s\.[^\s]+)\s+\(%s" % (re.escape(name), abi))
        found = re.search(pattern, listing)
        return os.fsdecode(found.group(1)) if found else None

    ctypes.util.find_library = find_library
    try:
        yield
    finally:
        ctypes.util.find_library = original


def data_only_fetcher(charts: ChartJobs | None = None):
    """A WeasyPrint URL fetcher that serves ``data:`` URIs and refuses everything else.

    The refusal is fatal (it stops the rendering) rather than a warning with a missing image,
    so a report can never silently depend on, or leak a request to, the outside world. A
    ``data:`` URI is decoded here, without urllib: no handler (proxy, file, network) is ever
    involved. ``charts``: the report's own charts being drawn meanwhile
    (:mod:`fairsel.report.chart_jobs`), served under the ``fairsel-chart:`` names it gave them.
    """
    _import_weasyprint()
    from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

    class DataOnlyFetcher(URLFetcher):
        def __init__(self) -> None:
            super().__init__(allowed_protocols=("data",), allow_redirects=False,
                             fail_on_errors=True)
            #: Every refusal, in order: WeasyPrint catches one made while it draws an image
            #: inside an SVG (and logs it), so the renderer raises the first afterwards.
            self.refused: list[FatalURLFetchingError] = []

        def fetch(self, url, headers=None):
            text = str(url).strip()
            if charts is not None and text.startswith(f"{SCHEME}:"):
                body = charts.image(text)
                if body is not None:
                    return URLFetcherResponse(text, body, {"Content-Type": "image/svg+xml"})
            if not text.lower().startswith("data:"):
                refusal = FatalURLFetchingError(
                    f"the PDF renderer fetches only data: URIs; refused {text[:200]!r}")
                self.refused.append(refusal)
                raise refusal
            media, body = decode_data_uri(text)
            return URLFetcherResponse(text[:64], body, {"Content-Type": media})

    return DataOnlyFetcher()


def decode_data_uri(uri: str) -> tuple[str, bytes]:
    """``data:[<media type>][;base64],<data>`` → (media type, bytes), as RFC 2397 says."""
    import base64
    from urllib.parse import unquote_to_bytes

    header, sep, data = uri[5:].partition(",")
    if not sep:
        raise ValueError("a data: URI needs a comma before its data")
    params = header.split(";")
    media = params[0].strip() or "text/plain;charset=US-ASCII"
    if params[-1].strip().lower() == "base64":
        return media, base64.b64decode(unquote_to_bytes(data), validate=False)
    return media, unquote_to_bytes(data)


def _timestamp(stamp: str) -> datetime:
    """provenance.finished (``...Z``) as an aware datetime, for the attachment's dates."""
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return datetime(1970, 1, 1, tzinfo=timezone.utc)


class _QuietFontFallback(logging.Filter):
    """Drop WeasyPrint's "Using fontTools instead of HarfBuzz-Subset" warning (nothing to do)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Using fontTools instead of HarfBuzz-Subset")


#: Tables WeasyPrint has fontTools drop from every embedded font (weasyprint/pdf/fonts.py).
_DROPPED_BY_WEASYPRINT = ("GSUB", "GPOS")


#: The WeasyPrint releases the speed-ups below were written and tested against (they replace
#: private functions); on any other release WeasyPrint's own code runs, unchanged.
_PATCHED_FOR = ("70.",)


def _patchable() -> bool:
    """Whether the installed WeasyPrint is one the speed-ups were written for."""
    try:
        import weasyprint
    except ImportError:  # pragma: no cover
        return False
    return str(getattr(weasyprint, "__version__", "")).startswith(_PATCHED_FOR)


def _lean_fonttools_subset(self, to_unicode, hinting):
    """WeasyPrint's ``Font._fonttools_subset`` (same options), with the font opened lazily
    and the layout tables WeasyPrint drops anyway deleted before subsetting, so fontTools
    never decompiles them (0.1-0.3 s per font)."""
    import io

    from fontTools import subset
    from fontTools.ttLib import TTFont, TTLibError

    options = subset.Options(
        retain_gids=True, passthrough_tables=True, ignore_missing_glyphs=True,
        hinting=hinting, desubroutinize=True, notdef_outline=bool(self.missing))
    options.drop_tables += ["GSUB", "GPOS", "SVG"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(gids=to_unicode)
    try:
        ttfont = TTFont(io.BytesIO(self.file_content), fontNumber=self.index, lazy=True)
        for tag in _DROPPED_BY_WEASYPRINT:
            if tag in ttfont:
                del ttfont[tag]
        subsetter.subset(ttfont)
        out = io.BytesIO()
        ttfont.save(out)
    except TTLibError as exc:
        logging.getLogger("weasyprint").debug("fontTools could not subset %s: %s",
                                              self.family, exc)
        return
    self.file_content = out.getvalue()


@contextmanager
def _lean_font_subsetting() -> Iterator[None]:
    """Use :func:`_lean_fonttools_subset` while rendering (WeasyPrint's own elsewhere); a
    WeasyPrint without that method is left as it is."""
    try:
        from weasyprint.pdf.fonts import Font
    except ImportError:  # pragma: no cover - another WeasyPrint layout
        yield
        return
    if not _patchable():  # pragma: no cover - another WeasyPrint release
        yield
        return
    original = Font.__dict__.get("_fonttools_subset")
    if original is None:  # pragma: no cover
        yield
        return
    Font._fonttools_subset = _lean_fonttools_subset
    try:
        yield
    finally:
        Font._fonttools_subset = original


#: SVG text attributes that place letters one by one: a <text> with any of them is WeasyPrint's.
_PER_LETTER = ("dx", "dy", "rotate", "textLength", "lengthAdjust")


def _whole_line_svg_text(original):
    """A drop-in for ``weasyprint.svg.text.text`` that draws a simple ``<text>`` (one x, one y,
    no per-letter attribute, no letter spacing) as one laid-out line, and hands any other to
    ``original``. Positions, anchoring (via ``node.text_bounding_box``) and fill/stroke are
    computed as WeasyPrint does, from the whole line's width instead of the sum of letters'."""
    from math import inf

    from weasyprint.css.properties import INITIAL_VALUES
    from weasyprint.draw.text import draw_emojis, draw_first_line
    from weasyprint.matrix import Matrix
    from weasyprint.svg.bounding_box import extend_bounding_box
    from weasyprint.svg.text import Style, TextBox
    from weasyprint.svg.utils import normalize, size
    from weasyprint.text.line_break import split_first_line

    def text(svg, node, font_size):
        attrib = node.attrib
        if (not node.text or any(k in attrib for k in _PER_LETTER)
                or node.get("letter-spacing") not in (None, "", "normal", "0")
                or any(len(normalize(attrib.get(k, "")).split()) > 1 for k in ("x", "y"))):
            return original(svg, node, font_size)
        style = Style()
        style.update(INITIAL_VALUES)
        style.font_config = svg.font_config
        style["font_family"] = [f.strip("\"'") for f in
                                node.get("font-family", "sans-serif").split(",")]
        style["font_style"] = node.get("font-style", "normal")
        weight = node.get("font-weight", 400)
        weight = {"normal": 400, "bold": 700}.get(weight, weight)
        try:
            style["font_weight"] = int(weight)
        except (TypeError, ValueError):
            style["font_weight"] = 400
        style["font_size"] = font_size
        if node.get("direction") in ("ltr", "rtl"):
            style["direction"] = node.get("direction")
        try:
            layout, _, _, width, height, baseline = split_first_line(
                node.text, style, svg.context, inf, 0)
        except Exception:  # noqa: BLE001 — internals not as expected: WeasyPrint's own way
            return original(svg, node, font_size)
        if "x" in attrib:
            svg.cursor_d_position[0] = 0
            x = size(normalize(attrib["x"]).strip(), font_size, svg.inner_width)
        else:
            x = svg.cursor_position[0]
        if "y" in attrib:
            svg.cursor_d_position[1] = 0
            y = size(normalize(attrib["y"]).strip(), font_size, svg.inner_height)
        else:
            y = svg.cursor_position[1]
        ascent, descent = font_size * .8, font_size * .2  # as WeasyPrint
        anchor = node.get("display-anchor")
        baseline_kind = node.get("dominant-baseline", node.get("alignment-baseline"))
        if anchor == "middle":
            y_align = -height / 2
        elif anchor == "top":
            y_align = 0
        elif anchor == "bottom":
            y_align = -height
        elif baseline_kind in ("central", "middle"):
            y_align = (ascent + descent) / 2 - descent
        elif baseline_kind in ("text-before-edge", "before_edge", "top", "hanging", "text-top"):
            y_align = ascent
        elif baseline_kind in ("text-after-edge", "after_edge", "bottom", "text-bottom"):
            y_align = -descent
        else:
            y_align = 0
        svg.cursor_position = x + width, y
        x_position = x + svg.cursor_d_position[0]
        y_position = y + svg.cursor_d_position[1] + y_align
        node.text_bounding_box = extend_bounding_box(
            node.text_bounding_box, ((x_position, y_position - baseline),
                                     (x_position + width, y_position - baseline + height)))
        svg.stream.push_state()
        fill, stroke = svg.set_graphical_state(node, font_size)
        svg.stream.begin_text()
        layout.reactivate(style)
        svg.fill_stroke(fill, stroke, text=True)
        text_box = TextBox(layout, style)
        text_box.baseline = baseline
        emojis = draw_first_line(svg.stream, text_box, "none", "none",
                                 Matrix(a=1, d=-1, e=x_position, f=y_position))
        svg.stream.end_text()
        svg.stream.pop_state()
        draw_emojis(svg.stream, style, x, y, emojis)

    return text


@contextmanager
def _whole_line_text() -> Iterator[None]:
    """Use :func:`_whole_line_svg_text` for SVG ``<text>`` while rendering; a WeasyPrint whose
    SVG module is laid out otherwise is left as it is."""
    if not _patchable():  # pragma: no cover - another WeasyPrint release
        yield
        return
    try:
        import weasyprint.svg as svg_module

        original = svg_module.TAGS["text"]
        fast = _whole_line_svg_text(original)
    except (ImportError, AttributeError, KeyError):  # pragma: no cover - another WeasyPrint
        yield
        return
    if getattr(svg_module, "text", None) is not original:  # pragma: no cover
        yield
        return
    svg_module.TAGS["text"] = svg_module.text = fast
    try:
        yield
    finally:
        svg_module.TAGS["text"] = svg_module.text = original


#: What a document needs WeasyPrint's styles of ``::marker``, ``::footnote-*`` or ``::note-*``
#: for, written out: a list item other than ``<li>``, a footnote, a note. Anywhere in the text
#: of a report from the shipped templates, even in prose, it means the full user-agent style
#: sheet (only slower).
_NEEDS_EVERY_PSEUDO = re.compile(r"list-item|footnote|note\(", re.IGNORECASE)

#: WeasyPrint's user-agent rules for those pseudo-elements, which it matches against every
#: element (``::marker`` and five ``::footnote-*``/``::note-*`` rules): the lean sheet scopes
#: the first to ``li`` and drops the others.
_EVERY_ELEMENT_PSEUDO = re.compile(r"^::(marker|footnote-call|footnote-marker|note-call|"
                                   r"note-marker|note-callback) \{[^}\n]*\}\n", re.MULTILINE)


def _lean_ua_text() -> str | None:
    """The text of WeasyPrint's user-agent style sheet without the rules that give every
    element six pseudo-element styles (``::marker`` becomes ``li::marker``), or None if its text
    is not laid out as expected (another WeasyPrint release: the full sheet is used)."""
    try:
        from weasyprint.html import UA
    except ImportError:  # pragma: no cover - another WeasyPrint release
        return None
    found = [m.group(1) for m in _EVERY_ELEMENT_PSEUDO.finditer(UA)]
    if sorted(found) != sorted(["marker", "footnote-call", "footnote-marker", "note-call",
                                "note-marker", "note-callback"]):
        return None  # pragma: no cover - another WeasyPrint release
    return _EVERY_ELEMENT_PSEUDO.sub(
        lambda m: "li" + m.group(0) if m.group(1) == "marker" else "", UA)


@functools.cache
def _lean_ua_sheet():
    """:func:`_lean_ua_text` as WeasyPrint's style sheet (parsed once a process), or None."""
    text = _lean_ua_text()
    if text is None:
        return None  # pragma: no cover - another WeasyPrint release
    from weasyprint import CSS
    from weasyprint.html import UA_COUNTER_STYLE

    return CSS(string=text, counter_style=UA_COUNTER_STYLE)


def _document(html: str, *, shipped: bool, **kwargs):
    """WeasyPrint's ``HTML(string=html, **kwargs)``; with the lean user-agent style sheet
    (:func:`_lean_ua_sheet`) when ``html`` comes from fairsel's own templates (``shipped``) and
    has no list item, footnote or note written out (a safety net for the templates' authors).

    Why: WeasyPrint computes a style for each of those six pseudo-elements of every element
    (39,000 of the 43,500 styles of mitigation's 76 pages, 0.3 s), and uses them only for list
    items, footnotes and notes. The shipped templates make list items only of ``<li>`` and have
    no footnote or note; the data in a report is escaped text, which cannot add one. So the
    pages and the PDF's bytes are the same (tested: every shipped example's elements need none
    of those styles and its list items are styled the same; one example's bytes). A user's
    templates get WeasyPrint's own sheet: CSS can make a list item or a footnote in ways no
    look at the text finds (an escape, ``display: inherit``, a style sheet in a ``data:`` URI),
    and without its pseudo-element styles WeasyPrint draws such a list item's marker otherwise
    and fails on a footnote. So does a WeasyPrint the speed-ups were not written for
    (:func:`_patchable`).
    """
    from weasyprint import HTML

    lean = (_lean_ua_sheet() if shipped and _patchable()
            and not _NEEDS_EVERY_PSEUDO.search(html) else None)
    if lean is None:
        return HTML(string=html, **kwargs)

    class _ReportHTML(HTML):
        def _ua_stylesheets(self, forms=False):
            return [lean, *super()._ua_stylesheets(forms)[1:]]

    return _ReportHTML(string=html, **kwargs)


@contextmanager
def reproducible(when: datetime) -> Iterator[None]:
    """While rendering: ``SOURCE_DATE_EPOCH`` is ``when`` (fontTools stamps subset fonts with it),
    WeasyPrint's font-fallback warning is dropped, fonts are subset without decompiling the
    tables WeasyPrint drops and simple SVG text is drawn line by line, not letter by letter;
    all restored afterwards."""
    logger = logging.getLogger("weasyprint")
    quiet = _QuietFontFallback()
    before = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(max(0, int(when.timestamp())))
    logger.addFilter(quiet)
    try:
        with ExitStack() as fast:
            fast.enter_context(_lean_font_subsetting())
            fast.enter_context(_whole_line_text())
            yield
    finally:
        logger.removeFilter(quiet)
        if before is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = before


def render_pdf(result: AuditResult, *, html: str | None = None,
               templates: Path | None = None, chart_worker: bool | None = None) -> bytes:
    """The report as PDF bytes (from ``html`` if given, else from :func:`render_html` with the
    user template folder ``templates``, if any).

    Rendered from the HTML, its charts are drawn while WeasyPrint lays out the pages
    (:mod:`fairsel.report.chart_jobs`): by a worker process when ``chart_worker`` is true, or
    None and this process may use two CPUs; otherwise here, when each is drawn. The bytes are the
    same either way.
    """
    from fairsel.report.html import render_html

    with _RENDERING, ChartJobs(worker=chart_worker) as charts:
        shipped = html is None and templates is None  # fairsel's own templates
        if html is None:
            html = render_html(result, target="pdf", templates=templates)
        _import_weasyprint()
        from weasyprint import Attachment
        from weasyprint.urls import FatalURLFetchingError

        fetcher = data_only_fetcher(charts)
        when = _timestamp(result.provenance.finished)
        attachment = Attachment(
            string=result.model_dump_json(indent=2) + "\n", name="results.json",
            description="The audit result this report was rendered from (fairsel results.json)",
            created=when, modified=when, url_fetcher=fetcher, relationship="Source")
        # WeasyPrint logs what it cannot use (unknown CSS) to its own logger, which has no
        # handler by default: the shipped templates are tested to log nothing.
        try:
            with reproducible(when):
                document = _document(html, shipped=shipped, base_url=None,
                                     url_fetcher=fetcher, media_type="print").render()
                # every chart drawn before the pages are: WeasyPrint catches (and logs) any
                # error, an interrupt included, raised while it draws an image
                charts.wait_all()
                pdf = document.write_pdf(attachments=[attachment])
            if fetcher.refused:  # refused inside an SVG: WeasyPrint logged it and went on
                raise fetcher.refused[0]
        except FatalURLFetchingError as exc:
            cause = exc.__cause__ or exc
            raise UsageError(f"report.pdf: {cause} (report templates must embed every "
                             "resource as a data: URI)") from None
        return pdf


#: One PDF at a time in a process: rendering patches process-wide state (SOURCE_DATE_EPOCH,
#: two WeasyPrint functions; :func:`reproducible`), which two renders in threads would mix up.
_RENDERING = threading.RLock()


def write_pdf(result: AuditResult, out_dir: Path, *, templates: Path | None = None) -> list[Path]:
    """Write ``report.pdf`` into ``out_dir``; return its path."""
    path = Path(out_dir) / "report.pdf"
    path.write_bytes(render_pdf(result, templates=templates))
    return [path]


__all__ = ["data_only_fetcher", "decode_data_uri", "render_pdf", "reproducible", "write_pdf"]
