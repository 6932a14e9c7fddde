"""The "Method" section's view model (``_method.html.j2``): validation, metrics and
their formulas, intervals, significance tests, gates and ranking.
"""

from __future__ import annotations

from typing import Any

from fairsel.metrics import FAIRNESS_METRICS, METRICS
from fairsel.metrics.counts import RATE_FORMULAS
from fairsel.mitigation import MITIGATIONS
from fairsel.report.facts import allows_group_specific_decisions, gate_columns, scoring
from fairsel.report.fmt import gate_subject, pct, threshold_text
from fairsel.report.section import SectionView
from fairsel.report.tables import leaderboard_columns
from fairsel.results import AuditResult


SCHEME_TEXT = {
    "stratified_group_kfold": "stratified group k-fold: every cluster's rows stay in one fold, "
                              "and each fold keeps about the overall share of favorable outcomes",
    "group_kfold": "group k-fold: every cluster's rows stay in one fold",
    "stratified_kfold": "stratified k-fold: rows are split at random, each fold keeping about the "
                        "overall share of favorable outcomes",
    "leave_one_group_out": "leave one group out: each cluster is, in turn, the whole test fold",
}


def _metric_rows(result: AuditResult) -> list[dict[str, str]]:
    perf, fair = leaderboard_columns(result)
    rows = []
    for name in list(dict.fromkeys(perf + fair)):
        if name in FAIRNESS_METRICS:
            f = FAIRNESS_METRICS[name]
            rates = " and ".join(f"{r} = {RATE_FORMULAS.get(r, r).split(' — ')[0]}"
                                 if r in RATE_FORMULAS else
                                 ("avg_odds = (TPR + FPR) / 2" if r == "avg_odds" else r)
                                 for r in f.rates)
            if f.kind == "ratio":
                rule = ("min over groups / max over groups (no reference); with a reference r: "
                        "min over groups g of min(rate_g, rate_r) / max(rate_g, rate_r)")
            else:
                rule = ("max over groups − min over groups (no reference); with a reference r: "
                        "max over groups g of |rate_g − rate_r|")
            rows.append({"name": name, "family": "fairness",
                         "direction": "higher is fairer" if f.higher_is_fairer else "lower is fairer",
                         "formula": f"{f.summary}. Per group: {rates}. Headline: {rule}."})
        elif name in METRICS:
            m = METRICS.get(name)
            rows.append({"name": name, "family": m.family,
                         "direction": "higher is better" if m.higher_is_better else "lower is better",
                         "formula": m.formula})
    return rows


