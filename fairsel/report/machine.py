"""Machine-readable outputs: results.json, leaderboard.csv, summary.md, junit.xml."""

from __future__ import annotations

import csv
import io
import math
import xml.etree.ElementTree as ET
from pathlib import Path

from fairsel.gates import PROXY_GATES
from fairsel.report.fmt import DT_MARK, mark_legend
from fairsel.report.proxies_view import flag_lines
from fairsel.report.slices_view import top_line
from fairsel.report.explain_view import summary_line
from fairsel.report.search_view import leaderboard_top, rest_summary
from fairsel.report.tables import (
    fmt,
    fmt_ci,
    gate_thresholds,
    leaderboard_columns,
    leaderboard_rows,
    ordered_variants,
    safe_result,
)
from fairsel.results import AuditResult


def write_json(result: AuditResult, out: Path) -> list[Path]:
    """results.json: the result as it is (JSON escapes control characters; the other
    outputs go through :func:`~fairsel.report.tables.safe_result`)."""
    path = out / "results.json"
    path.write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return [path]


def write_leaderboard(result: AuditResult, out: Path) -> list[Path]:
    rows = leaderboard_rows(safe_result(result))
    path = out / "leaderboard.csv"
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None or (isinstance(v, float) and math.isnan(v))
                                 else repr(v) if isinstance(v, float) else v)
                             for k, v in row.items()})
    path.write_text(buf.getvalue(), encoding="utf-8")
    return [path]


def _md(text: object) -> str:
    """Escape a value for a Markdown table cell."""
    s = str(text)
    for ch in "\\|`*_<>[]&":
        s = s.replace(ch, "\\" + ch)
    return s.replace("\n", " ")


def summary_markdown(result: AuditResult) -> str:
    result = safe_result(result)
    perf, fair = leaderboard_columns(result)
    near = gate_thresholds(result)
    icon = {"PASS": "✅", "WARN": "⚠️", "FAIL": "❌", "INSUFFICIENT": "❔", "ERROR": "💥"}
    lines = [f"## fairsel audit: {_md(result.title)}", "",
             f"**Verdict: {result.verdict.status}** {icon.get(result.verdict.status, '')} — "
             f"{_md(result.verdict.message)}", ""]
    for r in result.ranking.reasons:
        if r not in result.verdict.message:  # a FAIL's one reason is its verdict: said once
            lines.append(f"- {_md(r)}")
    # the report's page-1 findings (widest gap, every gate whose interval straddles its
    # threshold, what the choice costs), in the same words
    from fairsel.report.summary_view import summary_view

    findings = summary_view(result)["findings"]
    if findings:
        lines += ([] if lines[-1] == "" else [""]) + ["Findings:", ""] \
            + [f"- {_md(f)}" for f in findings]
    if result.selection is not None and result.selection.optimistic:
        lines += ["", f"⚠️ Optimistic: {_md(result.selection.note or '')}"]
    top = leaderboard_top(result)
    lines += ["", "| rank | variant | status | " + " | ".join(_md(m) for m in perf + fair) + " |",
              "|---:|---|---|" + "---:|" * len(perf + fair)]
    for v in ordered_variants(result)[:top]:
        name = f"**{_md(v.name)}** (selected)" if v.name == result.ranking.selected else _md(v.name)
        if v.uses_protected_at_decision:
            name += f" {DT_MARK}"
        vals = [fmt(v.performance[m].value, near=near.get(m, ())) if m in v.performance else "—"
                for m in perf]
        vals += [fmt(v.fairness[m].value, near=near.get(m, ())) if m in v.fairness else "—"
                 for m in fair]
        lines.append(f"| {v.rank or ''} | {name} | {v.status} | " + " | ".join(vals) + " |")
    rest = rest_summary(result, top)
    if rest:
        lines += ["", _md(rest)]
    if any(v.uses_protected_at_decision for v in result.variants):
        lines += ["", mark_legend(DT_MARK)]  # the report's one legend of the mark
    # the proxy gates judge the data, identically for every variant: one line per flag below
    failing = [g for g in result.gates if g.status in ("FAIL", "WARN", "INSUFFICIENT", "ERROR")
               and g.metric not in PROXY_GATES]
    if failing:
        lines += ["", "Gates not passed:", ""]
        for g in failing[:30]:
            # bold, not a code span: backslash escapes are literal inside code spans
            lines.append(f"- {g.status} **{_md(g.variant)}** {_md(g.message)}")
        if len(failing) > 30:
            lines.append(f"- … and {len(failing) - 30} more (see junit.xml / results.json)")
    flags = flag_lines(result.analysis.proxies)
    if flags:
        severity = result.policy.get("proxies") or {}
        level = "FAIL" if isinstance(severity, dict) and severity.get("severity") == "error" \
            else "WARN"
        lines += ["", "Proxy flags:", ""]
        lines += [f"- {level} proxy: {_md(f)}" for f in flags]
    worst = top_line(result.analysis.slices)
    if worst:
        lines += ["", f"Where it fails: {_md(worst)}"]
    why = summary_line(result)
    if why:
        lines += ["", f"Explanations: {_md(why)}"]
    if result.failures:
        lines += ["", "Failures:", ""]
        lines += [f"- **{_md(f.variant)}** at {_md(f.stage)} (fold {f.fold}): {_md(f.message)}"
                  for f in result.failures]
    excl = [e for e in result.data.excluded if e.count]
    lines += ["", f"Rows used: {result.data.rows_used} of {result.data.rows_read}"
              + ("; excluded: " + "; ".join(f"{_md(e.reason)}: {e.count}" for e in excl) if excl else ""),
              f"Policy sha256 `{result.provenance.policy_sha256[:12]}`, data sha256 "
              f"`{result.provenance.data_sha256[:12]}`, seed {result.provenance.seed}, "
              f"fairsel {result.provenance.fairsel_version}", ""]
    return "\n".join(lines)


