"""report.pdf: a paginated document with its sections, metadata and data, fetching nothing."""

from __future__ import annotations

import io
import logging
import re
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pypdf
import pytest

from fairsel.errors import UsageError
from fairsel.report.context import SECTIONS, report_id
from fairsel.report.pdf import data_only_fetcher, render_pdf, write_pdf
from tests.unit.report.factory import IMG, SCRIPT, make_result

FIXTURES = Path(__file__).parent / "fixtures"


def squash(text: str) -> str:
    """Extracted text with every run of whitespace as one space (lines wrap anywhere)."""
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def injected():
    return make_result(inject=True, failures=True)


@contextmanager
def weasyprint_warnings():
    """The records of WARNING or above that WeasyPrint logs inside the block."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    logger = logging.getLogger("weasyprint")
    handler = Keep(level=logging.WARNING)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


@pytest.fixture(scope="module")
def rendered(injected):
    """(PDF bytes, the records WeasyPrint logged while making it)."""
    with weasyprint_warnings() as records:
        pdf = render_pdf(injected)
    return pdf, records


@pytest.fixture(scope="module")
def reader(rendered):
    return pypdf.PdfReader(io.BytesIO(rendered[0]))


@pytest.fixture(scope="module")
def pages(reader) -> list[str]:
    return [p.extract_text() or "" for p in reader.pages]


def test_pdf_holds_every_section_title(pages):
    text = squash(" ".join(pages))
    for _, title in SECTIONS:
        assert title in text, title
    assert "Contents" in text


def test_injection_strings_are_text_in_the_pdf(pages):
    text = squash(" ".join(pages))
    assert SCRIPT in text, "group name shown as text"
    assert IMG in text, "column name shown as text"
    assert "&lt;" not in text, "escaped twice: the reader would see entities"


def test_pdf_metadata_and_attachment(reader, injected):
    meta = reader.metadata
    assert meta["/Title"] == injected.title
    assert meta["/Author"] == injected.policy["report"]["organisation"]
    assert meta["/Subject"].startswith("Fairness audit of ") and meta["/Subject"].endswith(": PASS")
    assert meta["/Creator"] == "fairsel 0.1.0"
    assert meta["/CreationDate"] == "D:20260102030409Z"  # provenance.finished, not the clock
    attachments = reader.attachments
    assert list(attachments) == ["results.json"]
    (content,) = attachments["results.json"]
    assert content.decode("utf-8") == injected.model_dump_json(indent=2) + "\n"


def test_running_header_page_numbers_and_paper(reader, pages, injected):
    rid = report_id(injected)
    n = len(pages)
    assert n >= 12
    for i, text in enumerate(pages[1:], start=2):
        assert f"Page {i} of {n}" in text, i
        assert f"Report {rid}" in text, i
    assert rid not in pages[0].split("Report id")[0]  # no running header on the cover
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4


def test_table_of_contents_points_at_the_right_pages(pages):
    contents = next(i for i, t in enumerate(pages) if t.lstrip().startswith("Contents")
                    or "\nContents\n" in t)
    toc = squash(pages[contents])
    for _, title in SECTIONS:
        m = re.search(re.escape(title) + r"[ .]*?(\d+)\b", toc)
        assert m, f"{title} not in the contents"
        page = int(m.group(1))
        heading_page = squash(pages[page - 1])
        assert title in heading_page, f"{title}: contents say page {page}"


def test_weasyprint_logged_no_warning(rendered):
    pdf, records = rendered
    assert pdf.startswith(b"%PDF-")
    assert not records, [r.getMessage() for r in records][:5]


def test_letter_paper_and_long_tables_repeat_their_header(tmp_path):
    groups = [f"branch_{i:03d}" for i in range(90)]
    result = make_result(n_variants=1, attributes={"branch": groups}, intersections=False,
                         paper="Letter", rows=20_000)
    (path,) = write_pdf(result, tmp_path)
    assert path == tmp_path / "report.pdf"
    reader = pypdf.PdfReader(str(path))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)
    texts = [squash(p.extract_text() or "") for p in reader.pages]
    # The data section's table of 90 groups runs over pages; each page repeats the header.
    holding = [i for i, t in enumerate(texts) if "branch_045" in t or "branch_089" in t
               or "branch_000" in t]
    with_rows = [i for i, t in enumerate(texts) if re.search(r"branch_0\d\d \d", t)]
    data_pages = [i for i in with_rows if "Favorable rate" in texts[i] or "Share" in texts[i]]
    assert holding and len(data_pages) >= 2, "the group table should span two pages or more"
    for i in data_pages:
        assert "Group Rows Share Favorable" in texts[i], f"page {i + 1} lacks the table header"


# --- the URL fetcher ------------------------------------------------------------------------


@pytest.fixture()
def no_network(monkeypatch):
    """Fail the test if anything tries to open a URL through urllib."""
    opened: list[str] = []

    def refuse(self, url, *a, **k):
        opened.append(getattr(url, "full_url", url))
        raise AssertionError(f"tried to open {url}")

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", refuse)
    return opened


@pytest.mark.parametrize("url", ["file:///etc/hostname", "http://127.0.0.1:9/x.css",
                                 "https://example.org/logo.png", "FILE:///etc/passwd",
                                 "ftp://127.0.0.1/x", "/etc/hostname", "x.png"])
def test_fetcher_refuses_everything_but_data(url, no_network):
    from weasyprint.urls import FatalURLFetchingError

    fetcher = data_only_fetcher()
    with pytest.raises(FatalURLFetchingError) as err:
        fetcher(url)
    assert "fetches only data: URIs" in str(err.value)
    assert no_network == []


def test_fetcher_serves_data_uris_without_urllib(no_network):
    fetcher = data_only_fetcher()
    response = fetcher("data:text/plain;base64,aGVsbG8=")
    assert response.read() == b"hello" and response.content_type == "text/plain"
    assert fetcher("data:,a%20b").read() == b"a b"
    assert fetcher("data:image/svg+xml;charset=utf-8,%3Csvg%2F%3E").read() == b"<svg/>"
    assert no_network == []


def test_the_pdf_draws_its_charts_without_urllib(no_network, tmp_path):
    (path,) = write_pdf(make_result(n_variants=1), tmp_path)
    assert path.read_bytes().startswith(b"%PDF-")
    assert no_network == []


def test_a_template_that_asks_for_a_file_stops_the_pdf(no_network):
    with pytest.raises(UsageError) as err:
        render_pdf(make_result(), templates=FIXTURES / "templates_fetch")
    msg = str(err.value)
    assert "refused 'file:///etc/hostname'" in msg and "data: URI" in msg
    assert no_network == []


# --- user templates and CSS fetch nothing ---------------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/x", "file:///etc/passwd"])
@pytest.mark.parametrize("where", ["css", "img"])
def test_an_override_that_asks_for_a_url_stops_the_pdf(url, where, no_network, tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    if where == "css":
        (folder / "report.css").write_text(
            (Path(__file__).parents[3] / "fairsel/report/templates/report.css")
            .read_text(encoding="utf-8") + f"\nbody {{ background: url({url}); }}\n",
            encoding="utf-8")
    else:
        (folder / "_cover.html.j2").write_text(
            f'<section class="cover" id="cover"><img src="{url}" alt="x"></section>\n',
            encoding="utf-8")
    with pytest.raises(UsageError) as err:
        render_pdf(make_result(n_variants=1), templates=folder)
    msg = str(err.value)
    assert f"refused '{url}'" in msg and "data: URI" in msg
    assert "root:" not in msg
    assert no_network == []


# --- reproducible with or without HarfBuzz-Subset -------------------------------------------


def test_the_pdf_is_byte_identical_when_fonts_are_subset_by_fonttools(monkeypatch):
    """Without HarfBuzz's subsetting library WeasyPrint subsets with fontTools, which stamps
    each font with the clock: two renders must still be equal, and nothing is logged."""
    import time

    import weasyprint.pdf.fonts as fonts

    monkeypatch.setattr(fonts, "harfbuzz_subset", None)  # force the fontTools fallback
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    result = make_result(n_variants=1)
    with weasyprint_warnings() as records:
        first = render_pdf(result)
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + 86_400 * 400)  # a later clock
        second = render_pdf(result)
    assert first == second
    assert not records, [r.getMessage() for r in records][:3]
    assert "SOURCE_DATE_EPOCH" not in __import__("os").environ  # restored


def test_importing_weasyprint_through_fairsel_raises_no_harfbuzz_warning(tmp_path):
    import subprocess
    import sys

    code = ("from fairsel.report.pdf import render_pdf\n"
            "from tests.unit.report.factory import make_result\n"
            "assert render_pdf(make_result(n_variants=1)).startswith(b'%PDF-')\n")
    proc = subprocess.run([sys.executable, "-W", "error:HarfBuzz-Subset:DeprecationWarning",
                           "-c", code], cwd=Path(__file__).parents[3], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


# --- speed (issue 12): SVG text line by line, lean font subsetting, both only while rendering


def _svg_text_calls(svg_body: str, *, fast: bool, monkeypatch) -> list[str]:
    """The strings WeasyPrint lays out while drawing an SVG image made of ``svg_body``."""
    import base64
    from datetime import datetime, timezone

    from fairsel.report.pdf import _import_weasyprint, reproducible

    _import_weasyprint()
    import weasyprint.text.line_break as lb
    from weasyprint import HTML

    seen: list[str] = []
    real = lb.split_first_line

    def spy(text, *args, **kwargs):
        seen.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(lb, "split_first_line", spy)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40">{svg_body}</svg>')
    uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    html = f'<p><img src="{uri}"></p>'
    if fast:
        with reproducible(datetime(2026, 1, 1, tzinfo=timezone.utc)):
            HTML(string=html).render().write_pdf()
    else:
        HTML(string=html).render().write_pdf()
    return seen


def test_simple_svg_text_is_laid_out_once_not_letter_by_letter(monkeypatch):
    body = '<text x="10" y="20" style="font-size: 9px">rate by group</text>'
    slow = _svg_text_calls(body, fast=False, monkeypatch=monkeypatch)
    fast = _svg_text_calls(body, fast=True, monkeypatch=monkeypatch)
    assert slow.count("r") >= 2 and "rate by group" in slow  # WeasyPrint's own: per letter
    assert fast == ["rate by group"]
    # a <text> with per-letter positions is still WeasyPrint's own code
    dx = _svg_text_calls('<text x="10" y="20" dx="1 2 3">abc</text>', fast=True,
                         monkeypatch=monkeypatch)
    assert dx.count("a") == 1 and dx.count("b") == 1


def test_speed_patches_are_undone_after_rendering():
    from fairsel.report.pdf import _import_weasyprint

    _import_weasyprint()
    import weasyprint.svg as svg_module
    from weasyprint.pdf.fonts import Font

    before = (svg_module.TAGS["text"], svg_module.text, Font.__dict__["_fonttools_subset"])
    assert render_pdf(make_result(n_variants=1)).startswith(b"%PDF-")
    after = (svg_module.TAGS["text"], svg_module.text, Font.__dict__["_fonttools_subset"])
    assert after == before


def test_fonts_subset_by_fonttools_carry_no_layout_tables_and_text_still_reads(monkeypatch):
    from fontTools.ttLib import TTFont

    import weasyprint.pdf.fonts as fonts

    monkeypatch.setattr(fonts, "harfbuzz_subset", None)  # the fontTools path
    pdf = render_pdf(make_result(n_variants=1))
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    embedded = []
    for page in reader.pages[:3]:
        for font in (page["/Resources"].get("/Font") or {}).values():
            font = font.get_object()
            for desc in font.get("/DescendantFonts", []):
                stream = desc.get_object()["/FontDescriptor"].get_object().get("/FontFile2")
                if stream is not None:
                    embedded.append(TTFont(io.BytesIO(stream.get_object().get_data())))
    assert embedded, "no embedded TrueType font found"
    for f in embedded:
        assert "GSUB" not in f and "GPOS" not in f and "glyf" in f
    text = squash(" ".join(p.extract_text() or "" for p in reader.pages))
    assert "Executive summary" in text or SECTIONS[0][1] in text


@pytest.mark.skipif(not Path("/sbin/ldconfig").exists(), reason="needs glibc's ldconfig")
def test_weasyprint_finds_its_libraries_with_one_process():
    """cffi asked ctypes.util.find_library about every library name WeasyPrint tries, which
    ran ldconfig, gcc and ld each time (68 processes); now one ldconfig read answers."""
    import subprocess
    import sys

    code = ("import subprocess\n"
            "n = [0]\n"
            "real = subprocess.Popen.__init__\n"
            "def count(self, *a, **k):\n"
            "    n[0] += 1\n"
            "    return real(self, *a, **k)\n"
            "subprocess.Popen.__init__ = count\n"
            "import ctypes.util\n"
            "before = ctypes.util.find_library\n"
            "from fairsel.report.pdf import _import_weasyprint\n"
            "_import_weasyprint()\n"
            "import weasyprint.text.ffi as ffi\n"
            "assert ffi.pango is not None and ffi.gobject is not None\n"
            "assert ctypes.util.find_library is before\n"
            "print(n[0])\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[3],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.split()[-1]) <= 1


def test_one_ldconfig_answers_as_ctypes_does():
    import ctypes.util

    from fairsel.report.pdf import _one_ldconfig

    original = ctypes.util.find_library
    names = ["c", "m", "gobject-2.0", "no-such-library-fairsel"]
    expected = [original(n) for n in names]
    with _one_ldconfig():
        got = [ctypes.util.find_library(n) for n in names]
    assert ctypes.util.find_library is original
    assert got[-1] is None and expected[-1] is None
    assert got[:-1] == expected[:-1]


def test_speed_patches_stay_off_on_a_weasyprint_they_were_not_written_for(monkeypatch):
    """The speed-ups replace private WeasyPrint functions: on another release WeasyPrint's own
    code must run, and the PDF must still be written."""
    from fairsel.report import pdf as pdf_module

    pdf_module._import_weasyprint()
    import weasyprint
    import weasyprint.svg as svg_module
    from weasyprint.pdf.fonts import Font

    monkeypatch.setattr(weasyprint, "__version__", "99.0")
    seen = []
    with pdf_module._whole_line_text(), pdf_module._lean_font_subsetting():
        seen.append((svg_module.TAGS["text"], Font.__dict__["_fonttools_subset"]))
    assert seen[0][0] is svg_module.TAGS["text"] and seen[0][0].__module__ == "weasyprint.svg.text"
    assert seen[0][1] is not pdf_module._lean_fonttools_subset
    assert render_pdf(make_result(n_variants=1)).startswith(b"%PDF-")


# --- speed (issue 12): no style for pseudo-elements a report never has


def _pseudo_styles(html: str, monkeypatch, *, shipped: bool = True) -> tuple[bytes, int]:
    """(the PDF of ``html`` as fairsel renders it, how many pseudo-element styles WeasyPrint
    computed on the way)."""
    from datetime import datetime, timezone

    from fairsel.report import pdf as pdf_module

    pdf_module._import_weasyprint()
    from weasyprint.css import StyleFor

    computed = []
    real = StyleFor.set_computed_styles

    def count(self, element, pseudo_type=None, **kwargs):
        if pseudo_type and not str(pseudo_type).startswith("@"):
            computed.append(pseudo_type)
        return real(self, element, pseudo_type=pseudo_type, **kwargs)

    monkeypatch.setattr(StyleFor, "set_computed_styles", count)
    with pdf_module.reproducible(datetime(2026, 1, 1, tzinfo=timezone.utc)):
        pdf = pdf_module._document(html, shipped=shipped).render().write_pdf()
    monkeypatch.setattr(StyleFor, "set_computed_styles", real)
    return pdf, len(computed)


def test_the_report_computes_no_style_for_pseudo_elements_it_never_has(monkeypatch):
    """WeasyPrint's user-agent sheet gives every element a ::marker and five ::footnote-* /
    ::note-* styles; a report from the shipped templates has list items only as <li>, and no
    footnote or note: the lean sheet computes a handful, and the PDF is the same bytes as with
    the whole sheet. (Every shipped example's styles: test_pdf_layout's
    test_the_lean_user_agent_sheet_gives_every_example_the_same_styles.)"""
    from fairsel.report.html import render_html
    from tests.unit.report.test_pdf_layout import golden_result

    html = render_html(golden_result("recidivism"), target="pdf")
    assert "<li" in html  # the shipped report has list items: their markers must survive
    lean, lean_count = _pseudo_styles(html, monkeypatch)
    full, full_count = _pseudo_styles(html, monkeypatch, shipped=False)
    assert lean == full
    elements = len(re.findall(r"<[a-zA-Z]", re.sub(r"<svg.*?</svg>", "", html, flags=re.S)))
    assert full_count >= 6 * elements > 20 * lean_count, (full_count, elements, lean_count)


@pytest.mark.parametrize("body", [
    # written out in a shipped template, the safety net takes the whole sheet: a list item that
    # is not an <li> keeps its marker's case and spaces (text-transform: none; white-space: pre)
    '<div style="display: list-item; list-style: \'note  a: \' inside; '
    'text-transform: uppercase">ways</div>',
    # a footnote: its call and marker are styled by the user agent
    '<p>Text<span style="float: footnote">A footnote.</span> goes on.</p>',
    # an ordered list, with the lean sheet: it keeps li::marker (markers "a.", not "A.")
    '<ol style="list-style-type: lower-alpha; text-transform: uppercase"><li>one</li>'
    '<li>two</li></ol>',
])
def test_list_items_and_footnotes_keep_every_pseudo_element_style(body, monkeypatch):
    html = f"<html><body>{body}</body></html>"
    lean, _ = _pseudo_styles(html, monkeypatch)
    full, _ = _pseudo_styles(html, monkeypatch, shipped=False)
    assert lean == full


def _user_css(tmp_path, extra: str) -> Path:
    folder = tmp_path / "t"
    folder.mkdir(parents=True)
    (folder / "report.css").write_text(
        (Path(__file__).parents[3] / "fairsel/report/templates/report.css")
        .read_text(encoding="utf-8") + "\n" + extra + "\n", encoding="utf-8")
    return folder


def test_a_users_templates_get_the_whole_user_agent_sheet(tmp_path):
    """CSS makes a footnote or a list item in ways no look at the text finds (an escape here);
    without the user agent's pseudo-element styles WeasyPrint failed on the footnote (an
    internal error, exit 70) and drew the list item's marker in the element's case."""
    result = make_result(n_variants=1)
    footnote = _user_css(tmp_path, r"code { float: foot\6eote }")
    assert render_pdf(result, templates=footnote).startswith(b"%PDF-")
    marker = _user_css(tmp_path / "m", r"h1 { display: list\-item; list-style: lower-roman "
                       "inside; text-transform: uppercase }")
    reader = pypdf.PdfReader(io.BytesIO(render_pdf(result, templates=marker)))
    first = squash(reader.pages[0].extract_text())
    assert re.search(r"\bi\. ?[A-Z]", first), first[:120]  # the marker is "i.", not "I."


def test_the_lean_user_agent_sheet_differs_only_in_the_pseudo_element_rules():
    """Read with tinycss2 (not the substitution that made it): every rule of WeasyPrint's sheet
    is in the lean one but the five ::footnote-*/::note-* rules, and ::marker as li::marker
    with the same declarations."""
    import tinycss2

    from fairsel.report import pdf as pdf_module

    pdf_module._import_weasyprint()
    from weasyprint.html import UA

    def rules(text: str) -> list[tuple[str, str]]:
        return [(tinycss2.serialize(r.prelude).strip(), tinycss2.serialize(r.content).strip())
                for r in tinycss2.parse_stylesheet(text, skip_comments=True,
                                                   skip_whitespace=True)
                if r.type in ("qualified-rule", "at-rule")]

    full, lean = rules(UA), rules(pdf_module._lean_ua_text())
    dropped = {"::footnote-call", "::footnote-marker", "::note-call", "::note-marker",
               "::note-callback"}
    expected = [("li::marker", body) if prelude == "::marker" else (prelude, body)
                for prelude, body in full if prelude not in dropped]
    assert lean == expected
    assert len(full) - len(lean) == 5 and ("::marker", dict(full)["::marker"]) in full
    assert pdf_module._lean_ua_sheet() is not None


def test_another_weasyprint_or_a_users_html_gets_its_own_user_agent_sheet(monkeypatch):
    from fairsel.report import pdf as pdf_module

    pdf_module._import_weasyprint()
    import weasyprint
    from weasyprint.html import UA_STYLESHEET

    def first_sheet(html: str, shipped: bool = True):
        return pdf_module._document(html, shipped=shipped)._ua_stylesheets()[0]

    assert first_sheet("<p>x</p>") is pdf_module._lean_ua_sheet()
    assert first_sheet("<p>x</p>", shipped=False) is UA_STYLESHEET
    assert first_sheet('<p style="float: footnote">x</p>') is UA_STYLESHEET
    monkeypatch.setattr(weasyprint, "__version__", "99.0")
    assert first_sheet("<p>x</p>") is UA_STYLESHEET
