"""The "Data and scope" section's view model (``_data.html.j2``).
"""

from __future__ import annotations

from typing import Any

from fairsel.report.facts import scoring
from fairsel.report.fmt import FLAG_TEXT, SMALL_MARK, count, mark_legend, num, share
from fairsel.report.proxies_view import features_note
from fairsel.report.section import SectionView
from fairsel.results import AuditResult


def data_view(result: AuditResult) -> dict[str, Any]:
    d = result.data
    attrs = []
    for a in d.attributes:
        groups = []
        for g in a.groups:
            groups.append({
                "group": g.group, "n": count(g.n), "share": share(g.n / d.rows_used if d.rows_used else None),
                "favorable": count(g.favorable), "rate": num(g.favorable_rate),
                "flags": ", ".join(FLAG_TEXT.get(f, f) for f in g.flags),
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
        "features": [] if scoring(result)["features_unused"] else list(d.features),
        "features_unused": list(d.features) if scoring(result)["features_unused"] else [],
        "protected_as_features": list(d.protected_as_features),
        "proxy_note": features_note(result),
        "cluster_column": d.cluster_column,
        "n_clusters": count(d.n_clusters) if d.n_clusters is not None else None,
        "attributes": attrs, "min_group_size": result.min_group_size,
        "small_legend": mark_legend(SMALL_MARK, result.min_group_size),
        "has_small": any(g["small"] for a in attrs for g in a["groups"]),
    }


VIEW = SectionView("data", lambda result, o: data_view(result), "Data and scope")
