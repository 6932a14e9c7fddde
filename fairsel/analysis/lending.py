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
    at_threshold,
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
            below_four_fifths=None if air is None else (
                air < FOUR_FIFTHS and not at_threshold(air, FOUR_FIFTHS)),
            test=t.test if t else None, p=t.p if t else None,
            p_adjusted=t.p_adjusted if t else None,
            significant=None if t is None else t.p_adjusted <= alpha, small=small))
    return AdverseImpactTable(attribute=attr.attribute, kind=attr.kind, reference=ref,
                              rows=rows)


def _scored(variants: Sequence[VariantResult], ranking: Ranking
            ) -> list[tuple[float, VariantResult]]:
    """(objective, variant) of every evaluated variant that has the ranking's objective."""
    out = []
    for v in variants:
        est = v.performance.get(ranking.objective)
        if v.status != "ERROR" and est is not None and est.value is not None:
            out.append((est.value, v))
    return out


def _best(scored: Sequence[tuple[float, VariantResult]], higher_is_better: bool) -> float | None:
    sign = 1 if higher_is_better else -1
    return max(sign * o for o, _ in scored) * sign if scored else None


def selectable_names(ranking: Ranking) -> set[str]:
    """The variants the ranking chose among (read from its own record): the selected one and
    those it set aside only by the tolerance or the tie-break; none when nothing was selected."""
    if ranking.selected is None:
        return set()
    return {ranking.selected} | {n for n, p in ranking.passed_over.items()
                                 if p.reason in ("less_fair", "lower_objective")}


def best_selectable(variants: Sequence[VariantResult], ranking: Ranking, *,
                    higher_is_better: bool) -> float | None:
    """The best objective among the variants the ranking may select: the figure its tolerance
    counts from (the best of all variants may fail a gate or decide with the protected
    attribute)."""
    names = selectable_names(ranking)
    return _best([(o, v) for o, v in _scored(variants, ranking) if v.name in names],
                 higher_is_better)


def alternatives(variants: Sequence[VariantResult], ranking: Ranking, *,
                 higher_is_better: bool, fairness: Sequence[str]
                 ) -> tuple[float | None, list[Alternative]]:
    """(best objective, every evaluated variant within ``ranking.tolerance`` of it or of the
    best selectable objective, best first).

    The second reference is the one the ranking counts its tolerance from: without it a
    variant the ranking's reasons name as "within the tolerance" of the selected one could be
    missing from the table, when the best of all variants fails a gate. Each row carries its
    disparities and the ranking's own reason for choosing it or not.
    """
    scored = _scored(variants, ranking)
    if not scored:
        return None, []
    sign = 1 if higher_is_better else -1
    best = _best(scored, higher_is_better)
    refs = [b for b in (best, best_selectable(variants, ranking,
                                              higher_is_better=higher_is_better))
            if b is not None]
    close = [(o, v) for o, v in scored
             if any(abs(o - b) <= ranking.tolerance or at_threshold(abs(o - b), ranking.tolerance)
                    for b in refs)]
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
                         best_objective=best,
                         best_selectable_objective=best_selectable(
                             variants, ranking, higher_is_better=higher_is_better),
                         tolerance=ranking.tolerance, alternatives=alts)
