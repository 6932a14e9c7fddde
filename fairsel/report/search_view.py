"""The search's part of the report: the optimism warning, the holdout's figures, the trials'
parameters, and the leaderboard cut to ``report.leaderboard_top`` with a summary of the rest.

A pure function of results.json (``selection``, each variant's ``trial``); older results
without ``selection`` give an empty view.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from fairsel.report.tables import fmt, fmt_ci
from fairsel.results import AuditResult

#: ``report.leaderboard_top`` when the policy predates the key.
DEFAULT_TOP = 20


def leaderboard_top(result: AuditResult) -> int:
    """How many variants the leaderboard lists (``report.leaderboard_top``)."""
    return int((result.policy.get("report") or {}).get("leaderboard_top") or DEFAULT_TOP)


def rest_summary(result: AuditResult, top: int) -> str | None:
    """One sentence on the variants ranked below ``top``, or None when the table shows all."""
    order = result.ranking.order
    if len(order) <= top:
        return None
    by = {v.name: v for v in result.variants}
    rest = [by[n] for n in order[top:] if n in by]
    counts = Counter(v.status for v in rest)
    pruned = sum(1 for v in rest if v.trial is not None and v.trial.pruned)
    objective = result.ranking.objective
    values = [v.performance[objective].value for v in rest
              if objective in v.performance and v.performance[objective].value is not None]
    parts = [f"{n} {s}" for s, n in sorted(counts.items())]
    text = f"{len(rest)} more variant(s), ranked {top + 1}–{len(order)}: {', '.join(parts)}"
    if pruned:
        text += f" ({pruned} pruned trial(s) among the ERROR)"
    if values:
        text += f"; {objective} from {fmt(min(values))} to {fmt(max(values))}"
    return text + ". leaderboard.csv and results.json list every one."


def search_view(result: AuditResult) -> dict[str, Any]:
    """The view model of the search and holdout blocks (None where there is nothing to show)."""
    sel = result.selection
    top = leaderboard_top(result)
    view: dict[str, Any] = {"top": top, "rest": rest_summary(result, top), "optimistic": None,
                            "trials": None, "holdout": None}
    if sel is None:
        return view
    view["optimistic"] = sel.note if sel.optimistic else None
    objective = result.ranking.objective
    trials = [v for v in result.variants if v.trial is not None and not v.mitigation]
    if trials:
        rank = {n: i for i, n in enumerate(result.ranking.order)}
        shown = sorted(trials, key=lambda v: rank.get(v.name, len(rank)))[:top]
        names = list(dict.fromkeys(k for v in trials for k in v.trial.params))
        view["trials"] = {
            "count": sel.trials, "pruned": sel.pruned, "params": names,
            "rows": [{"name": v.name, "rank": v.rank if v.rank is not None else "—",
                      "status": v.status,
                      "values": [_param(v.trial.params.get(k)) for k in names],
                      "pruned": v.trial.pruned_reason} for v in shown]}
    if sel.holdout is not None:
        h = sel.holdout
        cv = {v.name: v for v in result.variants}
        rows = []
        for v in h.variants:
            est = v.performance.get(objective)
            was = cv[v.name].performance.get(objective) if v.name in cv else None
            rows.append({"name": v.name, "status": v.status,
                         "selected": v.name == result.ranking.selected,
                         "cv": fmt(was.value if was else None),
                         "holdout": fmt(est.value if est else None),
                         "ci": fmt_ci(est.ci if est else None)})
        view["holdout"] = {"rows_held": h.rows, "fraction": f"{h.fraction:g}",
                           "objective": objective, "variants": rows,
                           "gates": [{"variant": g.variant, "metric": g.metric,
                                      "status": g.status, "message": g.message}
                                     for g in h.gates]}
    return view


def _param(x: Any) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)
