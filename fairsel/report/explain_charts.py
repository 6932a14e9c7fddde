"""Charts of the "Why the model decides as it does" section: global importance, per-group
contributions, and the disparity attribution as a waterfall.

Drawn like every report chart (:mod:`fairsel.report.charts`): matplotlib without pyplot to
inline SVG, in the colour-blind-safe palette of :data:`fairsel.report.charts.PALETTE` and still
readable in black and white (series differ by fill and hatching), text from the data escaped
and shortened. The functions take plain numbers and strings built by
:mod:`fairsel.report.explain_view`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from fairsel.report.chart_jobs import draw
from fairsel.report.charts import (_HINTED, PALETTE, WIDTH, Chart, _figure, _short, _to_svg,
                                   text_width)

_LEFT, _W = 0.34, 0.6  # axes position: room for feature names on the left

#: Fill and hatch of each group's series: Okabe & Ito's colours, and a hatch on every other
#: series so that a black-and-white print still tells them apart.
_STYLES = [(PALETTE["blue"], ""), (PALETTE["orange"], "////"), (PALETTE["sky"], ""),
           (PALETTE["vermillion"], "||||"), (PALETTE["green"], "xxxx"),
           (PALETTE["purple"], "\\\\\\\\")]
#: The waterfall's steps: a part that lowers the gap, one that raises it, and the gap itself.
_LOWERS, _RAISES, _GAP = PALETTE["vermillion"], PALETTE["sky"], "#999999"
_LEGEND_PT = 9.0  # the legend's text (charts.MIN_FONT_PT)


def _height(rows: int, per: float = 0.2) -> float:
    return min(4.6, 0.75 + per * rows)


def importance(key: str, *, features: Sequence[str], values: Sequence[float],
               units: str) -> Chart:
    """Mean |SHAP| per feature as horizontal bars, the largest on top."""
    return draw(_importance, key, f"Global importance: mean absolute SHAP value per feature, in "
                f"{units}", _height(len(features)), features=features, values=values,
                units=units)


def _importance(key: str, label: str, height: float, *, features: Sequence[str],
                values: Sequence[float], units: str) -> Chart:
    fig = _figure(height)
    ax = fig.add_axes((_LEFT, 0.75 / height, _W, 1 - 1.05 / height))
    ys = list(range(len(features)))[::-1]
    ax.barh(ys, list(values), height=0.62, color=PALETTE["blue"], edgecolor="#000000",
            linewidth=0.4)
    ax.set_yticks(ys, [_short(f) for f in features])
    ax.set_xlabel(f"mean |SHAP value| ({units})")
    _ticks(ax)
    ax.set_xlim(0, max([v for v in values if v is not None] + [1e-12]) * 1.08)
    ax.spines[["top", "right"]].set_visible(False)
    return _to_svg(fig, key, label)


def group_contributions(key: str, *, attribute: str, features: Sequence[str],
                        groups: Sequence[str], values: Sequence[Sequence[float]],
                        units: str) -> Chart:
    """Each group's mean SHAP value per feature (``values[g][f]``) as grouped bars."""
    n_f, n_g = len(features), len(groups)
    # the legend's columns: as many as fit the width; above the axes, room for its title and
    # one row in 0.54 in, 0.21 in per further row (the title and first row were cut off before)
    columns = _legend_columns([_short(g, 24) for g in groups])
    top = 0.54 + 0.21 * (max(math.ceil(n_g / columns), 1) - 1)
    return draw(_group_contributions, key,
                f"Mean SHAP value per feature for each group of {attribute}",
                _height(n_f, per=0.1 + 0.09 * n_g) + top - 0.4, attribute=attribute,
                features=features, groups=groups, values=values, units=units,
                columns=columns, top=top)


