"""The leaderboard's view model (``_leaderboard.html.j2``).
"""

from __future__ import annotations

from typing import Any

from fairsel.report.facts import (allows_group_specific_decisions, gate_columns, mitigated_variants,
                                  scoring)
from fairsel.report.fmt import DT_MARK, STATUS_SYMBOL, column_heads, num
from fairsel.report.section import SectionView
from fairsel.report.tables import leaderboard_columns, ordered_variants
from fairsel.results import AuditResult


def leaderboard_view(result: AuditResult) -> dict[str, Any]:
    perf, fair = leaderboard_columns(result)
    gate_cols = gate_columns(result)
    by = {(g.variant, g.gate): g for g in result.gates}
    allow = allows_group_specific_decisions(result)
    rows = []
    for v in ordered_variants(result):
        rows.append({
            "rank": v.rank if v.rank is not None else "—", "name": v.name,
            "selected": v.name == result.ranking.selected, "status": v.status,
            "symbol": STATUS_SYMBOL.get(v.status, ""), "kind": v.kind,
            "mitigation": v.mitigation or "none",
            "mitigation_in_name": bool(v.mitigation) and v.name.endswith(f"+{v.mitigation}"),
            "uses_protected": v.uses_protected_at_decision,
            "blocked": v.uses_protected_at_decision and not allow,
            "perf": [num(v.performance[m].value) if m in v.performance else "—"
                     for m in perf],
            "fair": [num(v.fairness[m].value) if m in v.fairness else "—"
                     for m in fair],
            "gates": [by[(v.name, c["index"])].status if (v.name, c["index"]) in by else "—"
                      for c in gate_cols],
        })
    failures = [{"variant": f.variant, "candidate": f.candidate, "stage": f.stage,
                 "fold": "—" if f.fold is None else str(f.fold), "message": f.message}
                for f in result.failures]
    return {"perf": column_heads(perf), "fair": column_heads(fair), "gates": gate_cols, "rows": rows,
            "failures": failures, "mark": DT_MARK, "allow": allow,
            "selected": result.ranking.selected, "pooled": scoring(result)["pooled"],
            "any_dt": any(r["uses_protected"] for r in rows),
            "mitigated": bool(mitigated_variants(result))}


VIEW = SectionView("leaderboard", lambda result, o: leaderboard_view(result), "Leaderboard")
