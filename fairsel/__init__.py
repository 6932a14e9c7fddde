"""fairsel: choose a machine learning model fit to deploy when fairness matters.

Public API (imported lazily, so ``fairsel validate`` starts fast)::

    from fairsel import load_policy, run_audit, render
    policy = load_policy("policies/lending.yaml")
    run = run_audit(policy)              # AuditRun: .result (AuditResult) and the predictions
    render(run.result, ["json", "markdown"], "reports/lending", predictions=run)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["AuditResult", "AuditRun", "__version__", "load_policy", "load_results", "plan",
           "render", "run_audit"]

_LAZY = {
    "load_policy": "fairsel.policy",
    "plan": "fairsel.audit",
    "run_audit": "fairsel.audit",
    "AuditRun": "fairsel.audit",
    "render": "fairsel.report",
    "AuditResult": "fairsel.results",
    "load_results": "fairsel.results",
}

if TYPE_CHECKING:  # pragma: no cover
    from fairsel.audit import AuditRun, plan, run_audit
    from fairsel.policy import load_policy
    from fairsel.report import render
    from fairsel.results import AuditResult, load_results


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fairsel' has no attribute {name!r}")
