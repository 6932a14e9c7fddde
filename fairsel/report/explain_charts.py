"""Charts of the "Why the model decides as it does" section: global importance, per-group
contributions, and the disparity attribution as a waterfall.

Drawn like every report chart (:mod:`fairsel.report.charts`): matplotlib without pyplot to
inline SVG, readable in black and white (series differ by fill and hatching), text from the
data escaped and shortened. The functions take plain numbers and strings built by
:mod:`fairsel.report.explain_view`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from fairsel.report.charts import Chart, _figure, _short, _to_svg

_LEFT, _W = 0.34, 0.6  # axes position: room for feature names on the left

#: Fill and hatch of each group's series (black and white first).
_STYLES = [("#222222", ""), ("#ffffff", "////"), ("#9a9a9a", ""), ("#ffffff", "||||"),
           ("#ffffff", "xxxx"), ("#cfcfcf", "\\\\\\\\")]


def _height(rows: int, per: float = 0.2) -> float:
    return min(4.6, 0.75 + per * rows)


def importance(key: str, *, features: Sequence[str], values: Sequence[float],
               units: str) -> Chart:
    """Mean |SHAP| per feature as horizontal bars, the largest on top."""
    fig = _figure(_height(len(features)))
    ax = fig.add_axes((_LEFT, 0.75 / _height(len(features)), _W,
                       1 - 1.05 / _height(len(features))))
    ys = list(range(len(features)))[::-1]
    ax.barh(ys, list(values), height=0.62, color="#333333", edgecolor="#000000", linewidth=0.4)
    ax.set_yticks(ys, [_short(f) for f in features])
    ax.set_xlabel(f"mean |SHAP value| ({units})")
    _ticks(ax)
    ax.set_xlim(0, max([v for v in values if v is not None] + [1e-12]) * 1.08)
    ax.spines[["top", "right"]].set_visible(False)
    return _to_svg(fig, key, f"Global importance: mean absolute SHAP value per feature, in "
                             f"{units}")


def group_contributions(key: str, *, attribute: str, features: Sequence[str],
                        groups: Sequence[str], values: Sequence[Sequence[float]],
                        units: str) -> Chart:
    """Each group's mean SHAP value per feature (``values[g][f]``) as grouped bars."""
    n_f, n_g = len(features), len(groups)
    # room above the axes for the legend: its title and one row of up to 3 groups in 0.54 in,
    # 0.21 in per further row (the title and first row were cut off at the top before)
    top = 0.54 + 0.21 * (max(math.ceil(n_g / 3), 1) - 1)
    height = _height(n_f, per=0.1 + 0.09 * n_g) + top - 0.4
    fig = _figure(height)
    ax = fig.add_axes((_LEFT, 0.75 / height, _W, 1 - (0.75 + top) / height))
    band = 0.8 / max(n_g, 1)
    for g in range(n_g):
        fill, hatch = _STYLES[g % len(_STYLES)]
        ys = [n_f - 1 - f + 0.4 - band * (g + 0.5) for f in range(n_f)]  # first group on top
        ax.barh(ys, [values[g][f] for f in range(n_f)], height=band * 0.92,
                color=fill, hatch=hatch, edgecolor="#000000", linewidth=0.4,
                label=_short(groups[g], 24))
    ax.axvline(0, color="#000000", linewidth=0.6)
    ax.set_yticks(list(range(n_f))[::-1], [_short(f) for f in features])
    ax.set_xlabel(f"mean SHAP value in the group ({units})")
    _ticks(ax)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(loc="lower left", bbox_to_anchor=(-0.02, 1.0), ncol=min(n_g, 3), frameon=False,
              title=_short(attribute, 40), title_fontsize=7.5, alignment="left")
    return _to_svg(fig, key, f"Mean SHAP value per feature for each group of {attribute}")


def waterfall(key: str, *, title: str, steps: Sequence[tuple[str, float]], gap: float,
              units: str) -> Chart:
    """The gap between two groups' mean margins as a waterfall: one bar per step from the
    running total, the last bar the whole gap."""
    labels = [s[0] for s in steps] + ["gap in mean margin"]
    n = len(labels)
    height = _height(n)
    fig = _figure(height)
    ax = fig.add_axes((_LEFT, 0.75 / height, _W, 1 - 1.1 / height))
    total = 0.0
    for i, (_, v) in enumerate(steps):
        y = n - 1 - i
        ax.barh([y], [v], left=[total], height=0.62, color="#ffffff" if v >= 0 else "#333333",
                hatch="////" if v >= 0 else "", edgecolor="#000000", linewidth=0.4)
        total += v
        if i + 1 < len(steps):
            ax.plot([total, total], [y - 0.31, y - 0.69], color="#000000", linewidth=0.4)
    ax.barh([0], [gap], height=0.62, color="#9a9a9a", edgecolor="#000000", linewidth=0.6)
    ax.axvline(0, color="#000000", linewidth=0.6)
    ax.set_yticks(list(range(n))[::-1], [_short(lab) for lab in labels])
    ax.set_xlabel(f"contribution to the gap ({units}); solid lowers, hatched raises")
    _ticks(ax)
    ax.set_title(_short(title, 70), loc="left", x=-0.5)
    ax.spines[["top", "right"]].set_visible(False)
    return _to_svg(fig, key, f"Disparity attribution: {title}")


def _ticks(ax) -> None:
    """At most five ticks on the value axis (long decimals would overlap)."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(5))
