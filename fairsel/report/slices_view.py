"""The "Where it fails" section's view model, and the top-slice sentence summary.md shares.

A pure function of ``result.analysis.slices`` (results.json): per analysed variant, the worst
significant slices of each metric with their rates, the difference and its interval, the
adjusted p, the counts, and how much of each slice is each protected group.
"""

from __future__ import annotations

from typing import Any

from fairsel.report.facts import decisions_phrase, scope
from fairsel.report.fmt import and_list, p_text, signed
from fairsel.report.tables import fmt, fmt_ci
from fairsel.results import AuditResult, Slice, SliceAnalysis

#: The section's id and title (it follows the Proxies section, or the trade-off).
SLICES_SECTION: tuple[str, str] = ("slices", "Where it fails")

#: How each metric reads in a sentence and a table heading.
METRIC_NAMES: dict[str, str] = {"error_rate": "error rate", "fnr": "false negative rate",
                                "fpr": "false positive rate", "selection_rate": "selection rate"}


def _groups(s: Slice) -> str:
    """``sex: female 41%, male 59%; race: …`` (each protected group's share of the slice)."""
    parts = []
    for attr, counts in s.groups.items():
        total = sum(counts.values())
        shares = [f"{g} {100 * c / total:.0f}%" for g, c in counts.items() if c and total]
        parts.append(f"{attr}: " + ", ".join(shares))
    return "; ".join(parts)


def top_line(analysis: SliceAnalysis | None) -> str | None:
    """One sentence on the selected variant's worst slice by the first metric (summary.md), or
    None when the search did not run."""
    if analysis is None or not analysis.variants:
        return None
    v = analysis.variants[0]
    metric = analysis.metrics[0]
    top = v.top.get(metric) or []
    name = METRIC_NAMES[metric]
    if not top:
        return (f"no slice of '{v.variant}' has a significantly worse {name} than the rest "
                f"({v.tested:,} tests, Benjamini–Hochberg at {analysis.alpha:g})")
    s = top[0]
    return (f"worst slice of '{v.variant}' by {name}: {s.text} ({s.rows:,} rows): "
            f"{fmt(s.rate)} against {fmt(s.rest_rate)} elsewhere (difference "
            f"{s.difference:+.3f}, CI {fmt_ci(s.ci)}, adjusted p {p_text(s.p_adjusted)}, "
            f"{v.tested:,} tests)")


def _ci(ci) -> str:
    """A difference's interval, a negative end with the minus sign the difference has
    (:func:`fairsel.report.fmt.signed`), not a hyphen."""
    return fmt_ci(ci).replace("-", "\u2212")


#: A slice's condition joins a feature to its value with these; the line may break only
#: between conditions (at ∧), never inside one (review10: "foreign_worker ≥ / 1").
_OPERATORS = (" ≥ ", " ≤ ", " < ", " > ", " = ", " ≠ ")


def _unbroken_conditions(text: str) -> str:
    """``text`` with each condition's operator bound to its feature and value by no-break
    spaces; "∧" between conditions stays a place to break."""
    for op in _OPERATORS:
        text = text.replace(op, f"\u00a0{op.strip()}\u00a0")
    return text


def _row(s: Slice) -> dict[str, Any]:
    return {"text": _unbroken_conditions(s.text), "rows": f"{s.rows:,}",
            "kn": f"{s.k:,}/{s.n:,}",
            "rate": fmt(s.rate), "rest": fmt(s.rest_rate), "diff": signed(s.difference),
            "ci": _ci(s.ci), "p": p_text(s.p_adjusted), "groups": _groups(s)}


def slices_view(result: AuditResult) -> dict[str, Any] | None:
    """The Where-it-fails section's view model, or None when the search did not run."""
    a = result.analysis.slices
    if a is None:
        return None
    return {
        "depth": a.depth, "bins": a.bins, "min_rows": f"{a.min_rows:,}",
        "alpha": f"{a.alpha:g}", "level": f"{100 * a.level:g}",
        "features": len(a.features), "slices": f"{a.slices:,}",
        "metrics": ", ".join(METRIC_NAMES[m] for m in a.metrics),
        "headline": top_line(a),
        "decisions": decisions_phrase(result),
        # the first variant (the selected one) on every metric, the others on the first: the
        # rest is in results.json
        "variants": [{
            "name": v.variant, "tested": f"{v.tested:,}", "significant": f"{v.significant:,}",
            "tables": [{"metric": METRIC_NAMES[m], "lower_is_worse": m == "selection_rate",
                        "rows": [_row(s) for s in v.top.get(m, [])]}
                       for m in (a.metrics if i == 0 else a.metrics[:1])],
        } for i, v in enumerate(a.variants)],
        # mitigation (review12): "the other variants' slices … are in results.json" read as
        # every other variant's, but only the searched ones have any: name them
        "more": (f"The slices of {and_list([v.variant for v in a.variants[1:]])} by "
                 f"{', '.join(METRIC_NAMES[m] for m in a.metrics[1:])} are in results.json "
                 "(analysis.slices)."
                 if len(a.variants) > 1 and len(a.metrics) > 1 else ""),
        "scope": scope(result, [v.variant for v in a.variants]),
    }

