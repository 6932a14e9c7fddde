"""The compliance section's view model (policy key ``compliance``).

A pure function of ``result.compliance`` (results.json): the template's gates and their
outcome on the audited variant, the facts the policy states about the audit
(``compliance_info``), and per template its own tables — hiring_ll144's impact ratios
(``_ll144.html.j2``), lending's adverse impact ratios and less-discriminatory alternatives
(``_lending_review.html.j2``). Every figure is read from results.json; nothing is recomputed
but a percentage.
"""

from __future__ import annotations

from typing import Any

from fairsel.policy.compliance import TEMPLATES
from fairsel.report.facts import decisions_phrase, gate_spec, is_relative
from fairsel.report.fmt import (FOUR_FIFTHS_MARK, MARK_LEGENDS, gate_subject, share,
                                threshold_text)
from fairsel.report.tables import fmt
from fairsel.results import (
    AdverseImpactTable,
    AuditResult,
    ImpactTable,
    LendingReview,
    Ll144Summary,
    at_threshold,
)

#: The four-fifths rule: ratios are shown with the digits to see which side of it they are on.
FOUR_FIFTHS = 0.8

#: What the summary says of a fact the policy does not state.
NOT_STATED = "not stated (compliance_info)"


def compliance_section(result: AuditResult) -> tuple[str, str]:
    """The section's id and title (it follows the summary when the policy names a template)."""
    title = result.compliance.title if result.compliance else "Compliance"
    return ("compliance", title)


def _pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None else f"{100 * x:.{digits}f}%"


def _ratio(x: float | None) -> str:
    return fmt(x, 3, near=(FOUR_FIFTHS,))


def _info(result: AuditResult) -> list[tuple[str, str]]:
    """(label, text) of each fact the summary states, the defaults said as such."""
    c = result.compliance
    info = c.info if c else {}
    kind = info.get("data_kind")
    # LL144's 'historical data' is data from the tool's real use; a lending review's is past
    # applications and their outcomes (reviewer: the German credit data of 1994 read as the
    # real use of a model trained in this audit)
    historical = ("historical data (real use of the tool)"
                  if c and c.template == "hiring_ll144" else
                  "historical data (past applications and their recorded outcomes)")
    kind_text = {"historical": historical, "test": "test data"}.get(kind or "", NOT_STATED)
    if kind == "test" and info.get("test_data_reason"):
        kind_text += f": {info['test_data_reason']}"
    rep = result.policy.get("report", {}) or {}
    return [
        ("Tool audited" if c and c.template == "hiring_ll144" else "Model audited",
         info.get("tool") or rep.get("system")
         or (c.variant if c else None) or NOT_STATED),
        ("Audit date", _audit_date(info.get("audit_date"), result.provenance.started[:10])),
        ("Data source", info.get("data_source") or NOT_STATED),
        ("Data period", info.get("data_period") or NOT_STATED),
        ("Historical or test data", kind_text),
        ("Distribution date", info.get("distribution_date") or NOT_STATED),
    ]


def _audit_date(declared: str | None, ran: str) -> str:
    """The audit date the policy states, said to be the policy's when it is not the day the
    audit ran (review8: hiring read "Audit date 2026-12-07" beside a report generated on
    2026-01-01; Local Law 144's one year runs from this date)."""
    if not declared:
        return f"{ran} (the date the audit ran)"
    if declared.strip() == ran:
        return declared
    return f"{declared} (as the policy states it; this audit ran on {ran})"


def _template_gates(result: AuditResult, variant: str | None) -> list[dict[str, Any]]:
    """The gates the template added, with their outcome on the audited variant."""
    c = result.compliance
    out = []
    for i in c.template_gates if c else []:
        g = next((g for g in result.gates if g.gate == i and g.variant == variant), None)
        spec = gate_spec(result, i)
        what = gate_subject(str(spec.get("metric", g.metric if g else "?")),
                            is_relative(result, i))
        out.append({"id": f"G{i + 1}", "metric": what,
                    "threshold": threshold_text(spec.get("min"), spec.get("max")),
                    "severity": spec.get("severity", "error"),
                    "status": g.status if g else "—", "message": g.message if g else ""})
    return out


