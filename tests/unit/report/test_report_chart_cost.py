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


def _drawn_texts(monkeypatch, draw) -> list[tuple[str, tuple, float, float]]:
    """(text, window extent, figure width, figure height) of every legend text ``draw()``
    puts in its charts, laid out by matplotlib's Agg renderer."""
    from tests.unit.report.chartcheck import drawn_figures, text_boxes

    return [(text, box, fig.bbox.width, fig.bbox.height)
            for fig in drawn_figures(monkeypatch, explain_charts, draw)
            for text, box in text_boxes(fig, legends_only=True)]


def test_group_contribution_legend_names_every_group_inside_the_chart(monkeypatch):
    """Hiring p.22: six race/ethnicity groups drawn, four named — the legend's third column
    (from the axes' left edge) ran past the chart's right edge."""
    groups = ["White", "Black or African American", "Hispanic or Latino", "Asian",
              "Two or More Races", "unknown"]
    texts = _drawn_texts(monkeypatch, lambda: explain_charts.group_contributions(
        "gc", attribute="race/ethnicity", features=["skills_test", "referral"], groups=groups,
        values=[[0.1, -0.1]] * len(groups), units="log-odds"))
    shown = {text for text, *_ in texts}
    assert {explain_charts._short(g, 24) for g in groups} <= shown
    for text, (x0, y0, x1, y1), width, height in texts:
        assert x0 >= -0.5 and x1 <= width + 0.5 and y0 >= -0.5 and y1 <= height + 0.5, text


def test_explanation_charts_are_in_the_colour_blind_safe_palette():
    """The explanation charts were black, white and grey (issue 12: "use a colour-blind-safe
    palette"); their series now take the palette's colours, and keep their hatches."""
    from fairsel.report.charts import PALETTE

    palette = {c.lower() for c in PALETTE.values()} - {"#000000"}  # colours, not black

    def colours(chart) -> set[str]:
        # a fill in a style, or a hatch pattern's background (fill="#...")
        return {c.lower() for c in re.findall(r'fill(?:: ?|=")(#[0-9a-fA-F]{6})', str(chart.svg))}

    imp = explain_charts.importance("i", features=["a", "b"], values=[0.3, 0.1], units="x")
    grp = explain_charts.group_contributions(
        "g", attribute="race", features=["a", "b"], groups=["p", "q", "r"],
        values=[[0.1, -0.1], [0.2, 0.0], [-0.1, 0.1]], units="x")
    fall = explain_charts.waterfall("w", title="p − q (race)", steps=[("a", 0.2), ("b", -0.1)],
                                    gap=0.1, units="x")
    assert colours(imp) & palette
    assert len(colours(grp) & palette) >= 3  # each group its own colour
    assert len(colours(fall) & palette) >= 2  # the parts that raise and that lower the gap
    assert "<pattern" in str(grp.svg) and "<pattern" in str(fall.svg)  # hatches kept


def test_a_waterfalls_bars_do_not_end_on_the_edge_of_its_axis(monkeypatch):
    """Hiring p.21 (review10): the x axis stopped at 0.00, where the expected values' +0.001
    began, so that step and its hatch could not be seen."""
    from tests.unit.report.chartcheck import drawn_figures

    figures = drawn_figures(monkeypatch, explain_charts, lambda: explain_charts.waterfall(
        "w", title="a − b (x)", units="log-odds", gap=-0.234,
        steps=[("expected values (folds)", 0.001), ("skills_test", -0.086),
               ("referral", -0.078), ("education", -0.07)]))
    lo, hi = figures[0].axes[0].get_xlim()
    assert hi > 0.001 + 0.005 and lo < -0.234 - 0.005
