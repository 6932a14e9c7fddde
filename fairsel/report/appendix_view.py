"""The appendix's view model (``_appendix.html.j2``): the policy, per-fold figures,
environment and timings.
"""

from __future__ import annotations

from typing import Any

from fairsel.report.facts import fold_worst
from fairsel.report.fmt import column_heads, count, file_name, num, utc_text
from fairsel.report.section import SectionView
from fairsel.report.tables import dense, dense_widths, ordered_variants
from fairsel.results import AuditResult


def appendix_view(result: AuditResult) -> dict[str, Any]:
    perf = list(result.metrics.get("performance") or [])
    fair = list(result.metrics.get("fairness") or [])
    folds = []
    for v in ordered_variants(result):
        rows = []
        for f in v.folds:
            rows.append({"fold": f.fold + 1, "n": count(f.n),
                         "perf": [num(f.performance.get(m)) for m in perf],
                         "fair": [num(fold_worst(f.fairness.get(m, {}), m)) for m in fair]})
        folds.append({"variant": v.name, "rows": rows})
    perf_heads, fair_heads = column_heads(perf), column_heads(fair)
    # The PDF writes a variant's per-fold figures as one dense cell, a line per fold (fold, n,
    # then the metrics), each column as wide as its widest figure or head.
    heads = ["Fold", "n", *(c["short"] for c in perf_heads + fair_heads)]
    lines = {id(v): [[r["fold"], r["n"], *r["perf"], *r["fair"]] for r in v["rows"]]
             for v in folds}
    widths = dense_widths([heads, *(row for rows in lines.values() for row in rows)])
    for v in folds:
        v["dense"] = "\n".join(dense(row, widths) for row in lines[id(v)])
    p = result.provenance
    env = [("fairsel", p.fairsel_version), ("Python", p.python), ("Platform", p.platform)]
    env += [(k, p.packages[k]) for k in sorted(p.packages)]
    timings = [(k, f"{p.timings[k]:.2f} s") for k in p.timings]
    return {
        "policy_text": result.policy_text, "policy_lines": policy_lines(result.policy_text),
        "policy_path": file_name(p.policy_path),
        "policy_sha256": p.policy_sha256,
        "perf": perf_heads, "fair": fair_heads, "folds": folds, "dense_head": dense(heads, widths),
        "environment": [{"item": a, "value": b} for a, b in env],
        "timings": [{"item": a, "value": b} for a, b in timings],
        "started": utc_text(p.started), "finished": utc_text(p.finished),
        "seed": p.seed,
    }


VIEW = SectionView("appendix", lambda result, o: appendix_view(result), "Appendix")


#: How much further than its own indentation a wrapped policy line continues (characters).
HANG = 4


def policy_lines(text: str) -> list[dict[str, Any]]:
    """The policy's lines, each with how far (in characters) its continuation is indented when
    it wraps: its own indentation plus :data:`HANG`. A long line that wrapped to the left edge
    read as malformed YAML (review12: lending's " equalized_odds_difference]" at column 0)."""
    return [{"text": line, "hang": len(line) - len(line.lstrip(" ")) + HANG}
            for line in text.split("\n")]
