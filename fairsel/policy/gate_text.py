"""How a gate's rule is written, in every output: ``disparate_impact ≥ 0.8``,
``balanced_accuracy ÷ overall ≥ 0.95`` (the report, the terminal, the verdict's warnings,
``fairsel list compliance``). In the policy layer so that every layer above can use it."""

from __future__ import annotations


#: How a ``relative_to_overall`` gate's value is named: each group's figure over the overall one.
RELATIVE_MARK = "÷ overall"


def gate_subject(metric: str, relative: bool = False) -> str:
    """What a gate judges: its metric, or for a ``relative_to_overall`` gate the ratio it
    compares (``balanced_accuracy ÷ overall``), so that the value beside it is never read as
    the metric itself."""
    return f"{metric} {RELATIVE_MARK}" if relative else metric


def threshold_text(lo: float | None, hi: float | None) -> str:
    """A gate's bounds: ``≥ 0.8``, ``≤ 0.1``, ``≥ 0.2 and ≤ 0.9`` (— without any)."""
    parts = []
    if lo is not None:
        parts.append(f"≥ {lo:g}")
    if hi is not None:
        parts.append(f"≤ {hi:g}")
    return " and ".join(parts) or "—"


def gate_rule(metric: str, lo: float | None, hi: float | None, relative: bool = False) -> str:
    """A gate's whole rule, as every output prints it (report, terminal, verdict):
    ``disparate_impact ≥ 0.8``, ``balanced_accuracy ÷ overall ≥ 0.95``."""
    return f"{gate_subject(metric, relative)} {threshold_text(lo, hi)}"
