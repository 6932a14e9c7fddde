"""Control characters from the data or the policy in every output (issue 13, item 12).

results.json keeps every string as it is (JSON escapes control characters); every other output
(junit.xml, summary.md, leaderboard.csv, report.html and its charts, the terminal) writes each
unsafe character as a visible escape through one helper, :func:`safe_text`.
"""

from __future__ import annotations

import csv
import json
import re
import sys
import xml.dom.minidom
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fairsel.report import charts
from fairsel.report.html import render_html
from fairsel.report.machine import summary_markdown, write_json, write_junit, write_leaderboard
from fairsel.report.tables import safe_result, safe_text
from fairsel.results import AuditResult
from tests.unit.report.factory import make_result

#: Characters XML 1.0 cannot hold at all (its Char production), plus the ones fairsel also
#: escapes for terminals and HTML: CR, DEL and the C1 controls.
XML_ILLEGAL = "".join(chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20),
                                       *range(0xD800, 0xE000), 0xFFFE, 0xFFFF])
ALSO_ESCAPED = "\r\x7f" + "".join(chr(c) for c in range(0x80, 0xA0))
UNSAFE = re.compile("[" + re.escape(XML_ILLEGAL + ALSO_ESCAPED) + "]")

ATTRIBUTE = "ra\x0bce\x1b]0;pwned\x07"
GROUPS = ["fe\x01male\x1b[2J", "ma\x00le\x0c\x85", "x\x7fy\x9b"]
TITLE = "audit\x1b[31m red\x08\x08\x08 \x00end"


def _hostile() -> AuditResult:
    r = make_result(attributes={ATTRIBUTE: GROUPS, "sex": ["f", "m"]}, failures=True,
                    passing=False)
    return r.model_copy(update={"title": TITLE})


