"""Policy thresholds → GateResult for every gate × variant (and, inside, every attribute).

A gate is judged on the point estimate, or with ``decision: ci_bound`` on the side of the
interval that must clear the threshold (the lower bound for ``min``, the upper for ``max``):
a variant passes only when the evidence shows it complies. A fairness gate is judged on every
protected attribute and intersection (or those it names); an attribute whose disparity cannot
be computed (fewer than two groups whose rate rests on ``min_group_size`` people: rows for a
selection rate, actual positives for a TPR or FNR, actual negatives for an FPR, predicted
positives for precision) reads INSUFFICIENT. An
undecidable *intersection* is reported but does not, alone, make the gate undecidable; an
undecidable *attribute* does.
"""

from __future__ import annotations

from fairsel.metrics.catalog import PERFORMANCE_RATE
from fairsel.metrics.disparity import FAIRNESS_METRICS
from fairsel.metrics.significance import smallest_adjusted
from fairsel.policy import GateSpec, Policy
from fairsel.results import STATUS_ORDER as ORDER  # noqa: F401 — re-exported
from fairsel.results import (Estimate, GateResult, ProxyScreen, VariantResult, at_threshold,
                             figure_text, gate_subject, threshold_text)


def _check(est: Estimate | None, gate: GateSpec, decision: str) -> tuple[str, float | None]:
    """(PASS | FAIL | INSUFFICIENT, gap) for one estimate."""
    if est is None or est.value is None:
        return "INSUFFICIENT", None
    lo_v = hi_v = est.value
    if decision == "ci_bound":
        if est.ci is None or est.ci[0] is None or est.ci[1] is None:
            return "INSUFFICIENT", None
        lo_v, hi_v = est.ci
    gap = 0.0
    # a figure that is the threshold up to floating-point rounding meets it (a disparate
    # impact of exactly 4/5 computed as 0.7999999999999999 failed "≥ 0.8" by 1e-16)
    if gate.min is not None and lo_v < gate.min and not at_threshold(lo_v, gate.min):
        gap = max(gap, gate.min - lo_v)
    if gate.max is not None and hi_v > gate.max and not at_threshold(hi_v, gate.max):
        gap = max(gap, hi_v - gate.max)
    return ("PASS" if gap == 0 else "FAIL"), gap


def _threshold_text(gate: GateSpec | GateResult) -> str:
    return threshold_text(gate.min, gate.max)


def _fmt(x: float | None, gate: GateSpec) -> str:
    # 4 decimals, as the report's gate tables and key figures write a gate's value and interval
    # (review7: "(CI 0.4743–0.901)" here beside "[0.4743, 0.9010]" on page 1); more digits
    # where 4 would round onto the threshold (0.79999 is not "0.8000" against ≥ 0.8)
    return "n/a" if x is None else figure_text(x, 4, near=(gate.min, gate.max))


