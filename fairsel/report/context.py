"""The report's view model: everything the HTML/PDF templates show, built from AuditResult alone.

The templates only iterate and print: every number is formatted, every sentence is written
and every chart is drawn here (charts by :mod:`fairsel.report.charts`). Nothing here reads a
file, the clock or the environment, so the same result always gives the same context — and
``fairsel render results.json`` gives the report the audit wrote.

Strings from the data or the policy (group names, column names, titles) stay plain ``str``:
the templates autoescape them. The only markup is the charts' SVG (:class:`markupsafe.Markup`).
"""

from __future__ import annotations

import hashlib
import math
import re
from contextvars import ContextVar
from typing import Any

from fairsel.gates import gate_summary
from fairsel.metrics import FAIRNESS_METRICS, METRICS
from fairsel.metrics.counts import RATE_FORMULAS
from fairsel.metrics.disparity import compared_rates
from fairsel.mitigation import MITIGATIONS
from fairsel.policy.schema import MitigationPolicySpec
from fairsel.report.proxies_view import PROXIES_SECTION, features_note, proxies_view
from fairsel.report.search_view import search_view
from fairsel.report.tables import (TESTED_RATE_NAMES, gate_thresholds, leaderboard_columns,
                                   ordered_variants, safe_result)
from fairsel.results import AuditResult, Estimate, GateResult, VariantResult, figure_text

#: Section titles in document order (the tests check that each one appears in the PDF text).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("control", "Document control and sign-off"),
    ("summary", "Executive summary"),
    ("data", "Data and scope"),
    ("method", "Method"),
    ("leaderboard", "Leaderboard"),
    ("candidates", "Candidates in detail"),
    ("tradeoff", "Trade-off between performance and fairness"),
    ("gates", "Gates"),
    ("limitations", "Limitations and assumptions"),
    ("appendix", "Appendix"),
)

#: The section comparing each mitigated variant with its base. It follows the leaderboard, and
#: only when the result has a mitigated variant: without one it is absent, from the contents too.
MITIGATED_SECTION: tuple[str, str] = ("mitigated", "Mitigated variants against their base")

#: The mark of a variant that decides with the protected attribute (disparate treatment).
DT_MARK = "⚑"

STAGE_TEXT = {
    "pre": "pre-processing: training weights",
    "in": "in-processing: constrained training",
    "post": "post-processing: decisions from the scores",
}

STATUS_SYMBOL = {"PASS": "✓", "WARN": "!", "FAIL": "✗", "INSUFFICIENT": "?", "ERROR": "‼"}

SCHEME_TEXT = {
    "stratified_group_kfold": "stratified group k-fold: every cluster's rows stay in one fold, "
                              "and each fold keeps about the overall share of favorable outcomes",
    "group_kfold": "group k-fold: every cluster's rows stay in one fold",
    "stratified_kfold": "stratified k-fold: rows are split at random, each fold keeping about the "
                        "overall share of favorable outcomes",
    "leave_one_group_out": "leave one group out: each cluster is, in turn, the whole test fold",
}

#: Short column headings for wide tables (the full names are listed under each table).
ABBREVIATIONS = {
    "roc_auc": "AUC", "balanced_accuracy": "Bal. acc.", "accuracy": "Acc.", "f1": "F1",
    "precision": "Prec.", "recall": "Recall", "tpr": "TPR", "tnr": "TNR", "fpr": "FPR",
    "fnr": "FNR", "selection_rate": "Sel. rate", "brier_score": "Brier",
    "calibration_error": "ECE", "disparate_impact": "DI",
    "demographic_parity_difference": "DP diff.", "demographic_parity_ratio": "DP ratio",
    "equal_opportunity_difference": "EO diff.", "equal_opportunity_ratio": "EO ratio",
    "equalized_odds_difference": "EOd diff.", "equalized_odds_ratio": "EOd ratio",
    "average_odds_difference": "AO diff.", "false_positive_rate_difference": "FPR diff.",
    "false_negative_rate_difference": "FNR diff.", "predictive_parity_difference": "PP diff.",
    "accuracy_difference": "Acc. diff.",
}


def _columns(names: list[str]) -> list[dict[str, str]]:
    return [{"name": n, "short": ABBREVIATIONS.get(n, n)} for n in names]


_FLAG_TEXT = {
    "small": "below the minimum group size",
    "unknown": "missing or unknown value",
    "empty": "no rows",
    "no_favorable_outcome": "no favorable outcome",
    "no_unfavorable_outcome": "no unfavorable outcome",
}


# ---------------------------------------------------------------------------------------------
# formatting


#: While :func:`build_context` runs: every gate threshold of the result, so that no figure of
#: the report (a fold's, an attribute's, a chart table's) reads as a threshold it is not.
_THRESHOLDS: ContextVar[tuple[float, ...]] = ContextVar("report_thresholds", default=())


def num(x: float | None, digits: int = 3, near=None) -> str:
    """A figure with ``digits`` decimals, more when it would round onto one of the thresholds
    ``near`` (default: every gate threshold of the report being built;
    :func:`fairsel.results.figure_text`); an em dash when it is undefined."""
    if x is None or not isinstance(x, (int, float)) or not math.isfinite(x):
        return "—"
    return figure_text(x, digits, near=_THRESHOLDS.get() if near is None else near)


def file_name(path: str) -> str:
    """The last part of a path (POSIX or Windows): the report names the policy file without
    the folders of the machine that ran the audit; its sha256 identifies it."""
    return re.split(r"[\\/]", path.rstrip("\\/"))[-1] or path


def ci_text(ci: Any, digits: int = 3) -> str:
    """``[low, high]``, or an empty string when there is no interval."""
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f"[{num(ci[0], digits)}, {num(ci[1], digits)}]"


def pct(x: float | None, digits: int = 1) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return f"{100 * x:.{digits}f}%"