def _strings(obj):
    """Every string in a dumped result, dictionary keys included."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _strings(v)


@pytest.fixture(scope="module")
def hostile() -> AuditResult:
    return _hostile()


# ---------------------------------------------------------------------------- the helper

@pytest.mark.parametrize("char", [c for c in XML_ILLEGAL if c < " "]
                         + ["\ud800", "\udfff", "\ufffe", "\uffff", "\r", "\x7f", "\x85"])
def test_safe_text_writes_each_unsafe_character_as_a_visible_escape(char: str):
    code = ord(char)
    escape = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    assert safe_text(f"a{char}b") == f"a{escape}b"


def test_safe_text_leaves_everything_else_alone():
    text = "tab\there\nnext line: é ü × — 日本 🙂 < > & ' \" \\ $x$ \u2028 \U0010fffd"
    assert safe_text(text) is text


def test_windows_line_ends_become_line_feeds_and_a_lone_cr_is_escaped():
    assert safe_text("a\r\nb\rc\r\r\n") == "a\nb\\x0dc\\x0d\n"


def test_no_character_illegal_in_xml_survives():
    out = safe_text(XML_ILLEGAL + ALSO_ESCAPED)
    assert not UNSAFE.search(out)
    assert out.isascii() and out.count("\\") == len(XML_ILLEGAL + ALSO_ESCAPED)


def test_safe_result_walks_every_string_and_keeps_clean_results_as_they_are(hostile):
    clean = make_result()
    assert safe_result(clean) is clean
    safe = safe_result(hostile)
    assert safe is not hostile and safe_result(hostile) is safe  # computed once per result
    strings = list(_strings(safe.model_dump()))
    assert len(strings) > 100 and not any(UNSAFE.search(s) for s in strings)
    assert any(UNSAFE.search(s) for s in _strings(hostile.model_dump()))
    assert safe.title == "audit\\x1b[31m red\\x08\\x08\\x08 \\x00end"
    attr = safe.data.attributes[0]
    assert attr.attribute == "ra\\x0bce\\x1b]0;pwned\\x07"
    assert [g.group for g in attr.groups] == [safe_text(g) for g in GROUPS]
    # names that refer to each other stay equal: headlines keyed by attribute, gates naming it
    v = safe.variants[0]
    assert {a.attribute for a in v.attributes} >= {attr.attribute}
    for h in v.fairness.values():
        assert set(h.by_attribute) <= {a.attribute for a in v.attributes}


@pytest.mark.parametrize("char", sorted(set(XML_ILLEGAL[:40] + XML_ILLEGAL[-4:] + ALSO_ESCAPED)))
def test_safe_result_finds_any_single_unsafe_character(char: str):
    # safe_result looks at the result's JSON before walking it: nothing may slip through
    clean = make_result(n_variants=1, intersections=False)
    for where in ("title", "reasons"):
        if where == "title":
            r = clean.model_copy(update={"title": f"a{char}b"})
            assert safe_result(r).title == safe_text(f"a{char}b") != f"a{char}b"
        else:
            ranking = clean.ranking.model_copy(update={"reasons": [f"x\\{char}"]})
            r = clean.model_copy(update={"ranking": ranking})
            assert safe_result(r).ranking.reasons == [safe_text(f"x\\{char}")]


# ------------------------------------------------------------------------------ outputs

def test_results_json_keeps_the_data_as_it_is(hostile, tmp_path: Path):
    write_json(hostile, tmp_path)
    text = (tmp_path / "results.json").read_text(encoding="utf-8")
    assert "\\u001b[31m" in text and "\x1b" not in text and "\x00" not in text
    back = json.loads(text)
    assert back["title"] == TITLE
    assert [g["group"] for g in back["data"]["attributes"][0]["groups"]] == GROUPS


def test_junit_xml_parses_whatever_the_names_hold(hostile, tmp_path: Path):
    gates = [g.model_copy(update={"status": "FAIL", "attribute": ATTRIBUTE + "\ud800\ufffe",
                                  "message": f"on {ATTRIBUTE}: {XML_ILLEGAL[:40]}\udfff"})
             for g in hostile.gates]
    r = hostile.model_copy(update={"gates": gates})
    write_junit(r, tmp_path)
    raw = (tmp_path / "junit.xml").read_bytes()
    xml.dom.minidom.parseString(raw)  # expat: raises on any character XML 1.0 forbids
    root = ET.fromstring(raw)
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message").startswith("on ra\\x0bce\\x1b]0;pwned\\x07: \\x00\\x01")
    assert "attribute ra\\x0bce\\x1b]0;pwned\\x07\\ud800\\ufffe" in failure.text


def test_summary_and_leaderboard_hold_no_unsafe_character(hostile, tmp_path: Path):
    md = summary_markdown(hostile)
    assert not UNSAFE.search(md)
    assert "audit\\\\x1b\\[31m red" in md  # the escape, itself escaped for Markdown
    write_leaderboard(hostile, tmp_path)
    text = (tmp_path / "leaderboard.csv").read_text(encoding="utf-8")
    assert not UNSAFE.search(text)
    rows = list(csv.DictReader(text.splitlines()))
    assert any("ra\\x0bce" in (v or "") for row in rows for v in row.values())


def test_report_html_and_its_charts_render(hostile):
    html = render_html(hostile)
    assert not UNSAFE.search(html)
    assert "fe\\x01male\\x1b[2J" in html and "ra\\x0bce\\x1b]0;pwned\\x07" in html
    svgs = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    assert svgs
    for svg in svgs:
        ET.fromstring(svg)


def test_report_pdf_renders(hostile):
    from fairsel.report.pdf import render_pdf

    assert render_pdf(hostile).startswith(b"%PDF-")


def test_charts_take_hostile_labels_directly():
    iv = charts.Interval(0.5, 0.4, 0.6)
    panel = charts.Panel(title=ATTRIBUTE, groups=GROUPS, n=[50, 60, 70], selection=[iv] * 3,
                         tpr=[iv] * 3, fpr=[iv] * 3, eligible=[True, True, False], reference=0,
                         ratio_line=0.8)
    drawn = charts.group_rates("k", [panel], level=0.95, title=TITLE)
    trade = charts.tradeoff("t", names=GROUPS, ranks=[None, None, None], x=[0.1, 0.2, 0.3],
                            y=[0.7, 0.8, 0.9], passing=[True, False, True], selected=0,
                            frontier=[0, 2], x_label=ATTRIBUTE, y_label=TITLE,
                            x_threshold=None, y_threshold=None)
    for chart in [*drawn, trade]:
        assert not UNSAFE.search(str(chart.svg))
        ET.fromstring(str(chart.svg))
        assert chart.label == safe_text(chart.label)
    assert "fe\\x01male" in str(drawn[0].svg)


def test_the_terminal_gets_no_control_character(tmp_path: Path, monkeypatch):
    from click.testing import CliRunner

    from fairsel.cli import main

    data = tmp_path / "d.csv"
    rows = [f"{GROUPS[i % 2]},{i},{'yes' if i % 3 else 'no'}" for i in range(24)]
    data.write_text("sex,x,t\n" + "\n".join(rows) + "\n", encoding="utf-8")
    policy = tmp_path / "p.yaml"
    policy.write_text(f"version: 1\nname: t\ndata:\n  path: {data.name}\n  target: t\n"
                      "  favorable: \"yes\"\nprotected:\n  - column: sex\nvalidation:\n"
                      "  scheme: stratified_kfold\n  folds: 2\ncandidates:\n"
                      "  - {name: lr, kind: sklearn, estimator: logistic_regression}\n")
    monkeypatch.setenv("CI", "true")
    result = CliRunner().invoke(main, ["validate", "--policy", str(policy)])
    assert result.exit_code == 0, result.stderr
    assert not UNSAFE.search(result.stderr)
    assert "fe\\x01male\\x1b[2J 12" in result.stderr


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
