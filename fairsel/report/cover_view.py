"""The cover's view model (``_cover.html.j2``): title, organisation, verdict, hashes.
"""

from __future__ import annotations

from typing import Any

from fairsel.gates import gate_summary
from fairsel.report.facts import has_error_gate, warnings_of
from fairsel.report.fmt import STATUS_SYMBOL, utc_text
from fairsel.report.section import SectionView
from fairsel.results import NO_ERROR_GATE, AuditResult


def cover_view(result: AuditResult, rid: str) -> dict[str, Any]:
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
        "verdict": verdict_line(result),
        "model_card": model_card(result),
    }


#: The policy's model-card fields (``report`` keys) and their headings on the cover.
MODEL_CARD_FIELDS: tuple[tuple[str, str], ...] = (
    ("intended_use", "Intended use"),
    ("out_of_scope", "Out of scope"),
    ("owner", "Model owner"),
    ("data_period", "Data period"),
)


def model_card(result: AuditResult) -> list[dict[str, str]]:
    """The model-card fields the policy sets (``report → intended_use, out_of_scope, owner,
    data_period``), in that order; a field not set (or blank) is left out."""
    rep = result.policy.get("report", {}) or {}
    return [{"key": key, "label": label, "value": str(rep[key]).strip()}
            for key, label in MODEL_CARD_FIELDS
            if rep.get(key) is not None and str(rep[key]).strip()]


def verdict_line(result: AuditResult) -> str:
    v = result.verdict
    if v.selected:
        warns = warnings_of(result, v.selected)
        passes = ("it passes every error-severity gate" if has_error_gate(result) else
                  NO_ERROR_GATE)
        return (f"{v.status}: '{v.selected}' is selected for deployment; {passes}"
                + (f", with {len(warns)} warning(s): "
                                         + "; ".join(map(gate_summary, warns)) + "."
                                         if v.status == "WARN" and warns else "."))
    return f"{v.status}: no model can be selected — {v.message}."


VIEW = SectionView("cover", lambda result, o: cover_view(result, o.report_id))