def count(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def p_text(p: float | None) -> str:
    """A p-value: three significant digits, "< 0.0001" below that (a no-break space: it never
    wraps in a narrow column), "—" when there is none."""
    if p is None:
        return "—"
    return "<\u00a00.0001" if p < 1e-4 else f"{p:.3g}"


def threshold_text(lo: float | None, hi: float | None) -> str:
    parts = []
    if lo is not None:
        parts.append(f"≥ {lo:g}")
    if hi is not None:
        parts.append(f"≤ {hi:g}")
    return " and ".join(parts) or "—"


def utc_text(stamp: str) -> str:
    """``2026-11-21T06:09:45Z`` → ``2026-11-21 06:09:45 UTC``."""
    s = stamp.strip()
    if s.endswith("Z"):
        s = s[:-1]
    elif s.endswith("+00:00"):
        s = s[:-6]
    return s.replace("T", " ") + " UTC"


def report_id(result: AuditResult) -> str:
    """A stable identifier of this report: a digest of the whole result, so that the same
    results.json always gives the same id and any change to it gives another."""
    digest = hashlib.sha256(result.model_dump_json().encode("utf-8")).hexdigest().upper()
    return "FS-" + "-".join(digest[i:i + 4] for i in range(0, 12, 4))


def _higher_is_better(metric: str) -> bool:
    if metric in METRICS:
        return METRICS.get(metric).higher_is_better
    return True


def _is_fairness(metric: str) -> bool:
    return metric in FAIRNESS_METRICS


def _estimate(v: VariantResult, metric: str) -> Estimate | None:
    if _is_fairness(metric):
        h = v.fairness.get(metric)
        return None if h is None else Estimate(value=h.value, ci=h.ci)
    return v.performance.get(metric)


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


# ---------------------------------------------------------------------------------------------
# sections


def _cover(result: AuditResult, rid: str) -> dict[str, Any]:
    rep = result.policy.get("report", {}) or {}
    v = result.verdict
    return {
        "title": result.title,
        "organisation": rep.get("organisation"),
        "system": rep.get("system"),
        "name": result.name,
        "description": result.description,
        "report_id": rid,
        "generated": utc_text(result.provenance.finished),
        "version": result.provenance.fairsel_version,
        "policy_sha256": result.provenance.policy_sha256,
        "data_sha256": result.provenance.data_sha256,
        "status": v.status,
        "symbol": STATUS_SYMBOL.get(v.status, ""),
        "verdict": _verdict_line(result),
    }


def _verdict_line(result: AuditResult) -> str:
    v = result.verdict
    if v.selected:
        warns = [g for g in result.gates if g.variant == v.selected and g.status != "PASS"]
        return (f"{v.status}: '{v.selected}' is selected for deployment; it passes every "
                "error-severity gate" + (f", with {len(warns)} warning(s): "
                                         + "; ".join(map(gate_summary, warns)) + "."
                                         if v.status == "WARN" and warns else "."))
    return f"{v.status}: no model can be selected — {v.message}."


def _control(result: AuditResult, rid: str) -> dict[str, Any]:
    p = result.provenance
    policy = result.policy
    versions = [
        ("Report id", rid),
        ("Generated (UTC)", utc_text(p.finished)),
        ("Generated by", f"fairsel {p.fairsel_version}"),
        ("Results schema", result.schema_version),
        ("Policy", f"{result.name} (version {policy.get('version', '—')}), file "
                   f"{file_name(p.policy_path)}"),
        ("Policy sha256", p.policy_sha256),
        ("Data", f"{result.data.path} ({result.data.format})"),
        ("Data sha256", p.data_sha256),
        ("Audit run", f"{utc_text(p.started)} → {utc_text(p.finished)} "
                      f"({p.duration_seconds:.1f} s)"),
        ("Python", f"{p.python} on {p.platform}"),
    ]
    rep = policy.get("report", {}) or {}
    roles = [{"role": s.get("role") or "", "name": s.get("name")} for s in rep.get("signoff") or []]
    default = not roles
    if default:
        roles = [{"role": "Model owner", "name": None},
                 {"role": "Independent validator", "name": None},
                 {"role": "Approver", "name": None}]
    validator = next((i for i, r in enumerate(roles)
                      if any(w in r["role"].lower() for w in ("valid", "review", "audit",
                                                               "independ"))), None)
    for i, r in enumerate(roles):
        r["independence"] = i == validator
    return {
        "versions": [{"item": a, "value": b} for a, b in versions],
        "revisions": [{"version": "1", "date": utc_text(p.finished),
                       "author": f"fairsel {p.fairsel_version}",
                       "change": "Report generated from the audit result (results.json)."}],
        "signoff": roles,
        "signoff_default": default,
        "validator_named": validator is not None,
    }


def _closest(result: AuditResult) -> dict[str, Any] | None:
    """The variant nearest to passing (the ranking orders non-passing variants by their gap)."""
    pos = {n: i for i, n in enumerate(result.ranking.order)}
    candidates = sorted((v for v in result.variants if v.status != "ERROR"),
                        key=lambda v: (pos.get(v.name, 10**9), v.name))
    if not candidates:
        return None
    v = candidates[0]
    rows = []
    for g in result.gates:
        if g.variant != v.name or g.severity != "error" or g.status == "PASS":
            continue
        thr = g.min if g.min is not None else g.max
        rel = (g.gap / abs(thr)) if (g.gap is not None and thr) else None
        rows.append({
            "metric": g.metric, "status": g.status, "severity": g.severity,
            "observed": num(g.observed, 4), "ci": ci_text(g.ci),
            "required": threshold_text(g.min, g.max),
            "attribute": g.attribute or "",
            "gap": num(g.gap, 4),
            "relative": pct(rel) if rel is not None else "—",
        })
    return {"name": v.name, "rank": v.rank, "status": v.status, "rows": rows}


def rate_eligible(eligible: set[str], g, rate: str) -> bool:
    """Whether group ``g``'s ``rate`` takes part in disparities: its group is large enough (in
    ``eligible``, the attribute's eligible groups) and the count the rate divides by is at least
    ``min_group_size`` (not in ``small_rates``)."""
    return (g.group in eligible and rate not in g.small_rates
            and rate in g.rates and _finite(g.rates[rate].value))


def fraction_text(g, rate: str) -> str:
    """``"2/22"``: the count a rate counts over the count it divides by ("" when not a fraction)."""
    fr = g.fractions.get(rate)
    return f"{fr[0]:,}/{fr[1]:,}" if fr else ""


def _group_extremes(attr, rate: str = "selection_rate", kind: str = "difference"):
    """The two groups of ``attr`` whose ``rate`` makes the disparity, as ``(value, group, g)``
    pairs ordered (lower, higher), or None: the lowest and highest eligible rate without a
    reference; with one, the reference and the eligible group farthest from it (the largest
    difference, or the smallest folded ratio). Only eligible rates take part, as in the figure.
    """
    eligible = set(attr.eligible_groups)
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


#: What a group's rate measures, in words, for the "widest gap" finding.
_RATE_WORDS = {
    "selection_rate": "receive a favorable decision",
    "tpr": "are correctly granted the favorable outcome when they qualify",
    "fnr": "are wrongly refused the favorable outcome although they qualify",
    "fpr": "are wrongly granted the favorable outcome",
    "precision": "turn out to qualify when granted the favorable outcome",
    "accuracy": "are decided correctly",
}


def _widest_gap(attr, metric: str):
    """(rate, extremes) of the rate behind ``metric``'s figure on ``attr`` (for a metric of two
    rates, equalized odds, the one with the wider gap), or None."""
    spec = FAIRNESS_METRICS[metric]
    best = None
    for rate in spec.rates:
        if rate == "avg_odds":  # a mean of two rates: no one pair of groups tells it
            return None
        ext = _group_extremes(attr, rate, spec.kind)
        if ext is None:
            continue
        (lo_v, *_), (hi_v, *_) = ext
        gap = hi_v - lo_v if spec.kind == "difference" else (1 - lo_v / hi_v if hi_v > 0 else 0)
        if best is None or gap > best[0]:
            best = (gap, rate, ext)
    return None if best is None else (best[1], best[2])


def _findings(result: AuditResult, focus: VariantResult | None) -> list[str]:
    """The most important findings in plain words, most important first."""
    found: dict[str, str] = {}
    level = result.confidence.get("level")
    lvl = f"{level:.0%} " if isinstance(level, (int, float)) else ""
    head_metric = _headline_metric(result)

    # 1. The largest disparity of the model in focus, told with the groups' own rates.
    if focus is not None and head_metric in focus.fairness:
        h = focus.fairness[head_metric]
        attr = next((a for a in focus.attributes if a.attribute == h.attribute), None)
        gap = _widest_gap(attr, head_metric) if attr else None
        if gap and h.value is not None:
            rate, ((lo_v, lo_g, lo), (hi_v, hi_g, hi)) = gap
            rate_name = _RATE_WORDS.get(rate, f"have a {rate}")

            def share(v, g) -> str:
                fr = fraction_text(g, rate)
                return f"{num(v)} ({fr})" if fr else num(v)
            found["disparity"] = (
                f"Under '{focus.name}', the widest gap is on {h.attribute}: members of group "
                f"'{lo_g}' (n = {lo.n:,}) {rate_name} at a rate of {share(lo_v, lo)} against "
                f"{share(hi_v, hi)} for '{hi_g}' (n = {hi.n:,}); {head_metric} is {num(h.value)}"
                + (f" ({lvl}interval {num(h.ci[0])} to {num(h.ci[1])})"
                   if h.ci and h.ci[0] is not None and h.ci[1] is not None else "") + ".")

    # 2. A gate decided by a point estimate whose interval straddles the threshold.
    if focus is not None:
        for g in result.gates:
            if g.variant != focus.name or not g.ci or g.ci[0] is None or g.ci[1] is None:
                continue
            thr = g.min if g.min is not None else g.max
            if thr is None or not (g.ci[0] < thr < g.ci[1]):
                continue
            found["uncertain"] = (
                f"The {lvl}interval of {g.metric} for '{focus.name}' ({num(g.ci[0])} to "
                f"{num(g.ci[1])}) contains the threshold {thr:g}: the gate reads {g.status} on the "
                f"point estimate {num(g.observed)}, but the data cannot rule out the other side "
                + ("(the policy decides on the point estimate; decision: ci_bound would be stricter)."
                   if g.decision == "point" else "."))
            break

    # 3. What fairness costs: the selected model against the best-scoring one.
    obj = result.ranking.objective
    scored = [(v, _estimate(v, obj)) for v in result.variants if v.status != "ERROR"]
    scored = [(v, e.value) for v, e in scored if e is not None and _finite(e.value)]
    if scored and result.ranking.selected:
        hib = _higher_is_better(obj)
        best_v, best = max(scored, key=lambda t: (t[1] if hib else -t[1], t[0].name))
        sel = result.variant(result.ranking.selected)
        sel_e = _estimate(sel, obj)
        if best_v.name != sel.name and sel_e and _finite(sel_e.value):
            # the ranking's own reason (results.json before 1.0 had none: then no reason)
            passed = result.ranking.passed_over.get(best_v.name)
            why = f", not selected because {passed.text}" if passed else ""
            found["cost"] = (
                f"Choosing '{sel.name}' rather than the best-scoring '{best_v.name}' ({obj} "
                f"{num(best)}{why}) costs {num(abs(best - sel_e.value))} of {obj}.")
        elif best_v.name == sel.name:
            found["cost"] = (f"'{sel.name}' also has the best {obj} of all variants ({num(best)}): "
                         "the selection costs no performance.")

    # 4. Where the no-pass case fails most often.
    if not result.ranking.selected:
        fails: dict[str, int] = {}
        for g in result.gates:
            if g.severity == "error" and g.status in ("FAIL", "INSUFFICIENT"):
                fails[g.metric] = fails.get(g.metric, 0) + 1
        n_var = sum(1 for v in result.variants if v.status != "ERROR")
        for metric, c in sorted(fails.items(), key=lambda t: (-t[1], t[0])):
            found["blocking"] = (f"{c} of {n_var} variant(s) fail or cannot pass the gate on "
                                 f"{metric}: it is what stands between the candidates and "
                                 "deployment.")
            break

    # 5. Groups too small to judge, and missing protected values.
    small = sorted({(a.attribute, g.group, g.n) for a in result.data.attributes
                    for g in a.groups if "small" in g.flags and a.kind == "attribute"},
                   key=lambda t: (t[0], t[1]))
    if small:
        names = ", ".join(f"'{g}' of {a} (n = {n:,})" for a, g, n in small[:4])
        more = f" and {len(small) - 4} more" if len(small) > 4 else ""
        found["small"] = (f"{len(small)} group(s) have fewer than {result.min_group_size} rows — "
                     f"{names}{more}: their rates are shown but they take no part in the "
                     "disparity figures, so the gates say nothing about them.")
    unknown = [(a.attribute, g.n) for a in result.data.attributes if a.kind == "attribute"
               for g in a.groups if "unknown" in g.flags and g.n]
    for a, n in unknown:
        found["unknown"] = (f"{n:,} row(s) ({pct(n / max(result.data.rows_used, 1))}) have no recorded "
                     f"{a}; they are audited as the group 'unknown'.")
        break

    # 6. Candidates that could not be evaluated.
    if result.failures:
        names = sorted({f.variant for f in result.failures})
        found["failures"] = (f"{len(names)} variant(s) could not be evaluated ({', '.join(names)}); "
                     "see the leaderboard.")
    order = (("blocking", "disparity", "failures", "small", "uncertain", "unknown", "cost")
             if not result.ranking.selected else
             ("disparity", "uncertain", "cost", "failures", "small", "unknown"))
    return [found[k] for k in order if k in found]


def _headline_metric(result: AuditResult) -> str:
    """The disparity the report leads with: the first fairness gate's, else the tie-break's."""
    for g in result.policy.get("gates", []) or []:
        if _is_fairness(g.get("metric", "")):
            return g["metric"]
    if _is_fairness(result.ranking.fairness_tiebreak):
        return result.ranking.fairness_tiebreak
    fair = result.metrics.get("fairness") or []
    return fair[0] if fair else "disparate_impact"


def _summary(result: AuditResult) -> dict[str, Any]:
    sel = result.ranking.selected
    focus = result.variant(sel) if sel else None
    closest = None if sel else _closest(result)
    if focus is None and closest is not None:
        focus = result.variant(closest["name"])
    findings = _findings(result, focus)[:3]
    passing = [v.name for v in ordered_variants(result) if v.status in ("PASS", "WARN")]
    return {
        "status": result.verdict.status,
        "symbol": STATUS_SYMBOL.get(result.verdict.status, ""),
        "message": result.verdict.message,
        "selected": sel,
        "no_pass": sel is None,
        "closest": closest,
        "reasons": list(result.ranking.reasons),
        "findings": findings,
        "n_variants": len(result.variants),
        "n_passing": len(passing),
        "objective": result.ranking.objective,
        "selected_perf": (num(_estimate(focus, result.ranking.objective).value)
                          if focus is not None and _estimate(focus, result.ranking.objective)
                          else "—"),
    }


#: Candidate kinds whose scores are fixed before the audit (made elsewhere, or by a model
#: trained elsewhere): nothing is fitted in the folds, so "out of fold" does not describe them.
FIXED_KINDS = ("predictions", "saved_model")


def _scoring(result: AuditResult) -> dict[str, Any]:
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


def _data(result: AuditResult) -> dict[str, Any]:
    d = result.data
    attrs = []
    for a in d.attributes:
        groups = []
        for g in a.groups:
            groups.append({
                "group": g.group, "n": count(g.n), "share": pct(g.n / d.rows_used if d.rows_used else None),
                "favorable": count(g.favorable), "rate": num(g.favorable_rate),
                "flags": ", ".join(_FLAG_TEXT.get(f, f) for f in g.flags),
                "is_reference": a.reference is not None and g.group == a.reference,
                "small": "small" in g.flags,
            })
        attrs.append({"attribute": a.attribute, "kind": a.kind, "columns": ", ".join(a.columns),
                      "reference": a.reference, "groups": groups})
    excluded = [{"reason": e.reason, "count": count(e.count)} for e in d.excluded]
    return {
        "path": d.path, "format": d.format, "rows_read": count(d.rows_read),
        "rows_used": count(d.rows_used), "excluded": excluded,
        "excluded_total": count(d.rows_read - d.rows_used),
        "target": d.target, "favorable": d.favorable, "favorable_rate": num(d.favorable_rate),
        "favorable_label": (result.policy.get("data") or {}).get("favorable_label"),
        # scores made before the audit use none of the policy's features
        "features": [] if _scoring(result)["features_unused"] else list(d.features),
        "features_unused": list(d.features) if _scoring(result)["features_unused"] else [],
        "protected_as_features": list(d.protected_as_features),
        "proxy_note": features_note(result),
        "cluster_column": d.cluster_column,
        "n_clusters": count(d.n_clusters) if d.n_clusters is not None else None,
        "attributes": attrs, "min_group_size": result.min_group_size,
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


def _method(result: AuditResult) -> dict[str, Any]:
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
        "The tests treat rows as independent"
        + (f": rows of one '{val.groups}' cluster are correlated, so these p-values are too "
           "small." if val.groups else "."))
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
    for i, g in enumerate(result.policy.get("gates", []) or []):
        gates.append({"index": i, "metric": g.get("metric"),
                      "threshold": threshold_text(g.get("min"), g.get("max")),
                      "severity": g.get("severity", "error"),
                      "attributes": ", ".join(g["attributes"]) if g.get("attributes") else "all"})
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
        "tiebreak": rk.fairness_tiebreak, "min_group_size": result.min_group_size,
        "intersections": bool(result.policy.get("intersections", True)),
        "scoring": _scoring(result)["method"],
    }


