"""How the report writes numbers, intervals, dates and statuses (every section's formatters).

:func:`num` gives a figure the digits to see which side of a gate threshold it is on: while
:func:`fairsel.report.context.build_context` runs, :data:`THRESHOLDS` holds every gate
threshold of the result.
"""

from __future__ import annotations

import hashlib
import math
import re
from contextvars import ContextVar
from typing import Any

from fairsel.results import (MAX_DECIMALS, RELATIVE_MARK, AuditResult,  # noqa: F401 — re-exported
                             figure_text, gate_rule, gate_subject, threshold_text)


#: The mark of a variant that decides with the protected attribute (disparate treatment).
DT_MARK = "⚑"
#: The mark of an impact ratio (LL144) or adverse impact ratio (lending) below four-fifths.
FOUR_FIFTHS_MARK = "▼"
#: The mark of a group with fewer rows than min_group_size (shown, never compared).
SMALL_MARK = "†"
#: The mark of a figure resting on fewer than min_group_size people: a rate's denominator, or
#: the unfavorable decisions a group's reasons are drawn from.
FEW_MARK = "‡"

#: Every mark a section sets beside a name or a figure, with the one meaning it has across the
#: report. A section that uses a mark defines it with ``"<mark> <legend>"`` (its legend), so
#: that no mark reads as another's (a proxy flag is written in words: it has no mark).
MARK_LEGENDS = {
    DT_MARK: "marks a variant that decides with the protected attribute (disparate treatment)",
    FOUR_FIFTHS_MARK: "marks an impact ratio below 0.8 (the four-fifths rule of thumb)",
    SMALL_MARK: "marks a group of fewer than {n} rows (min_group_size): shown, never compared",
    FEW_MARK: ("marks a figure resting on fewer than {n} people (min_group_size): reported "
               "with its count, never compared"),
}


def mark_legend(mark: str, min_group_size: int | None = None) -> str:
    """``"<mark> <legend>"``: the one sentence that defines ``mark`` wherever a section sets it
    (:data:`MARK_LEGENDS`; the small-group marks name the audit's ``min_group_size``)."""
    legend = MARK_LEGENDS[mark]
    return f"{mark} {legend.format(n=f'{min_group_size:,}') if '{n}' in legend else legend}"


STATUS_SYMBOL = {"PASS": "✓", "WARN": "!", "FAIL": "✗", "INSUFFICIENT": "?", "ERROR": "‼"}


#: Short column headings for wide tables (the full names are listed under each table).
ABBREVIATIONS = {
    "roc_auc": "AUC", "balanced_accuracy": "Bal. acc.", "accuracy": "Acc.", "f1": "F1",
    "precision": "Prec.", "recall": "Recall", "tpr": "TPR", "tnr": "TNR", "fpr": "FPR",
    "fnr": "FNR", "selection_rate": "Sel. rate", "brier_score": "Brier",
    "calibration_error": "ECE", "disparate_impact": "DI",
    "demographic_parity_difference": "DP diff.", "demographic_parity_ratio": "DP ratio",
    "equal_opportunity_difference": "EO diff.", "equal_opportunity_ratio": "EO ratio",
    "equalized_odds_difference": "EOd diff.", "equalized_odds_ratio": "EOd ratio",
    "average_odds_difference": "AO diff.", "false_positive_rate_difference": "FPR diff.",
    "false_negative_rate_difference": "FNR diff.", "predictive_parity_difference": "PP diff.",
    "accuracy_difference": "Acc. diff.",
}


def column_heads(names: list[str]) -> list[dict[str, str]]:
    return [{"name": n, "short": ABBREVIATIONS.get(n, n)} for n in names]


FLAG_TEXT = {
    "small": "below the minimum group size",
    "unknown": "missing or unknown value",
    "empty": "no rows",
    "no_favorable_outcome": "no favorable outcome",
    "no_unfavorable_outcome": "no unfavorable outcome",
}


#: While :func:`build_context` runs: every gate threshold of the result, so that no figure of
#: the report (a fold's, an attribute's, a chart table's) reads as a threshold it is not.
THRESHOLDS: ContextVar[tuple[float, ...]] = ContextVar("report_thresholds", default=())


