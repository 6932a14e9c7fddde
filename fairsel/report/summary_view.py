"""The executive summary's view model (``_summary.html.j2``): the verdict, the reasons,
the findings in plain words, and the variant nearest to passing when none passes.
"""

from __future__ import annotations

from typing import Any

from fairsel.metrics import FAIRNESS_METRICS
from fairsel.report.facts import (best_ranked, estimate_of, failed_error_gates, fraction_text,
                                  gate_text, headline_metric, higher_is_better, missing_in,
                                  missing_note, reason_for, small_rate_examples, straddles,
                                  widest_gap)
from fairsel.report.fmt import STATUS_SYMBOL, ci_text, is_finite, named_and_left, num, pct
from fairsel.report.section import SectionView
from fairsel.report.tables import ordered_variants
from fairsel.results import AuditResult, VariantResult


def _few_people_too(result: AuditResult) -> str:
    """" Larger groups' rates on fewer than min_group_size people are left out as well …", or
    "" (recidivism, review8: the small-groups finding listed four groups "the gates say nothing
    about", while 'Asian' and 'Asian × Male', large enough by rows, were left out of the gated
    error rates because those rest on 9 and 8 people)."""
    found = small_rate_examples(result)
    if not found:
        return ""
    name, n, shown = found
    return (f" The gates also leave out {n} rate(s) of '{name}' on larger groups that rest on "
            f"fewer than {result.min_group_size} people (for example {shown}); see Limitations.")


def closest_variant(result: AuditResult) -> dict[str, Any] | None:
    """The variant nearest to passing (the ranking orders non-passing variants by their gap)."""
    v = best_ranked(result)
    if v is None:
        return None
    rows = []
    for g in result.gates:
        if g.variant != v.name or g.severity != "error" or g.status == "PASS":
            continue
        thr = g.min if g.min is not None else g.max
        rel = (g.gap / abs(thr)) if (g.gap is not None and thr) else None
        text = gate_text(result, g)
        rows.append({
            "metric": text["subject"], "status": g.status, "severity": g.severity,
            "observed": num(g.observed, 4), "ci": ci_text(g.ci),
            "required": text["required"],
            "attribute": g.attribute or "",
            "gap": num(g.gap, 4),
            "relative": pct(rel) if rel is not None else "—",
        })
    return {"name": v.name, "rank": v.rank, "status": v.status, "rows": rows}


#: What a group's rate measures, in words, for the "widest gap" finding ({o}: the favorable
#: outcome, with the policy's data → favorable_label when it has one).
_RATE_WORDS = {
    "selection_rate": "receive the favorable decision",
    "tpr": "receive the favorable decision when their outcome was the favorable one{o}",
    "fnr": "receive the unfavorable decision although their outcome was the favorable one{o}",
    "fpr": "receive the favorable decision although their outcome was not the favorable one{o}",
    "precision": "turn out to have the favorable outcome{o} when given the favorable decision",
    "accuracy": "are decided correctly",
}


#: A rate's short name in a sentence.
_RATE_NAMES = {"selection_rate": "selection rate", "tpr": "true positive rate",
               "fnr": "false negative rate", "fpr": "false positive rate"}


def _rate_words(result: AuditResult, rate: str) -> str:
    label = (result.policy.get("data") or {}).get("favorable_label")
    words = _RATE_WORDS.get(rate)
    if words is None:
        return f"have a {rate}"
    return words.format(o=f" ({label})" if label else "")


