"""The key figures on page 1 (``_keyfigures.html.j2``, in the cover): what a reviewer decides on.

For the selected variant — or, when none is selected, the best-ranked one, labelled as such —
its headline performance and its worst disparity per attribute, each with its interval; every
gate with its value to four decimals; every warning and failure; every gate whose interval
straddles its threshold; and the fairer variants the ranking passed over, with the ranking's
own reason. A pure function of the result, like every view.
"""

from __future__ import annotations

from typing import Any

from fairsel.gates import gate_summary
from fairsel.metrics import FAIRNESS_METRICS
from fairsel.report.facts import (best_ranked, estimate_of, gate_scope, gate_text, headline_metric,
                                  is_fairness, missing_in, reason_for, straddles,
                                  widest_gap)
from fairsel.report.fmt import STATUS_SYMBOL, ci_text, is_finite, num
from fairsel.report.section import SectionView
from fairsel.results import AuditResult, GateResult, VariantResult

#: Gate statuses that stop a variant (or undecide it) rather than warn.
_BLOCKING = ("FAIL", "INSUFFICIENT", "ERROR")


def focus_variant(result: AuditResult) -> VariantResult | None:
    """The selected variant; with none selected, the best-ranked one that could be evaluated
    (the ranking puts the one closest to passing first); None when no variant was evaluated."""
    if result.ranking.selected:
        return result.variant(result.ranking.selected)
    return best_ranked(result)


def fairness_metric(result: AuditResult) -> str:
    """The disparity that "fairer" is judged by: the ranking's tie-break when it is a fairness
    metric (as the ranking judges it), else the report's headline disparity."""
    tiebreak = result.ranking.fairness_tiebreak
    return tiebreak if is_fairness(tiebreak) else headline_metric(result)


def _gate_row(result: AuditResult, g: GateResult, scope: str) -> dict[str, Any]:
    text = gate_text(result, g)
    return {"label": f"G{g.gate + 1}", "metric": text["subject"], "scope": scope,
            "attribute": g.attribute or "—",
            "value": num(g.observed, 4), "ci": ci_text(g.ci, 4),
            "required": text["required"], "severity": g.severity,
            "status": g.status, "symbol": STATUS_SYMBOL.get(g.status, ""),
            "straddles": straddles(g) is not None}


def _summary(result: AuditResult, g: GateResult) -> str:
    """:func:`fairsel.gates.gate_summary` with the gate named as the report names it (a
    ``relative_to_overall`` gate's value is the ratio to the overall figure)."""
    head = f"gate {g.gate + 1} {g.metric}"
    text = gate_summary(g)
    subject = gate_text(result, g)["subject"]
    return f"gate {g.gate + 1} {subject}{text[len(head):]}" if text.startswith(head) else text


def _missing_pair(focus: VariantResult, attribute: str, metric: str) -> str:
    """"between 'a' and 'b'; 'b' is missing data" when the pair of groups the attribute's
    figure comes from includes a missing-value group, else "" (review8: hiring's page 1 gave
    0.659 on sex × race without saying it is measured against 'male × unknown', a cell the
    LL144 table does not compare)."""
    attr = next((a for a in focus.attributes if a.attribute == attribute), None)
    gap = widest_gap(attr, metric) if attr is not None else None
    if not gap:
        return ""
    _, ((_, lo_g, _), (_, hi_g, _)) = gap
    missing = [g for g in (lo_g, hi_g) if missing_in(attribute, g)]
    if not missing:
        return ""
    return (f"between '{lo_g}' and '{hi_g}'; " + " and ".join(f"'{g}'" for g in missing)
            + (" is" if len(missing) == 1 else " are") + " missing data")


def _straddle_item(result: AuditResult, g: GateResult) -> str:
    """``G1 disparate_impact on sex: [0.7829, 0.9056] contains 0.8`` (the gate's value and
    status are in the gates table beside it)."""
    return (f"G{g.gate + 1} {gate_text(result, g)['subject']}" + (f" on {g.attribute}" if g.attribute else "")
            + f": [{num(g.ci[0], 4)}, {num(g.ci[1], 4)}] contains {straddles(g):g}")