def _gate_cols(result: AuditResult) -> list[dict[str, Any]]:
    seen: dict[int, str] = {}
    for g in result.gates:
        seen.setdefault(g.gate, g.metric)
    return [{"index": i, "metric": m, "label": f"G{i + 1}"} for i, m in sorted(seen.items())]


def _leaderboard(result: AuditResult) -> dict[str, Any]:
    perf, fair = leaderboard_columns(result)
    gate_cols = _gate_cols(result)
    by = {(g.variant, g.gate): g for g in result.gates}
    allow = allows_group_specific_decisions(result)
    rows = []
    for v in ordered_variants(result):
        rows.append({
            "rank": v.rank if v.rank is not None else "—", "name": v.name,
            "selected": v.name == result.ranking.selected, "status": v.status,
            "symbol": STATUS_SYMBOL.get(v.status, ""), "kind": v.kind,
            "mitigation": v.mitigation or "none",
            "mitigation_in_name": bool(v.mitigation) and v.name.endswith(f"+{v.mitigation}"),
            "uses_protected": v.uses_protected_at_decision,
            "blocked": v.uses_protected_at_decision and not allow,
            "perf": [num(v.performance[m].value) if m in v.performance else "—"
                     for m in perf],
            "fair": [num(v.fairness[m].value) if m in v.fairness else "—"
                     for m in fair],
            "gates": [by[(v.name, c["index"])].status if (v.name, c["index"]) in by else "—"
                      for c in gate_cols],
        })
    failures = [{"variant": f.variant, "candidate": f.candidate, "stage": f.stage,
                 "fold": "—" if f.fold is None else str(f.fold), "message": f.message}
                for f in result.failures]
    return {"perf": _columns(perf), "fair": _columns(fair), "gates": gate_cols, "rows": rows,
            "failures": failures, "mark": DT_MARK, "allow": allow,
            "selected": result.ranking.selected, "pooled": _scoring(result)["pooled"],
            "any_dt": any(r["uses_protected"] for r in rows),
            "mitigated": bool(mitigated_variants(result))}