def _findings(result: AuditResult, focus: VariantResult | None) -> list[str]:
    """The most important findings in plain words, most important first."""
    found: dict[str, str] = {}
    level = result.confidence.get("level")
    lvl = f"{level:.0%} " if isinstance(level, (int, float)) else ""
    head_metric = headline_metric(result)

    # 1. The largest disparity of the model in focus, told with the groups' own rates.
    if focus is not None and head_metric in focus.fairness:
        h = focus.fairness[head_metric]
        attr = next((a for a in focus.attributes if a.attribute == h.attribute), None)
        gap = widest_gap(attr, head_metric) if attr else None
        if gap and h.value is not None:
            rate, ((lo_v, lo_g, lo), (hi_v, hi_g, hi)) = gap
            rate_name = _rate_words(result, rate)

            def share(v, g) -> str:
                fr = fraction_text(g, rate)
                return f"{num(v)} ({fr})" if fr else num(v)
            # the attribute's own interval, as its gate reads it (the headline's covers every
            # attribute's groups and may differ: one estimate, one interval on a page)
            own = attr.fairness.get(head_metric)
            ci = own.ci if own is not None and own.ci else h.ci
            def who(g, row) -> str:
                note = missing_note(h.attribute, g)
                return f"'{g}' (n = {row.n:,}{'; ' + note if note else ''})"
            found["disparity"] = (
                f"Under '{focus.name}', the widest gap is on {h.attribute}: members of group "
                f"{who(lo_g, lo)} {rate_name} at a rate of {share(lo_v, lo)} against "
                f"{share(hi_v, hi)} for {who(hi_g, hi)}; {head_metric} is {num(h.value)}"
                + (f" ({lvl}interval {num(ci[0])} to {num(ci[1])})"
                   if ci and ci[0] is not None and ci[1] is not None else "") + ".")
            # the figure (and its gate) counts the missing-value group as a group (no row is
            # lost); a reviewer also reads the gap between groups whose values were recorded
            if missing_in(h.attribute, lo_g) or missing_in(h.attribute, hi_g):
                known = widest_gap(attr, head_metric, recorded=True)
                if known:
                    k_rate, ((klo_v, klo_g, klo), (khi_v, khi_g, khi)) = known
                    kind = FAIRNESS_METRICS[head_metric].kind
                    size = (f"a ratio of {num(klo_v / khi_v)}" if kind == "ratio" and khi_v > 0
                            else f"a difference of {num(khi_v - klo_v)}")
                    found["disparity"] += (
                        f" Among groups whose values were all recorded, the widest gap in "
                        f"{_RATE_NAMES.get(k_rate, k_rate)} is '{klo_g}' at {share(klo_v, klo)} "
                        f"against '{khi_g}' at {share(khi_v, khi)}: {size} (point estimates; "
                        f"the figure and its gates count the missing-value group as a group).")

    # 2. Every gate whose interval straddles a threshold (the key figures' check).
    uncertain = ([g for g in sorted(result.gates, key=lambda g: g.gate)
                  if g.variant == focus.name and straddles(g) is not None]
                 if focus is not None else [])
    if uncertain:
        def one(g) -> str:
            return (f"G{g.gate + 1} {gate_text(result, g)['subject']} ({num(g.ci[0])} to "
                    f"{num(g.ci[1])}, threshold {straddles(g):g}, reads {g.status} on the point "
                    f"estimate {num(g.observed)})")
        tail = ("(the policy decides on the point estimate; decision: ci_bound would be "
                "stricter)." if all(g.decision == "point" for g in uncertain) else ".")
        if len(uncertain) == 1:
            g = uncertain[0]
            found["uncertain"] = (
                f"The {lvl}interval of {gate_text(result, g)['subject']} for '{focus.name}' "
                f"({num(g.ci[0])} to {num(g.ci[1])}) contains the threshold {straddles(g):g}: "
                f"the gate reads {g.status} on the point estimate {num(g.observed)}, but the "
                f"data cannot rule out the other side {tail}")
        else:
            found["uncertain"] = (
                f"The {lvl}intervals of {len(uncertain)} gates for '{focus.name}' contain their "
                f"thresholds: {'; '.join(one(g) for g in uncertain)}. The data cannot rule out "
                f"the other side of any of them {tail}")

    # 3. What fairness costs: the selected model against the best-scoring one.
    obj = result.ranking.objective
    scored = [(v, estimate_of(v, obj)) for v in result.variants if v.status != "ERROR"]
    scored = [(v, e.value) for v, e in scored if e is not None and is_finite(e.value)]
    if scored and result.ranking.selected:
        hib = higher_is_better(obj)
        best_v, best = max(scored, key=lambda t: (t[1] if hib else -t[1], t[0].name))
        sel = result.variant(result.ranking.selected)
        sel_e = estimate_of(sel, obj)
        # every variant with that best figure (a post-processed variant keeps its base's
        # scores, so its AUC ties with it): naming one of them would be arbitrary
        tied = sorted((v for v, x in scored if x == best), key=lambda v: v.name)
        if sel.name not in {v.name for v in tied} and sel_e and is_finite(sel_e.value):
            # the ranking's own reasons (results.json before 1.0 had none: then no reason)
            by_reason: dict[str, list[str]] = {}
            for v in tied:
                passed = result.ranking.passed_over.get(v.name)
                text = passed.text if passed else ""
                if passed is not None and passed.reason == "not_passing":
                    # which gates: a reviewer acts on the gate, not on "every gate"
                    failed = failed_error_gates(result, v.name)
                    text += f" — {failed}" if failed else ""
                by_reason.setdefault(text, []).append(f"'{v.name}'")
            whys = [f"{' and '.join(ns) if len(ns) <= 2 else ', '.join(ns)} not selected because "
                    f"{reason_for(text, len(ns))}"
                    for text, ns in by_reason.items() if text]
            why = f"; {'; '.join(whys)}" if whys else ""
            who = (f"the best-scoring '{tied[0].name}'" if len(tied) == 1 else
                   f"the {len(tied)} variants tied for the best {obj}")
            found["cost"] = (
                f"Choosing '{sel.name}' rather than {who} ({obj} {num(best)}{why}) costs "
                f"{num(abs(best - sel_e.value))} of {obj}.")
        elif best_v.name == sel.name:
            found["cost"] = (f"'{sel.name}' also has the best {obj} of all variants ({num(best)}): "
                         "the selection costs no performance.")

    # 4. What the no-pass case fails on: every error gate some variant misses, most first.
    if not result.ranking.selected:
        fails: dict[int, set[str]] = {}
        for g in result.gates:
            if g.severity == "error" and g.status in ("FAIL", "INSUFFICIENT"):
                fails.setdefault(g.gate, set()).add(g.variant)
        n_var = sum(1 for v in result.variants if v.status != "ERROR")
        if fails:
            gate_of = {g.gate: g for g in result.gates}
            parts = [f"G{i + 1} {gate_text(result, gate_of[i])['subject']} ({len(vs)} of {n_var})"
                     for i, vs in sorted(fails.items(), key=lambda t: (-len(t[1]), t[0]))]
            found["blocking"] = (
                f"Variants fail or cannot pass {'this error gate' if len(parts) == 1 else 'these error gates'}: "
                f"{'; '.join(parts)}. {'It is' if len(parts) == 1 else 'They are'} what stands "
                "between the candidates and deployment.")

    # 5. Groups too small to judge, rates on few people, and missing protected values.
    few = _few_people_too(result)
    # every small group counts, an intersection's cells too (named after the attributes' own)
    small = sorted({(a.kind != "attribute", a.attribute, g.group, g.n)
                    for a in result.data.attributes for g in a.groups if "small" in g.flags})
    if small:
        named, left = named_and_left(small, 4)
        names = ", ".join(f"'{g}' of {a} (n = {n:,})" for _, a, g, n in named)
        more = f" and {left} more" if left else ""
        cells = sum(1 for t in small if t[0])
        of_which = f" ({cells} of them intersection cells)" if cells else ""
        found["small"] = (f"{len(small)} group(s){of_which} have fewer than "
                          f"{result.min_group_size} rows — "
                     f"{names}{more}: their rates are shown but they take no part in the "
                     "disparity figures, so the gates say nothing about them." + few)
    elif few:
        found["small"] = few.strip()
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


def summary_view(result: AuditResult) -> dict[str, Any]:
    sel = result.ranking.selected
    focus = result.variant(sel) if sel else None
    closest = None if sel else closest_variant(result)
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
        "selected_perf": (num(estimate_of(focus, result.ranking.objective).value)
                          if focus is not None and estimate_of(focus, result.ranking.objective)
                          else "—"),
    }


VIEW = SectionView("summary", lambda result, o: summary_view(result), "Executive summary")
