"""The report's view model: everything the HTML/PDF templates show, built from AuditResult alone.

The templates only iterate and print: every number is formatted, every sentence is written
and every chart is drawn by the sections' view modules (charts by :mod:`fairsel.report.charts`).
Nothing here reads a file, the clock or the environment, so the same result always gives the
same context — and ``fairsel render results.json`` gives the report the audit wrote.

Each section's view model sits beside its template (``summary_view.py`` for
``_summary.html.j2``) and declares a :class:`~fairsel.report.section.SectionView`;
:data:`VIEWS` lists them in document order, and :func:`build_context` and
:func:`report_sections` only iterate it. Shared formatters are in :mod:`fairsel.report.fmt`,
shared questions about a result in :mod:`fairsel.report.facts`.

Strings from the data or the policy (group names, column names, titles) stay plain ``str``:
the templates autoescape them. The only markup is the charts' SVG (:class:`markupsafe.Markup`).
"""

from __future__ import annotations

from typing import Any

from fairsel.report import (appendix_view, candidates_view, control_view, cover_view, data_view,
                            gates_view, keyfigures_view, leaderboard_view, limitations_view,
                            method_view, mitigated_view, summary_view, tradeoff_view)
from fairsel.report.facts import allows_group_specific_decisions, mitigated_variants
from fairsel.report.fmt import (ABBREVIATIONS, DT_MARK, THRESHOLDS, ci_text, num, p_text,
                                report_id, signed, utc_text)
from fairsel.report.mitigated_view import MITIGATED_SECTION
from fairsel.report.compliance_view import compliance_section, compliance_view
from fairsel.report.proxies_view import PROXIES_SECTION, proxies_view
from fairsel.report.explain_view import EXPLAIN_SECTION, explain_view
from fairsel.report.slices_view import SLICES_SECTION, slices_view
from fairsel.report.search_view import search_view
from fairsel.report.section import BuildOptions, SectionView
from fairsel.report.tables import gate_thresholds, safe_result
from fairsel.report.tradeoff_view import pareto_front
from fairsel.results import AuditResult

#: Every part of the report's view model, in document order. An entry with a title is a
#: section of the contents (shown when its ``present`` says so); the others are parts the
#: templates read (the cover, the gates' significance table).
VIEWS: tuple[SectionView, ...] = (
    cover_view.VIEW,
    keyfigures_view.VIEW,
    control_view.VIEW,
    summary_view.VIEW,
    SectionView("compliance", lambda result, o: compliance_view(result), "Compliance",
                present=lambda result: result.compliance is not None,
                title_of=lambda result: compliance_section(result)[1]),
    data_view.VIEW,
    method_view.VIEW,
    leaderboard_view.VIEW,
    mitigated_view.VIEW,
    candidates_view.VIEW,
    tradeoff_view.VIEW,
    SectionView("search", lambda result, o: search_view(result)),
    SectionView("explain", lambda result, o: explain_view(result, with_charts=o.with_charts),
                EXPLAIN_SECTION[1],
                present=lambda result: result.analysis.explanations is not None),
    SectionView("slices", lambda result, o: slices_view(result), SLICES_SECTION[1],
                present=lambda result: result.analysis.slices is not None),
    SectionView("proxies", lambda result, o: proxies_view(result), PROXIES_SECTION[1],
                present=lambda result: result.analysis.proxies is not None),
    gates_view.VIEW,
    gates_view.MARKS_VIEW,
    gates_view.SIGNIFICANCE_VIEW,
    limitations_view.VIEW,
    appendix_view.VIEW,
)

#: Section titles in document order of the sections every report has (the tests check that
#: each one appears in the PDF text).
SECTIONS: tuple[tuple[str, str], ...] = tuple(
    (v.key, v.title) for v in VIEWS if v.title is not None and v.present is None)


def report_sections(result: AuditResult) -> list[tuple[str, str]]:
    """The sections of this result's report, in order: :data:`SECTIONS`, with
    :data:`MITIGATED_SECTION` after the leaderboard when the result has mitigated variants,
    and the Proxies section after the trade-off when the proxy screen ran (each view's
    ``present``)."""
    return [(v.key, v.heading(result)) for v in VIEWS if v.title is not None and v.shown(result)]


def build_context(result: AuditResult, *, with_charts: bool = True) -> dict[str, Any]:
    """The report's view model: one dict per section, in document order.

    Parameters
    ----------
    result
        The audit result (results.json).
    with_charts
        Draw the charts (matplotlib). Off, every chart is ``None``: a quick context for tests.
    """
    result = safe_result(result)  # no control character reaches the HTML, PDF or charts
    token = THRESHOLDS.set(tuple(sorted({t for ts in gate_thresholds(result).values()
                                         for t in ts})))
    try:
        return _build_context(result, with_charts=with_charts)
    finally:
        THRESHOLDS.reset(token)


def _meta(result: AuditResult, rid: str) -> dict[str, Any]:
    """The document's metadata (title, author, subject, paper size)."""
    rep = result.policy.get("report", {}) or {}
    org = rep.get("organisation")
    system = rep.get("system")
    subject = (f"Fairness audit of {system or result.name}"
               + (f" for {org}" if org else "") + f": {result.verdict.status}")
    return {
        "title": result.title, "report_id": rid, "version": result.provenance.fairsel_version,
        "generated": utc_text(result.provenance.finished),
        "generated_iso": result.provenance.finished,
        "author": org or "fairsel", "subject": subject,
        "keywords": "fairness audit, model selection, fairsel",
        "paper": rep.get("paper") or "A4", "name": result.name,
    }


def _build_context(result: AuditResult, *, with_charts: bool) -> dict[str, Any]:
    rid = report_id(result)
    options = BuildOptions(report_id=rid, with_charts=with_charts)
    ctx: dict[str, Any] = {
        "meta": _meta(result, rid),
        "sections": [{"id": a, "title": b} for a, b in report_sections(result)],
    }
    for view in VIEWS:
        ctx[view.key] = view.build(result, options)
    return ctx


__all__ = ["ABBREVIATIONS", "DT_MARK", "MITIGATED_SECTION", "SECTIONS", "VIEWS",
           "allows_group_specific_decisions", "build_context", "ci_text", "mitigated_variants",
           "num", "p_text", "pareto_front", "report_id", "report_sections", "signed"]
