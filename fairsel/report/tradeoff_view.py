"""The trade-off section's view model (``_tradeoff.html.j2``): performance against
the headline disparity, and the Pareto front.
"""

from __future__ import annotations

from typing import Any

from fairsel.metrics import FAIRNESS_METRICS
from fairsel.report.facts import allows_group_specific_decisions, estimate_of, headline_metric, higher_is_better, is_fairness
from fairsel.report.fmt import is_finite, num
from fairsel.report.section import SectionView
from fairsel.report.tables import ordered_variants
from fairsel.results import AuditResult


def pareto_front(x: list[float | None], y: list[float | None], *, x_higher: bool,
                 y_higher: bool) -> list[int]:
    """Indices of the points no other point beats on both axes (ties do not dominate)."""
    pts = [(i, (xv if x_higher else -xv), (yv if y_higher else -yv))
           for i, (xv, yv) in enumerate(zip(x, y)) if is_finite(xv) and is_finite(yv)]
    front = []
    for i, a, b in pts:
        dominated = any((c >= a and d >= b) and (c > a or d > b) for j, c, d in pts if j != i)
        if not dominated:
            front.append(i)
    return front


def tradeoff_view(result: AuditResult, *, with_charts: bool) -> dict[str, Any]:
    from fairsel.report import charts

    variants = ordered_variants(result)
    obj = result.ranking.objective
    fm = result.ranking.fairness_tiebreak if is_fairness(result.ranking.fairness_tiebreak) \
        else headline_metric(result)
    xs = [(estimate_of(v, fm).value if estimate_of(v, fm) else None) for v in variants]
    ys = [(estimate_of(v, obj).value if estimate_of(v, obj) else None) for v in variants]
    x_higher = FAIRNESS_METRICS[fm].higher_is_fairer if fm in FAIRNESS_METRICS else True
    front = pareto_front(xs, ys, x_higher=x_higher, y_higher=higher_is_better(obj))
    # the frontier of the variants that may be selected: a variant deciding with the protected
    # attribute may beat the selected one on both axes, yet the policy forbids choosing it
    allow = allows_group_specific_decisions(result)
    blocked = [v.uses_protected_at_decision and not allow for v in variants]
    eligible = [not b and v.status in ("PASS", "WARN") for v, b in zip(variants, blocked)]
    front_sel = pareto_front([x if e else None for x, e in zip(xs, eligible)], ys,
                             x_higher=x_higher, y_higher=higher_is_better(obj)) \
        if any(blocked) else None
    sel = next((i for i, v in enumerate(variants) if v.name == result.ranking.selected), None)

    def thr(metric: str) -> float | None:
        for g in result.policy.get("gates", []) or []:
            if g.get("metric") == metric and g.get("severity", "error") == "error":
                return g.get("min") if g.get("min") is not None else g.get("max")
        for g in result.policy.get("gates", []) or []:
            if g.get("metric") == metric:
                return g.get("min") if g.get("min") is not None else g.get("max")
        return None

    chart = None
    plotted = sum(1 for a, b in zip(xs, ys) if is_finite(a) and is_finite(b))
    if with_charts and plotted >= 2:
        def cis(metric: str) -> list:
            return [(e.ci if (e := estimate_of(v, metric)) is not None else None)
                    for v in variants]

        chart = charts.tradeoff(
            "tradeoff", names=[v.name for v in variants], ranks=[v.rank for v in variants],
            x=xs, y=ys, passing=[v.status in ("PASS", "WARN") for v in variants], selected=sel,
            frontier=front,
            x_label=f"{fm} ({'higher' if x_higher else 'lower'} is fairer; worst over attributes)",
            y_label=f"{obj} ({'higher' if higher_is_better(obj) else 'lower'} is better)",
            x_threshold=thr(fm), y_threshold=thr(obj),
            blocked=blocked,
            x_ci=cis(fm), y_ci=cis(obj))
    rows = [{"rank": v.rank if v.rank is not None else "—", "name": v.name,
             "x": num(xs[i]), "y": num(ys[i]), "frontier": i in front,
             "frontier_selectable": (None if front_sel is None or not eligible[i]
                                     else i in front_sel),
             "selected": i == sel, "status": v.status}
            for i, v in enumerate(variants)]
    # the chart draws the frontier as a line only when it has two points or more
    drawn_front = [variants[i].name for i in front if is_finite(xs[i]) and is_finite(ys[i])]
    return {"x_metric": fm, "y_metric": obj, "chart": chart, "rows": rows,
            "any_blocked": front_sel is not None,
            "x_higher": x_higher, "plotted": plotted,
            "frontier_line": len(drawn_front) >= 2, "frontier_names": drawn_front}


VIEW = SectionView("tradeoff",
                   lambda result, o: tradeoff_view(result, with_charts=o.with_charts),
                   "Trade-off between performance and fairness")
