"""Tables shared by every renderer (leaderboard rows, number formatting)."""

from __future__ import annotations

from typing import Any

from fairsel.results import AuditResult, VariantResult


def fmt(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def fmt_ci(ci) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def ordered_variants(result: AuditResult) -> list[VariantResult]:
    pos = {n: i for i, n in enumerate(result.ranking.order)}
    return sorted(result.variants, key=lambda v: (pos.get(v.name, 10**9), v.name))


def leaderboard_columns(result: AuditResult) -> tuple[list[str], list[str]]:
    """(performance, fairness) metric names the leaderboard shows: the policy's, plus gates'."""
    perf = list(result.metrics["performance"])
    fair = list(result.metrics["fairness"])
    # every evaluated variant carries every performance metric; a failed one carries none
    perf_names = {m for v in result.variants for m in v.performance}
    for g in result.gates:
        target = perf if g.metric in perf_names or g.metric in perf else fair
        if g.metric not in perf and g.metric not in fair:
            target.append(g.metric)
    if result.ranking.objective not in perf and result.ranking.objective not in fair:
        perf.insert(0, result.ranking.objective)
    return perf, fair


def leaderboard_rows(result: AuditResult) -> list[dict[str, Any]]:
    """One flat row per variant, in rank order (the CSV's columns)."""
    perf, fair = leaderboard_columns(result)
    rows = []
    for v in ordered_variants(result):
        row: dict[str, Any] = {
            "rank": v.rank, "variant": v.name, "candidate": v.candidate, "kind": v.kind,
            "mitigation": v.mitigation or "", "status": v.status,
            "selected": v.name == result.ranking.selected,
            "uses_protected_at_decision": v.uses_protected_at_decision,
        }
        for m in perf:
            est = v.performance.get(m)
            row[m] = est.value if est else None
            row[f"{m}_ci_low"] = est.ci[0] if est and est.ci else None
            row[f"{m}_ci_high"] = est.ci[1] if est and est.ci else None
        for m in fair:
            h = v.fairness.get(m)
            row[m] = h.value if h else None
            row[f"{m}_ci_low"] = h.ci[0] if h and h.ci else None
            row[f"{m}_ci_high"] = h.ci[1] if h and h.ci else None
            row[f"{m}_worst_attribute"] = h.attribute if h else None
        for g in result.gates:
            if g.variant == v.name:
                key = f"gate{g.gate}_{g.metric}"
                row[key] = g.status
                row[f"{key}_gap"] = g.gap
        rows.append(row)
    return rows
