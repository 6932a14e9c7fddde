"""Gates + objective → Ranking: which variant to deploy, and why.

Passing variants (PASS or WARN) come first, ordered by the objective. Among those within
``tolerance`` of the best objective, the fairest by ``fairness_tiebreak`` is selected.
Variants that use the protected attribute at decision time are never selected when the
policy forbids group-specific decisions. Variants that do not pass follow, ordered by how
far they are from passing (gate status, then the summed gap to the thresholds).
"""

from __future__ import annotations

from fairsel.policy import Policy
from fairsel.results import STATUS_ORDER as ORDER
from fairsel.results import (GateResult, PassedOver, Ranking, VariantResult, at_threshold,
                             no_error_gate)


def _value(v: VariantResult, metric: str, fairness: bool) -> float | None:
    est = v.fairness.get(metric) if fairness else v.performance.get(metric)
    return None if est is None else est.value


def _fmt(x: float | None) -> str:
    # a tiebreak figure can be undefined (fewer than two groups large enough to compare)
    return "undefined" if x is None else f"{x:.4f}"


#: Why none was selected when the variants that pass may not be (the ranking's reason, the verdict).
ONLY_PROTECTED_PASS = ("the variants that pass all decide with the protected attribute, which "
                       "the policy forbids (mitigation_policy → "
                       "allow_group_specific_decisions: false)")
#: Why none was selected when the policy has no error-severity gate: none could be evaluated.
NONE_EVALUATED = "no variant could be evaluated (see failures)"


def _passing_reason(k: int, n: int, has_error_gate: bool) -> str:
    """The ranking's first reason: how many variants pass every error-severity gate, or, when
    the policy sets none, that no gate could block them (:func:`no_error_gate`)."""
    if has_error_gate:
        return f"{k} of {n} variant(s) pass every error-severity gate"
    evaluated = f"the {k} variant(s)" if k == n else f"the {k} of {n} variant(s) evaluated"
    return no_error_gate(f"any of {evaluated}")


def rank(variants: list[VariantResult], gates: list[GateResult], policy: Policy, *,
         higher_is_better: dict[str, bool], fairness_names: set[str]) -> Ranking:
    r = policy.ranking
    obj_hib = higher_is_better[r.objective]
    tie_hib = higher_is_better[r.fairness_tiebreak]
    tie_is_fair = r.fairness_tiebreak in fairness_names
    sign = 1.0 if obj_hib else -1.0

    def obj(v: VariantResult) -> float:
        x = _value(v, r.objective, r.objective in fairness_names)
        return -float("inf") if x is None else sign * x

    allow_gsd = policy.mitigation_policy.allow_group_specific_decisions
    # the policy's gates (a template's included) and the proxy screen's, judged or not
    has_error_gate = any(g.severity == "error" for g in [*policy.gates, *gates])
    passing = [v for v in variants if v.status in ("PASS", "WARN")]
    selectable = [v for v in passing if allow_gsd or not v.uses_protected_at_decision]
    reasons: list[str] = []
    selected = None
    near: list[VariantResult] = []
    if selectable:
        best = max(obj(v) for v in selectable)
        # within the tolerance, its edge included: a variant exactly `tolerance` below the best
        # (38/75 against 149/300 at 0.01) is within it, whatever floating point makes of it
        near = [v for v in selectable if obj(v) >= best - r.tolerance
                or at_threshold(obj(v), best - r.tolerance)]

        def fairness_key(v: VariantResult) -> float:
            x = _value(v, r.fairness_tiebreak, tie_is_fair)
            if x is None:
                return -float("inf")
            return x if tie_hib else -x

        chosen = max(near, key=lambda v: (fairness_key(v), obj(v), [-ord(c) for c in v.name]))
        selected = chosen.name
        top = max(selectable, key=lambda v: (obj(v), [-ord(c) for c in v.name]))
        reasons.append(_passing_reason(len(passing), len(variants), has_error_gate))
        blocked = [v.name for v in passing if v not in selectable]
        if blocked:
            reasons.append(f"{len(blocked)} of them are not selectable because they decide with "
                           "the protected attribute (mitigation_policy → "
                           "allow_group_specific_decisions: false): " + ", ".join(blocked))
        # "among them" must be the variants it was chosen among: the selectable ones
        among = (f"among the {len(selectable)} selectable one(s)" if blocked else "among them")
        if chosen is top:
            reasons.append(f"'{chosen.name}' has the best {r.objective} {among} "
                           f"({sign * obj(chosen):.4f})")
        else:
            reasons.append(
                f"'{top.name}' has the best {r.objective}"
                f"{' ' + among if blocked else ''} ({sign * obj(top):.4f}); "
                f"'{chosen.name}' "
                f"is within the tolerance of {r.tolerance:g} ({sign * obj(chosen):.4f}) and fairer "
                f"by {r.fairness_tiebreak} ({_fmt(_value(chosen, r.fairness_tiebreak, tie_is_fair))} "
                f"against {_fmt(_value(top, r.fairness_tiebreak, tie_is_fair))})")
        if len(near) > 1 and chosen is top:
            reasons.append(f"{len(near) - 1} other variant(s) within {r.tolerance:g} of it are "
                           f"no fairer by {r.fairness_tiebreak}")
    else:
        reasons.append(("no variant passes every error-severity gate" if has_error_gate else
                        NONE_EVALUATED) if not passing else ONLY_PROTECTED_PASS)

    passed_over = _passed_over(variants, selectable, near,
                               selected, policy, tie_is_fair, fairness_names,
                               top=top if selectable else None)
    gap = {v.name: sum((g.gap or 0.0) for g in gates if g.variant == v.name and g.severity == "error")
           for v in variants}
    head = sorted(selectable, key=lambda v: (-obj(v), v.name))
    if selected is not None:
        head.remove(next(v for v in head if v.name == selected))
        head.insert(0, next(v for v in selectable if v.name == selected))
    rest = sorted((v for v in variants if v not in selectable),
                  key=lambda v: (ORDER[v.status] if v.status != "WARN" else 0, gap[v.name],
                                 -obj(v), v.name))
    return Ranking(selected=selected, order=[v.name for v in head + rest], objective=r.objective,
                   tolerance=r.tolerance, fairness_tiebreak=r.fairness_tiebreak, reasons=reasons,
                   passed_over=passed_over)