# ---------------------------------------------------------------------------------------------
# mitigated variants: each against its base, and who decides with the protected attribute


def signed(x: float | None, digits: int = 3) -> str:
    """A change with its sign (``+0.012``, ``−0.034``); ``0.000`` when it rounds to nothing."""
    if not _finite(x):
        return "—"
    text = f"{x:+.{digits}f}"
    if float(text) == 0:
        return f"{0:.{digits}f}"
    return text.replace("-", "−")


def allows_group_specific_decisions(result: AuditResult) -> bool:
    """``mitigation_policy → allow_group_specific_decisions`` (the schema's default if absent)."""
    mp = result.policy.get("mitigation_policy") or {}
    default = MitigationPolicySpec().allow_group_specific_decisions
    return bool(mp.get("allow_group_specific_decisions", default))


def mitigated_variants(result: AuditResult) -> list[VariantResult]:
    """The variants a mitigation made, in the result's order (each candidate, then its variants)."""
    return [v for v in result.variants if v.mitigation]


def report_sections(result: AuditResult) -> list[tuple[str, str]]:
    """The sections of this result's report, in order: :data:`SECTIONS`, with
    :data:`MITIGATED_SECTION` after the leaderboard when the result has mitigated variants,
    and the Proxies section after the trade-off when the proxy screen ran."""
    with_mitigated = bool(mitigated_variants(result))
    out: list[tuple[str, str]] = []
    for sid, title in SECTIONS:
        out.append((sid, title))
        if sid == "leaderboard" and with_mitigated:
            out.append(MITIGATED_SECTION)
        if sid == "tradeoff" and result.analysis.proxies is not None:
            out.append(PROXIES_SECTION)
    return out


def _mitigation_kind(v: VariantResult) -> str:
    """``threshold[equalized_odds]`` → ``threshold``."""
    return (v.mitigation or "").split("[", 1)[0]


def _kind_info(kind: str):
    return MITIGATIONS.get(kind) if kind in MITIGATIONS else None


def _effect(metric: str, change: str, d: float | None) -> str:
    """Whether a change is for the better, in words that say which way the metric reads."""
    if not _finite(d):
        return "—"
    if float(change.replace("−", "-")) == 0:
        return "unchanged"
    if _is_fairness(metric):
        up = FAIRNESS_METRICS[metric].higher_is_fairer
        return "fairer" if (d > 0) == up else "less fair"
    return "better" if (d > 0) == _higher_is_better(metric) else "worse"


def _change(metric: str, base: float | None, variant: float | None,
            digits: int = 3) -> dict[str, Any]:
    d = variant - base if _finite(base) and _finite(variant) else None
    text = signed(d, digits)
    return {"change": text, "effect": _effect(metric, text, d)}


