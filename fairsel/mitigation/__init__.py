"""Mitigations: pure functions on arrays that add fairer variants of each candidate.

Each registered mitigation says at which stage it acts ("pre": training weights, "in": a
constrained estimator, "post": decisions from scores) and whether the variant decides with
the protected attribute at decision time (disparate treatment, shown in every output).

Every entry of a policy's ``mitigation:`` list adds one variant of each candidate it applies
to, named by :func:`variant_name`: ``gbm+reweighing``, ``gbm+threshold[demographic_parity]``,
``gbm+reductions[equalized_odds]``, ``gbm+postprocessing[reject_option]``. Everything a
mitigation fits — weights, thresholds, mixtures, post-processors — is fitted on the training
rows of each fold only (see ``fairsel.audit.fold_variants``).

The groups a mitigation equalises default to the intersection of every protected attribute
(:mod:`fairsel.mitigation.groups`) for reweighing, thresholds and reductions, and to the first
protected attribute for aif360's post-processing, which compares one privileged group with the
rest (a single cell of an intersection against everyone else would push the other cells of
the privileged attribute value the wrong way); ``attributes: [...]`` chooses the attributes
whose intersection an entry equalises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fairsel.registry import Registry

CONSTRAINTS = ("demographic_parity", "equal_opportunity", "equalized_odds")
#: The mitigation label (and name suffix ``+no_proxies``) of a variant trained without the
#: features the proxy screen flags (fairsel.analysis.proxies, ``proxies.exclude_flagged``).
PROXY_FREE = "no_proxies"


@dataclass(frozen=True)
class MitigationInfo:
    """A mitigation kind: what it does, which policy keys it reads, and their defaults."""

    name: str
    stage: str  # "pre" | "in" | "post"
    uses_protected_at_decision: bool
    summary: str
    keys: frozenset[str] = frozenset()  # optional keys besides kind, candidates, attributes
    defaults: dict[str, Any] = field(default_factory=dict)
    needs_weights: bool = False  # fits the estimator with sample_weight (trainable only)
    function: str = ""  # "module:function" that does the work
    formula: str = ""
    default_groups: str = "intersection"  # without `attributes`: "intersection" | "first"

    def attributes(self, spec, names: list[str]) -> list[str]:
        """The protected attributes (display names) whose intersection the entry equalises."""
        if spec.attributes is not None:
            return [n for n in names if n in spec.attributes]
        return list(names) if self.default_groups == "intersection" else list(names[:1])


MITIGATIONS: Registry[MitigationInfo] = Registry("mitigation", "fairsel list mitigations")

_ENTRIES = [
    MitigationInfo(
        "reweighing", "pre", False,
        "Kamiran & Calders weights per group × label cell, passed to the estimator as "
        "sample_weight; the model decides without the protected attribute",
        function="fairsel.mitigation.reweighing:reweighing_weights", needs_weights=True,
        formula="w(g, y) = n_g · n_y / (n · n_{g,y}) on the fold's training rows"),
    MitigationInfo(
        "threshold", "post", True,
        "deterministic group-specific thresholds on the candidate's scores maximising accuracy "
        "with group rates within the tolerance (constraint: demographic_parity | "
        "equal_opportunity | equalized_odds; tolerance, default 0.05)",
        keys=frozenset({"constraint", "tolerance"}),
        defaults={"constraint": "demographic_parity", "tolerance": 0.05},
        function="fairsel.mitigation.thresholds:fit_group_thresholds",
        formula="max Σ_g TP_g(t_g) + TN_g(t_g) s.t. max_g r_g − min_g r_g ≤ tolerance, "
                "decision score ≥ t_g"),
    MitigationInfo(
        "reductions", "in", False,
        "fairlearn's ExponentiatedGradient around the estimator (constraint, epsilon = its eps, "
        "default 0.01); decides with the mixture's expected score, without the attribute",
        keys=frozenset({"constraint", "epsilon"}),
        defaults={"constraint": "demographic_parity", "epsilon": 0.01}, needs_weights=True,
        function="fairsel.mitigation.reductions:fit_exponentiated_gradient",
        formula="min_Q err(Q) s.t. γ_j(Q) ≤ ε; score = Σ_h w_h p_h(x), decision score ≥ 0.5"),
    MitigationInfo(
        "postprocessing", "post", True,
        "aif360 post-processing of the scores (method: calibrated_equalized_odds | "
        "reject_option), privileged group of the first protected attribute against the rest",
        keys=frozenset({"method", "constraint", "tolerance", "grid_size"}),
        defaults={"calibrated_equalized_odds": {"constraint": "equalized_odds"},
                  "reject_option": {"constraint": "demographic_parity", "tolerance": 0.05,
                                    "grid_size": 20}},
        function="fairsel.mitigation.postprocessing:fit_postprocessing",
        formula="calibrated_equalized_odds: score → group base rate with probability α; "
                "reject_option: |score − θ| ≤ m → favorable iff unprivileged",
        default_groups="first"),
]
for _m in _ENTRIES:
    MITIGATIONS.register(_m.name, _m, summary=f"({_m.stage}) {_m.summary}")

#: The keys of each post-processing method (besides kind, method, candidates, attributes).
METHOD_KEYS: dict[str, frozenset[str]] = {
    "calibrated_equalized_odds": frozenset({"constraint"}),
    "reject_option": frozenset({"constraint", "tolerance", "grid_size"}),
}
#: The constraints each post-processing method supports.
METHOD_CONSTRAINTS: dict[str, tuple[str, ...]] = {
    "calibrated_equalized_odds": ("equalized_odds", "equal_opportunity"),
    "reject_option": CONSTRAINTS,
}
_OPTIONAL = ("constraint", "tolerance", "epsilon", "method", "grid_size")


def settings(spec) -> dict[str, Any]:
    """The spec's effective settings: what it sets, and the kind's defaults for the rest."""
    info = MITIGATIONS.get(spec.kind)
    defaults = info.defaults
    if spec.kind == "postprocessing":
        defaults = info.defaults.get(spec.method or "", {})
    out = {k: getattr(spec, k) for k in _OPTIONAL if getattr(spec, k) is not None}
    return {**defaults, **out}


def variant_name(candidate: str, spec) -> str:
    """``<candidate>+<mitigation>``, e.g. ``gbm+threshold[equalized_odds]``."""
    s = settings(spec)
    if spec.kind == "reweighing":
        return f"{candidate}+reweighing"
    if spec.kind == "postprocessing":
        return f"{candidate}+postprocessing[{spec.method}]"
    return f"{candidate}+{spec.kind}[{s['constraint']}]"


def check_spec(spec) -> list[tuple[tuple, str]]:
    """Problems with one ``mitigation:`` entry's keys: ``[(key path suffix, message)]``.

    The kind must be registered (checked by the caller); each optional key must be one the
    kind reads; ``postprocessing`` needs a known ``method``, and its ``constraint`` must be
    one the method supports.
    """
    from fairsel.errors import did_you_mean

    problems: list[tuple[tuple, str]] = []
    info = MITIGATIONS.get(spec.kind)
    allowed = info.keys
    if spec.attributes is not None and not spec.attributes:
        problems.append((("attributes",), "name at least one protected attribute (or leave "
                         "attributes out for the default groups)"))
    if spec.kind == "postprocessing":
        if spec.method is None:
            problems.append((("kind",), "postprocessing needs a method: "
                             + " | ".join(METHOD_KEYS)))
            return problems
        if spec.method not in METHOD_KEYS:
            problems.append((("method",), f"unknown post-processing method '{spec.method}'"
                             f"{did_you_mean(spec.method, list(METHOD_KEYS))}; expected one of: "
                             + ", ".join(METHOD_KEYS)))
            return problems
        allowed = METHOD_KEYS[spec.method] | {"method"}
        if spec.constraint is not None and spec.constraint not in METHOD_CONSTRAINTS[spec.method]:
            problems.append((("constraint",), f"{spec.method} does not support constraint "
                             f"'{spec.constraint}'; it supports: "
                             + ", ".join(METHOD_CONSTRAINTS[spec.method])))
    for key in _OPTIONAL:
        if getattr(spec, key) is not None and key not in allowed:
            what = f"{spec.kind} ({spec.method})" if spec.kind == "postprocessing" else spec.kind
            reads = ", ".join(sorted(allowed)) or "none"
            problems.append(((key,), f"'{key}' does not apply to mitigation {what}; the keys "
                             f"it reads: {reads} (and candidates, attributes)"))
    return problems


__all__ = ["CONSTRAINTS", "METHOD_CONSTRAINTS", "METHOD_KEYS", "MITIGATIONS", "MitigationInfo",
           "PROXY_FREE", "check_spec", "settings", "variant_name"]