def _impact_table(t: ImpactTable, min_share: float,
                  top: str = "most selected") -> dict[str, Any]:
    """An LL144 impact-ratio table; ``top`` names the category the ratios divide by ("most
    selected", or "highest scoring rate" for the scoring-rate tables: review8)."""
    rows = []
    for r in t.rows:
        if r.unknown:
            note = "unknown: not compared"
        elif r.excluded:
            note = f"under {_pct(min_share, 0)}: excluded"
        elif r.group == t.most_selected:
            note = top
        else:
            note = ""
        rows.append({"group": r.group, "n": f"{r.n:,}", "share": share(r.share),
                     "selected": f"{r.selected:,}", "rate": fmt(r.rate, 3),
                     "ties": None if r.ties is None else f"{r.ties:,}",
                     "ratio": _ratio(r.impact_ratio), "note": note,
                     "muted": r.unknown or r.excluded,
                     "below": r.impact_ratio is not None and r.impact_ratio < FOUR_FIFTHS
                     and not at_threshold(r.impact_ratio, FOUR_FIFTHS)})
    return {"attribute": t.attribute, "kind": t.kind, "most_selected": t.most_selected,
            "top_label": top,
            "unknown_n": f"{t.unknown_n:,}", "excluded": ", ".join(t.excluded),
            "rows": rows, "with_ties": any(r.ties is not None for r in t.rows)}


def ll144_view(s: Ll144Summary) -> dict[str, Any]:
    """hiring_ll144's tables: selection rates, then scoring rates (for a score)."""
    unknown = [(t.attribute, t.unknown_n) for t in s.selection if t.kind == "attribute"]
    excluded = [f"{r.group} ({t.attribute}: n = {r.n:,}, {share(r.share)} of the data)"
                for t in s.selection if t.kind == "attribute" for r in t.rows if r.excluded]
    cells = sum(len(t.excluded) for t in s.selection if t.kind == "intersection")
    selection = [_impact_table(t, s.min_share) for t in s.selection]
    scoring = [_impact_table(t, s.min_share, "highest scoring rate") for t in s.scoring]
    return {
        "variant": s.variant, "rows": f"{s.rows:,}", "min_share": _pct(s.min_share, 0),
        "median": None if s.median_score is None else fmt(s.median_score, 4),
        "ties": None if s.ties_at_median is None else f"{s.ties_at_median:,}",
        "unknown": [f"{attr}: {n:,}" for attr, n in unknown],
        "excluded": excluded, "excluded_cells": cells,
        "selection": selection, "scoring": scoring,
        # the tables that mark a ratio below four-fifths (the legend names them, or says none)
        "flagged": [f"{basis} by {t['attribute']}" for basis, ts in
                    (("selection rates", selection), ("scoring rates", scoring))
                    for t in ts if any(r["below"] for r in t["rows"])],
        "mark": FOUR_FIFTHS_MARK, "mark_legend": MARK_LEGENDS[FOUR_FIFTHS_MARK],
    }


def _air_table(t: AdverseImpactTable, alpha: float, declared: bool = True) -> dict[str, Any]:
    """A lending adverse-impact table; ``declared``: whether the policy names the attribute's
    reference group (otherwise the table compares with the highest approval rate, which the
    caption says: review8, where the Method page read "no reference" beside "reference male")."""
    rows = []
    for r in t.rows:
        rows.append({
            "group": r.group, "n": f"{r.n:,}", "rate": fmt(r.selection_rate, 3),
            "air": "reference" if r.group == t.reference else _ratio(r.air),
            "flag": f"{FOUR_FIFTHS_MARK} below 0.8" if r.below_four_fifths
            else ("" if r.air is None else "—"),
            "below": r.below_four_fifths,
            "test": r.test or "—",
            "p": "—" if r.p is None else fmt(r.p, 3, near=(alpha,)),
            "p_adj": "—" if r.p_adjusted is None else fmt(r.p_adjusted, 3, near=(alpha,)),
            "significant": "—" if r.significant is None else ("yes" if r.significant else "no"),
            "small": r.small})
    return {"attribute": t.attribute, "kind": t.kind, "reference": t.reference or "—",
            "declared": declared, "rows": rows}