def judge(gate_index: int, gate: GateSpec, variant: VariantResult, *, decision: str,
          is_fairness: bool, alpha: float = 0.05) -> GateResult:
    """Judge one gate on one variant.

    With ``require_significance`` an attribute that misses the threshold counts as failing
    only when the smallest adjusted p-value of its groups against the reference, in the rates
    the metric is built on (:func:`fairsel.metrics.significance.smallest_adjusted`), is at most
    ``alpha``; otherwise it reads WARN ("not significant"), and so does the gate when no
    attribute fails and none is undecided.
    """
    common = dict(gate=gate_index, metric=gate.metric, variant=variant.name, min=gate.min,
                  max=gate.max, severity=gate.severity, decision=decision,
                  relative_to_overall=gate.relative_to_overall)
    fail_status = "FAIL" if gate.severity == "error" else "WARN"
    if variant.status == "ERROR":
        return GateResult(**common, status="ERROR", observed=None,
                          message="the variant could not be evaluated (see failures)")
    if gate.relative_to_overall:
        return _judge_relative(gate, variant, common, decision, fail_status)
    if not is_fairness:
        est = variant.performance.get(gate.metric)
        status, gap = _check(est, gate, decision)
        if status == "FAIL":
            status = fail_status
        msg = (f"{gate.metric} = {_fmt(est.value if est else None, gate)}"
               + (f" (CI {_fmt(est.ci[0], gate)}–{_fmt(est.ci[1], gate)})"
                  if est and est.ci else "")
               + f"; required {_threshold_text(gate)}")
        return GateResult(**common, status=status, observed=est.value if est else None,
                          ci=est.ci if est else None, gap=gap, message=msg)

    by_attr: dict[str, str] = {}
    worst: tuple[float, str, Estimate] | None = None
    undecided_attribute = False
    failing: list[str] = []
    not_significant: list[str] = []
    rates = FAIRNESS_METRICS[gate.metric].rates if gate.metric in FAIRNESS_METRICS else ()
    p_adj: dict[str, float | None] = {}
    for attr in variant.attributes:
        if gate.attributes is not None and attr.attribute not in gate.attributes:
            continue
        est = attr.fairness.get(gate.metric)
        status, gap = _check(est, gate, decision)
        by_attr[attr.attribute] = status if status != "FAIL" else fail_status
        if status == "INSUFFICIENT":
            undecided_attribute |= attr.kind == "attribute"
            continue
        p_adj[attr.attribute] = smallest_adjusted(attr, rates)
        if status == "FAIL" and gate.require_significance and not (
                p_adj[attr.attribute] is not None and p_adj[attr.attribute] <= alpha):
            by_attr[attr.attribute] = "WARN"
            not_significant.append(attr.attribute)
        elif status == "FAIL":
            failing.append(attr.attribute)
        if worst is None or (gap or 0) > worst[0] or (
                (gap or 0) == worst[0] == 0 and _more_extreme(est, worst[2], gate)):
            worst = (gap or 0.0, attr.attribute, est)  # type: ignore[assignment]
    if failing:
        status = fail_status
    elif undecided_attribute or worst is None:
        status = "INSUFFICIENT"
    elif not_significant:
        status = "WARN"
    else:
        status = "PASS"
    if worst is None:
        return GateResult(**common, status=status, observed=None, by_attribute=by_attr,
                          message=f"{gate.metric}: no attribute has two groups whose rate rests "
                                  "on at least min_group_size people (rows, actual positives or "
                                  "negatives, or predicted positives, as the rate divides by) to "
                                  "compare")
    gap, attr_name, est = worst
    undecided = [a for a, s in by_attr.items() if s == "INSUFFICIENT"]
    msg = (f"{gate.metric} = {_fmt(est.value, gate)}"
           + (f" (CI {_fmt(est.ci[0], gate)}–{_fmt(est.ci[1], gate)})" if est.ci else "")
           + f" on {attr_name}; required {_threshold_text(gate)}")
    if failing:
        msg += f"; fails on {', '.join(failing)}"
    if not_significant:
        msg += (f"; misses the threshold but not significant (adjusted p > {alpha:g}) on "
                f"{', '.join(not_significant)}")
    p = p_adj.get(attr_name)
    if p is not None:
        msg += f"; adjusted p = {figure_text(p, 3, spec='g')}"
    if undecided:
        msg += f"; undecided (groups too small) on {', '.join(undecided)}"
    return GateResult(**common, status=status, observed=est.value, ci=est.ci,
                      attribute=attr_name, by_attribute=by_attr, gap=gap, p_adjusted=p,
                      significant=None if p is None else p <= alpha, message=msg)


#: Performance metrics a ``relative_to_overall`` gate may judge -> the group rate they read.
GROUP_RATE_OF: dict[str, str] = {**PERFORMANCE_RATE, "roc_auc": "roc_auc"}


