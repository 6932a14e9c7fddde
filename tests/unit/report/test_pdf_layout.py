"""The PDF's pages, read back from WeasyPrint's laid-out document (issue 12, "Speed" and
layout): no heading ends a page without what it heads, no split table leaves a single row on
a page, and the exhaustive per-fold tables are dense (one text cell per row) in the PDF while
report.html keeps a cell per figure.

The shipped examples' golden results (tests/e2e/golden), with their volatile fields filled in,
are laid out as ``fairsel render --format pdf`` lays them out."""

from __future__ import annotations

import copy
import gc
import json
import re
from pathlib import Path

import pytest

from fairsel.report.html import render_html
from fairsel.report.pdf import _import_weasyprint, data_only_fetcher
from fairsel.report.tables import dense, dense_width, dense_widths
from fairsel.results import AuditResult
from tests.unit.report.pagecheck import lone_rows, stranded_headings

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
    _import_weasyprint()
    from weasyprint import HTML

    html = render_html(result, target="pdf")
    was_on = gc.isenabled()
    gc.disable()
    try:
        return html, HTML(string=html, base_url=None, url_fetcher=data_only_fetcher(),
                          media_type="print").render()
    finally:
        if was_on:
            gc.enable()


@pytest.fixture(scope="module", params=["lending", "mitigation"])
def example(request):
    result = golden_result(request.param)
    html, document = laid_out(result)
    return request.param, result, html, document


def test_no_heading_ends_a_page_without_what_it_heads(example):
    name, _, _, document = example
    assert stranded_headings(document) == [], name


def test_no_split_table_leaves_a_single_row_on_a_page(example):
    name, _, _, document = example
    assert lone_rows(document) == [], name


def test_per_fold_tables_are_dense_in_the_pdf_and_full_in_the_html(example):
    name, result, pdf_html, _ = example
    html = render_html(result, target="html")
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
    pdf_html = render_html(result, target="pdf")
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
    pdf_html = render_html(result, target="pdf")
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
