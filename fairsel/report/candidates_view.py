"""The "Candidates in detail" section's view model (``_candidates.html.j2``): one
block per variant, with its group rates, charts and the per-fold spread.
"""

from __future__ import annotations

from typing import Any

from fairsel.metrics import FAIRNESS_METRICS
from fairsel.metrics.disparity import compared_rates
from fairsel.report.facts import (allows_group_specific_decisions, fraction_text, gate_text,
                                  headline_metric)
from fairsel.report.fmt import (DT_MARK, FEW_MARK, FLAG_TEXT, MARK_LEGENDS, SMALL_MARK,
                                STATUS_SYMBOL, ci_text, count, is_finite, mark_legend,
                                named_and_left, num, threshold_text)
from fairsel.report.section import SectionView
from fairsel.report.tables import leaderboard_columns, ordered_variants
from fairsel.results import AuditResult, VariantResult


def _fold_note(k: int, groups: list[str]) -> str:
    """"fold 2: 'a', 'b' and 3 more": the groups a fold left too small to compare."""
    named, left = named_and_left(groups, 6)
    return f"fold {k + 1}: " + ", ".join(f"'{x}'" for x in named) + (
        f" and {left} more" if left else "")


def _rate(g, name: str) -> dict[str, Any]:
    """A group rate for the tables; ``small`` (with its fraction, e.g. "2/22") when the count it
    divides by is below min_group_size, so that it takes part in no comparison."""
    e = g.rates.get(name)
    if e is None:
        return {"value": "—", "ci": "", "small": False, "fraction": ""}
    return {"value": num(e.value), "ci": ci_text(e.ci),
            "small": name in g.small_rates and e.value is not None,
            "fraction": fraction_text(g, name)}


def _interval(g, name: str):
    from fairsel.report.charts import Interval

    e = g.rates.get(name)
    if e is None:
        return Interval(None)
    lo, hi = (e.ci if e.ci else (None, None))
    return Interval(e.value, lo, hi)


def _ratio_line(result: AuditResult, attribute: str) -> float:
    for g in result.policy.get("gates", []) or []:
        if g.get("metric") in ("disparate_impact", "demographic_parity_ratio") and \
                g.get("min") is not None and \
                (not g.get("attributes") or attribute in g["attributes"]):
            return float(g["min"])
    return 0.8


