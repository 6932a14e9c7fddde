"""The "Gates" section's view model (``_gates.html.j2``): each gate's results, and the
significance table.
"""

from __future__ import annotations

from typing import Any

from fairsel.gates import PROXY_GATES
from fairsel.report.facts import (allows_group_specific_decisions, gate_text, proxy_gates_note,
                                  straddles)
from fairsel.report.fmt import (DT_MARK, STATUS_SYMBOL, ci_text, mark_legend, num, p_text,
                                threshold_text)
from fairsel.report.section import SectionView
from fairsel.report.tables import TESTED_RATE_NAMES, ordered_variants
from fairsel.results import AuditResult, GateResult


def gates_view(result: AuditResult) -> list[dict[str, Any]]:
    by_gate: dict[int, list[GateResult]] = {}
    for g in result.gates:
        by_gate.setdefault(g.gate, []).append(g)
    pos = {n: i for i, n in enumerate(result.ranking.order)}
    # a variant deciding with the protected attribute is marked ⚑ here as everywhere (review8:
    # such a variant read "✓ PASS" in the gate tables with nothing to say it may not be chosen)
    dt = _deciding_with_protected(result)
    blocked = set() if allows_group_specific_decisions(result) else dt
    out = []
    # the proxy gates' note once, on the first of them
    first_proxy = min((i for i, gs in by_gate.items() if gs[0].metric in PROXY_GATES), default=None)
    for idx in sorted(by_gate):
        gs = sorted(by_gate[idx], key=lambda g: (pos.get(g.variant, 10**9), g.variant))
        first = gs[0]
        # One column per attribute, headed once, with a status symbol per cell: the by-attribute
        # statuses of 20 variants stay one line each.
        attrs = list(dict.fromkeys(a for g in gs for a in g.by_attribute))
        out.append({
            "index": idx, "label": f"G{idx + 1}", "metric": first.metric,
            "rule": gate_text(result, first)["rule"],
            "threshold": threshold_text(first.min, first.max), "severity": first.severity,
            "decision": first.decision, "attributes": attrs,
            "has_p": any(g.p_adjusted is not None for g in gs),
            "note": proxy_gates_note(result) if idx == first_proxy else "",
            # Four decimals: a gate is decided on the unrounded value, and 0.7999 must not
            # read as "0.800" beside a FAIL.
            "rows": [{"variant": g.variant, "observed": num(g.observed, 4), "ci": ci_text(g.ci),
                      "attribute": g.attribute or "—", "status": g.status,
                      "symbol": STATUS_SYMBOL.get(g.status, ""),
                      "gap": gap_text(g), "p_adjusted": p_text(g.p_adjusted),
                      "by_attribute": [
                          {"status": g.by_attribute.get(a, "—"),
                           "symbol": STATUS_SYMBOL.get(g.by_attribute.get(a, ""), "—")}
                          for a in attrs],
                      "selected": g.variant == result.ranking.selected,
                      "dt": g.variant in dt, "blocked": g.variant in blocked,
                      # ◆ as on page 1: the interval contains the threshold (review8)
                      "straddles": straddles(g) is not None}
                     for g in gs],
        })
    return out


def gap_text(g: GateResult) -> str:
    """How far the gate's observed figure is from its threshold (the Gates table's Gap): the
    miss for a gate it does not pass (results' ``gap``), the margin it clears the nearest bound
    by for one it passes on the point estimate — never ``0.0000`` beside a figure that clears
    it by 0.12; an em dash when the judged figure is not the point estimate (or undefined)."""
    if g.gap is None or g.observed is None:
        return "—"
    if g.gap > 0 or g.status not in ("PASS", "WARN", "FAIL"):
        return num(g.gap, 4)
    if g.decision != "point":
        return "—"
    margins = [g.observed - g.min] if g.min is not None else []
    margins += [g.max - g.observed] if g.max is not None else []
    return num(min(margins), 4) if margins else "—"


def significance_view(result: AuditResult) -> list[dict[str, Any]]:
    """Per variant in rank order and tested rate: its smallest adjusted p-value, with the raw p
    and the comparison it comes from (the gates section's significance table)."""
    rows = []
    for v in ordered_variants(result):
        cells = []
        for rate in TESTED_RATE_NAMES:
            found = [(t.p_adjusted, t.p, a.attribute, g.group, t.reference)
                     for a in v.attributes for g in a.groups
                     for r, t in g.significance.items() if r == rate]
            if not found:
                cells.append({"p_adjusted": "—", "p": "", "where": ""})
                continue
            adj, raw, attribute, group, ref = min(found, key=lambda f: (f[0], f[1]))
            cells.append({"p_adjusted": p_text(adj), "p": p_text(raw),
                          "where": f"{group} vs {ref} ({attribute})"})
        if any(c["p"] for c in cells):
            rows.append({"variant": v.name, "cells": cells,
                         "selected": v.name == result.ranking.selected})
    return rows


#: A gate table of at most this many rows (variants) is kept on one page with its caption
#: (review10: a caption with one row at a page's foot read as two tables); a longer one keeps
#: its caption, header and first ROWS_LEAD rows together and its last ROWS_TAIL rows together,
#: and may break between them (an audit of 20 variants: whole tables left most of a page
#: empty and the report ran past its 100-page bound).
ROWS_WHOLE, ROWS_LEAD, ROWS_TAIL = 12, 3, 2


def gate_marks_view(result: AuditResult) -> dict[str, Any]:
    """The marks the gate tables set, with the legends the section prints: ⚑ on a gated
    variant that decides with the protected attribute (and whether the policy forbids
    selecting it), ◆ on an interval that contains its gate's threshold."""
    dt = {g.variant for g in result.gates} & _deciding_with_protected(result)
    return {"dt_mark": DT_MARK, "dt_legend": mark_legend(DT_MARK), "dt": bool(dt),
            "blocked": bool(dt) and not allows_group_specific_decisions(result),
            "straddles": any(straddles(g) is not None for g in result.gates),
            # the gate tables star the selected variant's rows (review10: with no legend here)
            "selected": result.ranking.selected is not None,
            "rows_whole": ROWS_WHOLE, "rows_lead": ROWS_LEAD, "rows_tail": ROWS_TAIL}


def _deciding_with_protected(result: AuditResult) -> set[str]:
    return {v.name for v in result.variants if v.uses_protected_at_decision}


VIEW = SectionView("gates", lambda result, o: gates_view(result), "Gates")
#: The marks of the gate tables and their legends.
MARKS_VIEW = SectionView("gate_marks", lambda result, o: gate_marks_view(result))
#: The significance table, shown in the Gates section.
SIGNIFICANCE_VIEW = SectionView("significance", lambda result, o: significance_view(result))