def _cell(x: Any) -> str:
    """A value fitted in one fold, as text."""
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        return num(x)
    if isinstance(x, (list, tuple)):
        return ", ".join(_cell(y) for y in x)
    return "—" if x is None else str(x)


def _fold_keys(per_fold: dict[str, Any]) -> list[str]:
    return sorted(per_fold, key=lambda k: (not str(k).isdigit(), int(k) if str(k).isdigit() else 0,
                                           str(k)))


#: How the per-fold details a mitigation records read in the report (others: the key in words).
_DETAIL_LABELS = {
    "fit.rows": "rows fitted on", "fit.scores": "scores fitted on",
    "fit.constraint": "constraint", "fit.tolerance": "tolerance",
    "fit.fit_tolerance": "tolerance fitted to (on the fitting rows)",
    "fit.disparity": "disparity on the fitting rows",
    "fit.accuracy": "accuracy on the fitting rows",
    "fit.base_accuracy": "accuracy of the candidate's own threshold on the fitting rows",
    "best_gap": "best duality gap", "oracle_calls": "estimator fits (oracle calls)",
    "mixture_weights": "mixture weights",
}
#: Details shown as a group × fold table, or as the variant's heading (not as settings rows).
_GROUP_DETAILS = ("thresholds", "threshold_status", "weights", "groups")


def _fold_settings(details: dict[str, Any], folds: list[str]) -> dict[str, Any]:
    """The scalar settings a mitigation recorded per fold: those equal in every fold as one
    list (``constants``), the others as rows with one cell per fold."""
    series: list[tuple[str, list[Any]]] = []
    for key, per_fold in details.items():
        if key in _GROUP_DETAILS or not isinstance(per_fold, dict):
            continue
        vals = [per_fold.get(f) for f in folds]
        if all(isinstance(x, dict) for x in vals if x is not None) and \
                any(isinstance(x, dict) for x in vals):
            subs = list(dict.fromkeys(k for x in vals if isinstance(x, dict) for k in x))
            for sub in subs:
                series.append((f"{key}.{sub}", [(x or {}).get(sub) for x in vals]))
        else:
            series.append((key, vals))
    constants, rows = [], []
    for key, vals in series:
        if any(isinstance(x, dict) for x in vals):
            continue  # deeper structures are in results.json
        label = _DETAIL_LABELS.get(key, key.replace(".", ": ").replace("_", " "))
        cells = [_cell(x) for x in vals]
        if len(set(cells)) == 1:
            constants.append({"label": label, "value": cells[0]})
        else:
            rows.append({"label": label, "cells": cells})
    return {"constants": constants, "rows": rows}


def _threshold_table(details: dict[str, Any], folds: list[str]) -> dict[str, Any] | None:
    """Fitted group thresholds, one row per group and one column per fold, or None."""
    thr = details.get("thresholds")
    if not isinstance(thr, dict) or not thr:
        return None
    status = details.get("threshold_status") or {}
    groups = list(dict.fromkeys(g for f in folds for g in (thr.get(f) or {})))
    rows = []
    for g in groups:
        cells, finite = [], []
        for f in folds:
            fold = thr.get(f) or {}
            x = fold.get(g)
            st = (status.get(f) or {}).get(g) if isinstance(status, dict) else None
            if g not in fold:
                text = "—"
            elif x is None:
                text = "none"  # +inf: no favorable decision in this group
            else:
                text = num(x)
                if _finite(x):
                    finite.append(x)
            cells.append({"text": text, "mark": {"pooled": "†", "default": "‡"}.get(st or "", "")})
        rows.append({"group": g, "cells": cells,
                     "range": num(max(finite) - min(finite)) if len(finite) >= 2 else "—"})
    marks = {c["mark"] for r in rows for c in r["cells"]}
    return {"rows": rows, "pooled": "†" in marks, "default": "‡" in marks,
            "none": any(c["text"] == "none" for r in rows for c in r["cells"])}


def _weight_range(details: dict[str, Any], folds: list[str]) -> dict[str, Any] | None:
    """Reweighing's weights summarised per fold: the lowest and the highest (a settings row)."""
    weights = details.get("weights")
    if not isinstance(weights, dict) or not weights:
        return None
    cells = []
    for f in folds:
        vals = [w for cell in (weights.get(f) or {}).values() if isinstance(cell, dict)
                for w in cell.values() if _finite(w)]
        cells.append(f"{num(min(vals))} – {num(max(vals))}" if vals else "—")
    return {"label": "training weights, lowest – highest over group × outcome cells",
            "cells": cells}


def _fitted(v: VariantResult) -> dict[str, Any] | None:
    """What the mitigation fitted in each fold (thresholds, weights, settings), or None."""
    details = v.details or {}
    folds = sorted({str(f) for per in details.values() if isinstance(per, dict) for f in per
                    if str(f).isdigit()}, key=int)
    if not folds:
        return None
    groups = details.get("groups")
    units = sorted({str(x) for x in groups.values()}) if isinstance(groups, dict) else []
    settings = _fold_settings(details, folds)
    weights = _weight_range(details, folds)
    if weights is not None:
        settings["rows"].insert(0, weights)
    return {"folds": [int(f) + 1 for f in folds], "groups": ", ".join(units),
            "table": _threshold_table(details, folds), "settings": settings}


def _comparison(result: AuditResult, v: VariantResult, base: VariantResult | None,
                index: int, *, perf: list[str], fair: list[str], allow: bool,
                gate_cols: list[dict[str, Any]],
                by_gate: dict[tuple[str, int], GateResult]) -> dict[str, Any]:
    obj = result.ranking.objective
    metrics = []
    for m in perf + fair:
        b = _estimate(base, m) if base is not None else None
        x = _estimate(v, m)
        bv = b.value if b is not None else None
        xv = x.value if x is not None else None
        metrics.append({"metric": m, "family": "fairness" if _is_fairness(m) else "performance",
                        "objective": m == obj, "base": num(bv), "variant": num(xv),
                        **_change(m, bv, xv)})
    policy_gates = result.policy.get("gates", []) or []
    gates = []
    for c in gate_cols:
        gb = by_gate.get((base.name, c["index"])) if base is not None else None
        gv = by_gate.get((v.name, c["index"]))
        if gb is None and gv is None:
            continue
        spec = policy_gates[c["index"]] if c["index"] < len(policy_gates) else {}
        first = gv or gb
        gates.append({
            "label": c["label"], "metric": c["metric"],
            "scope": ", ".join(spec.get("attributes") or []) or "all attributes",
            "required": threshold_text(first.min, first.max), "severity": first.severity,
            # Four decimals, as in the Gates section: a gate is decided on the unrounded value.
            "base": num(gb.observed, 4) if gb else "—",
            "base_status": gb.status if gb else None,
            "base_symbol": STATUS_SYMBOL.get(gb.status, "") if gb else "",
            "variant": num(gv.observed, 4) if gv else "—",
            "variant_status": gv.status if gv else None,
            "variant_symbol": STATUS_SYMBOL.get(gv.status, "") if gv else "",
            **_change(c["metric"], gb.observed if gb else None, gv.observed if gv else None, 4),
        })
    kind = _mitigation_kind(v)
    info = _kind_info(kind)
    return {
        "anchor": f"mit-{index}", "name": v.name, "base": v.base,
        "base_found": base is not None, "mitigation": v.mitigation, "kind": kind,
        "stage": STAGE_TEXT.get(info.stage, info.stage) if info else "—",
        "uses_protected": v.uses_protected_at_decision,
        "kind_uses_protected": info.uses_protected_at_decision if info else None,
        "protected_as_features": list(v.protected_as_features),
        "blocked": v.uses_protected_at_decision and not allow,
        "selected": v.name == result.ranking.selected,
        "status": v.status, "symbol": STATUS_SYMBOL.get(v.status, ""),
        "rank": v.rank if v.rank is not None else "—",
        "base_status": base.status if base else None,
        "base_symbol": STATUS_SYMBOL.get(base.status, "") if base else "",
        "base_rank": (base.rank if base and base.rank is not None else "—"),
        "metrics": metrics, "gates": gates, "fitted": _fitted(v),
    }


