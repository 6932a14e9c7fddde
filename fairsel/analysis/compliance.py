"""The compliance template's figures for results.json (policy key ``compliance``).

One function, :func:`compliance_result`, called by the orchestrator once the variants are
ranked: the hiring_ll144 impact-ratio tables (:mod:`fairsel.analysis.ll144`) or the lending
review (:mod:`fairsel.analysis.lending`) of the selected variant (else the best-ranked), plus
what the report states about the regime. The report renders them and computes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from fairsel.analysis.lending import lending_review
from fairsel.analysis.ll144 import ll144_summary
from fairsel.partition import Partition
from fairsel.policy import Policy
from fairsel.policy.compliance import LL144_MIN_SHARE, TEMPLATES
from fairsel.results import ComplianceResult, Ranking, VariantResult


def audited_variant(variants: Sequence[VariantResult], ranking: Ranking) -> VariantResult | None:
    """The selected variant, else the best-ranked one that could be evaluated."""
    by_name = {v.name: v for v in variants}
    for name in ([ranking.selected] if ranking.selected else []) + list(ranking.order):
        if name in by_name and by_name[name].status != "ERROR":
            return by_name[name]
    return None


def compliance_result(policy: Policy, variants: Sequence[VariantResult], ranking: Ranking, *,
                      predictions: Mapping[str, tuple[np.ndarray, np.ndarray]],
                      partitions: Sequence[Partition], atoms: np.ndarray,
                      higher_is_better: Mapping[str, bool]) -> ComplianceResult | None:
    """The figures of the policy's template, or None without one.

    ``predictions`` maps a variant's name to its out-of-fold ``(y_score, y_pred)`` (NaN score:
    no prediction for that row).
    """
    if policy.compliance is None:
        return None
    t = TEMPLATES.get(policy.compliance)
    added = [i for i, g in enumerate(policy.gates) if any(g is tg for tg in t.gates)]
    info = policy.compliance_info.model_dump(mode="json")
    audited = audited_variant(variants, ranking)
    ll144 = lending = None
    if audited is not None and t.name == "hiring_ll144":
        y_score, y_pred = predictions[audited.name]
        finite = y_score[np.isfinite(y_score)]
        # a tool that only decides (0/1 scores) has no scoring rate to compute
        scores = np.unique(finite).size > 2
        ll144 = ll144_summary(audited.name, y_score, y_pred, partitions, atoms,
                              min_share=LL144_MIN_SHARE, scores=scores)
    elif audited is not None and t.name == "lending":
        lending = lending_review(audited, variants, ranking,
                                 alpha=policy.metrics.significance.alpha,
                                 higher_is_better=higher_is_better[ranking.objective],
                                 fairness=list(policy.metrics.fairness))
    return ComplianceResult(template=t.name, title=t.title,  # type: ignore[arg-type]
                            variant=audited.name if audited else None,
                            template_gates=added, info=info, ll144=ll144, lending=lending)