def _judge_relative(gate: GateSpec, variant: VariantResult, common: dict, decision: str,
                    fail_status: str) -> GateResult:
    """A ``relative_to_overall`` gate: each eligible group's value over the overall value.

    Judged on the point estimates (a ratio of a group's figure to the whole's has no
    interval here), so under ``decision: ci_bound`` it reads INSUFFICIENT rather than
    pretending to a bound it does not have.
    """
    overall = variant.performance.get(gate.metric)
    rate = GROUP_RATE_OF[gate.metric]
    if decision == "ci_bound" or overall is None or not overall.value:
        why = ("a group's ratio to the overall has no interval (decision: ci_bound)"
               if decision == "ci_bound" else f"the overall {gate.metric} is undefined or 0")
        return GateResult(**common, status="INSUFFICIENT", observed=None,
                          message=f"{gate_subject(gate.metric, True)}: {why}")
    by_attr: dict[str, str] = {}
    worst: tuple[float, str, str] | None = None
    pick = min if gate.min is not None else max
    for attr in variant.attributes:
        if gate.attributes is not None and attr.attribute not in gate.attributes:
            continue
        ratios = [(row.rates[rate].value / overall.value, row.group) for row in attr.groups
                  if rate in row.rates and row.rates[rate].value is not None
                  and rate not in row.small_rates and "unknown" not in row.flags]
        if not ratios:
            by_attr[attr.attribute] = "INSUFFICIENT"
            continue
        low = pick(ratios)  # the group farthest on the threshold's side
        status, _ = _check(Estimate(value=low[0]), gate, "point")
        by_attr[attr.attribute] = status if status != "FAIL" else fail_status
        if worst is None or pick(low[0], worst[0]) == low[0] != worst[0]:
            worst = (low[0], attr.attribute, low[1])
    if worst is None:
        return GateResult(**common, status="INSUFFICIENT", observed=None, by_attribute=by_attr,
                          message=f"{gate_subject(gate.metric, True)}: no group's rate rests on "
                                  "at least min_group_size people")
    ratio, attr_name, group = worst
    status, gap = _check(Estimate(value=ratio), gate, "point")
    failing = [a for a, st in by_attr.items() if st == fail_status and status == "FAIL"]
    msg = (f"{gate.metric} of {group} ({attr_name}) / overall = {_fmt(ratio, gate)} (overall "
           f"{figure_text(overall.value, 4)}); required {_threshold_text(gate)}")
    if failing:
        msg += f"; fails on {', '.join(failing)}"
    return GateResult(**common, status=fail_status if status == "FAIL" else status,
                      observed=ratio, attribute=attr_name, by_attribute=by_attr, gap=gap,
                      message=msg)


def _more_extreme(a: Estimate, b: Estimate, gate: GateSpec) -> bool:
    """Among passing attributes, the one closest to its threshold is the one to show."""
    if a.value is None or b.value is None:
        return False
    if gate.min is not None:
        return a.value < b.value
    return a.value > b.value


def gate_summary(g: GateResult) -> str:
    """One gate's outcome in a line (a warning in the verdict, a failure on the terminal):
    ``gate 3 disparate_impact = 0.5978 on sex × race, required ≥ 0.8 (misses by 0.2022)``; a
    ``relative_to_overall`` gate is named by what it compares, as
    :func:`fairsel.results.gate_rule` names it (``gate 3 balanced_accuracy ÷ overall = 0.9312
    on sex, required ≥ 0.95``)."""
    thr = _threshold_text(g)  # a GateResult carries its gate's min and max
    head = f"gate {g.gate + 1} {gate_subject(g.metric, g.relative_to_overall)}"
    if g.status == "ERROR":
        return f"{head}: the variant could not be evaluated"
    if g.observed is None or g.status == "INSUFFICIENT":
        return f"{head}, required {thr}: undecided (groups too small)"
    text = (f"{head} = {figure_text(g.observed, 4, near=(g.min, g.max))}"
            + (f" on {g.attribute}" if g.attribute else "") + f", required {thr}")
    if g.gap:
        text += f" (misses by {figure_text(g.gap, 4)}"
        # an error-severity gate reads WARN only when its miss is not significant
        # (require_significance); a warn-severity gate's WARN is its severity, whatever p is
        text += (", not significant)" if g.status == "WARN" and g.severity == "error"
                 and g.significant is False else ")")
    return text


def evaluate_gates(variants: list[VariantResult], policy: Policy,
                   fairness_names: set[str]) -> list[GateResult]:
    """Every gate of the policy judged on every variant, in policy order."""
    alpha = policy.metrics.significance.alpha
    return [judge(i, gate, v, decision=policy.decision, is_fairness=gate.metric in fairness_names,
                  alpha=alpha) for v in variants for i, gate in enumerate(policy.gates)]


def variant_status(gates: list[GateResult]) -> str:
    """PASS, WARN, FAIL or INSUFFICIENT for a variant from its gate results."""
    errors = [g for g in gates if g.severity == "error"]
    if any(g.status == "FAIL" for g in errors):
        return "FAIL"
    if any(g.status in ("INSUFFICIENT", "ERROR") for g in errors):
        return "INSUFFICIENT"
    if any(g.status in ("WARN", "FAIL", "INSUFFICIENT") for g in gates):
        return "WARN"
    return "PASS"


