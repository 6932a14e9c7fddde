"""The PDF's pages, read back from WeasyPrint's laid-out document (issue 12, "Speed" and
layout): no heading ends a page without what it heads, no split table leaves a single row on
a page, and the exhaustive per-fold tables are dense (one text cell per row) in the PDF while
report.html keeps a cell per figure.

The shipped examples' golden results (tests/e2e/golden), with their volatile fields filled in,
are laid out as ``fairsel render --format pdf`` lays them out."""

from __future__ import annotations

import copy
import functools
import gc
import json
import re
from pathlib import Path

import pytest

from fairsel.report.html import render_html
from fairsel.report.pdf import _document, _import_weasyprint, data_only_fetcher
from fairsel.report.tables import dense, dense_width, dense_widths
from fairsel.results import AuditResult
from tests.unit.report.pagecheck import cell_lines, lone_rows, stranded_headings

GOLDEN = Path(__file__).resolve().parents[2] / "e2e" / "golden"
WHEN = "2026-01-01T00:00:00+00:00"


def golden_result(name: str) -> AuditResult:
    """The golden results.json of a shipped example, its volatile fields filled in."""
    raw = copy.deepcopy(json.loads((GOLDEN / f"{name}.json").read_text("utf-8"))["results"])
    raw["data"]["path"] = f"data_samples/{name}.csv"
    raw["provenance"].update(started=WHEN, finished=WHEN, duration_seconds=1.0, timings={},
                             policy_path=f"policies/{name}.yaml", python="3.11",
                             platform="linux", packages={})
    return AuditResult.model_validate(raw)


def laid_out(result: AuditResult):
    return _laid_out(render_html(result, target="pdf"))


@functools.cache
def golden_html(name: str, target: str = "html") -> str:
    """``render_html(golden_result(name), target=target)``, rendered once per test process.

    For the tests that read the words and markup of an unchanged golden report (many modules
    read the same six): the HTML is a pure function of the result
    (test_report_html.test_rendering_twice_gives_identical_html), and a string cannot be changed
    by the test that reads it. Tests of rendering itself call render_html."""
    return render_html(golden_result(name), target=target)


@functools.cache
def golden_laid_out(name: str):
    """``laid_out(golden_result(name))``, laid out once per test process (the tests only read
    WeasyPrint's boxes)."""
    return _laid_out(golden_html(name, "pdf"))


def _laid_out(html: str, *, shipped: bool = True):
    """(html, WeasyPrint's document) laid out as render_pdf lays it out: with the lean
    user-agent sheet (pdf._document) for the shipped templates' HTML, else WeasyPrint's own."""
    _import_weasyprint()
    was_on = gc.isenabled()
    gc.disable()
    try:
        return html, _document(html, shipped=shipped, base_url=None,
                               url_fetcher=data_only_fetcher(), media_type="print").render()
    finally:
        if was_on:
            gc.enable()


@pytest.fixture(scope="module", params=["lending", "mitigation", "branches", "champion", "hiring",
                                        "recidivism"])
def example(request):
    html, document = golden_laid_out(request.param)
    return request.param, golden_result(request.param), html, document


def test_the_lean_user_agent_sheet_gives_every_example_the_same_styles(example):
    """fairsel renders a report from its own templates without the user-agent rules for
    pseudo-elements such a report never has (pdf._document). On every shipped example, with
    WeasyPrint's whole sheet: no element needs them (a list item that is not an <li>, a
    footnote, a note), and every <li> and its marker have the same computed style, property by
    property (the rules dropped are pseudo-element rules: no element's own style can change)
    — so the pages are the same."""
    from weasyprint.css import get_all_computed_styles
    from weasyprint.css.properties import INITIAL_VALUES

    name, result, html, document = example
    docs = [_document(html, shipped=shipped, base_url=None, url_fetcher=data_only_fetcher(),
                      media_type="print") for shipped in (True, False)]
    lean, full = (get_all_computed_styles(d) for d in docs)
    pairs = list(zip(docs[0].wrapper_element.iter_subtree(),
                     docs[1].wrapper_element.iter_subtree(), strict=True))
    assert len(pairs) > 500
    markers = 0
    for a, b in pairs:
        style, whole = lean(a.etree_element), full(b.etree_element)
        if whole is None:
            assert style is None
            continue
        tag = b.etree_element.tag
        assert "list-item" not in whole["display"] or tag == "li", (name, tag)
        assert whole["float"] != "footnote" and whole["position"] != ("note()",), (name, tag)
        if tag == "li":
            assert {k: style[k] for k in INITIAL_VALUES} == {k: whole[k] for k in
                                                             INITIAL_VALUES}, name
            mark, whole_mark = lean(a.etree_element, "marker"), full(b.etree_element, "marker")
            assert {k: mark[k] for k in INITIAL_VALUES} == {k: whole_mark[k] for k in
                                                            INITIAL_VALUES}, name
            markers += 1
    assert markers >= 20, (name, markers)