def write_markdown(result: AuditResult, out: Path) -> list[Path]:
    path = out / "summary.md"
    path.write_text(summary_markdown(result), encoding="utf-8")
    return [path]


def write_junit(result: AuditResult, out: Path) -> list[Path]:
    """One test case per gate × variant (JUnit XML as Jenkins, GitLab and GitHub read it).

    Every text is made safe first: XML 1.0 has no way to write most control characters, and
    a junit.xml that does not parse hides the audit from the CI dashboard.
    """
    result = safe_result(result)
    suites = ET.Element("testsuites", name=f"fairsel {result.name}")
    by_variant: dict[str, list] = {}
    for g in result.gates:
        by_variant.setdefault(g.variant, []).append(g)
    total = fails = errors = skipped = 0
    for v in ordered_variants(result):
        gates = by_variant.get(v.name, [])
        suite = ET.SubElement(suites, "testsuite", name=f"fairsel.{result.name}.{v.name}")
        s_f = s_e = s_s = 0
        for g in gates:
            case = ET.SubElement(suite, "testcase", classname=f"fairsel.{result.name}.{v.name}",
                                 name=f"gate[{g.gate}] {g.metric}", time="0")
            thr = " and ".join(x for x in [f"min {g.min:g}" if g.min is not None else "",
                                           f"max {g.max:g}" if g.max is not None else ""] if x)
            detail = (f"observed {fmt(g.observed, 4, (g.min, g.max))} {fmt_ci(g.ci)} threshold {thr} "
                      f"severity {g.severity} decision {g.decision}"
                      + (f" attribute {g.attribute}" if g.attribute else ""))
            if g.status == "FAIL":
                el = ET.SubElement(case, "failure", message=g.message, type="GateFailed")
                el.text = detail
                s_f += 1
            elif g.status == "ERROR":
                el = ET.SubElement(case, "error", message=g.message, type="GateError")
                el.text = detail
                s_e += 1
            elif g.status == "INSUFFICIENT":
                ET.SubElement(case, "skipped", message="insufficient evidence: " + g.message)
                s_s += 1
            else:
                out_el = ET.SubElement(case, "system-out")
                out_el.text = f"{g.status}: {g.message}"
        suite.set("tests", str(len(gates)))
        suite.set("failures", str(s_f))
        suite.set("errors", str(s_e))
        suite.set("skipped", str(s_s))
        total, fails, errors, skipped = total + len(gates), fails + s_f, errors + s_e, skipped + s_s
    suites.set("tests", str(total))
    suites.set("failures", str(fails))
    suites.set("errors", str(errors))
    ET.indent(suites)
    path = out / "junit.xml"
    path.write_bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n")
    return [path]
