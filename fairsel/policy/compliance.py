"""Compliance templates (policy key ``compliance``): default gates and metrics, and refusals.

A template is a registry entry. When a policy names one, :func:`apply_compliance` (called by
the loader, so ``fairsel validate`` and ``fairsel audit`` see the same policy) adds the
template's gates on every metric the policy does not gate itself, fills ``metrics.fairness``
when the policy leaves it out, and refuses what the regime forbids (:func:`refusals`), each
refusal a :class:`~fairsel.errors.PolicyError` naming the key. What a refusal needs from the
registries above this layer (which mitigations decide by group) is checked by
:func:`refused_mitigations`, which :func:`fairsel.audit.plan` calls.

The report section of each template is rendered by ``fairsel/report/compliance_view.py`` from
``results.json``'s ``compliance`` key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fairsel.policy.gate_text import gate_rule
from fairsel.policy.schema import GateSpec, Policy
from fairsel.registry import Registry

#: Share of the audited rows under which a category may be left out of LL144's impact ratios
#: (DCWP rules, 6 RCNY § 5-301: "less than 2% of the data").
LL144_MIN_SHARE = 0.02


@dataclass(frozen=True)
class ComplianceTemplate:
    """One regime: its default gates and fairness metrics, and what it refuses."""

    name: str
    title: str
    gates: tuple[GateSpec, ...]
    fairness: tuple[str, ...]
    refuse_group_decisions: bool
    refuse_protected_features: bool
    reason: str  # why group-specific decisions (or protected features) are refused


_HIRING_REASON = ("adjusting scores or cut-offs by group is unlawful in US employment testing "
                  "under 42 U.S.C. § 2000e-2(l)")
_LENDING_REASON = ("deciding by a prohibited basis is disparate treatment under ECOA / "
                   "Regulation B, 12 CFR 1002.4(a)")

TEMPLATES: Registry[ComplianceTemplate] = Registry("compliance template", "fairsel list compliance")
for _t in (
    ComplianceTemplate(
        "generic", "Generic fairness gates",
        gates=(GateSpec(metric="demographic_parity_ratio", min=0.8),
               GateSpec(metric="equal_opportunity_difference", max=0.10),
               GateSpec(metric="equalized_odds_difference", max=0.10),
               GateSpec(metric="balanced_accuracy", min=0.95, relative_to_overall=True)),
        fairness=("demographic_parity_ratio", "equal_opportunity_difference",
                  "equalized_odds_difference"),
        refuse_group_decisions=False, refuse_protected_features=False, reason=""),
    ComplianceTemplate(
        "lending", "Adverse impact review (ECOA / Regulation B)",
        gates=(GateSpec(metric="disparate_impact", min=0.8, require_significance=True),),
        fairness=("disparate_impact", "demographic_parity_difference",
                  "equal_opportunity_difference", "equalized_odds_difference"),
        refuse_group_decisions=True, refuse_protected_features=True, reason=_LENDING_REASON),
    ComplianceTemplate(
        "hiring_ll144", "Bias audit summary (NYC Local Law 144)",
        gates=(GateSpec(metric="disparate_impact", min=0.8, severity="warn"),),
        fairness=("disparate_impact", "demographic_parity_difference"),
        refuse_group_decisions=True, refuse_protected_features=False, reason=_HIRING_REASON),
):
    _gates = "; ".join(
        gate_rule(g.metric, g.min, g.max, g.relative_to_overall)
        + (" (warn)" if g.severity == "warn" else "")
        + (" (with significance)" if g.require_significance else "") for g in _t.gates)
    TEMPLATES.register(_t.name, _t, summary=f"{_t.title}; default gates: {_gates}"
                       + ("; refuses group-specific decisions" if _t.refuse_group_decisions else "")
                       + ("; refuses protected attributes as features"
                          if _t.refuse_protected_features else ""))


def template_gates(policy: Policy) -> list[GateSpec]:
    """The template's gates the policy does not override (a policy gate on the same metric)."""
    if policy.compliance is None:
        return []
    own = {g.metric for g in policy.gates}
    return [g for g in TEMPLATES.get(policy.compliance).gates if g.metric not in own]


def refusals(policy: Policy) -> list[tuple[tuple[Any, ...], str]]:
    """``(key path, message)`` for each thing the policy's template forbids (registries aside)."""
    if policy.compliance is None:
        return []
    t = TEMPLATES.get(policy.compliance)
    out: list[tuple[tuple[Any, ...], str]] = []
    if t.refuse_group_decisions and policy.mitigation_policy.allow_group_specific_decisions:
        out.append((("mitigation_policy", "allow_group_specific_decisions"),
                    f"compliance: {t.name} refuses group-specific decisions: {t.reason}; "
                    "remove allow_group_specific_decisions: true, or the compliance template"))
    if t.refuse_protected_features and isinstance(policy.data.features, list):
        protected = {p.column for p in policy.protected}
        for i, col in enumerate(policy.data.features):
            if col in protected and col not in policy.data.exclude:
                out.append((("data", "features", i),
                            f"compliance: {t.name} refuses protected attribute '{col}' as a "
                            f"feature: {t.reason}; remove it from data → features"))
    if t.name == "hiring_ll144" and len(policy.protected) > 1 and policy.intersection_depth < 2:
        out.append((("intersections",),
                    "compliance: hiring_ll144 reports the intersection of the protected "
                    "attributes (sex × race/ethnicity), which a Local Law 144 bias audit must "
                    "include; remove intersections: false"))
    info = policy.compliance_info
    if info.data_kind != "test" and info.test_data_reason is not None:
        out.append((("compliance_info", "test_data_reason"),
                    "test_data_reason applies only with data_kind: test; remove it or set "
                    "data_kind: test"))
    return out


def refused_mitigations(policy: Policy, decides_by_group: Callable[[str], bool | None]
                        ) -> list[tuple[tuple[Any, ...], str]]:
    """``(key path, message)`` for each mitigation the template refuses because it decides by
    group (``decides_by_group(kind)``: True, False, or None for an unknown kind)."""
    if policy.compliance is None:
        return []
    t = TEMPLATES.get(policy.compliance)
    if not t.refuse_group_decisions:
        return []
    return [(("mitigation", i, "kind"),
             f"compliance: {t.name} refuses mitigation '{m.kind}': it sets group-specific "
             f"thresholds or decisions, and {t.reason}; remove it, or use reweighing or reductions, "
             "which decide without the protected attribute")
            for i, m in enumerate(policy.mitigation) if decides_by_group(m.kind)]


def apply_compliance(policy: Policy) -> Policy:
    """The policy with its template's default gates (after its own) and fairness metrics."""
    if policy.compliance is None:
        return policy
    t = TEMPLATES.get(policy.compliance)
    update: dict[str, Any] = {}
    extra = template_gates(policy)
    if extra:
        update["gates"] = [*policy.gates, *extra]
    if "fairness" not in policy.metrics.model_fields_set:
        update["metrics"] = policy.metrics.model_copy(update={"fairness": list(t.fairness)})
    return policy.model_copy(update=update) if update else policy