def test_no_heading_ends_a_page_without_what_it_heads(example):
    name, _, _, document = example
    assert stranded_headings(document) == [], name


def test_no_split_table_leaves_a_single_row_on_a_page(example):
    name, _, _, document = example
    assert lone_rows(document) == [], name


def test_per_fold_tables_are_dense_in_the_pdf_and_full_in_the_html(example):
    name, result, pdf_html, _ = example
    html = golden_html(name)
    for cls in ("folds",) + (("fitted-groups", "fitted-settings") if name == "mitigation"
                             else ()):
        pdf_tables = re.findall(rf'<table class="[^"]*\b{cls}\b[^"]*">.*?</table>', pdf_html,
                                flags=re.S)
        html_tables = re.findall(rf'<table class="[^"]*\b{cls}\b[^"]*">.*?</table>', html,
                                 flags=re.S)
        assert pdf_tables and len(pdf_tables) == len(html_tables), cls
        for p, h in zip(pdf_tables, html_tables):
            assert "dense-table" in p and "dense-table" not in h
            assert p.count("<td") * 2 < h.count("<td"), cls  # far fewer cells
    # every figure of the appendix's full table is still in the PDF's dense one
    full = re.search(r'<table class="grid folds">.*?</table>', html, flags=re.S).group(0)
    dense_table = re.search(r'<table class="grid folds dense-table">.*?</table>', pdf_html,
                            flags=re.S).group(0)
    figures = re.findall(r'<td class="num">([^<]+)</td>', full)
    words = re.split(r"[ \n]+", re.sub(r"<[^>]+>", " ", dense_table))  # "<\xa00.1" stays whole
    assert figures and all(f in words for f in figures)
    assert "report.html (this appendix) and in results.json" in pdf_html


def test_spread_table_is_dense_and_keeps_each_fold_with_its_mark():
    result = golden_result("lending")
    pdf_html = golden_html("lending", "pdf")
    spreads = re.findall(r'<div class="spread">.*?</table>', pdf_html, flags=re.S)
    assert len(spreads) == len(result.variants)
    for v, block in zip(sorted(result.variants, key=lambda v: v.rank or 99), spreads):
        assert "dense-table" in block and block.count("<tr>") - 1 <= len(
            v.fairness) + 3  # one row per attribute
        assert len(re.findall(r'<td class="dense">', block)) % 2 == 0


def test_dense_cells_align_and_carry_marks():
    assert dense(["0.5", "0.25", "—"], 5) == "  0.5   0.25      —"
    assert dense(["1", "22"], [3, 4]) == "  1    22"
    assert dense(["0.1", "0.2"], 4, marks=[True, False]) == " 0.1*   0.2 "
    fitted = [{"text": "0.41", "mark": "†"}, {"text": "none", "mark": ""}]
    assert dense(fitted, 6) == "0.41 †    none"
    assert dense_width([["a", "bbb"], [fitted[0]]]) == 6
    assert dense_widths([["Fold", "n"], ["1", "1,238"]]) == [4, 5]


def test_text_of_the_pdf_only_tables_is_escaped():
    from tests.unit.report.factory import IMG, make_result

    pdf_html = render_html(make_result(n_variants=2, inject=True), target="pdf")
    blocks = re.findall(r'<table class="grid compact dense-table">.*?</table>', pdf_html,
                        flags=re.S)  # the per-fold spreads: a row per attribute
    blocks += re.findall(r'<table class="grid compact gate-lines">.*?</table>', pdf_html,
                         flags=re.S)
    assert blocks and any("&lt;img src=x" in b for b in blocks)
    assert all(IMG not in b for b in blocks)


