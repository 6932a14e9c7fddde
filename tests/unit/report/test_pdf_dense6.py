"""Sixth round of the PDF's speed (issue 12): the candidates' fairness and performance tables,
the worst-slices tables and the explanation tables are dense in the PDF (a row's figures as
one monospace line, every figure and interval kept, in report.html's order), and the group
tables' † / ‡ legend is said once, at the head of "Candidates in detail", not under each table.
report.html keeps a cell per figure and the legend under each table."""

from __future__ import annotations

import html as html_lib
import re

from fairsel.report.fmt import FEW_MARK, SMALL_MARK, mark_legend
from fairsel.report.tables import dense_columns, dense_fairness, dense_pairs, dense_slices
from tests.unit.report.test_pdf_layout import (_classes, _line_count, example,  # noqa: F401
                                               golden_html, golden_result)


def _text(fragment: str) -> str:
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", fragment)).replace("\u200b", "")


def _section(html: str, sid: str) -> str:
    m = re.search(rf'<section[^>]*id="{sid}".*?</section>', html, flags=re.S)
    assert m, sid
    return m.group(0)


def _tables(fragment: str) -> list[tuple[str, str]]:
    """(class, markup) of every table of ``fragment``, in order."""
    return re.findall(r'<table class="([^"]*)">(.*?)</table>', fragment, flags=re.S)


def _row_words(table: str) -> list[list[str]]:
    """The words of each body row of ``table``."""
    body = table.split("<tbody>")[1]
    return [_text(r).split() for r in re.findall(r"<tr[ >].*?</tr>", body, flags=re.S)]


def _same_rows(pdf_table: str, html_table: str) -> None:
    """The PDF's table has report.html's rows, each with its words in the same order, in at
    most two cells a row."""
    assert _row_words(pdf_table) == _row_words(html_table)
    for row in re.findall(r"<tr[ >].*?</tr>", pdf_table.split("<tbody>")[1], flags=re.S):
        assert row.count("<td") <= 2


def _dense_cells(document, want) -> list:
    """The laid-out dense cells (head and rows) of the tables whose classes satisfy ``want``."""
    found: list = []

    def walk(box, inside: bool) -> None:
        cls = _classes(box)
        if getattr(box, "element_tag", None) == "table":
            inside = "dense-table" in cls and want(cls)
        if inside and getattr(box, "element_tag", None) in ("td", "th") and (
                "dense" in cls or "dense-head" in cls):
            found.append(box)
            return
        for child in getattr(box, "children", None) or []:
            walk(child, inside)

    for page in document.pages:
        walk(page._page_box, False)
    return found


def test_fairness_and_performance_tables_are_dense_lines_with_every_figure(example):
    name, result, pdf_html, document = example
    html = golden_html(name)
    pdf, full = _section(pdf_html, "candidates"), _section(html, "candidates")
    pdf_fair = [t for c, t in _tables(pdf) if "fairness" in c.split()]
    html_fair = [t for c, t in _tables(full) if "fairness" in c.split()]
    pdf_perf = [t for c, t in _tables(pdf) if "perf-lines" in c.split()]
    html_perf = re.findall(r'<div class="two-col clearfix">\s*<table class="grid compact">(.*?)'
                           r"</table>", full, flags=re.S)
    assert pdf_fair and len(pdf_fair) == len(html_fair) == len(result.variants), name
    assert pdf_perf and len(pdf_perf) == len(html_perf), name
    assert all("dense-table" in c for c, t in _tables(pdf) if "fairness" in c.split())
    for p, h in [*zip(pdf_fair, html_fair), *zip(pdf_perf, html_perf)]:
        _same_rows(p, h)
        assert p.count("<td") == p.split("<tbody>")[1].count("<tr")  # one cell a row
        # the header names every column: the HTML's header words, in order
        assert _text(p.split("<tbody>")[0]).split() == _text(h.split("<tbody>")[0]).split()
    # every row of them is one line on the laid-out pages (head included)
    cells = _dense_cells(document, lambda cls: "fairness" in cls or "perf-lines" in cls)
    assert cells and all(_line_count(c) == 1 for c in cells), name


def test_slice_and_explanation_tables_are_dense_in_the_pdf_and_full_in_the_html():
    result = golden_result("lending")  # the shipped example with slices and explanations
    pdf_html, html = golden_html("lending", "pdf"), golden_html("lending")
    for sid in ("slices", "explain"):
        pdf, full = _tables(_section(pdf_html, sid)), _tables(_section(html, sid))
        assert pdf and len(pdf) == len(full), sid
        dense = 0
        for (pc, p), (hc, h) in zip(pdf, full):
            assert "dense-table" not in hc
            if "dense-table" in pc:
                dense += 1
                _same_rows(p, h)
                # the column names of report.html's header, in order
                assert _text(p.split("<tbody>")[0]).split() == \
                    _text(h.split("<tbody>")[0]).split()
            else:  # the reasons table is the same in both
                assert p == h
        assert dense >= len(pdf) - len(result.variants), sid  # all but the reasons tables


def test_group_table_legend_is_said_once_in_the_pdf_and_under_each_table_in_the_html():
    result = golden_result("lending")
    few = mark_legend(FEW_MARK, result.min_group_size)
    small = mark_legend(SMALL_MARK, result.min_group_size)
    pdf_html = _section(golden_html("lending", "pdf"), "candidates")
    html = _section(golden_html("lending"), "candidates")
    pdf, full = _text(pdf_html), _text(html)
    tables = html.count('<div class="attribute"')  # a group table per variant and attribute
    assert pdf_html.count('<div class="attribute"') == tables
    assert full.count(few) == tables > 1
    # no lending group is under min_group_size rows: † is not used, so not explained (review8)
    assert pdf.count(few) == 1 and small not in pdf and "†" not in pdf
    head = pdf.split("1. ")[0]  # before the first candidate
    assert few in head and "count/denominator" in head
    assert pdf.count("see the section's opening") == tables


def test_dense_columns_align_names_left_and_figures_right():
    d = dense_columns(["Name", "Value"], [["ab", "1.5"], ["abcdef", "10.25"]])
    assert d == {"head": "Name    Value", "lines": ["ab        1.5", "abcdef  10.25"]}
    d = dense_columns(["A", "Rate (k/n)"], [["x", "0.5 (1/2)"]], left=0)
    assert d["head"] == "A  Rate (k/n)" and d["lines"] == ["x   0.5 (1/2)"]
    fair = dense_fairness({"attr_names": ["sex"], "fairness": [
        {"metric": "disparate_impact", "value": "0.918", "ci": "[0.812, 1.000]",
         "worst": "sex", "by_attribute": ["0.918"]}]})
    assert fair["lines"][0].split() == ["disparate_impact", "0.918", "[0.812,", "1.000]", "sex",
                                        "0.918"]
    assert fair["head"].split()[:3] == ["Fairness", "Worst", "[interval]"]
    assert dense_pairs([{"feature": "status", "value": "0.7"}], ("Feature", "Mean"))["lines"] \
        == ["status    0.7"]  # "Feature" wide, then "Mean" wide
    s = dense_slices([{"rows": 51, "rate": "0.490", "kn": "25/51", "rest": "0.238",
                       "diff": "+0.252", "ci": "[0.117, 0.388]", "p": "0.00071"}])
    assert s["lines"][0].split() == ["51", "0.490", "(25/51)", "0.238", "+0.252", "[0.117,",
                                     "0.388]", "0.00071"]
    assert len(s["head"]) == len(s["lines"][0])  # every column as wide in head and row
