"""Mitigations: pure functions on arrays that add fairer variants of each candidate.

Each registered mitigation says at which stage it acts ("pre": training weights, "in": a
constrained estimator, "post": decisions from scores) and whether the variant decides with
the protected attribute at decision time (disparate treatment, shown in every output).
"""

from __future__ import annotations

from dataclasses import dataclass

from fairsel.registry import Registry


@dataclass(frozen=True)
class MitigationInfo:
    name: str
    stage: str  # "pre" | "in" | "post"
    uses_protected_at_decision: bool
    summary: str


MITIGATIONS: Registry[MitigationInfo] = Registry("mitigation", "fairsel list mitigations")

__all__ = ["MITIGATIONS", "MitigationInfo"]