def test_gates_of_each_variant_are_one_cell_per_gate_in_the_pdf_with_every_figure():
    from fairsel.report.fmt import num

    result = golden_result("mitigation")
    pdf_html = golden_html("mitigation", "pdf")
    tables = re.findall(r'<table class="grid compact gate-lines">.*?</table>', pdf_html,
                        flags=re.S)
    assert len(tables) == len(result.variants)
    rows = [r for t in tables for r in re.findall(r"<tbody>.*?</tbody>", t, flags=re.S)[0]
            .split("</tr>") if "<td" in r]
    assert len(rows) == len(result.gates)  # a row per gate of every variant
    assert all(r.count("<td") == 1 for r in rows)  # one cell each
    text = " ".join(re.sub(r"<[^>]+>", " ", " ".join(rows)).split())
    for g in result.gates:
        assert f"{g.status} · " in text and num(g.observed) in text
    # the comparisons' gate rows: one cell each, base and variant status in words
    compare = re.findall(r'<table class="grid compare">.*?</table>', pdf_html, flags=re.S)
    gate_rows = [r for t in compare
                 for r in re.findall(r'<tr><td colspan="5" class="wrap">G\d.*?</tr>', t,
                                     flags=re.S)]
    assert gate_rows and all(r.count("<td") == 1 and "→ variant" in r for r in gate_rows)


# The per-group rates tables, the statuses, the dense tables' rules and the running line
# (fifth round: the PDF only; report.html keeps its full tables).

def _tables(html: str, cls: str) -> list[str]:
    return re.findall(rf'<table class="[^"]*\b{cls}\b[^"]*">.*?</table>', html, flags=re.S)


def _text(fragment: str) -> str:
    import html as html_lib

    return html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment))


def test_group_rates_are_dense_in_the_pdf_with_every_figure_and_mark(example):
    name, result, pdf_html, _ = example
    html = golden_html(name)
    pdf_tables, html_tables = _tables(pdf_html, "rates"), _tables(html, "rates")
    assert pdf_tables and len(pdf_tables) == len(html_tables), name
    seen_few = False
    for p, h in zip(pdf_tables, html_tables):
        assert "dense-table" in p and "dense-table" not in h
        assert p.count("<tr") == h.count("<tr")  # a row per group, as in report.html
        assert p.count("<td") * 3 <= h.count("<td")  # two cells a row instead of six
        head = _text(re.search(r"<thead>.*?</thead>", p, flags=re.S).group(0)).split()
        for word in ("Group", "n", "TP/FP/TN/FN", "Selection", "TPR", "FPR", "[interval]"):
            assert word in head, (name, word)
        for prow, hrow in zip(re.findall(r"<tr[ >].*?</tr>", p.split("<tbody>")[1], flags=re.S),
                              re.findall(r"<tr[ >].*?</tr>", h.split("<tbody>")[1], flags=re.S)):
            cells = re.findall(r"<td[^>]*>(.*?)</td>", hrow, flags=re.S)
            dense_line = _text(re.search(r'<td class="dense[^"]*">(.*?)</td>', prow,
                                         flags=re.S).group(1))
            assert _text(cells[0]).split() == _text(prow.split("</td>")[0]).split()  # † (ref.)
            assert _text(cells[1]).strip() in dense_line.split()  # n
            assert _text(cells[2]).replace(" / ", "/").strip() in dense_line.split()  # counts
            for rate in cells[3:]:
                figures = _text(rate).split()  # value, [low, high], and ‡ with its fraction
                assert " ".join(figures) in " ".join(dense_line.split()), (name, figures)
                seen_few |= "‡" in figures
            assert ('class="small-group"' in prow) == ('class="small-group"' in hrow)
    assert seen_few, name  # the examples have rates on few people: their mark is kept