def _group_contributions(key: str, label: str, height: float, *, attribute: str,
                         features: Sequence[str], groups: Sequence[str],
                         values: Sequence[Sequence[float]], units: str, columns: int,
                         top: float) -> Chart:
    n_f, n_g = len(features), len(groups)
    labels = [_short(g, 24) for g in groups]
    fig = _figure(height)
    ax = fig.add_axes((_LEFT, 0.75 / height, _W, 1 - (0.75 + top) / height))
    band = 0.8 / max(n_g, 1)
    for g in range(n_g):
        fill, hatch = _STYLES[g % len(_STYLES)]
        ys = [n_f - 1 - f + 0.4 - band * (g + 0.5) for f in range(n_f)]  # first group on top
        ax.barh(ys, [values[g][f] for f in range(n_f)], height=band * 0.92,
                color=fill, hatch=hatch, edgecolor="#000000", linewidth=0.4,
                label=labels[g])
    ax.axvline(0, color="#000000", linewidth=0.6)
    ax.set_yticks(list(range(n_f))[::-1], [_short(f) for f in features])
    ax.set_xlabel(f"mean SHAP value in the group ({units})")
    _ticks(ax)
    ax.spines[["top", "right"]].set_visible(False)
    # the legend starts at the figure's left edge, as many columns as fit its width (hiring:
    # three columns from the axes' left edge ran past the right edge, two groups unnamed)
    fig.legend(loc="lower left", bbox_to_anchor=(0.01, 1 - top / height + 0.04 / height),
               ncol=columns, frameon=False, title=_short(attribute, 40),
               title_fontsize=_LEGEND_PT, alignment="left", fontsize=_LEGEND_PT,
               borderaxespad=0, columnspacing=1.2, handlelength=2.0, handletextpad=0.5)
    return _to_svg(fig, key, label)


def waterfall(key: str, *, title: str, steps: Sequence[tuple[str, float]], gap: float,
              units: str) -> Chart:
    """The gap between two groups' mean margins as a waterfall: one bar per step from the
    running total, the last bar the whole gap."""
    return draw(_waterfall, key, f"Disparity attribution: {title}", _height(len(steps) + 1),
                title=title, steps=steps, gap=gap, units=units)


def _waterfall(key: str, label: str, height: float, *, title: str,
               steps: Sequence[tuple[str, float]], gap: float, units: str) -> Chart:
    labels = [s[0] for s in steps] + ["gap in mean margin"]
    n = len(labels)
    fig = _figure(height)
    ax = fig.add_axes((_LEFT, 0.75 / height, _W, 1 - 1.1 / height))
    total = 0.0
    for i, (_, v) in enumerate(steps):
        y = n - 1 - i
        ax.barh([y], [v], left=[total], height=0.62, color=_RAISES if v >= 0 else _LOWERS,
                hatch="////" if v >= 0 else "", edgecolor="#000000", linewidth=0.4)
        total += v
        if i + 1 < len(steps):
            ax.plot([total, total], [y - 0.31, y - 0.69], color="#000000", linewidth=0.4)
    ax.barh([0], [gap], height=0.62, color=_GAP, edgecolor="#000000", linewidth=0.6)
    ax.axvline(0, color="#000000", linewidth=0.6)
    # room either side of the bars: a step ending at the axis' edge was drawn into the frame
    # (hiring: the expected values' +0.001 at 0.00, the edge of the axis, could not be seen)
    ends = [0.0, gap, *itertools.accumulate(v for _, v in steps)]
    lo, hi = min(ends), max(ends)
    pad = 0.05 * ((hi - lo) or 1.0)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_yticks(list(range(n))[::-1], [_short(lab) for lab in labels])
    ax.set_xlabel(f"contribution to the gap ({units}); solid lowers, hatched raises")
    _ticks(ax)
    ax.set_title(_short(title, 70), loc="left", x=-0.5)
    ax.spines[["top", "right"]].set_visible(False)
    return _to_svg(fig, key, label)


def _legend_columns(labels: Sequence[str]) -> int:
    """How many columns of ``labels`` (at most 3) fit the chart's width from its left edge:
    each column as wide as its widest label, plus the handle (2 em), its pad (0.5 em) and the
    space between columns (1.2 em)."""
    em = _LEGEND_PT / 72
    widths = [text_width(lb, _LEGEND_PT) * _HINTED + 3.7 * em for lb in labels]
    for columns in range(min(3, len(labels)), 1, -1):
        rows = math.ceil(len(labels) / columns)
        # matplotlib fills a legend's columns top to bottom
        cols = [widths[c * rows:(c + 1) * rows] for c in range(columns)]
        if sum(max(c) for c in cols if c) <= WIDTH - 0.15:
            return columns
    return 1


def _ticks(ax) -> None:
    """At most five ticks on the value axis (long decimals would overlap)."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(5))
