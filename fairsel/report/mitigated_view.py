"""The "Mitigated variants against their base" section's view model
(``_mitigated.html.j2``): each mitigated variant against its base, what it fitted
in each fold, and who decides with the protected attribute.
"""

from __future__ import annotations

from typing import Any

from fairsel.metrics import FAIRNESS_METRICS
from fairsel.mitigation import MITIGATIONS, PROXY_FREE
from fairsel.report.facts import (allows_group_specific_decisions, estimate_of, gate_columns,
                                  gate_scope, higher_is_better, is_fairness, mitigated_variants)
from fairsel.report.fmt import DT_MARK, STATUS_SYMBOL, column_heads, is_finite, num, signed
from fairsel.report.section import SectionView
from fairsel.report.tables import leaderboard_columns, ordered_variants
from fairsel.results import AuditResult, GateResult, VariantResult


#: The section comparing each mitigated variant with its base. It follows the leaderboard, and
#: only when the result has a mitigated variant: without one it is absent, from the contents too.
MITIGATED_SECTION: tuple[str, str] = ("mitigated", "Mitigated variants against their base")


STAGE_TEXT = {
    "pre": "pre-processing: training weights",
    "in": "in-processing: constrained training",
    "post": "post-processing: decisions from the scores",
}


NO_PROXIES_STAGE = "pre-processing: features left out (proxies.exclude_flagged)"


def _mitigation_kind(v: VariantResult) -> str:
    """``threshold[equalized_odds]`` → ``threshold``."""
    return (v.mitigation or "").split("[", 1)[0]


def _kind_info(kind: str):
    return MITIGATIONS.get(kind) if kind in MITIGATIONS else None


def _effect(metric: str, change: str, d: float | None) -> str:
    """Whether a change is for the better, in words that say which way the metric reads."""
    if not is_finite(d):
        return "—"
    if float(change.replace("−", "-")) == 0:
        return "unchanged"
    if is_fairness(metric):
        up = FAIRNESS_METRICS[metric].higher_is_fairer
        return "fairer" if (d > 0) == up else "less fair"
    return "better" if (d > 0) == higher_is_better(metric) else "worse"


def _change(metric: str, base: float | None, variant: float | None,
            digits: int = 3) -> dict[str, Any]:
    d = variant - base if is_finite(base) and is_finite(variant) else None
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


#: aif360's calibrated equalized odds records a mix rate per side: what the figure is.
_MIX_RATES = ("privileged_mix_rate", "unprivileged_mix_rate")
MIX_RATE_NOTE = (
    "Mix rate (aif360's calibrated equalized odds): the share of a side's rows whose score is "
    "replaced by that side's base rate, chosen so that the two sides' costs (false positive "
    "and false negative rates, as the cost constraint weighs them) meet; only the side whose "
    "cost is lower is mixed (the other reads 0). aif360 computes it as the gap in costs over "
    "what mixing every row could close.")
MIX_ABOVE_ONE_NOTE = (
    "A mix rate above 1 is aif360's ratio as computed, not a share: even replacing every row "
    "cannot close the gap, so in that fold every row of the side takes its base rate (as at "
    "1) and the constraint is not met on the fitting rows (“constraint met on fit: no”).")


def _mix_rate_notes(details: dict[str, Any]) -> list[str]:
    """What the mix rates mean, where a variant records them (and why one above 1 is shown)."""
    found = [v for k in _MIX_RATES if isinstance(details.get(k), dict)
             for v in details[k].values()]
    if not found:
        return []
    above = any(is_finite(x) and x > 1 for x in found)
    return [MIX_RATE_NOTE + (" " + MIX_ABOVE_ONE_NOTE if above else "")]


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


#: How a fitted group threshold that is not the group's own reads in its cell: in words, since
#: the report's marks each have one meaning (fmt.MARK_LEGENDS) and † and ‡ mean a small group
#: and a figure on few people.
THRESHOLD_WORDS = {"pooled": "(pooled)", "default": "(default)"}


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
                # a score cutoff, compared with no gate: three decimals like its column, not
                # 0.09998 because some gate elsewhere reads "≤ 0.1"
                text = num(x, near=())
                if is_finite(x):
                    finite.append(x)
            cells.append({"text": text, "mark": THRESHOLD_WORDS.get(st or "", "")})
        rows.append({"group": g, "cells": cells,
                     "range": num(max(finite) - min(finite), near=())
                     if len(finite) >= 2 else "—"})
    marks = {c["mark"] for r in rows for c in r["cells"]}
    return {"rows": rows, "pooled": THRESHOLD_WORDS["pooled"] in marks,
            "default": THRESHOLD_WORDS["default"] in marks,
            "none": any(c["text"] == "none" for r in rows for c in r["cells"])}