def test_dense_rates_keep_columns_aligned_and_fit_the_page():
    from fairsel.report.tables import DENSE_RATE_SIZES, RATE_HEADS, dense_rates

    def rate(value, ci, fraction=""):
        return {"value": value, "ci": ci, "small": bool(fraction), "fraction": fraction}

    groups = [
        {"n": "2,260", "counts": "792 / 613 / 626 / 229", "sel": rate("0.622", "[0.536, 0.7003]"),
         "tpr": rate("0.776", "[0.652, 0.864]"), "fpr": rate("0.495", "[0.413, 0.576]")},
        {"n": "51", "counts": "15 / 11 / 18 / 7", "sel": rate("0.510", "[0.351, 0.666]"),
         "tpr": rate("0.682", "[0.439, 0.854]", "15/22"), "fpr": rate("—", "")},
    ]
    d = dense_rates(groups)
    lines = [d["head"], *d["lines"]]
    assert len(d["lines"]) == 2
    # each rate column ends at the same character on every line (right-aligned), and the
    # few-people mark sits in its own slot after the interval
    for token in ("0.7003]", "0.864]", "0.576]"):
        ends = {ln.index(token) + len(token) for ln in lines if token in ln}
        assert len(ends) == 1
    assert d["lines"][0].index("0.864]") == d["lines"][1].index("0.854]")
    assert d["lines"][1].split("0.854]")[1].startswith(" ‡ 15/22")
    assert d["lines"][0].rstrip().endswith("0.576]") and d["lines"][1].rstrip().endswith("—")
    assert d["lines"][0].index("0.576]") == d["lines"][1].index("—") - len("0.576]") + 1
    assert "792/613/626/229" in d["lines"][0] and "15/11/18/7" in d["lines"][1]
    # headers: right-aligned over figures alone, starting with the figures over a mark slot
    assert d["head"].index("n") + 1 == d["lines"][0].index("2,260") + len("2,260")
    assert d["head"].index("TPR [interval]") == d["lines"][0].index("0.776")
    assert d["head"].index("FPR [interval]") + len("FPR [interval]") == (
        d["lines"][0].index("0.576]") + len("0.576]"))
    for h in RATE_HEADS:
        assert h in d["head"]
    # the font size is the largest whose line fits the cell
    assert d["size"] == next(c for n, c in DENSE_RATE_SIZES if max(map(len, lines)) <= n)
    long_name = [dict(groups[1], n="12,345,678", counts="1,234,567 / 2,345,678 / 3,456,789 / "
                      "4,567,890")]
    wide = dense_rates(long_name)
    assert max(map(len, [wide["head"], *wide["lines"]])) > DENSE_RATE_SIZES[0][0]
    assert wide["size"] != DENSE_RATE_SIZES[0][1]


def test_group_names_in_the_dense_rates_table_are_escaped():
    from tests.unit.report.factory import SCRIPT, make_result

    pdf_html = render_html(make_result(n_variants=2, inject=True), target="pdf")
    blocks = _tables(pdf_html, "rates")  # the injected attribute's groups include SCRIPT
    assert blocks and all("dense-table" in b for b in blocks)
    assert any("&lt;script&gt;alert(1)&lt;/script&gt;" in b for b in blocks)
    assert all(SCRIPT not in b for b in blocks)


def _classes(box) -> list[str]:
    el = getattr(box, "element", None)
    return (el.get("class") or "").split() if el is not None else []


def test_statuses_are_text_and_dense_rows_have_no_rules_in_the_pdf(example):
    name, _, _, document = example
    statuses, dense_cells, other_cells = [], [], []

    def walk(box, in_dense: bool) -> None:
        cls = _classes(box)
        if getattr(box, "element_tag", None) == "table":
            in_dense = "dense-table" in cls
        if "status" in cls:
            statuses.append(box)
        elif getattr(box, "element_tag", None) == "td":
            (dense_cells if in_dense else other_cells).append(box)
        for child in getattr(box, "children", None) or []:
            walk(child, in_dense)

    for page in document.pages:
        walk(page._page_box, False)
    assert statuses, name
    for b in statuses:  # a symbol and a bold word, no box: ✓ PASS, ✗ FAIL
        assert b.style["display"] == ("inline", "flow")
        assert b.style["border_top_width"] == 0 and b.style["border_left_width"] == 0
        assert b.style["background_color"].alpha == 0
        assert b.style["font_weight"] == 700
    assert dense_cells and all(b.style["border_bottom_width"] == 0 for b in dense_cells)
    # the other tables keep their row rules
    assert any(b.style["border_bottom_width"] > 0 for b in other_cells)


