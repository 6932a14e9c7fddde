"""What several sections ask of a result: a variant's estimate of a metric, the headline
disparity, how the figures were scored, which variants were mitigated, the gate columns.
"""

from __future__ import annotations

from typing import Any

from fairsel.gates import PROXY_GATES, gate_summary
from fairsel.metrics import FAIRNESS_METRICS, METRICS
from fairsel.partition import SEP, UNKNOWN, is_missing_group
from fairsel.policy.schema import MitigationPolicySpec
from fairsel.report.fmt import gate_rule, gate_subject, is_finite, threshold_text
from fairsel.results import AuditResult, Estimate, GateResult, VariantResult


def higher_is_better(metric: str) -> bool:
    if metric in METRICS:
        return METRICS.get(metric).higher_is_better
    return True


def is_fairness(metric: str) -> bool:
    return metric in FAIRNESS_METRICS


def estimate_of(v: VariantResult, metric: str) -> Estimate | None:
    if is_fairness(metric):
        h = v.fairness.get(metric)
        return None if h is None else Estimate(value=h.value, ci=h.ci)
    return v.performance.get(metric)


def rate_eligible(eligible: set[str], g, rate: str) -> bool:
    """Whether group ``g``'s ``rate`` takes part in disparities: its group is large enough (in
    ``eligible``, the attribute's eligible groups) and the count the rate divides by is at least
    ``min_group_size`` (not in ``small_rates``)."""
    return (g.group in eligible and rate not in g.small_rates
            and rate in g.rates and is_finite(g.rates[rate].value))


def fraction_text(g, rate: str) -> str:
    """``"2/22"``: the count a rate counts over the count it divides by ("" when not a fraction)."""
    fr = g.fractions.get(rate)
    return f"{fr[0]:,}/{fr[1]:,}" if fr else ""


#: The group that missing protected values form (fairsel.partition.UNKNOWN).
UNKNOWN_GROUP = UNKNOWN


def missing_in(attribute: str, group: str) -> list[str]:
    """The protected attributes whose value is missing in ``group`` of ``attribute``: the group
    is, or for an intersection (``sex × race``) has a part that is, "unknown"
    (:func:`fairsel.partition.is_missing_group`)."""
    if not is_missing_group(group):
        return []
    parts = group.split(SEP)
    names = attribute.split(SEP)
    if len(names) != len(parts):
        return [attribute]
    return [n for n, p in zip(names, parts) if p == UNKNOWN_GROUP]


def missing_note(attribute: str, group: str) -> str:
    """``"'unknown' here is missing data (race/ethnicity not recorded), not a demographic
    group"`` for a group of missing values, "" for any other: a sentence that names such a
    group as one side of a gap says what it is."""
    names = missing_in(attribute, group)
    if not names:
        return ""
    return (f"'{UNKNOWN_GROUP}' here is missing data ({' and '.join(names)} not recorded), "
            "not a demographic group")


def headline_metric(result: AuditResult) -> str:
    """The disparity the report leads with: the first fairness gate's, else the tie-break's."""
    for g in result.policy.get("gates", []) or []:
        if is_fairness(g.get("metric", "")):
            return g["metric"]
    if is_fairness(result.ranking.fairness_tiebreak):
        return result.ranking.fairness_tiebreak
    fair = result.metrics.get("fairness") or []
    return fair[0] if fair else "disparate_impact"


#: Candidate kinds whose scores are fixed before the audit (made elsewhere, or by a model
#: trained elsewhere): nothing is fitted in the folds, so "out of fold" does not describe them.
FIXED_KINDS = ("predictions", "saved_model")


def decisions_phrase(result: AuditResult, variant: str | None = None) -> str:
    """How the decisions a section reads were made, in words true for them: "pooled
    out-of-fold decisions" for candidates trained in the audit, not for scores or models made
    before it (of ``variant``, or of every variant)."""
    kinds = {v.kind for v in result.variants if variant is None or v.name == variant}
    if kinds and kinds <= set(FIXED_KINDS):
        return "decisions over all the rows pooled (from scores made before the audit)"
    if kinds & set(FIXED_KINDS):
        return ("pooled decisions (out of fold for the candidates trained in the audit, as "
                "given for the others)")
    return "pooled out-of-fold decisions"