def _weight_range(details: dict[str, Any], folds: list[str]) -> dict[str, Any] | None:
    """Reweighing's weights summarised per fold: the lowest and the highest (a settings row)."""
    weights = details.get("weights")
    if not isinstance(weights, dict) or not weights:
        return None
    cells = []
    for f in folds:
        vals = [w for cell in (weights.get(f) or {}).values() if isinstance(cell, dict)
                for w in cell.values() if is_finite(w)]
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
            "table": _threshold_table(details, folds), "settings": settings,
            "notes": _mix_rate_notes(details)}


def _comparison(result: AuditResult, v: VariantResult, base: VariantResult | None,
                index: int, *, perf: list[str], fair: list[str], allow: bool,
                gate_cols: list[dict[str, Any]],
                by_gate: dict[tuple[str, int], GateResult]) -> dict[str, Any]:
    obj = result.ranking.objective
    metrics = []
    for m in perf + fair:
        b = estimate_of(base, m) if base is not None else None
        x = estimate_of(v, m)
        bv = b.value if b is not None else None
        xv = x.value if x is not None else None
        metrics.append({"metric": m, "family": "fairness" if is_fairness(m) else "performance",
                        "objective": m == obj, "base": num(bv), "variant": num(xv),
                        **_change(m, bv, xv)})
    gates = []
    for c in gate_cols:
        gb = by_gate.get((base.name, c["index"])) if base is not None else None
        gv = by_gate.get((v.name, c["index"]))
        if gb is None and gv is None:
            continue
        first = gv or gb
        gates.append({
            "label": c["label"], "metric": c["metric"], "subject": c["subject"],
            "scope": gate_scope(result, first),
            "required": c["required"], "severity": first.severity,
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


def mitigated_view(result: AuditResult) -> dict[str, Any]:
    """Each mitigated variant against its base: what fairness costs in performance and what
    performance costs in fairness; the mitigations used, and who decides with the attribute."""
    variants = mitigated_variants(result)
    allow = allows_group_specific_decisions(result)
    dt = [v.name for v in ordered_variants(result) if v.uses_protected_at_decision]
    if not allow:
        policy_text = ("The policy forbids group-specific decisions (mitigation_policy → "
                       "allow_group_specific_decisions: false): a variant that decides with "
                       "the protected attribute is measured, gated and reported but not "
                       "selectable" + ("." if dt else "; no variant here does."))
    elif dt:
        policy_text = ("The policy allows group-specific decisions (mitigation_policy → "
                       "allow_group_specific_decisions: true): a variant that decides with the "
                       "protected attribute can be selected; check that doing so is lawful for "
                       "this use.")
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
        if uses:
            needs = "Yes — a decision can depend on the group: disparate treatment"
        elif kind == PROXY_FREE:
            needs = ("No — the attribute is used only by the proxy screen, before training, to "
                     "choose the features left out; training and decisions use the other "
                     "features alone")
        else:
            needs = ("No — the attribute is used only in training, on each fold's training "
                     "rows; decisions use the features alone")
        kind_rows.append({
            "kind": kind, "stage": STAGE_TEXT.get(info.stage, info.stage) if info
            else (NO_PROXIES_STAGE if kind == PROXY_FREE else "—"),
            "uses_protected": uses,
            "needs": needs,
            "summary": info.summary if info else "",
            "variants": [v.name for v in vs],
        })
    perf, fair = leaderboard_columns(result)
    obj = result.ranking.objective
    perf = [obj] + [m for m in perf if m != obj] if obj in perf else perf
    gate_cols = gate_columns(result)
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
        "columns": column_heads(cols), "objective": obj, "kinds": kind_rows,
        "allow": allow, "dt_variants": dt, "policy_text": policy_text, "mark": DT_MARK,
    }


VIEW = SectionView("mitigated", lambda result, o: mitigated_view(result), MITIGATED_SECTION[1],
                   present=lambda result: bool(mitigated_variants(result)))