def test_one_running_line_at_the_foot_of_each_page(example):
    from weasyprint.formatting_structure import boxes

    name, _, pdf_html, document = example
    title = _text(re.search(r"<title>(.*?)</title>", pdf_html).group(1)).strip()
    n = len(document.pages)
    for number, page in enumerate(document.pages, start=1):
        margins = [b for b in page._page_box.children if isinstance(b, boxes.MarginBox)]
        lines = [(b.at_keyword, "".join(t.text for t in _boxes_text(b))) for b in margins]
        lines = [(at, t) for at, t in lines if t.strip()]
        assert [at for at, _ in lines] == ["@bottom-center"], (name, number)
        texts = [t for _, t in lines]
        assert f"Page {number} of {n}" in texts[0]
        if number > 1:
            assert "Report FS-" in texts[0] and title in texts[0], (name, number)
        else:
            assert "Report" not in texts[0]  # the cover carries only its page number


def _boxes_text(box):
    from weasyprint.formatting_structure import boxes

    if isinstance(box, boxes.TextBox):
        yield box
    for child in getattr(box, "children", None) or []:
        yield from _boxes_text(child)


def _rate_cells(document) -> list:
    """The laid-out dense cells of the per-group rates tables (their head and rows)."""
    found: list = []

    def walk(box, in_rates: bool) -> None:
        cls = _classes(box)
        if getattr(box, "element_tag", None) == "table":
            in_rates = "rates" in cls and "dense-table" in cls
        if in_rates and getattr(box, "element_tag", None) in ("td", "th") and (
                "dense" in cls or "dense-head" in cls):
            found.append(box)
            return
        for child in getattr(box, "children", None) or []:
            walk(child, in_rates)

    for page in document.pages:
        walk(page._page_box, False)
    return found


def _line_count(box) -> int:
    from weasyprint.formatting_structure import boxes

    if isinstance(box, boxes.LineBox):
        return 1
    return sum(_line_count(c) for c in getattr(box, "children", None) or [])


def test_each_group_is_one_line_of_the_dense_rates_table(example):
    name, _, _, document = example
    cells = _rate_cells(document)
    assert cells, name
    # a row's figures never wrap (the font size fits the longest line); the header cell has
    # its column names on one line
    assert all(_line_count(c) == 1 for c in cells), name


def test_the_widest_rates_table_of_the_examples_fits_without_wrapping():
    # recidivism's intersection table has the longest lines of the shipped examples (114
    # characters: four-digit counts, a four-decimal interval end and ‡ fractions)
    from fairsel.report.tables import dense_rates

    result = golden_result("recidivism")
    _, document = golden_laid_out("recidivism")
    cells = _rate_cells(document)
    assert cells and all(_line_count(c) == 1 for c in cells)
    from fairsel.report.context import build_context

    ctx = build_context(result, with_charts=False)
    longest = max(len(line) for c in ctx["candidates"] for a in c["attributes"]
                  for d in [dense_rates(a["groups"])] for line in [d["head"], *d["lines"]])
    assert longest > 112  # the case that needs the smallest size


def test_the_tradeoff_tables_variant_names_fit_on_three_lines(example):
    """Mitigation p.51 (review7): the trade-off table's Variant column was the remainder of
    fixed widths, about 7 % of the page, so 'logreg+threshold[demographic_parity]' stood on 8
    lines broken mid-word ('thresh / old', 'demo / graphic'). A name fits on at most three
    lines."""
    name, _, _, document = example
    rows = cell_lines(document, "tradeoff-table", 1)
    assert rows, name
    for text, lines in rows:
        assert lines <= 3, (name, text, lines)


def test_the_cover_is_one_page(example):
    """Mitigation's cover ran three lines and its report id onto page 2, which was otherwise
    empty (review7): the cover, down to its report id, is page 1."""
    from tests.unit.report.pagecheck import _content

    name, _, _, document = example
    pages = [n for n, page in enumerate(document.pages, start=1)
             for b, _ in _content(page)
             if "cover-facts" in ((getattr(b, "element", None) is not None
                                   and b.element.get("class")) or "").split()]
    assert pages and set(pages) == {1}, (name, pages)


def test_no_table_runs_past_the_text_block(example):
    """Lending p.14, mitigation p.49 (review8): the per-fold spread tables ran 53 px past the
    right margin (their width classes add up to 100 %, the cells' padding came on top), the
    dense group tables 13-24 px."""
    from tests.unit.report.pagecheck import overflowing_tables

    name, _, _, document = example
    assert overflowing_tables(document) == [], name