def scoring(result: AuditResult) -> dict[str, Any]:
    """How the figures were scored, in words true for this result: out of fold for trained
    candidates; scores made before the audit, or models trained before it, are used as they
    are (the audit cannot know what data made them)."""
    def names(kind: str) -> list[str]:
        return sorted({v.candidate for v in result.variants if v.kind == kind})

    def quoted(ns: list[str]) -> str:
        return ", ".join(f"'{n}'" for n in ns)
    preds, saved = names("predictions"), names("saved_model")
    trained = any(v.kind not in FIXED_KINDS for v in result.variants)
    parts = ([f"the scores of {quoted(preds)} were made before the audit"] if preds else []) + (
        [f"{quoted(saved)} {'was a model' if len(saved) == 1 else 'were models'} trained before "
         "the audit"] if saved else [])
    fixed = " and ".join(parts)
    fixed = fixed[:1].upper() + fixed[1:]
    if not parts:
        method = ("Every figure is computed on the pooled out-of-fold predictions: each row is "
                  "scored by a model that never saw it. Per-fold values are kept to show their "
                  "spread.")
        pooled = "pooled out-of-fold figures"
    elif not trained:
        method = (f"{fixed}; they are used as they are: nothing is trained, so the folds only "
                  "split the rows to show the spread of each figure, and every figure is "
                  "computed on all the rows pooled. Whether these rows were used to make the "
                  "scores is not known to the audit.")
        pooled = "figures over all the rows pooled (nothing was trained in the audit)"
    else:
        method = ("Trained candidates are scored out of fold: each row by a model that never saw "
                  f"it. {fixed}; they are used as they are, and whether these rows were used to "
                  "make their scores is not known. Figures are pooled over the folds; per-fold "
                  "values are kept to show their spread.")
        pooled = ("pooled figures (out of fold for the candidates trained in the audit, as "
                  "given for the others)")
    # scores made elsewhere use no feature of this data; a saved model does
    only_scores = bool(preds) and all(v.kind == "predictions" for v in result.variants)
    return {"method": method, "pooled": pooled, "features_unused": only_scores}


def gate_spec(result: AuditResult, index: int) -> dict[str, Any]:
    """Gate ``index`` as the policy in results.json wrote it (empty if it is not there)."""
    gates = result.policy.get("gates") or [] if isinstance(result.policy, dict) else []
    spec = gates[index] if 0 <= index < len(gates) else {}
    return spec if isinstance(spec, dict) else {}


def is_relative(result: AuditResult, index: int) -> bool:
    """Whether gate ``index`` judges each group's figure over the overall one
    (``relative_to_overall``): its value is then a ratio, not the metric."""
    return bool(gate_spec(result, index).get("relative_to_overall"))


def gate_text(result: AuditResult, g: GateResult) -> dict[str, str]:
    """How a judged gate is labelled everywhere: ``subject`` (the metric, or the ratio a
    ``relative_to_overall`` gate compares), ``required`` (its bounds) and ``rule`` (both)."""
    rel = is_relative(result, g.gate)
    return {"subject": gate_subject(g.metric, rel), "required": threshold_text(g.min, g.max),
            "rule": gate_rule(g.metric, g.min, g.max, rel)}


#: What the proxy screen's gates judge: the data, not a model.
SCREENED = "the features in the data"


def scores_without_features(result: AuditResult) -> list[str]:
    """The candidates whose scores were made before the audit (kind: predictions): the audit
    cannot see which features, if any, they used."""
    return sorted({v.candidate for v in result.variants if v.kind == "predictions"})


def proxy_gates_note(result: AuditResult) -> str:
    """What the proxy screen's gates say, and do not say, in words true for this result: they
    judge the features in the data, once, with one figure for every variant; not a model's
    use of them, and nothing about a score made elsewhere."""
    text = (f"The proxy gates ({', '.join(PROXY_GATES)}) judge {SCREENED} (the policy's "
            "features, screened once, one figure for every variant): how well they recover "
            "each protected attribute, not whether or how a model uses them.")
    fixed = scores_without_features(result)
    if fixed:
        names = ", ".join(f"'{n}'" for n in fixed)
        text += (f" The scores of {names} were made before the audit from inputs it cannot "
                 "see: for them these gates say nothing about the score.")
    return text


