"""The "Why the model decides as it does" section's view model, and the explanation line of
summary.md.

A pure function of ``result.analysis.explanations`` (results.json): per explained variant,
the global importance (chart and table), each group's mean contribution per feature (chart,
for the attributes, not their intersections), the gap between each group and its reference
decomposed per feature (a waterfall for the widest gap of each attribute, and a table), and
the main reasons of unfavorable decisions per group, with protected attributes and proxies
flagged.
"""

from __future__ import annotations

from typing import Any

from fairsel.report.facts import missing_note, scope
from fairsel.report.fmt import FEW_MARK, mark_legend
from fairsel.report.tables import fmt
from fairsel.results import AuditResult, Explanations, VariantExplanation

#: The section's id and title (it follows the Proxies section, or the trade-off).
EXPLAIN_SECTION: tuple[str, str] = ("explain", "Why the model decides as it does")
#: Features shown in the importance chart and table, and steps of a waterfall.
SHOWN = 10
#: Groups of one attribute drawn in the per-group chart (the largest by rows explained).
GROUPS_DRAWN = 6

_EXPLAINERS = {
    "tree": "Tree SHAP (LightGBM's own implementation for a LightGBM model, shap's "
            "TreeExplainer for a scikit-learn tree model)",
    "linear": "shap's linear explainer (coefficient × distance from the training rows' mean)",
    "permutation": "permutation SHAP (as shap's permutation explainer: random feature orders "
                   "walked both ways, a background of 50 of the fold's training rows)",
}


def _signed(x: float) -> str:
    """A contribution with its sign, as the report writes changes (``+0.012``, ``−0.034``),
    with two significant digits where three decimals would show nothing (``−0.00041``)."""
    text = f"{x:+.3f}" if abs(x) >= 0.0005 or x == 0 else f"{x:+.2g}"
    return text.replace("-", "−")




def _reasons(x: VariantExplanation, attributes: set[str],
             min_decisions: int = 0) -> list[dict[str, Any]]:
    """One row per group: its main reasons with their shares, or, where the shares would rest
    on fewer than ``min_decisions`` (the audit's min_group_size) unfavorable decisions, the
    reasons in order without shares and marked :data:`FEW_MARK` (issue 9's rule for a rate
    on a small denominator: reported, never read as a share)."""
    rows = []
    for r in x.reasons:
        if r.attribute not in attributes:
            continue
        few = r.unfavorable < min_decisions

        def share(v: float) -> str:
            return "" if few else f" {v:.0%}"
        top = [f"{c.feature}{share(c.main)}" + (f" ({c.flag})" if c.flag else "")
               for c in r.reasons if c.main > 0][:3]
        flagged = [f"{c.feature} ({c.flag}" + ("" if few else f", in the top 4 of {c.top:.0%}")
                   + ")" for c in r.reasons if c.flag and c.top > 0]
        rows.append({"attribute": r.attribute, "group": r.group,
                     "unfavorable": f"{r.unfavorable:,}", "main": ", ".join(top) or "—",
                     "flagged_share": "in the top 4" if few else f"{r.flagged:.0%}",
                     "flagged": "; ".join(flagged), "has_flag": r.flagged > 0,
                     "few": FEW_MARK if few else ""})
    return rows


def _variant(x: VariantExplanation, index: int, attributes: set[str], *,
             with_charts: bool, min_rows: int = 0, saved: bool = False) -> dict[str, Any]:
    from fairsel.report import explain_charts

    top = list(x.importance.items())[:SHOWN]
    importance_chart = None
    if with_charts and top:
        importance_chart = explain_charts.importance(
            f"explain-imp-{index}", features=[f for f, _ in top], values=[v for _, v in top],
            units=x.units)
    group_charts = []
    if with_charts and index == 0:  # the selected (first) variant: each attribute's groups
        for a in x.groups:
            if a.attribute not in attributes:
                continue
            groups = sorted([g for g in a.groups if g.rows], key=lambda g: -g.rows)
            # the chart draws the groups with the most explained rows; the others are named
            # under it (hiring: two of eight race/ethnicity groups left out without a word)
            left_out = [g.group for g in groups[GROUPS_DRAWN:]]
            groups = groups[:GROUPS_DRAWN]
            feats = [f for f, _ in top[:8]]
            if len(groups) < 2 or not feats:
                continue
            chart = explain_charts.group_contributions(
                f"explain-grp-{index}-{len(group_charts)}", attribute=a.attribute,
                features=feats, groups=[g.group for g in groups],
                values=[[g.mean_shap.get(f, 0.0) for f in feats] for g in groups],
                units=x.units)
            group_charts.append({"chart": chart, "attribute": a.attribute,
                                 "drawn": len(groups), "left_out": left_out})
    gaps = []
    shown_pairs = comparable(x, attributes, min_rows)
    for a in sorted(attributes):
        ds = [d for d in shown_pairs if d.attribute == a]
        if not ds:
            continue
        d = max(people_first(ds), key=lambda d: abs(d.gap))
        steps = list(d.contributions.items())
        shown = steps[:SHOWN]
        rest = sum(v for _, v in steps[SHOWN:])
        chart_steps = [(f, v) for f, v in shown]
        if steps[SHOWN:]:
            chart_steps.append((f"{len(steps) - SHOWN} more", rest))
        if d.baseline:
            chart_steps.insert(0, ("expected values (folds)", d.baseline))
        chart = None
        title = f"{d.group} − {d.reference} ({a})"
        if with_charts:
            chart = explain_charts.waterfall(f"explain-gap-{index}-{len(gaps)}", title=title,
                                             steps=chart_steps, gap=d.gap, units=x.units)
        gaps.append({"title": title, "gap": _signed(d.gap), "chart": chart,
                     "steps": [{"feature": f, "value": _signed(v)} for f, v in chart_steps],
                     "lower": d.gap < 0, "group": d.group, "reference": d.reference,
                     # hiring (review10): "unknown − male (sex)" did not say 'unknown' is
                     # missing data, not a group of people
                     "missing": missing_note(a, d.group) or missing_note(a, d.reference),
                     "first": shown[0][0] if shown else None,
                     "first_value": _signed(shown[0][1]) if shown else None})
    note = x.note[0].upper() + x.note[1:] if x.note else x.note  # a sentence of its own
    return {
        "variant": x.variant, "model": x.model, "note": note, "units": x.units,
        # one model trained elsewhere explains every row: the folds play no part
        "saved": saved,
        "explainer": _EXPLAINERS[x.explainer], "rows": f"{x.rows:,}",
        "rows_by_fold": ", ".join(f"{n:,}" for n in x.rows_by_fold), "row_cap": x.row_cap,
        "additivity": f"{x.additivity_error:.1g}",
        "importance": [{"feature": f, "value": fmt(v)} for f, v in top],
        "importance_chart": importance_chart, "group_charts": group_charts, "gaps": gaps,
        "reasons": _reasons(x, attributes, min_rows),
        "few": FEW_MARK, "few_legend": mark_legend(FEW_MARK, min_rows),
        "min_decisions": f"{min_rows:,}",
    }