def method_view(result: AuditResult) -> dict[str, Any]:
    val = result.validation
    conf = result.confidence
    method = conf.get("method", "none")
    level = conf.get("level")
    if method == "bootstrap":
        from fairsel.metrics.intervals import METHOD_TEXT

        ci = (f"{METHOD_TEXT} The bootstrap draws {conf.get('resamples', '?')} "
              "resamples of the confusion-count cells"
              + (f", by cluster ('{val.groups}'), so rows of one cluster stay together"
                 if val.groups else "") + ".")
    else:
        ci = "No confidence intervals were computed (metrics → confidence → method: none)."
    sig = (result.policy.get("metrics") or {}).get("significance") or {}
    adjust = {"holm": "Holm's step-down method (family-wise error rate)",
              "bh": "the Benjamini–Hochberg method (false discovery rate)",
              "none": "no adjustment"}.get(sig.get("adjust", "holm"), sig.get("adjust"))
    significance_text = (
        "Each group's selection rate, TPR and FPR is tested against its attribute's reference "
        "(the declared one, else the group with the highest rate), on the counts pooled over "
        "every row, among rates resting on at least min_group_size people: "
        + {"z": "a two-sided pooled two-proportion z-test",
           "fisher": "Fisher's exact test"}.get(sig.get("test", "auto"),
                                                "Fisher's exact test where a cell of the 2×2 "
                                                "table expects fewer than 5, else a two-sided "
                                                "pooled two-proportion z-test")
        + f". p-values are adjusted over every variant, attribute, group and rate by {adjust}; "
        f"significant means adjusted p ≤ {sig.get('alpha', 0.05):g}. "
        + (f"Rows of one '{val.groups}' cluster are correlated: each group's counts are "
           "deflated by its design effect (from the cluster bootstrap) before testing."
           if val.groups else "The tests treat rows as independent."))
    requiring = [f"G{i + 1}" for i, g in enumerate(result.policy.get("gates", []) or [])
                 if g.get("require_significance")]
    if requiring:
        significance_text += (f" {', '.join(requiring)} require significance: a missed "
                              "threshold fails only when the difference is significant, and "
                              "reads WARN (not significant) otherwise.")
    decision = result.policy.get("decision", "point")
    decision_text = (
        "A gate is judged on the point estimate (decision: point)." if decision == "point" else
        "A gate is judged on the side of the interval that must clear the threshold — the lower "
        "bound for a minimum, the upper bound for a maximum (decision: ci_bound): a variant passes "
        "only when the evidence shows it complies.")
    refs = []
    for a in result.data.attributes:
        if a.reference is not None:
            refs.append({"attribute": a.attribute,
                         "rule": f"declared reference '{a.reference}' (each group against it, "
                                 "as aif360's privileged group)"})
        else:
            refs.append({"attribute": a.attribute,
                         "rule": "no reference: smallest group rate against the largest "
                                 "(as fairlearn's between-groups convention)"})
    gates = []
    policy_gates = result.policy.get("gates", []) or []
    template = set(result.compliance.template_gates) if result.compliance else set()
    for i, g in enumerate(policy_gates):
        gates.append({"index": i, "metric": gate_subject(str(g.get("metric")),
                                                         bool(g.get("relative_to_overall"))),
                      "threshold": threshold_text(g.get("min"), g.get("max")),
                      "severity": g.get("severity", "error"),
                      "attributes": ", ".join(g["attributes"]) if g.get("attributes") else "all",
                      "source": "compliance template" if i in template else "policy"})
    # the gates the audit adds after the policy's (the proxy screen's bounds): every gate a
    # page names (G4, G5 ...) is defined here too
    for c in gate_columns(result):
        if c["index"] < len(policy_gates):
            continue
        proxy = c["metric"].startswith("proxy_")
        gates.append({"index": c["index"], "metric": c["subject"], "threshold": c["required"],
                      "severity": c["severity"],
                      "attributes": ", ".join(c["attributes"]) or "all",
                      "source": ("proxy screen (policy key proxies)" if proxy
                                 else "compliance template")})
    rk = result.ranking
    return {
        "scheme": val.scheme, "scheme_text": SCHEME_TEXT.get(val.scheme, val.scheme),
        "folds": val.folds, "fold_sizes": ", ".join(f"{n:,}" for n in val.fold_sizes),
        "cluster": val.groups, "seed": val.seed,
        "metrics": _metric_rows(result), "references": refs,
        "ci_method": method, "ci_level": pct(level, 0) if isinstance(level, (int, float)) else "—",
        "ci_text": ci, "decision": decision, "decision_text": decision_text, "gates": gates,
        "significance_text": significance_text,
        "objective": rk.objective, "tolerance": f"{rk.tolerance:g}",
        # mitigation (review12): passing variants that may not be selected are ranked after
        # the selectable ones, which the stated rule did not say
        "blocked": not allows_group_specific_decisions(result) and any(
            v.uses_protected_at_decision and v.status in ("PASS", "WARN")
            for v in result.variants),
        "tiebreak": rk.fairness_tiebreak, "min_group_size": result.min_group_size,
        "intersections": bool(result.policy.get("intersections", True)),
        "scoring": scoring(result)["method"],
        "decision_rules": decision_rules(result),
    }


def _decision_rule(c: dict[str, Any]) -> str | None:
    """How one candidate of the policy turns its score into a decision, or None when the
    result does not say (a results.json without the candidate's threshold)."""
    name, kind = c.get("name"), c.get("kind")
    if kind == "predictions" and c.get("decision_column"):
        return (f"'{name}': the decisions of column {c['decision_column']} as given "
                "(no threshold is applied)")
    thr = c.get("threshold")
    if not isinstance(thr, (int, float)) or isinstance(thr, bool):
        return None
    if kind == "predictions":
        column = c.get("score_column") or "score"
        if c.get("higher_is_favorable", True) is False:
            return (f"'{name}': favorable decision when {column} < {thr:g} (strictly: a score "
                    f"of {thr:g} is unfavorable; a higher score means a less favorable outcome)")
        return f"'{name}': favorable decision when {column} ≥ {thr:g}"
    what = ("the predicted probability of the favorable outcome"
            if kind in ("sklearn", "lightgbm") else "its score for the favorable outcome")
    return f"'{name}': favorable decision when {what} ≥ {thr:g}"


def decision_rules(result: AuditResult) -> list[str]:
    """The decision threshold of each candidate of the policy, in words, and what replaces it
    in variants made by a post-processing mitigation."""
    rules = [r for c in result.policy.get("candidates", []) or []
             if (r := _decision_rule(c)) is not None]
    post = [v.name for v in result.variants if v.mitigation
            and (info := MITIGATIONS.get(v.mitigation.split("[", 1)[0])
                 if v.mitigation.split("[", 1)[0] in MITIGATIONS else None) is not None
            and info.stage == "post"]
    if rules and post:
        rules.append("Variants made by a post-processing mitigation ("
                     + ", ".join(f"'{n}'" for n in post) + ") decide with what the mitigation "
                     "fitted on each fold's training rows instead (see Mitigated variants)")
    return rules


VIEW = SectionView("method", lambda result, o: method_view(result), "Method")