def gate_scope(result: AuditResult, g: GateResult) -> str:
    """What a gate judges: the attributes it names, every attribute (a gate judged per
    attribute), or "overall" (a performance figure of all rows); a proxy gate judges the
    data's features, not the variant."""
    if g.metric in PROXY_GATES:
        return f"{SCREENED}, all attributes"
    named = gate_spec(result, g.gate).get("attributes") or []
    if named:
        return ", ".join(named)
    return "all attributes" if g.by_attribute else "overall"


def straddles(g: GateResult) -> float | None:
    """The threshold of ``g`` (its min or its max) that lies strictly inside its interval, or
    None: the gate's status could be the other one. The one check of the key figures and the
    summary's "uncertain" finding."""
    if not g.ci or g.ci[0] is None or g.ci[1] is None:
        return None
    return next((t for t in (g.min, g.max) if t is not None and g.ci[0] < t < g.ci[1]), None)


def gate_columns(result: AuditResult) -> list[dict[str, Any]]:
    """One per gate: its label (G1, ...), metric (the ratio for a relative gate), rule,
    severity and the attributes judged."""
    seen: dict[int, Any] = {}
    for g in result.gates:
        seen.setdefault(g.gate, g)
    out = []
    for i, g in sorted(seen.items()):
        text = gate_text(result, g)
        out.append({"index": i, "metric": g.metric, "subject": text["subject"],
                    "label": f"G{i + 1}", "rule": text["rule"], "required": text["required"],
                    "severity": g.severity, "attributes": list(g.by_attribute)})
    return out


def allows_group_specific_decisions(result: AuditResult) -> bool:
    """``mitigation_policy → allow_group_specific_decisions`` (the schema's default if absent)."""
    mp = result.policy.get("mitigation_policy") or {}
    default = MitigationPolicySpec().allow_group_specific_decisions
    return bool(mp.get("allow_group_specific_decisions", default))


def mitigated_variants(result: AuditResult) -> list[VariantResult]:
    """The variants a mitigation made, in the result's order (each candidate, then its variants)."""
    return [v for v in result.variants if v.mitigation]


def fold_worst(values: dict[str, float | None], metric: str) -> float | None:
    vals = [v for v in values.values() if is_finite(v)]
    if not vals:
        return None
    higher_fairer = FAIRNESS_METRICS[metric].higher_is_fairer if metric in FAIRNESS_METRICS else True
    return min(vals) if higher_fairer else max(vals)


def best_ranked(result: AuditResult) -> VariantResult | None:
    """The first variant in the ranking's order that could be evaluated (with none passing,
    the one nearest to passing: the ranking orders those by their gap), or None."""
    pos = {n: i for i, n in enumerate(result.ranking.order)}
    ranked = sorted((v for v in result.variants if v.status != "ERROR"),
                    key=lambda v: (pos.get(v.name, 10**9), v.name))
    return ranked[0] if ranked else None


def has_error_gate(result: AuditResult) -> bool:
    """Whether any gate of the audit is of error severity (one that can block selection)."""
    return any(g.severity == "error" for g in result.gates)


def warnings_of(result: AuditResult, variant: str) -> list[GateResult]:
    """The gates ``variant`` does not pass (a selected variant's are warnings)."""
    return [g for g in result.gates if g.variant == variant and g.status != "PASS"]


def failed_error_gates(result: AuditResult, variant: str) -> str:
    """The error-severity gates ``variant`` fails or cannot pass, each as
    :func:`fairsel.gates.gate_summary` tells it ("gate 1 disparate_impact = 0.7999 on sex ×
    age, required ≥ 0.8 (misses by 0.0001)"), joined with " and " ("" when none)."""
    return " and ".join(gate_summary(g) for g in result.gates
                     if g.variant == variant and g.severity == "error"
                     and g.status in ("FAIL", "INSUFFICIENT", "ERROR"))


