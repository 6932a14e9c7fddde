"""The "Proxies" section's view model, and the proxy sentences other outputs share.

A pure function of ``result.analysis.proxies`` (results.json): the report shows, per protected
attribute, the features that recover it best (one-feature AUC and NMI), the all-features
model's AUC, and the flags against the policy's bounds.
"""

from __future__ import annotations

from typing import Any

from fairsel.report.facts import SCREENED, proxy_gates_note, scores_without_features
from fairsel.report.tables import fmt
from fairsel.results import AuditResult, ProxyAttribute, ProxyScreen

#: The section's id and title (it follows the trade-off, when the screen ran).
PROXIES_SECTION: tuple[str, str] = ("proxies", "Proxies")


def _auc(x: float | None, screen: ProxyScreen, digits: int = 3) -> str:
    """A one-feature AUC, with the digits to see which side of ``max_feature_auc`` it is on."""
    return fmt(x, digits, near=(screen.max_feature_auc,))


def _all_auc(a: ProxyAttribute, screen: ProxyScreen) -> str:
    """An all-features AUC, with the digits to see which side of ``max_all_auc`` it is on."""
    return fmt(a.all_features_auc, 4, near=(screen.max_all_auc,))


def flag_lines(screen: ProxyScreen | None) -> list[str]:
    """One sentence per flag: a feature over ``max_feature_auc``, an attribute over
    ``max_all_auc`` (summary.md, the report's data section and the Proxies section)."""
    if screen is None:
        return []
    lines = []
    for a in screen.attributes:
        by = {f.feature: f for f in a.features}
        for name in a.flagged:
            f = by[name]
            lines.append(f"{name} stands in for {a.attribute}: one-feature AUC "
                         f"{_auc(f.auc, screen, 4)} "
                         f"> {screen.max_feature_auc:g} (NMI {fmt(f.nmi)})")
        if a.all_features_flagged:
            lines.append(f"{a.attribute} is recoverable from the features together: "
                         f"cross-validated AUC {_all_auc(a, screen)} > "
                         f"{screen.max_all_auc:g}")
    return lines


def declared_lines(screen: ProxyScreen | None) -> list[str]:
    """Why each declared proxy that no bound flags is not flagged, with its figures."""
    if screen is None:
        return []
    lines = []
    for name in screen.declared:
        figures = [(a.attribute, f) for a in screen.attributes for f in a.features
                   if f.feature == name]
        if not figures or any(f.flagged for _, f in figures):
            continue
        lines.append(f"{name} (declared) is not flagged: one-feature AUC "
                     + ", ".join(f"{_auc(f.auc, screen)} for {attr}" for attr, f in figures)
                     + " (NMI " + ", ".join(fmt(f.nmi) for _, f in figures)
                     + f"), none above {screen.max_feature_auc:g}")
    return lines


def features_note(result: AuditResult) -> str | None:
    """What the data section adds to "protected attributes used as features": the features
    flagged as proxies and the declared ones, so that "none" never reads as "no stand-in"."""
    screen = result.analysis.proxies
    if screen is None:
        if result.policy.get("proxies") is False:
            return ("the proxy screen was off (proxies: false): features standing in for a "
                    "protected attribute were not looked for")
        return ("this result has no proxy screen (written by a fairsel without one): "
                "features standing in for a protected attribute were not looked for")
    flagged = sorted({f for a in screen.attributes for f in a.flagged})
    parts = []
    if flagged:
        parts.append("but the proxy screen flags " + ", ".join(flagged) + " as standing in for "
                     "a protected attribute")
    recoverable = [f"{a.attribute} (AUC {_all_auc(a, screen)})"
                   for a in screen.attributes if a.all_features_flagged]
    if recoverable:
        parts.append("recoverable from the features together: " + ", ".join(recoverable))
    declared = [d for d in screen.declared if d not in flagged]
    if declared:
        parts.append("declared proxies, not flagged: " + ", ".join(declared))
    if not parts:
        return (f"no feature flagged as a proxy (one-feature AUC ≤ "
                f"{screen.max_feature_auc:g} for every attribute)")
    return "; ".join(parts) + " (see Proxies)"


def _attribute(a: ProxyAttribute, screen: ProxyScreen) -> dict[str, Any]:
    rows = [{"feature": f.feature, "kind": f.kind, "levels": f"{f.levels:,}",
             "auc": _auc(f.auc, screen), "nmi": fmt(f.nmi), "declared": f.declared,
             "flagged": f.flagged}
            for f in a.features]
    return {
        "attribute": a.attribute, "groups": ", ".join(a.groups), "rows": f"{a.rows:,}",
        "screened": a.features_screened, "excluded": ", ".join(a.excluded_features),
        "all_auc": _all_auc(a, screen), "all_rows": f"{a.all_features_rows:,}",
        "all_flagged": a.all_features_flagged,
        "sampled": a.all_features_rows < a.rows,
        "rows_table": rows, "flagged": ", ".join(a.flagged), "insufficient": a.insufficient,
    }


def proxies_view(result: AuditResult) -> dict[str, Any] | None:
    """The Proxies section's view model, or None when the screen did not run."""
    screen = result.analysis.proxies
    if screen is None:
        return None
    return {
        "max_feature_auc": f"{screen.max_feature_auc:g}",
        "max_all_auc": f"{screen.max_all_auc:g}",
        "bins": screen.bins, "max_rows": f"{screen.max_rows:,}",
        "declared": ", ".join(screen.declared),
        "trees": screen.model.get("n_estimators"), "leaves": screen.model.get("num_leaves"),
        "attributes": [_attribute(a, screen) for a in screen.attributes],
        "flags": flag_lines(screen),
        "declared_lines": declared_lines(screen),
        # trained candidates see these features; a score made elsewhere may use none of them
        "features": (SCREENED if scores_without_features(result)
                     else f"{SCREENED}, which the trained models see"),
        "gates_note": proxy_gates_note(result),
    }