def _mitigated(result: AuditResult) -> dict[str, Any]:
    """Each mitigated variant against its base: what fairness costs in performance and what
    performance costs in fairness; the mitigations used, and who decides with the attribute."""
    variants = mitigated_variants(result)
    allow = allows_group_specific_decisions(result)
    dt = [v.name for v in ordered_variants(result) if v.uses_protected_at_decision]
    if not allow:
        policy_text = ("The policy forbids group-specific decisions (mitigation_policy → "
                       f"allow_group_specific_decisions: false): a variant marked {DT_MARK} is "
                       "measured, gated and reported but not selectable"
                       + ("." if dt else "; no variant here is marked."))
    elif dt:
        policy_text = ("The policy allows group-specific decisions (mitigation_policy → "
                       f"allow_group_specific_decisions: true): a variant marked {DT_MARK} can be "
                       "selected; check that deciding with the protected attribute is lawful "
                       "for this use.")
    else:
        policy_text = ""
    kinds: dict[str, list[VariantResult]] = {}
    for v in variants:
        kinds.setdefault(_mitigation_kind(v), []).append(v)
    kind_rows = []
    for kind, vs in kinds.items():
        info = _kind_info(kind)
        uses = info.uses_protected_at_decision if info else any(
            v.uses_protected_at_decision for v in vs)
        kind_rows.append({
            "kind": kind, "stage": STAGE_TEXT.get(info.stage, info.stage) if info else "—",
            "uses_protected": uses,
            "needs": (f"Yes — {DT_MARK} a decision can depend on the group: disparate treatment"
                      if uses else "No — the attribute is used only in training, on each "
                                   "fold's training rows; decisions use the features alone"),
            "summary": info.summary if info else "",
            "variants": [v.name for v in vs],
        })
    perf, fair = leaderboard_columns(result)
    obj = result.ranking.objective
    perf = [obj] + [m for m in perf if m != obj] if obj in perf else perf
    gate_cols = _gate_cols(result)
    by_gate = {(g.variant, g.gate): g for g in result.gates}
    names = {v.name: v for v in result.variants}
    items = [_comparison(result, v, names.get(v.base or ""), i, perf=perf, fair=fair,
                         allow=allow, gate_cols=gate_cols, by_gate=by_gate)
             for i, v in enumerate(variants)]
    # The overview: the change in the objective and in each fairness metric, one row each.
    cols = [obj] + fair if obj not in fair else fair
    overview: list[dict[str, Any]] = []  # one block per base, its variants under it
    for it in items:
        if not overview or overview[-1]["base"] != it["base"]:
            base = names.get(it["base"] or "")
            overview.append({
                "base": it["base"], "found": base is not None,
                "status": it["base_status"], "symbol": it["base_symbol"],
                "rank": it["base_rank"],
                "uses_protected": bool(base and base.uses_protected_at_decision),
                "selected": bool(base and base.name == result.ranking.selected),
                "rows": []})
        changes = {r["metric"]: r for r in it["metrics"]}
        overview[-1]["rows"].append({
            "anchor": it["anchor"], "name": it["name"], "mitigation": it["mitigation"],
            "uses_protected": it["uses_protected"], "blocked": it["blocked"],
            "selected": it["selected"], "rank": it["rank"],
            "status": it["status"], "symbol": it["symbol"],
            "changes": [changes[m]["change"] if m in changes else "—" for m in cols],
        })
    return {
        "present": bool(variants), "comparisons": items, "overview": overview,
        "columns": _columns(cols), "objective": obj, "kinds": kind_rows,
        "allow": allow, "dt_variants": dt, "policy_text": policy_text, "mark": DT_MARK,
    }


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


def _fold_worst(values: dict[str, float | None], metric: str) -> float | None:
    vals = [v for v in values.values() if _finite(v)]
    if not vals:
        return None
    higher_fairer = FAIRNESS_METRICS[metric].higher_is_fairer if metric in FAIRNESS_METRICS else True
    return min(vals) if higher_fairer else max(vals)