def reason_for(text: str, n: int) -> str:
    """A ranking reason ("it decides using …", results.json's ``passed_over[].text``) said of
    ``n`` variants at once: "each decides using …" when there are several."""
    return text.replace("it ", "each ", 1) if n > 1 and text.startswith("it ") else text


#: The rates :func:`small_rate_examples` counts (the limitations' sentence names exactly
#: these).
COUNTED_RATES = ("selection_rate", "tpr", "fpr", "fnr", "precision")


def small_rate_examples(result: AuditResult) -> tuple[str, int, str] | None:
    """The variant the report leads with (the selected one, else the best ranked; review8: the
    first candidate's were shown, an unselected variant's fraction beside the selected one's
    table), how many of its compared rates of row-eligible groups rest on fewer than
    min_group_size people, and up to three examples ("the fnr of 'x', 2/22")."""
    v = best_ranked(result)
    if v is None or not v.attributes:
        return None
    found = [(r, a.attribute, g) for a in v.attributes for ok in [set(a.eligible_groups)]
             for g in a.groups if g.group in ok for r in COUNTED_RATES if r in g.small_rates]
    if not found:
        return None
    shown = "; ".join(f"the {r} of '{g.group}' ({a}), {fraction_text(g, r)}"
                      for r, a, g in found[:3])
    return v.name, len(found), shown


def group_extremes(attr, rate: str = "selection_rate", kind: str = "difference",
                    recorded: bool = False):
    """The two groups of ``attr`` whose ``rate`` makes the disparity, as ``(value, group, g)``
    pairs ordered (lower, higher), or None: the lowest and highest eligible rate without a
    reference; with one, the reference and the eligible group farthest from it (the largest
    difference, or the smallest folded ratio). Only eligible rates take part, as in the figure;
    with ``recorded``, only groups with every attribute recorded (no "unknown" part).
    """
    eligible = {g for g in attr.eligible_groups
                if not (recorded and missing_in(attr.attribute, g))}
    vals = [(g.rates[rate].value, g.group, g) for g in attr.groups
            if rate_eligible(eligible, g, rate)]
    if len(vals) < 2:
        return None
    if attr.reference is None:
        vals.sort(key=lambda t: (t[0], t[1]))
        return vals[0], vals[-1]
    ref = next((t for t in vals if t[1] == attr.reference), None)
    if ref is None:
        return None

    def distance(t) -> float:
        if kind == "difference":
            return abs(t[0] - ref[0])
        big, small = max(t[0], ref[0]), min(t[0], ref[0])
        return 1.0 - (small / big if big > 0 else 1.0)
    other = max((t for t in vals if t is not ref), key=lambda t: (distance(t), t[1]))
    return tuple(sorted((ref, other), key=lambda t: (t[0], t[1])))


def widest_gap(attr, metric: str, recorded: bool = False):
    """(rate, extremes) of the rate behind ``metric``'s figure on ``attr`` (for a metric of two
    rates, equalized odds, the one with the wider gap), or None; with ``recorded``, among the
    groups with every attribute recorded."""
    spec = FAIRNESS_METRICS[metric]
    best = None
    for rate in spec.rates:
        if rate == "avg_odds":  # a mean of two rates: no one pair of groups tells it
            return None
        ext = group_extremes(attr, rate, spec.kind, recorded)
        if ext is None:
            continue
        (lo_v, *_), (hi_v, *_) = ext
        gap = hi_v - lo_v if spec.kind == "difference" else (1 - lo_v / hi_v if hi_v > 0 else 0)
        if best is None or gap > best[0]:
            best = (gap, rate, ext)
    return None if best is None else (best[1], best[2])


def scope(result: AuditResult, done: list[str]) -> dict[str, int] | None:
    """How many variants an analysis covered of how many (``done``: the ones it ran on), or None
    when it covered them all."""
    total = len(result.variants)
    if len(done) >= total:
        return None
    return {"done": len(done), "total": total, "other": total - len(done)}