def num(x: float | None, digits: int = 3, near=None) -> str:
    """A figure with ``digits`` decimals, more when it would round onto one of the thresholds
    ``near`` (default: every gate threshold of the report being built;
    :func:`fairsel.results.figure_text`), at most :data:`MAX_DECIMALS` (or ``digits`` if
    more): a figure that would still read as the threshold is written as the side it is on,
    ``<\u00a00.8`` for 0.7999999999999999; an em dash when it is undefined."""
    if x is None or not isinstance(x, (int, float)) or not math.isfinite(x):
        return "—"
    near = THRESHOLDS.get() if near is None else near
    return figure_text(x, digits, near=near)


def name_parts(name: object) -> list[str]:
    """A variant name cut where its parts meet — after ``+``, before ``[``, after ``_`` and
    ``,`` — the places where it may wrap instead of in the middle of a word."""
    text = str(name)
    for a, b in (("+", "+\u200b"), ("[", "\u200b["), ("_", "_\u200b"), (",", ",\u200b")):
        text = text.replace(a, b)
    return [part for part in text.split("\u200b") if part]


def wrapped_name(name: object, width: int) -> str:
    """``name`` on as many lines of at most ``width`` characters as it needs, broken only
    where its parts meet (:func:`name_parts`; a part longer than ``width`` keeps a line of
    its own): the lines joined are the name."""
    lines: list[str] = []
    for part in name_parts(name):
        if lines and len(lines[-1]) + len(part) <= width:
            lines[-1] += part
        else:
            lines.append(part)
    return "\n".join(lines)


def named_and_left(items: list, limit: int) -> tuple[list, int]:
    """(the items to name, how many more are left unnamed): at most ``limit`` named, but never
    "and 1 more" — one more is named instead (hiring, review12: "'male × unknown' and 1 more")."""
    keep = limit + 1 if len(items) == limit + 1 else limit
    return list(items[:keep]), max(0, len(items) - keep)


def and_list(items: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def file_name(path: str) -> str:
    """The last part of a path (POSIX or Windows): the report names the policy file without
    the folders of the machine that ran the audit; its sha256 identifies it."""
    return re.split(r"[\\/]", path.rstrip("\\/"))[-1] or path


def ci_text(ci: Any, digits: int = 3) -> str:
    """``[low, high]``, or an empty string when there is no interval."""
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f"[{num(ci[0], digits)}, {num(ci[1], digits)}]"


def pct(x: float | None, digits: int = 1) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return f"{100 * x:.{digits}f}%"


def share(x: float | None) -> str:
    """A share of the data as a percentage: one decimal, two under 1% (1 row of 4,000 is
    0.03%, never "0.0%"); the data section and the compliance tables write the same group's
    share the same way."""
    if x is None or not math.isfinite(x):
        return "—"
    return pct(x, 2 if 0 < x < 0.01 else 1)


def count(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"


def p_text(p: float | None) -> str:
    """A p-value: three significant digits, "< 0.0001" below that (a no-break space: it never
    wraps in a narrow column), "—" when there is none."""
    if p is None:
        return "—"
    return "<\u00a00.0001" if p < 1e-4 else f"{p:.3g}"


def utc_text(stamp: str) -> str:
    """``2026-11-21T06:09:45Z`` → ``2026-11-21 06:09:45 UTC``."""
    s = stamp.strip()
    if s.endswith("Z"):
        s = s[:-1]
    elif s.endswith("+00:00"):
        s = s[:-6]
    return s.replace("T", " ") + " UTC"


def report_id(result: AuditResult) -> str:
    """A stable identifier of this report: a digest of the whole result, so that the same
    results.json always gives the same id and any change to it gives another."""
    digest = hashlib.sha256(result.model_dump_json().encode("utf-8")).hexdigest().upper()
    return "FS-" + "-".join(digest[i:i + 4] for i in range(0, 12, 4))


def is_finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def signed(x: float | None, digits: int = 3) -> str:
    """A change with its sign (``+0.012``, ``−0.034``); ``0.000`` when it rounds to nothing."""
    if not is_finite(x):
        return "—"
    text = f"{x:+.{digits}f}"
    if float(text) == 0:
        return f"{0:.{digits}f}"
    return text.replace("-", "−")