def _fairer_passed_over(result: AuditResult, focus: VariantResult,
                        metric: str) -> list[dict[str, str]]:
    """The variants fairer than ``focus`` by ``metric`` that the ranking passed over, with the
    ranking's reason: one entry per reason, its variants fairest first (with their figure)."""
    mine = estimate_of(focus, metric)
    if mine is None or not is_finite(mine.value):
        return []
    up = FAIRNESS_METRICS[metric].higher_is_fairer
    rows = []
    by_name = {v.name: v for v in result.variants}
    for name, why in result.ranking.passed_over.items():
        v = by_name.get(name)
        if v is None or v.name == focus.name:
            continue
        e = estimate_of(v, metric)
        if e is None or not is_finite(e.value) or e.value == mine.value:
            continue
        if (e.value > mine.value) != up:
            continue
        rows.append((e.value, name, why.text))
    rows.sort(key=lambda t: (-t[0] if up else t[0], t[1]))
    groups: dict[str, list[str]] = {}  # one line per reason, its variants fairest first
    for x, name, text in rows:
        groups.setdefault(text, []).append(f"'{name}' ({num(x)})")
    return [{"variants": ", ".join(names), "reason": reason_for(text, len(names))}
            for text, names in groups.items()]


def keyfigures_view(result: AuditResult) -> dict[str, Any]:
    """The key figures' view model (``present`` is False when no variant was evaluated)."""
    focus = focus_variant(result)
    selected = result.ranking.selected is not None
    if focus is None:
        return {"present": False, "selected": selected,
                "note": "No variant could be evaluated: there are no figures to show."}
    level_x = result.confidence.get("level") if result.confidence.get("method") == "bootstrap" \
        else None
    level = f"{level_x:.0%} " if isinstance(level_x, (int, float)) else ""
    obj = result.ranking.objective
    perf = estimate_of(focus, obj)
    fm = headline_metric(result)
    head = focus.fairness.get(fm)
    kinds = {a.attribute: a.kind for a in focus.attributes}
    disparities = []
    if head is not None:
        for attr, e in head.by_attribute.items():
            disparities.append({"attribute": attr, "kind": kinds.get(attr, "attribute"),
                                "value": num(e.value), "ci": ci_text(e.ci),
                                "worst": attr == head.attribute,
                                "missing": _missing_pair(focus, attr, fm)})
    def scope(g: GateResult) -> str:
        return gate_scope(result, g)
    gates = sorted((g for g in result.gates if g.variant == focus.name), key=lambda g: g.gate)
    if selected:
        note = f"the selected variant '{focus.name}' ({focus.status}, rank {focus.rank})"
    else:
        note = (f"No variant is selected. The figures below are those of the best-ranked "
                f"variant, '{focus.name}' ({focus.status}"
                + (f", rank {focus.rank}" if focus.rank is not None else "")
                + "): it is not selected and may not be deployed as it stands.")
    tie = fairness_metric(result)
    return {
        "present": True, "selected": selected, "name": focus.name, "note": note,
        "status": focus.status, "symbol": STATUS_SYMBOL.get(focus.status, ""),
        "level": level.strip(),
        "performance": {"metric": obj, "value": num(perf.value if perf else None),
                        "ci": ci_text(perf.ci) if perf else ""},
        "disparity_metric": fm, "disparities": disparities,
        "headline": (None if head is None or len(head.by_attribute) < 2 else
                     {"value": num(head.value), "ci": ci_text(head.ci)}),
        "gates": [_gate_row(result, g, scope(g)) for g in gates],
        "warnings": [_summary(result, g) for g in gates if g.status == "WARN"],
        "blocking": [f"{g.status}: {_summary(result, g)}" for g in gates if g.status in _BLOCKING],
        "straddling": [_straddle_item(result, g) for g in gates if straddles(g) is not None],
        "decision": ("gates are judged on the point estimate"
                     if all(g.decision == "point" for g in gates) else
                     "decision: ci_bound judges a gate on the interval's side that must clear "
                     "the threshold"),
        "fairer_metric": tie,
        "fairer_value": num(estimate_of(focus, tie).value if estimate_of(focus, tie) else None),
        "fairer": _fairer_passed_over(result, focus, tie),
    }


VIEW = SectionView("keyfigures", lambda result, o: keyfigures_view(result))
