"""Tables shared by every renderer (leaderboard rows, number formatting, safe text)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from fairsel.gates import PROXY_GATES
from fairsel.metrics.significance import TESTED_RATES
from fairsel.report.fmt import num
from fairsel.results import AuditResult, VariantResult

TESTED_RATE_NAMES: tuple[str, ...] = tuple(TESTED_RATES)

#: Characters no output but results.json may carry as they are: C0 controls but tab and line
#: feed, DEL, C1 controls, lone surrogates, and U+FFFE/U+FFFF. XML 1.0 forbids most of them
#: (junit.xml would not parse), matplotlib's SVG writer passes them through (the chart would
#: not parse), and on a terminal ESC and CR rewrite what was printed.
_UNSAFE = re.compile(r"\r\n|[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _escape(m: re.Match) -> str:
    if m.group() == "\r\n":  # a Windows line end is a line end
        return "\n"
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: str) -> str:
    """``text`` with every unsafe character written as a visible escape (``\\x1b``, ``\\ud800``).

    The one sanitiser of every output but results.json (which keeps the data as it is, JSON
    escaping what it must): HTML, PDF, charts, junit.xml, summary.md, leaderboard.csv and the
    terminal. Tab and line feed stay (CR LF becomes LF). A string that needs nothing is
    returned as it is.
    """
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


def _safe(obj: Any) -> Any:
    """``obj`` with :func:`safe_text` applied to every string in it (keys too); ``obj``
    itself when nothing changes."""
    if isinstance(obj, str):
        return safe_text(obj)
    if isinstance(obj, BaseModel):
        changes = {}
        for name in type(obj).model_fields:
            value = getattr(obj, name)
            new = _safe(value)
            if new is not value:
                changes[name] = new
        return obj.model_copy(update=changes) if changes else obj
    if isinstance(obj, dict):
        items = [(_safe(k), _safe(v)) for k, v in obj.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(items, obj.items())):
            return obj
        return dict(items)
    if isinstance(obj, list | tuple):
        items = [_safe(v) for v in obj]
        if all(a is b for a, b in zip(items, obj)):
            return obj
        return type(obj)(items)
    return obj


#: What an unsafe character looks like in pydantic's JSON: C0 controls escaped (``\u001b``,
#: ``\b``, ``\f``, ``\r``), the others as they are. An escaped backslash before such text
#: matches too, which only costs the walk.
_SUSPECT_JSON = re.compile(r"\\u00[01][0-9a-fA-F]|\\[bfr]|[\x7f-\x9f\ufffe\uffff]")

#: The last result made safe (each writer asks; the walk is done once per result).
_LAST_SAFE: tuple[AuditResult, AuditResult] | None = None


def safe_result(result: AuditResult) -> AuditResult:
    """``result`` with every string made safe by :func:`safe_text` (the same object when no
    string needs it): what every renderer but results.json works from."""
    global _LAST_SAFE
    if _LAST_SAFE is not None and _LAST_SAFE[0] is result:
        return _LAST_SAFE[1]
    try:  # a quick look first: the JSON of a clean result holds none of these (4× faster)
        suspect = bool(_SUSPECT_JSON.search(result.model_dump_json()))
    except ValueError:  # a lone surrogate cannot be written as UTF-8
        suspect = True
    safe = _safe(result) if suspect else result
    _LAST_SAFE = (result, safe)
    return safe


def fmt(x: float | None, digits: int = 3, near=()) -> str:
    """A figure for a table: ``digits`` decimals, more when it would round onto one of the
    thresholds ``near`` (at most six: :func:`fairsel.report.fmt.num`); an em dash when
    undefined."""
    return num(x, digits, near=near)


#: Metrics that are one quantity under two names (without a declared reference group the
#: disparate impact is the demographic parity ratio): a gate on either sets the digits of both,
#: so the terminal never shows "0.800" beside "0.7999" for the same figure.
SAME_QUANTITY = (("disparate_impact", "demographic_parity_ratio"),)


def gate_thresholds(result: AuditResult) -> dict[str, tuple[float, ...]]:
    """metric → every threshold a gate sets on it, or on a metric that is the same quantity
    (:data:`SAME_QUANTITY`): what a shown figure must not round onto."""
    out: dict[str, set[float]] = {}
    for g in result.gates:
        out.setdefault(g.metric, set()).update(t for t in (g.min, g.max) if t is not None)
    for names in SAME_QUANTITY:
        shared = set().union(*(out.get(m, set()) for m in names))
        for m in names:
            if shared:
                out[m] = shared
    return {m: tuple(sorted(t)) for m, t in out.items()}


def fmt_ci(ci) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def ordered_variants(result: AuditResult) -> list[VariantResult]:
    pos = {n: i for i, n in enumerate(result.ranking.order)}
    return sorted(result.variants, key=lambda v: (pos.get(v.name, 10**9), v.name))


def leaderboard_columns(result: AuditResult) -> tuple[list[str], list[str]]:
    """(performance, fairness) metric names the leaderboard shows: the policy's, plus gates'."""
    perf = list(result.metrics["performance"])
    fair = list(result.metrics["fairness"])
    # every evaluated variant carries every performance metric; a failed one carries none
    perf_names = {m for v in result.variants for m in v.performance}
    for g in result.gates:
        if g.metric in PROXY_GATES:  # a figure of the data, not of a variant (see Proxies)
            continue
        target = perf if g.metric in perf_names or g.metric in perf else fair
        if g.metric not in perf and g.metric not in fair:
            target.append(g.metric)
    if result.ranking.objective not in perf and result.ranking.objective not in fair:
        perf.insert(0, result.ranking.objective)
    return perf, fair


def smallest_p_adjusted(v: VariantResult) -> dict[str, float | None]:
    """Tested rate -> the variant's smallest adjusted p-value over every attribute and group
    against its reference (None where no group was tested)."""
    out: dict[str, float | None] = dict.fromkeys(TESTED_RATE_NAMES)
    for attr in v.attributes:
        for g in attr.groups:
            for rate, t in g.significance.items():
                best = out.get(rate)
                out[rate] = t.p_adjusted if best is None else min(best, t.p_adjusted)
    return out


def leaderboard_rows(result: AuditResult) -> list[dict[str, Any]]:
    """One flat row per variant, in rank order (the CSV's columns)."""
    perf, fair = leaderboard_columns(result)
    rows = []
    for v in ordered_variants(result):
        row: dict[str, Any] = {
            "rank": v.rank, "variant": v.name, "candidate": v.candidate, "kind": v.kind,
            "mitigation": v.mitigation or "", "status": v.status,
            "selected": v.name == result.ranking.selected,
            "uses_protected_at_decision": v.uses_protected_at_decision,
        }
        for m in perf:
            est = v.performance.get(m)
            row[m] = est.value if est else None
            row[f"{m}_ci_low"] = est.ci[0] if est and est.ci else None
            row[f"{m}_ci_high"] = est.ci[1] if est and est.ci else None
        for m in fair:
            h = v.fairness.get(m)
            row[m] = h.value if h else None
            row[f"{m}_ci_low"] = h.ci[0] if h and h.ci else None
            row[f"{m}_ci_high"] = h.ci[1] if h and h.ci else None
            row[f"{m}_worst_attribute"] = h.attribute if h else None
        for rate, p in smallest_p_adjusted(v).items():
            row[f"p_adjusted_{rate}"] = p
        for g in result.gates:
            if g.variant == v.name:
                key = f"gate{g.gate}_{g.metric}"
                row[key] = g.status
                row[f"{key}_gap"] = g.gap
                row[f"{key}_p_adjusted"] = g.p_adjusted
        rows.append(row)
    return rows


# Dense tables (the PDF's exhaustive per-fold tables). WeasyPrint's cost grows with the number
# of table cells (style, layout and drawing per cell, ~0.06 s a page), so the PDF writes a
# row's run of per-fold figures as one text cell in a monospace font, each figure
# right-aligned in the same number of characters: the figures still read as columns, nothing
# is left out, and the row costs one cell instead of one per fold.

def dense_text(cell: Any) -> str:
    """One cell's text: a string or number as it is; a fitted cell (a mapping with ``text``
    and ``mark``, see ``mitigated_view``) as its text and mark."""
    if isinstance(cell, dict):
        return f"{cell.get('text', '')} {cell.get('mark') or ''}".rstrip()
    return str(cell)


def dense_width(rows: Any) -> int:
    """The widest cell's text of ``rows`` (an iterable of rows, each an iterable of cells)."""
    return max((len(dense_text(c)) for r in rows for c in r), default=1)


def dense_widths(rows: Any) -> list[int]:
    """Column by column, the widest cell's text of ``rows`` (rows of cells)."""
    widths: list[int] = []
    for r in rows:
        for i, c in enumerate(r):
            n = len(dense_text(c))
            if i < len(widths):
                widths[i] = max(widths[i], n)
            else:
                widths.append(n)
    return widths


def dense(cells: Any, width: int | list[int], marks: Any = None, mark: str = "*") -> str:
    """``cells`` as one line of columns: each cell's text right-aligned in ``width``
    characters (one width for all, or one per column), two spaces apart. ``marks``: one flag
    per cell; a flagged cell is followed by ``mark`` (the others by a space, so that the
    columns stay aligned)."""
    flags = list(marks) if marks is not None else []
    widths = width if isinstance(width, list) else None
    parts = []
    for i, c in enumerate(cells):
        w = (widths[i] if i < len(widths) else 1) if widths is not None else width
        text = dense_text(c).rjust(w)
        if marks is not None:
            text += mark if i < len(flags) and flags[i] else " " * len(mark)
        parts.append(text)
    return "  ".join(parts)


#: The per-group rates table's figures, in the PDF's dense form (after the group's own cell).
RATE_HEADS = ("n", "TP/FP/TN/FN", "Selection rate [interval]", "TPR [interval]",
              "FPR [interval]")


#: The font size of the dense rates (a class of report.css) by the longest line: the dense cell
#: is 84 % of the PDF's 180 mm text width less its padding, ~423 pt, and a DejaVu Sans Mono
#: character is 0.602 em, so 7 pt holds 100 characters, 6.5 pt 108, 6 pt 117 (a little kept in
#: hand). A longer line wraps (every figure still shown).
DENSE_RATE_SIZES = ((98, "dense-7"), (106, "dense-6h"), (115, "dense-6"))


def dense_rates(groups: Any) -> dict[str, Any]:
    """The PDF's per-group rates table (``candidates_view``'s group rows: ``n``, ``counts``
    and the rates ``sel``, ``tpr``, ``fpr``) as one monospace line per group, under a header
    line naming each column: ``{"head": str, "lines": [str, ...]}`` (a line per group, in
    order), and ``"size"``, the font-size class that fits the longest line (see
    :data:`DENSE_RATE_SIZES`).

    Every figure and interval is kept. Each column's figures are right-aligned in the widest of
    them; a rate resting on few people keeps its mark and fraction (``‡ 2/22``) after the
    interval, in a left-aligned slot as wide as the column's widest mark, so the figures stay
    in columns; the header names each column over its figures."""
    rows = []
    for g in groups:
        row: list[tuple[str, str]] = [(str(g["n"]), ""), (str(g["counts"]).replace(" / ", "/"), "")]
        for key in ("sel", "tpr", "fpr"):
            r = g[key]
            text = f"{r['value']} {r['ci']}".rstrip()
            row.append((text, f"‡ {r['fraction']}" if r.get("small") else ""))
        rows.append(row)
    main = dense_widths([[c for c, _ in r] for r in rows]) or [0] * len(RATE_HEADS)
    marks = dense_widths([[m for _, m in r] for r in rows]) or [0] * len(RATE_HEADS)
    # a column is as wide as its header or its figures and marks, whichever is wider (a mark
    # slot fills what a long header would leave empty)
    total = [max(len(h), main[i] + (1 + marks[i] if marks[i] else 0))
             for i, h in enumerate(RATE_HEADS)]

    def line(row: list[tuple[str, str]]) -> str:
        parts = []
        for i, (text, mark) in enumerate(row):
            cell = text.rjust(main[i])
            if marks[i]:
                cell += " " + mark.ljust(marks[i])
            parts.append(cell.rjust(total[i]))
        return "  ".join(parts).rstrip()

    # a header over figures alone is right-aligned with them; over figures followed by a mark
    # slot, it starts where the figures start
    heads = "  ".join((h.ljust if marks[i] else h.rjust)(total[i])
                      for i, h in enumerate(RATE_HEADS)).rstrip()
    lines = [heads, *(line(r) for r in rows)]
    return {"head": lines[0], "lines": lines[1:], "size": _size_class(lines, DENSE_RATE_SIZES)}


def _size_class(lines: list[str], sizes: tuple[tuple[int, str], ...]) -> str:
    """The font-size class of ``sizes`` ((most characters, class), largest font first) that
    holds the longest of ``lines`` on one line; the smallest when none does (it wraps)."""
    longest = max(len(x) for x in lines)
    return next((cls for chars, cls in sizes if longest <= chars), sizes[-1][1])



def dense_columns(heads: list[str], rows: Any, left: int = 1) -> dict[str, Any]:
    """A table as monospace lines (the PDF's dense form): ``heads`` (column names) over
    ``rows`` (rows of cell texts), each column as wide as the wider of its header and its
    widest cell, two spaces apart; the first ``left`` columns (names, read first) left-aligned,
    the others (figures) right-aligned: ``{"head": str, "lines": [str, ...]}``. Every cell is
    kept; a row is one line."""
    rows = [[dense_text(c) for c in r] for r in rows]
    cells = dense_widths(rows)
    widths = [max(len(h), cells[i] if i < len(cells) else 0) for i, h in enumerate(heads)]

    def line(cells: list[str]) -> str:
        return "  ".join((c.ljust if i < left else c.rjust)(widths[i])
                         for i, c in enumerate(cells)).rstrip()

    return {"head": line(list(heads)), "lines": [line(r) for r in rows]}


def dense_fairness(candidate: dict[str, Any]) -> dict[str, Any]:
    """A candidate's fairness table (``candidates_view``: ``fairness`` rows of ``metric``,
    ``value``, ``ci``, ``worst``, ``by_attribute``; ``attr_names``) in dense form, a line per
    metric: its worst value with the interval, the attribute where it is worst, and its value
    on each attribute (:func:`dense_columns`)."""
    heads = ["Fairness", "Worst [interval]", "Worst on", *candidate["attr_names"]]
    rows = [[r["metric"], f"{r['value']} {r['ci']}".rstrip(), r["worst"], *r["by_attribute"]]
            for r in candidate["fairness"]]
    return dense_columns(heads, rows, left=1)


def dense_performance(candidate: dict[str, Any]) -> dict[str, Any]:
    """A candidate's performance table (``performance`` rows of ``metric``, ``value``,
    ``ci``, ``unavailable``) in dense form: a line per metric with its value and interval, or
    "not computed ¶" (:func:`dense_columns`)."""
    rows = [[r["metric"], "not computed ¶" if r.get("unavailable")
             else f"{r['value']} {r['ci']}".rstrip()] for r in candidate["performance"]]
    return dense_columns(["Performance", "Value [interval]"], rows, left=1)


#: A worst-slices table's figures, in the PDF's dense form (after the slice's own cell).
SLICE_HEADS = ("Rows", "Rate (k/n)", "Rest", "Diff.", "Interval", "Adj. p")


#: The font size of a worst-slices table's figures by its longest line: the figures' cell is
#: 58 % of the 180 mm text width less its padding, ~288 pt, so 7 pt holds 68 characters,
#: 6.5 pt 73, 6 pt 79 (a little kept in hand). Recidivism's selection-rate slices,
#: "(170/1,048)" and "[−0.467, −0.416]", made 72: the line wrapped, its p-value alone below.
DENSE_SLICE_SIZES = ((66, "dense-7"), (71, "dense-6h"), (77, "dense-6"))


def dense_slices(rows: Any) -> dict[str, Any]:
    """A worst-slices table (``slices_view``'s rows: ``rows``, ``rate``, ``kn``, ``rest``,
    ``diff``, ``ci``, ``p``) in dense form: each slice's figures as one monospace line, every
    figure right-aligned under its header (:func:`dense_columns`); the slice's description
    stays a cell of its own. ``"size"``: the font-size class that fits the longest line
    (:data:`DENSE_SLICE_SIZES`)."""
    d = dense_columns(list(SLICE_HEADS), [
        [r["rows"], f"{r['rate']} ({r['kn']})", r["rest"], r["diff"], r["ci"], r["p"]]
        for r in rows], left=0)
    d["size"] = _size_class([d["head"], *d["lines"]], DENSE_SLICE_SIZES)
    return d


def dense_pairs(rows: Any, heads: tuple[str, str], key: str = "feature",
                value: str = "value") -> dict[str, Any]:
    """A two-column table (a name and its figure: ``rows`` of mappings with ``key`` and
    ``value``) in dense form, a line per row under the two ``heads`` (:func:`dense_columns`)."""
    return dense_columns(list(heads), [[r[key], r[value]] for r in rows], left=1)
