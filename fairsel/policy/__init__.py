"""The policy file: schema (pydantic, extra keys forbidden), safe YAML loading, cross-checks."""

from fairsel.policy.loader import format_path, load_policy, locate, parse_policy
from fairsel.policy.schema import (
    CandidateSpec,
    GateSpec,
    MitigationSpec,
    Policy,
    ProtectedSpec,
)

__all__ = ["CandidateSpec", "GateSpec", "MitigationSpec", "Policy", "ProtectedSpec",
           "format_path", "load_policy", "locate", "parse_policy"]