def candidate_view(result: AuditResult, v: VariantResult, index: int, *,
               with_charts: bool) -> dict[str, Any]:
    from fairsel.report import charts

    level = result.confidence.get("level") if result.confidence.get("method") == "bootstrap" else None
    perf_names, fair_names = leaderboard_columns(result)
    perf_rows = [{"metric": m, "value": num(v.performance[m].value), "ci": ci_text(v.performance[m].ci),
                  "unavailable": v.unavailable.get(m, "")}
                 for m in perf_names if m in v.performance]
    attr_names = [a.attribute for a in v.attributes]
    fair_rows = []
    for m in fair_names:
        h = v.fairness.get(m)
        if h is None:
            continue
        fair_rows.append({
            "metric": m, "value": num(h.value), "ci": ci_text(h.ci), "worst": h.attribute or "—",
            "by_attribute": [num(h.by_attribute[a].value) if a in h.by_attribute else "—"
                             for a in attr_names],
        })
    attrs = []
    panels: list = []
    for j, a in enumerate(v.attributes):
        eligible = set(a.eligible_groups)
        groups = []
        for g in a.groups:
            groups.append({
                "group": g.group, "n": count(g.n),
                "counts": f"{g.tp:,} / {g.fp:,} / {g.tn:,} / {g.fn:,}",
                "base": _rate(g, "base_rate"), "sel": _rate(g, "selection_rate"),
                "tpr": _rate(g, "tpr"), "fpr": _rate(g, "fpr"),
                "eligible": g.group in eligible,
                "is_reference": a.reference is not None and g.group == a.reference,
                "flags": ", ".join(FLAG_TEXT.get(f, f) for f in g.flags),
                # "small" is shown by the dagger; other conditions are spelled out
                "note": ", ".join(FLAG_TEXT.get(f, f) for f in g.flags if f != "small"),
            })
        fairness = [{"metric": m, "value": num(a.fairness[m].value), "ci": ci_text(a.fairness[m].ci)}
                    for m in fair_names if m in a.fairness]
        if a.groups:
            ok = [g.group in eligible for g in a.groups]
            if a.reference is not None:
                ref = next((i for i, g in enumerate(a.groups) if g.group == a.reference), None)
            else:
                best = [(g.rates["selection_rate"].value, i) for i, g in enumerate(a.groups)
                        if ok[i] and "selection_rate" in g.rates
                        and is_finite(g.rates["selection_rate"].value)]
                ref = max(best)[1] if best else None
            panels.append(charts.Panel(
                title=a.attribute + (" (intersection)" if a.kind == "intersection" else ""),
                groups=[g.group for g in a.groups], n=[g.n for g in a.groups],
                selection=[_interval(g, "selection_rate") for g in a.groups],
                tpr=[_interval(g, "tpr") for g in a.groups],
                fpr=[_interval(g, "fpr") for g in a.groups],
                eligible=ok, reference=ref, ratio_line=_ratio_line(result, a.attribute)))
        attrs.append({
            "anchor": f"cand-{index}-attr-{j}", "attribute": a.attribute, "kind": a.kind,
            "columns": ", ".join(a.columns), "reference": a.reference,
            "reference_rule": ("declared reference" if a.reference_rule == "declared"
                               else "no reference: smallest rate over the largest"),
            "groups": groups, "fairness": fairness,
            "eligible": len(eligible), "total": len(a.groups),
            "min_size": result.min_group_size,
        })
    group_charts = (charts.group_rates(f"c{index}", panels, level=level, title=v.name)
                    if with_charts and panels else [])
    # The per-fold spread of the headline disparity.
    metric = headline_metric(result)
    spread_rows = []
    spread_rates = compared_rates(metric) if metric in FAIRNESS_METRICS else ()
    any_small_fold = False
    for a in attr_names:
        vals = [f.fairness.get(metric, {}).get(a) for f in v.folds]
        # a fold's figure on groups whose count in that fold is below min_group_size: marked
        marks = [sorted({grp for r in spread_rates for grp in f.small_cells.get(r, {}).get(a, [])})
                 for f in v.folds]
        any_small_fold |= any(marks)
        est = v.fairness.get(metric).by_attribute.get(a) if metric in v.fairness else None
        finite = [x for x in vals if is_finite(x)]
        spread_rows.append({
            "attribute": a, "folds": [num(x) for x in vals],
            "small": [", ".join(m) for m in marks],
            "notes": [_fold_note(k, m) for k, m in enumerate(marks) if m],
            "pooled": num(est.value if est else None),
            "min": num(min(finite)) if finite else "—", "max": num(max(finite)) if finite else "—",
            "spread": num(max(finite) - min(finite)) if len(finite) >= 2 else "—",
        })
    thr = None
    for g in result.policy.get("gates", []) or []:
        # a relative_to_overall gate bounds a ratio, not the per-fold values shown here
        if g.get("metric") == metric and not g.get("relative_to_overall"):
            thr = threshold_text(g.get("min"), g.get("max"))
            break
    gates = [{"metric": gate_text(result, g)["subject"], "status": g.status,
              "symbol": STATUS_SYMBOL.get(g.status, ""),
              "observed": num(g.observed), "ci": ci_text(g.ci),
              "required": threshold_text(g.min, g.max), "severity": g.severity,
              "attribute": g.attribute or "—"}
             for g in result.gates if g.variant == v.name]
    failures = [f"{f.stage}" + (f" (fold {f.fold})" if f.fold is not None else "") + f": {f.message}"
                for f in result.failures if f.variant == v.name]
    return {
        "anchor": f"cand-{index}", "name": v.name, "candidate": v.candidate, "kind": v.kind,
        "mitigation": v.mitigation, "base": v.base, "rank": v.rank if v.rank is not None else "—",
        "status": v.status, "symbol": STATUS_SYMBOL.get(v.status, ""),
        "selected": v.name == result.ranking.selected,
        "uses_protected": v.uses_protected_at_decision,
        "blocked": v.uses_protected_at_decision and not allows_group_specific_decisions(result),
        "mark": DT_MARK, "mark_legend": MARK_LEGENDS[DT_MARK],
        "small_legend": mark_legend(SMALL_MARK, result.min_group_size),
        "few_legend": mark_legend(FEW_MARK, result.min_group_size),
        "protected_as_features": list(v.protected_as_features),
        "performance": perf_rows, "fairness": fair_rows, "attr_names": attr_names,
        "score_type": v.score_type,
        "score_note": "; ".join(f"{m} not computed: {why}" for m, why in v.unavailable.items()),
        "has_small": any(a["eligible"] < a["total"] for a in attrs),
        "attributes": attrs, "charts": group_charts, "gates": gates, "failures": failures,
        "spread": {"metric": metric, "n_folds": len(v.folds), "rows": spread_rows,
                   "threshold": thr, "any_small": any_small_fold},
    }


def candidates_view(result: AuditResult, *, with_charts: bool = True) -> list[dict[str, Any]]:
    """One block per variant, in the leaderboard's order."""
    return [candidate_view(result, v, i, with_charts=with_charts)
            for i, v in enumerate(ordered_variants(result))]


VIEW = SectionView("candidates",
                   lambda result, o: candidates_view(result, with_charts=o.with_charts),
                   "Candidates in detail")