def _candidate(result: AuditResult, v: VariantResult, index: int, *,
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
                "flags": ", ".join(_FLAG_TEXT.get(f, f) for f in g.flags),
                # "small" is shown by the dagger; other conditions are spelled out
                "note": ", ".join(_FLAG_TEXT.get(f, f) for f in g.flags if f != "small"),
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
                        and _finite(g.rates["selection_rate"].value)]
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
    metric = _headline_metric(result)
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
        finite = [x for x in vals if _finite(x)]
        spread_rows.append({
            "attribute": a, "folds": [num(x) for x in vals],
            "small": [", ".join(m) for m in marks],
            "notes": [f"fold {k + 1}: " + ", ".join(f"'{x}'" for x in m[:6])
                      + (f" and {len(m) - 6} more" if len(m) > 6 else "")
                      for k, m in enumerate(marks) if m],
            "pooled": num(est.value if est else None),
            "min": num(min(finite)) if finite else "—", "max": num(max(finite)) if finite else "—",
            "spread": num(max(finite) - min(finite)) if len(finite) >= 2 else "—",
        })
    thr = None
    for g in result.policy.get("gates", []) or []:
        if g.get("metric") == metric:
            thr = threshold_text(g.get("min"), g.get("max"))
            break
    gates = [{"metric": g.metric, "status": g.status, "symbol": STATUS_SYMBOL.get(g.status, ""),
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
        "mark": DT_MARK,
        "protected_as_features": list(v.protected_as_features),
        "performance": perf_rows, "fairness": fair_rows, "attr_names": attr_names,
        "score_type": v.score_type,
        "score_note": "; ".join(f"{m} not computed: {why}" for m, why in v.unavailable.items()),
        "attributes": attrs, "charts": group_charts, "gates": gates, "failures": failures,
        "spread": {"metric": metric, "n_folds": len(v.folds), "rows": spread_rows,
                   "threshold": thr, "any_small": any_small_fold},
    }


def pareto_front(x: list[float | None], y: list[float | None], *, x_higher: bool,
                 y_higher: bool) -> list[int]:
    """Indices of the points no other point beats on both axes (ties do not dominate)."""
    pts = [(i, (xv if x_higher else -xv), (yv if y_higher else -yv))
           for i, (xv, yv) in enumerate(zip(x, y)) if _finite(xv) and _finite(yv)]
    front = []
    for i, a, b in pts:
        dominated = any((c >= a and d >= b) and (c > a or d > b) for j, c, d in pts if j != i)
        if not dominated:
            front.append(i)
    return front


def _tradeoff(result: AuditResult, *, with_charts: bool) -> dict[str, Any]:
    from fairsel.report import charts

    variants = ordered_variants(result)
    obj = result.ranking.objective
    fm = result.ranking.fairness_tiebreak if _is_fairness(result.ranking.fairness_tiebreak) \
        else _headline_metric(result)
    xs = [(_estimate(v, fm).value if _estimate(v, fm) else None) for v in variants]
    ys = [(_estimate(v, obj).value if _estimate(v, obj) else None) for v in variants]
    x_higher = FAIRNESS_METRICS[fm].higher_is_fairer if fm in FAIRNESS_METRICS else True
    front = pareto_front(xs, ys, x_higher=x_higher, y_higher=_higher_is_better(obj))
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
    if with_charts and variants:
        chart = charts.tradeoff(
            "tradeoff", names=[v.name for v in variants], ranks=[v.rank for v in variants],
            x=xs, y=ys, passing=[v.status in ("PASS", "WARN") for v in variants], selected=sel,
            frontier=front,
            x_label=f"{fm} ({'higher' if x_higher else 'lower'} is fairer; worst over attributes)",
            y_label=f"{obj} ({'higher' if _higher_is_better(obj) else 'lower'} is better)",
            x_threshold=thr(fm), y_threshold=thr(obj))
    rows = [{"rank": v.rank if v.rank is not None else "—", "name": v.name,
             "x": num(xs[i]), "y": num(ys[i]), "frontier": i in front,
             "selected": i == sel, "status": v.status}
            for i, v in enumerate(variants)]
    return {"x_metric": fm, "y_metric": obj, "chart": chart, "rows": rows,
            "x_higher": x_higher}


def _gates(result: AuditResult) -> list[dict[str, Any]]:
    by_gate: dict[int, list[GateResult]] = {}
    for g in result.gates:
        by_gate.setdefault(g.gate, []).append(g)
    pos = {n: i for i, n in enumerate(result.ranking.order)}
    out = []
    for idx in sorted(by_gate):
        gs = sorted(by_gate[idx], key=lambda g: (pos.get(g.variant, 10**9), g.variant))
        first = gs[0]
        # One column per attribute, headed once, with a status symbol per cell: the by-attribute
        # statuses of 20 variants stay one line each.
        attrs = list(dict.fromkeys(a for g in gs for a in g.by_attribute))
        out.append({
            "index": idx, "label": f"G{idx + 1}", "metric": first.metric,
            "threshold": threshold_text(first.min, first.max), "severity": first.severity,
            "decision": first.decision, "attributes": attrs,
            "has_p": any(g.p_adjusted is not None for g in gs),
            # Four decimals: a gate is decided on the unrounded value, and 0.7999 must not
            # read as "0.800" beside a FAIL.
            "rows": [{"variant": g.variant, "observed": num(g.observed, 4), "ci": ci_text(g.ci),
                      "attribute": g.attribute or "—", "status": g.status,
                      "symbol": STATUS_SYMBOL.get(g.status, ""),
                      "gap": num(g.gap, 4), "p_adjusted": p_text(g.p_adjusted),
                      "by_attribute": [
                          {"status": g.by_attribute.get(a, "—"),
                           "symbol": STATUS_SYMBOL.get(g.by_attribute.get(a, ""), "—")}
                          for a in attrs],
                      "selected": g.variant == result.ranking.selected}
                     for g in gs],
        })
    return out


def _significance(result: AuditResult) -> list[dict[str, Any]]:
    """Per variant in rank order and tested rate: its smallest adjusted p-value, with the raw p
    and the comparison it comes from (the gates section's significance table)."""
    rows = []
    for v in ordered_variants(result):
        cells = []
        for rate in TESTED_RATE_NAMES:
            found = [(t.p_adjusted, t.p, a.attribute, g.group, t.reference)
                     for a in v.attributes for g in a.groups
                     for r, t in g.significance.items() if r == rate]
            if not found:
                cells.append({"p_adjusted": "—", "p": "", "where": ""})
                continue
            adj, raw, attribute, group, ref = min(found, key=lambda f: (f[0], f[1]))
            cells.append({"p_adjusted": p_text(adj), "p": p_text(raw),
                          "where": f"{group} vs {ref} ({attribute})"})
        if any(c["p"] for c in cells):
            rows.append({"variant": v.name, "cells": cells,
                         "selected": v.name == result.ranking.selected})
    return rows


def _small_rate_examples(result: AuditResult) -> tuple[int, str] | None:
    """How many compared rates of the first evaluated variant's row-eligible groups rest on
    fewer than min_group_size people, with up to three examples ("the fnr of 'x', 2/22")."""
    v = next((v for v in result.variants if v.status != "ERROR" and v.attributes), None)
    if v is None:
        return None
    rates = ("selection_rate", "tpr", "fpr", "fnr", "precision")
    found = [(r, a.attribute, g) for a in v.attributes for ok in [set(a.eligible_groups)]
             for g in a.groups if g.group in ok for r in rates if r in g.small_rates]
    if not found:
        return None
    shown = "; ".join(f"the {r} of '{g.group}' ({a}), {fraction_text(g, r)}"
                      for r, a, g in found[:3])
    return len(found), shown


def _limitations(result: AuditResult) -> list[dict[str, str]]:
    d = result.data
    items: list[dict[str, str]] = []
    small = [(a.attribute, g.group, g.n) for a in d.attributes for g in a.groups if "small" in g.flags]
    if small:
        listed = "; ".join(f"{a}: '{g}' (n = {n:,})" for a, g, n in small[:12])
        more = f"; and {len(small) - 12} more" if len(small) > 12 else ""
        items.append({"title": "Small groups",
                      "text": f"{len(small)} group(s) or intersection cell(s) have fewer than "
                              f"{result.min_group_size} rows ({listed}{more}). Their rates are "
                              "reported with wide intervals but they are left out of every "
                              "disparity, so no gate speaks for them."})
    else:
        items.append({"title": "Small groups",
                      "text": f"Every group has at least {result.min_group_size} rows; groups "
                              "that are not recorded in the data cannot be audited at all."})
    small_rates = _small_rate_examples(result)
    if small_rates:
        n_small, shown = small_rates
        items.append({"title": "Rates on few people",
                      "text": f"{n_small} rate(s) of groups with enough rows rest on fewer than "
                              f"{result.min_group_size} people — the count the rate divides by: "
                              "actual positives for TPR and FNR, actual negatives for FPR and "
                              "TNR, predicted positives for precision (for example "
                              f"{shown}). They are reported with their fraction but take no part "
                              "in any disparity, gate or headline."})
    unknown = [(a.attribute, g.n) for a in d.attributes if a.kind == "attribute"
               for g in a.groups if "unknown" in g.flags]
    if unknown:
        items.append({"title": "Missing protected values",
                      "text": "; ".join(f"{n:,} row(s) have no recorded {a}" for a, n in unknown)
                              + ". They form the group 'unknown', audited like any other; the "
                              "people in it may belong to any group, so its rates do not tell "
                              "how the missing members of each group were treated."})
    else:
        items.append({"title": "Missing protected values",
                      "text": "No protected value is missing. The audit relies on the recorded "
                              "values being correct: self-reported or inferred attributes can be "
                              "wrong in ways the audit cannot detect."})
    excl = sum(e.count for e in d.excluded)
    if excl:
        items.append({"title": "Excluded rows",
                      "text": f"{excl:,} row(s) were excluded before the audit (see Data and "
                              "scope); the results hold for the remaining population only."})
    if d.protected_as_features:
        items.append({"title": "Protected attributes used as features",
                      "text": "The models see " + ", ".join(d.protected_as_features) +
                              " as input features; check whether that is lawful for this use."})
    gsd = [v.name for v in result.variants if v.uses_protected_at_decision]
    if gsd:
        items.append({"title": "Group-specific decisions",
                      "text": "These variants decide with the protected attribute (for example "
                              "group thresholds): " + ", ".join(gsd) + ". Such decisions may be "
                              "unlawful in some jurisdictions even when they reduce disparities."
                              + (" The policy forbids them: they are reported but not "
                                 "selectable." if not allows_group_specific_decisions(result)
                                 else " The policy allows them to be selected.")})
    scores = [v.name for v in result.variants if v.unavailable]
    if scores:
        items.append({"title": "Calibration not assessed",
                      "text": "The scores of " + ", ".join(f"'{n}'" for n in scores) + " are "
                              "not probabilities (score_type: score: a ranking score such as a "
                              "risk decile, on its own scale). Brier score and calibration error "
                              "compare a score with the 0/1 outcome as if it were a probability, "
                              "so they are not computed for them (null in results.json, blank in "
                              "the leaderboard); whether a given score means the same risk in "
                              "every group is not assessed."})
    if result.confidence.get("method") != "bootstrap":
        items.append({"title": "No confidence intervals",
                      "text": "The policy turned intervals off: every figure is a point estimate "
                              "whose uncertainty is not shown."})
    cluster = result.validation.groups
    items.append({"title": "Independence of rows",
                  "text": ("Intervals and folds treat clusters of '" + cluster + "' as "
                           "independent units; dependence across clusters is not modelled.")
                  if cluster else
                  ("Intervals and folds treat rows as independent. Rows that belong together "
                   "(a household, a branch, the same person more than once) make the intervals too narrow; "
                   "name a cluster column under validation → groups when they exist.")})
    items.append({"title": "What the audit cannot see",
                  "text": "It measures outcomes against the labels in the data: if past "
                          "decisions were biased, the labels carry that bias and a model that "
                          "reproduces them can look accurate and fair. It does not test features "
                          "that stand in for a protected attribute (postcode, name, occupation), "
                          "attributes that are not recorded, people the data does not include, or how "
                          "the population and the model will drift after deployment. "
                          "The figures estimate performance on data like this sample, "
                          "not on a different period or market."})
    items.append({"title": "Thresholds and metrics",
                  "text": "Gate thresholds and the choice of fairness metrics come from the "
                          "policy; some fairness criteria cannot hold together when base rates "
                          "differ between groups, so passing these gates does not establish "
                          "fairness in every sense."})
    if result.failures:
        items.append({"title": "Candidates not evaluated",
                      "text": f"{len(result.failures)} failure(s) were recorded; those variants "
                              "are reported but not judged."})
    return items


def _appendix(result: AuditResult) -> dict[str, Any]:
    perf = list(result.metrics.get("performance") or [])
    fair = list(result.metrics.get("fairness") or [])
    folds = []
    for v in ordered_variants(result):
        rows = []
        for f in v.folds:
            rows.append({"fold": f.fold + 1, "n": count(f.n),
                         "perf": [num(f.performance.get(m)) for m in perf],
                         "fair": [num(_fold_worst(f.fairness.get(m, {}), m)) for m in fair]})
        folds.append({"variant": v.name, "rows": rows})
    p = result.provenance
    env = [("fairsel", p.fairsel_version), ("Python", p.python), ("Platform", p.platform)]
    env += [(k, p.packages[k]) for k in sorted(p.packages)]
    timings = [(k, f"{p.timings[k]:.2f} s") for k in p.timings]
    return {
        "policy_text": result.policy_text, "policy_path": file_name(p.policy_path),
        "policy_sha256": p.policy_sha256,
        "perf": _columns(perf), "fair": _columns(fair), "folds": folds,
        "environment": [{"item": a, "value": b} for a, b in env],
        "timings": [{"item": a, "value": b} for a, b in timings],
        "started": utc_text(p.started), "finished": utc_text(p.finished),
        "seed": p.seed,
    }


def build_context(result: AuditResult, *, with_charts: bool = True) -> dict[str, Any]:
    """The report's view model: one dict per section, in document order.

    Parameters
    ----------
    result
        The audit result (results.json).
    with_charts
        Draw the charts (matplotlib). Off, every chart is ``None``: a quick context for tests.
    """
    result = safe_result(result)  # no control character reaches the HTML, PDF or charts
    token = _THRESHOLDS.set(tuple(sorted({t for ts in gate_thresholds(result).values()
                                          for t in ts})))
    try:
        return _build_context(result, with_charts=with_charts)
    finally:
        _THRESHOLDS.reset(token)


def _build_context(result: AuditResult, *, with_charts: bool) -> dict[str, Any]:
    rid = report_id(result)
    rep = result.policy.get("report", {}) or {}
    org = rep.get("organisation")
    system = rep.get("system")
    variants = ordered_variants(result)
    candidates = [_candidate(result, v, i, with_charts=with_charts) for i, v in enumerate(variants)]
    mitigated = _mitigated(result)
    subject = (f"Fairness audit of {system or result.name}"
               + (f" for {org}" if org else "") + f": {result.verdict.status}")
    return {
        "meta": {
            "title": result.title, "report_id": rid, "version": result.provenance.fairsel_version,
            "generated": utc_text(result.provenance.finished),
            "generated_iso": result.provenance.finished,
            "author": org or "fairsel", "subject": subject,
            "keywords": "fairness audit, model selection, fairsel",
            "paper": rep.get("paper") or "A4", "name": result.name,
        },
        "sections": [{"id": a, "title": b} for a, b in report_sections(result)],
        "cover": _cover(result, rid),
        "control": _control(result, rid),
        "summary": _summary(result),
        "data": _data(result),
        "method": _method(result),
        "leaderboard": _leaderboard(result),
        "search": search_view(result),
        "mitigated": mitigated,
        "candidates": candidates,
        "tradeoff": _tradeoff(result, with_charts=with_charts),
        "proxies": proxies_view(result),
        "gates": _gates(result),
        "significance": _significance(result),
        "limitations": _limitations(result),
        "appendix": _appendix(result),
    }


__all__ = ["DT_MARK", "MITIGATED_SECTION", "SECTIONS", "allows_group_specific_decisions",
           "build_context", "ci_text", "mitigated_variants", "num", "pareto_front",
           "report_id", "report_sections", "signed"]
