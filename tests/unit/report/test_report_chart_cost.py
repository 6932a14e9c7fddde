"""What a chart costs the PDF renderer: WeasyPrint redraws a hatch pattern's tile for every
bar it fills, so a tile of hundreds of tiny circles (matplotlib's "...." hatch) made one
chart of the mitigation example cost a second of CPU time in report.pdf."""

from __future__ import annotations

import re

from fairsel.report import explain_charts


def _pattern_numbers(svg: str) -> int:
    """How many numbers the chart's hatch-pattern tiles hold (what drawing them costs)."""
    tiles = re.findall(r"<pattern\b.*?</pattern>", svg, flags=re.S)
    return sum(len(re.findall(r"-?\d+(?:\.\d+)?", tile)) for tile in tiles)


def test_group_series_stay_distinct_in_black_and_white():
    styles = explain_charts._STYLES
    assert len(set(styles)) == len(styles) >= 6
    assert sum(1 for _, hatch in styles if hatch) >= 4  # hatching, not only shades of grey


def test_group_contribution_hatches_are_cheap_tiles():
    groups = [f"group {g}" for g in range(len(explain_charts._STYLES))]
    features = [f"feature_{f}" for f in range(12)]
    values = [[(f - 6) * 0.01 * (g + 1) for f in range(12)] for g in range(len(groups))]
    chart = explain_charts.group_contributions("gc", attribute="race", features=features,
                                               groups=groups, values=values, units="log-odds")
    svg = str(chart.svg)
    assert svg.count("<pattern") >= 4  # every hatched series has its tile
    # "...." made tiles of ~32,000 numbers; line hatches need a few hundred each
    assert _pattern_numbers(svg) < 3000


def _text_inside_top(svg: str) -> list[str]:
    """The texts whose glyphs would stick out above the chart (baseline above their size)."""
    out = []
    for size, y, text in re.findall(
            r'<text style="font-size: ([0-9.]+)px[^"]*"[^>]*\by="(-?[0-9.]+)"[^>]*>([^<]*)</text>',
            svg):
        if float(y) < float(size):
            out.append(text)
    return out


def test_group_contribution_legend_is_not_cut_off_at_the_top():
    for n_groups in (2, 6):
        groups = [f"g{g}" for g in range(n_groups)]
        chart = explain_charts.group_contributions(
            "gc", attribute="race", features=["income", "age"], groups=groups,
            values=[[0.1, -0.1]] * n_groups, units="log-odds")
        svg = str(chart.svg)
        assert ">race</text>" in svg and ">g0</text>" in svg
        assert _text_inside_top(svg) == [], n_groups