#: metrics.significance.adjust in words.
ADJUST_NAMES = {"holm": "Holm's method", "bh": "Benjamini–Hochberg", "none": "no adjustment"}


def adjustment_text(result: AuditResult) -> str:
    """How the adjusted p-values were adjusted, and over how many tests ("Holm's method over
    the audit's 42 tests: every variant × group × tested rate"): a p of 0.027 that reads 1.000
    adjusted is explained by the size of the family."""
    sig = (result.policy.get("metrics") or {}).get("significance") or {}
    method = ADJUST_NAMES.get(sig.get("adjust", "holm"), str(sig.get("adjust")))
    n = sum(len(g.significance or {}) for v in result.variants for a in v.attributes
            for g in a.groups)
    return f"{method} over the audit's {n:,} tests: every variant × group × tested rate"


def lending_view(review: LendingReview, result: AuditResult) -> dict[str, Any]:
    """lending's adverse impact tables and the less-discriminatory-alternative table."""
    metrics = list(result.metrics.get("fairness") or [])
    objective = result.ranking.objective
    alts = [{"variant": a.variant, "objective": fmt(a.objective, 4),
             "status": a.status, "selected": a.selected, "why": a.why,
             "disparities": [fmt(a.disparities.get(m), 3,
                                 near=(FOUR_FIFTHS,) if m == "disparate_impact" else ())
                             for m in metrics]}
            for a in review.alternatives]
    declared = {a.attribute for a in result.data.attributes if a.reference is not None}
    tables = [_air_table(t, review.alpha, t.attribute in declared) for t in review.tables]
    return {
        "variant": review.variant, "alpha": f"{review.alpha:g}", "tables": tables,
        "adjustment": adjustment_text(result),
        "objective": objective, "best": fmt(review.best_objective, 4),
        # the ranking counts its tolerance from the best variant it may select; shown when
        # that is not the best of all (which then fails a gate or decides with the attribute)
        "best_selectable": (fmt(review.best_selectable_objective, 4)
                            if review.best_selectable_objective is not None
                            and review.best_selectable_objective != review.best_objective
                            else None),
        "tolerance": f"{review.tolerance:g}", "metrics": metrics, "alternatives": alts,
        "flagged": [f"{r['group']} ({t['attribute']})" for t in tables for r in t["rows"]
                    if r["below"]],
        "mark": FOUR_FIFTHS_MARK, "mark_legend": MARK_LEGENDS[FOUR_FIFTHS_MARK],
    }


def refusal_text(template: str) -> str:
    """What the template refuses, and why, from its registry entry (one source of truth)."""
    if template not in TEMPLATES:
        return ""
    t = TEMPLATES.get(template)
    parts = (["group-specific thresholds and decisions"] if t.refuse_group_decisions else []) \
        + (["protected attributes as features"] if t.refuse_protected_features else [])
    if not parts:
        return ""
    return (f"Refused under this template (a policy error, exit 2): {' and '.join(parts)}; "
            f"{t.reason}.")


def compliance_view(result: AuditResult) -> dict[str, Any] | None:
    """The section's view model, or None when the policy names no template."""
    c = result.compliance
    if c is None:
        return None
    variant = c.variant
    return {
        "template": c.template, "title": c.title, "variant": variant,
        "why_variant": ("the selected variant" if variant and variant == result.ranking.selected
                        else "the best-ranked variant (none was selected)"),
        "decisions": decisions_phrase(result, variant),
        "info": _info(result), "gates": _template_gates(result, variant),
        "refusal": refusal_text(c.template),
        "ll144": ll144_view(c.ll144) if c.ll144 else None,
        "lending": lending_view(c.lending, result) if c.lending else None,
    }