def _passed_over(variants: list[VariantResult], selectable: list[VariantResult],
                 near: list[VariantResult], selected: str | None, policy: Policy,
                 tie_is_fair: bool, tie_names: set[str],
                 top: VariantResult | None = None) -> dict[str, PassedOver]:
    """Why each variant but the selected one was not selected: the rule of :func:`rank`
    that set it aside, first failing the gates, then deciding with the protected attribute,
    then the tolerance and the tie-break. ``top``: the selectable variant with the best
    objective, the one the tolerance counts from (named, since a variant that may not be
    selected can have a better objective)."""
    r = policy.ranking
    best = (f"the best {r.objective} of a selectable variant ('{top.name}', "
            f"{_fmt(_value(top, r.objective, r.objective in tie_names))})"
            if top is not None else f"the best {r.objective}")
    chosen = next((v for v in variants if v.name == selected), None)
    out: dict[str, PassedOver] = {}
    for v in variants:
        if v.name == selected:
            continue
        if v.status not in ("PASS", "WARN"):
            out[v.name] = PassedOver(reason="not_passing", text=(
                "it does not pass every error-severity gate" if v.status == "FAIL" else
                "it could not be evaluated (see failures)" if v.status == "ERROR" else
                f"it cannot be shown to pass every error-severity gate ({v.status})"))
        elif v not in selectable:
            out[v.name] = PassedOver(reason="decides_with_protected", text=(
                "it decides using the protected attribute, which the policy forbids "
                "(mitigation_policy → allow_group_specific_decisions: false)"))
        elif chosen is not None and v in near:
            mine = _fmt(_value(v, r.fairness_tiebreak, tie_is_fair))
            theirs = _fmt(_value(chosen, r.fairness_tiebreak, tie_is_fair))
            out[v.name] = PassedOver(reason="less_fair", text=(
                (f"it has the best {r.objective} of a selectable variant but is "
                 if v is top else f"it is within the tolerance of {r.tolerance:g} of {best} but ")
                + f"no fairer by {r.fairness_tiebreak} than '{chosen.name}' ({mine} against "
                f"{theirs})"))
        elif chosen is not None:
            mine = _fmt(_value(v, r.objective, r.objective in tie_names))
            out[v.name] = PassedOver(reason="lower_objective", text=(
                f"its {r.objective} ({mine}) is more than {r.tolerance:g} from {best}"))
    return out
