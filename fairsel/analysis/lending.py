"""Adverse impact review (ECOA / Regulation B): adverse impact ratios with the four-fifths
indicator and their significance tests, and the less-discriminatory-alternative table.

Pure functions of the measured variants and the ranking: the ratios come from the pooled
out-of-fold group counts, the tests from :mod:`fairsel.metrics.significance` (already on each
group row), the alternatives' reasons from the ranking itself, never from a guess.
"""

from __future__ import annotations

from collections.abc import Sequence

from fairsel.results import (
    AdverseImpactRow,
    AdverseImpactTable,
    Alternative,
    AttributeMetrics,
    LendingReview,
    Ranking,
    VariantResult,
)

FOUR_FIFTHS = 0.8


def adverse_impact_table(attr: AttributeMetrics, *, alpha: float) -> AdverseImpactTable:
    """Each group's selection rate over the reference's (declared, else the eligible group
    with the highest rate, as the significance tests take it)."""
    def rate(row) -> float | None:
        est = row.rates.get("selection_rate")
        return None if est is None else est.value

    eligible = [r for r in attr.groups if "selection_rate" not in r.small_rates
                and rate(r) is not None]
    ref = attr.reference
    if ref is None and eligible:
        ref = max(eligible, key=lambda r: rate(r)).group  # type: ignore[arg-type, return-value]
    ref_row = next((r for r in attr.groups if r.group == ref), None)
    ref_rate = rate(ref_row) if ref_row is not None else None
    rows = []
    for r in attr.groups:
        small = "selection_rate" in r.small_rates
        air = None
        if r.group != ref and not small and ref_rate and rate(r) is not None:
            air = rate(r) / ref_rate  # type: ignore[operator]
        t = r.significance.get("selection_rate")
        rows.append(AdverseImpactRow(
            group=r.group, n=r.n, selection_rate=rate(r), air=air,
            below_four_fifths=None if air is None else air < FOUR_FIFTHS,
            test=t.test if t else None, p=t.p if t else None,
            p_adjusted=t.p_adjusted if t else None,
            significant=None if t is None else t.p_adjusted <= alpha, small=small))
    return AdverseImpactTable(attribute=attr.attribute, kind=attr.kind, reference=ref,
                              rows=rows)


def alternatives(variants: Sequence[VariantResult], ranking: Ranking, *,
                 higher_is_better: bool, fairness: Sequence[str]
                 ) -> tuple[float | None, list[Alternative]]:
    """(best objective, every evaluated variant within ``ranking.tolerance`` of it, best first).

    Each row carries its disparities and the ranking's own reason for choosing it or not.
    """
    def objective(v: VariantResult) -> float | None:
        est = v.performance.get(ranking.objective)
        return None if est is None else est.value

    scored = [(objective(v), v) for v in variants if v.status != "ERROR"
              and objective(v) is not None]
    if not scored:
        return None, []
    sign = 1 if higher_is_better else -1
    best = max(sign * o for o, _ in scored) * sign  # type: ignore[operator]
    close = [(o, v) for o, v in scored if abs(o - best) <= ranking.tolerance + 1e-12]  # type: ignore[operator]
    close.sort(key=lambda ov: -sign * ov[0])  # type: ignore[operator]
    out = []
    for o, v in close:
        chosen = v.name == ranking.selected
        if chosen:
            # the ranking's sentences, the one that names the choice last
            why = "; ".join(ranking.reasons) if ranking.reasons else "selected by the ranking"
        elif v.name in ranking.passed_over:
            why = ranking.passed_over[v.name].text
        else:
            why = "not selected: no variant was selected"
        out.append(Alternative(
            variant=v.name, objective=o, status=v.status, selected=chosen, why=why,
            disparities={m: v.fairness[m].value if m in v.fairness else None
                         for m in fairness}))
    return best, out


def lending_review(variant: VariantResult, variants: Sequence[VariantResult], ranking: Ranking,
                   *, alpha: float, higher_is_better: bool,
                   fairness: Sequence[str]) -> LendingReview:
    """The review of ``variant`` (the selected one) and the alternatives table."""
    best, alts = alternatives(variants, ranking, higher_is_better=higher_is_better,
                              fairness=fairness)
    return LendingReview(variant=variant.name, alpha=alpha,
                         tables=[adverse_impact_table(a, alpha=alpha)
                                 for a in variant.attributes],
                         best_objective=best, tolerance=ranking.tolerance,
                         alternatives=alts)