def explain_view(result: AuditResult, *, with_charts: bool = True) -> dict[str, Any] | None:
    """The section's view model, or None when no explanation ran (``explain: false``)."""
    e: Explanations | None = result.analysis.explanations
    if e is None:
        return None
    attributes = {a.attribute for a in result.data.attributes if a.kind == "attribute"}
    saved = [_saved(x, result) for x in e.explained]
    explained = [_variant(x, i, attributes, with_charts=with_charts,
                          min_rows=result.min_group_size, saved=saved[i])
                 for i, x in enumerate(e.explained)]
    return {
        "rows": f"{e.rows:,}", "variants": e.variants, "sampling": e.sampling,
        "top_features": e.top_features,
        "explained": explained,
        # the groups' contributions are drawn for the first variant only (review12: the
        # section said "per variant")
        "group_charts_for": next((v["variant"] for v in explained if v["group_charts"]), None),
        # mitigation (review12): 3 of 11 variants explained, and the section did not say so
        "scope": scope(result, [x.variant for x in e.explained] + [s.variant for s in e.skipped]),
        "skipped": [{"variant": s.variant, "reason": s.reason} for s in e.skipped],
        # a saved model explains every row with one model: the fold sentence does not hold
        "any_saved": any(saved),
    }


def _saved(x: VariantExplanation, result: AuditResult) -> bool:
    """Whether one model trained elsewhere explained the variant: the variant whose model is
    explained (``model``: the variant itself, or its base) is of ``kind: saved_model`` in
    results.json. Read from that structured field, not from the wording of ``note``."""
    return any(v.name == x.model and v.kind == "saved_model" for v in result.variants)


def people_first(ds: list) -> list:
    """The attributions between groups of people, or all of ``ds`` when there are none: a group
    of missing values is one side of the gap shown only when no other pair is comparable
    (hiring, review12: "unknown − male" was explained for sex, and female − male, the gap
    behind its disparate impact, was not)."""
    people = [d for d in ds
              if not (missing_note(d.attribute, d.group) or missing_note(d.attribute, d.reference))]
    return people or ds


def comparable(x, attributes: set[str], min_rows: int) -> list:
    """The disparity attributions worth showing: of an attribute the report draws (not an
    intersection), between two groups each explained on at least ``min_rows`` rows (the
    audit's min_group_size: a mean margin over a handful of rows is noise)."""
    rows = {(a.attribute, g.group): g.rows for a in x.groups for g in a.groups}
    return [d for d in x.disparities if d.attribute in attributes
            and rows.get((d.attribute, d.group), 0) >= min_rows
            and rows.get((d.attribute, d.reference), 0) >= min_rows]


def summary_line(result: AuditResult) -> str | None:
    """One line for summary.md: the widest gap of the first explained variant (between groups
    the report shows, each explained on at least min_group_size rows) and the feature
    contributing most to it, or None without explanations."""
    e = result.analysis.explanations
    if e is None or not e.explained:
        return None
    x = e.explained[0]
    attributes = {a.attribute for a in result.data.attributes if a.kind == "attribute"}
    ds = comparable(x, attributes, result.min_group_size)
    if not ds:
        return None
    d = max(people_first(ds), key=lambda d: abs(d.gap))
    feature, value = next(iter(d.contributions.items()))
    return (f"{x.variant}: the widest gap in mean {x.units} is {d.group} vs {d.reference} "
            f"({d.attribute}, {_signed(d.gap)}); {feature} contributes most "
            f"({_signed(value)})")