def test_a_variants_group_charts_stay_on_one_page_when_they_fit(example):
    """Branches pp.11-12 and champion pp.11-12 (review8): the sex × race panel of 'rates by
    group' went to the next page, away from the chart legend and caption. The block is split
    only when it is taller than a page."""
    from tests.unit.report.pagecheck import split_blocks

    name, _, _, document = example
    for pages, height, room in split_blocks(document, "group-charts"):
        assert height > room, (name, pages, height, room)


def test_a_section_of_a_sentence_or_two_does_not_take_a_page_of_its_own(example):
    """Recidivism's "Why the model decides as it does" (nothing to explain: two sentences)
    took page 14 alone (the rest of the page blank): the section follows the one before."""
    from tests.unit.report.pagecheck import _leaves

    name, result, _, document = example
    explain = result.analysis.explanations
    first_leaf_pages = []
    for number, page in enumerate(document.pages, start=1):
        leaves = _leaves(page)
        if leaves and leaves[0][1] is not None and leaves[0][1].get("id") is None:
            first_leaf_pages.append((number, " ".join("".join(leaves[0][1].itertext()).split())))
    opens_a_page = [n for n, text in first_leaf_pages if text == "Why the model decides as it does"]
    if explain is not None and not explain.explained:
        assert opens_a_page == [], (name, opens_a_page)


def test_each_slice_is_one_line_of_figures(example):
    """Recidivism p.16 (review10): the selection-rate slices' lines ("(170/1,048)",
    "[−0.467, −0.416]") were too long for their cell and wrapped, "< 0.0001" alone on a
    second line under the rows."""
    from tests.unit.report.pagecheck import cell_lines

    name, _, _, document = example
    cells = cell_lines(document, "slice-lines", 1)
    assert [c for c in cells if c[1] != 1] == [], name


def test_no_table_cell_runs_past_its_column(example):
    """Review10/11: "Significant" ran past lending's right margin, "Unfavorable" into "Main
    reasons", the method's "performance" into "higher is"."""
    from tests.unit.report.pagecheck import overflowing_cell_text

    name, _, _, document = example
    assert overflowing_cell_text(document) == [], name


def test_a_report_of_20_variants_and_50_groups_stays_under_100_pages_and_splits_well():
    """The audit-report issue's bound (benchmarks/bench_report.py: fewer than 100 pages for 20
    variants and 50 groups). Gate tables of 20 rows kept whole left most of a page empty and
    took it to 101 pages: a long gate table may break between its first and its last rows,
    never after its caption alone, and never leaving one row on a page."""
    from tests.unit.report.factory import many_groups

    result = many_groups(20)
    html, document = laid_out(result)
    assert len(document.pages) < 100
    assert stranded_headings(document) == []
    assert lone_rows(document) == []
    gates = html[html.index('<section id="gates"'):]
    gates = gates[:gates.index("</section>")]
    assert gates.count('<tbody class="together">') == 2 * gates.count("<caption>")
    # a gate table that breaks: its caption with at least its first 3 rows, at least 2 rows
    # after the break
    pieces = _gate_table_pieces(document)
    split = [p for p in pieces.values() if len(p) > 1]
    assert split, "no gate table broke across pages: the check saw nothing"
    for parts in split:
        (_, caption, first_rows), (_, _, last_rows) = parts[0], parts[-1]
        assert caption and first_rows >= 3 and last_rows >= 2, parts
    assert all(p[0][1] for p in pieces.values())  # every caption is with its table


def _gate_table_pieces(document) -> dict[int, list[tuple[int, bool, int]]]:
    """Each gate table's parts, page by page: (page, its caption is there, body rows there)."""
    pieces: dict[int, list[tuple[int, bool, int]]] = {}
    for number, page in enumerate(document.pages, 1):
        for box in _descendants(page._page_box):
            if (box.is_table_wrapper and box.element_tag == "table"
                    and "gates" in (box.element.get("class") or "").split()):
                caption = any(c.element_tag == "caption" for c in box.children)
                table = next(c for c in box.children if type(c).__name__ == "TableBox")
                rows = sum(len(g.children) for g in table.children if not g.is_header)
                pieces.setdefault(id(box.element), []).append((number, caption, rows))
    return pieces


def _descendants(box):
    yield box
    for child in getattr(box, "children", None) or []:
        yield from _descendants(child)