#: The metric names of the proxy screen's two gates (policy key ``proxies``).
PROXY_GATES: tuple[str, ...] = ("proxy_feature_auc", "proxy_all_auc")


def proxy_gates(screen: ProxyScreen | None, variants: list[VariantResult], *,
                severity: str, first_index: int,
                without: dict[str, frozenset[str]] | None = None) -> list[GateResult]:
    """The proxy screen's bounds as gate results, judged once on the data and reported for
    every variant (each is trained or scored on the same features): ``proxy_feature_auc``
    (the highest one-feature AUC, flagged features named) and ``proxy_all_auc`` (the
    all-features model's AUC). Indexed after the policy's own gates.

    ``without`` maps a variant trained without some features (``proxies.exclude_flagged``) to
    them: its ``proxy_feature_auc`` leaves them out (a feature the model never sees does not
    stand in for anything in its decisions)."""
    if screen is None:
        return []
    without = without or {}
    cache = {s: _proxy_specs(screen, severity=severity, first_index=first_index, without=s)
             for s in {frozenset(), *without.values()}}
    out = []
    for v in variants:
        for spec in cache[without.get(v.name, frozenset())]:
            if v.status == "ERROR":
                out.append(GateResult(**{**spec, "status": "ERROR", "observed": None,
                                         "attribute": None, "by_attribute": {}, "gap": None,
                                         "message": "the variant could not be evaluated (see "
                                                    "failures)"}, variant=v.name))
            else:
                out.append(GateResult(**spec, variant=v.name))
    return out


def _proxy_specs(screen: ProxyScreen, *, severity: str, first_index: int,
                 without: frozenset[str]) -> list[dict]:
    """The two proxy gates' fields, for a variant that does not use the features ``without``."""
    fail_status = "FAIL" if severity == "error" else "WARN"
    specs = []
    for j, metric in enumerate(PROXY_GATES):
        bound = screen.max_feature_auc if j == 0 else screen.max_all_auc
        by_attr: dict[str, str] = {}
        worst: tuple[float, str] | None = None
        named: list[str] = []
        undecided: list[str] = []
        for a in screen.attributes:
            if a.insufficient:  # groups too small to judge: figures of noise
                by_attr[a.attribute] = "INSUFFICIENT"
                undecided.append(f"{a.attribute}: {a.insufficient}")
                continue
            if j == 0:
                aucs = [f.auc for f in a.features if f.auc is not None
                        and f.feature not in without]
                value = max(aucs) if aucs else None
                flagged = [f for f in a.flagged if f not in without]
                if flagged:
                    named.append(f"{', '.join(flagged)} for {a.attribute}")
            else:
                value = a.all_features_auc
                if a.all_features_flagged:
                    named.append(a.attribute)
            if value is None:
                by_attr[a.attribute] = "INSUFFICIENT"
                continue
            by_attr[a.attribute] = fail_status if value > bound else "PASS"
            if worst is None or value > worst[0]:
                worst = (value, a.attribute)
        if worst is None:
            status, observed, attr, gap = "INSUFFICIENT", None, None, None
            msg = f"{metric}: no protected attribute has two groups to tell apart"
            if undecided:
                msg += " that the screen can judge (" + "; ".join(undecided) + ")"
        else:
            observed, attr = worst
            gap = max(0.0, observed - bound)
            status = fail_status if named else "INSUFFICIENT" if undecided else "PASS"
            what = "one-feature AUC" if j == 0 else "all-features AUC"
            shown = figure_text(observed, 4, near=(None, bound), spec="g")
            msg = f"{metric} = {shown} ({what}) on {attr}; required ≤ {bound:g}"
            if named:
                msg += ("; proxies: " if j == 0 else "; recoverable from the features: ") \
                    + "; ".join(named)
            if undecided:
                msg += "; undecided on " + "; ".join(undecided)
            if without:
                msg += ("; this variant is trained without " + ", ".join(sorted(without))
                        + (" (left out of the figure)" if j == 0 else
                           " (the figure is the screen's, with every feature)"))
        specs.append(dict(gate=first_index + j, metric=metric, min=None, max=bound,
                          severity=severity, decision="point", status=status,
                          observed=observed, attribute=attr, by_attribute=by_attr, gap=gap,
                          message=msg))
    return specs
