"""Layout of the report (issue 12 "Layout"): chart palette, text size, legends, padded axes,
the trade-off chart's cases, page-break rules, wrapping of variant names, the gate legend."""

from __future__ import annotations

import re

import pytest

from fairsel.report import charts
from fairsel.report.context import build_context
from fairsel.report.html import TEMPLATES, render_html, variant_name
from tests.unit.report.factory import make_result

IV = charts.Interval(0.5, 0.4, 0.6)


def _panel(title: str, k: int, *, tpr=IV, fpr=IV) -> charts.Panel:
    return charts.Panel(title=title, groups=[f"g{i}" for i in range(k)], n=[50] * k,
                        selection=[IV] * k, tpr=[tpr] * k, fpr=[fpr] * k,
                        eligible=[True] * k, reference=0, ratio_line=0.8)


def _trade(**kw):
    args = dict(names=["a", "b", "c"], ranks=[1, 2, 3], x=[0.7, 0.85, 0.95],
                y=[0.80, 0.78, 0.74], passing=[True, True, False], selected=0, frontier=[0, 1],
                x_label="disparate_impact", y_label="roc_auc", x_threshold=0.8,
                y_threshold=None)
    args.update(kw)
    return charts.tradeoff("t", **args)


def test_chart_text_is_at_least_9_points():
    made = charts.group_rates("k", [_panel("sex", 2), _panel("race", 5)], level=0.95,
                              title="v") + [_trade()]
    sizes = [float(s) for c in made
             for s in re.findall(r"font-size: ?([0-9.]+)px", str(c.svg))]
    assert sizes and min(sizes) >= charts.MIN_FONT_PT >= 9
    # drawn at the printed size: the PDF places the chart at its own width in points
    assert all(abs(c.width_pt - charts.WIDTH * 72) < 0.5 for c in made)


def test_group_chart_draws_its_legend_once_per_variant():
    made = charts.group_rates("k", [_panel("sex", 2), _panel("branch", 60)], level=0.95,
                              title="v")
    assert len(made) >= 2, "the panels should need more than one figure"
    text = [str(c.svg) for c in made]
    assert sum(t.count("ratio line (× reference rate)") for t in text) == 1
    assert "ratio line" in text[0]
    assert all("legend as in the first chart" in c.label for c in made[1:])


def test_group_chart_text_stays_inside_the_figure(monkeypatch):
    """Hiring p.17: long intersection names ran past the figure's left edge ("emale ×
    American Indian or Alask… (n=20) †") and the panel title past its right edge ("sex ×
    race/ethnicity (intersection); line at 0.8 ×", the value cut off)."""
    from tests.unit.report.chartcheck import drawn_figures, text_boxes

    long_names = [f"{s} × American Indian or Alaska Native" for s in ("female", "male")] + [
        "unknown × Native Hawaiian or Pacific Islander", "female × White"]
    panel = charts.Panel(title="sex × race/ethnicity (intersection)", groups=long_names,
                         n=[20, 1_028, 4, 942], selection=[IV] * 4, tpr=[IV] * 4,
                         fpr=[IV] * 4, eligible=[False, True, False, True], reference=1,
                         ratio_line=0.8)
    figures = drawn_figures(monkeypatch, charts, lambda: charts.group_rates(
        "k", [_panel("sex", 2), panel], level=0.95, title="v"))
    assert figures
    for fig in figures:
        width, height = fig.bbox.width, fig.bbox.height
        texts = text_boxes(fig)
        assert any("line at 0.8" in text for text, _ in texts)
        for text, (x0, y0, x1, y1) in texts:
            assert x0 >= -0.5 and x1 <= width + 0.5, (text, x0, x1, width)
            assert y0 >= -0.5 and y1 <= height + 0.5, (text, y0, y1, height)


def test_group_chart_markers_at_0_and_1_are_not_clipped():
    panel = _panel("sex", 2, tpr=charts.Interval(1.0, 1.0, 1.0),
                   fpr=charts.Interval(0.0, 0.0, 0.0))
    svg = str(charts.group_rates("k", [panel], level=0.95, title="v")[0].svg)
    markers = re.findall(r"<use [^>]*>", svg)
    assert markers, "the TPR/FPR markers should be drawn"
    assert not [u for u in markers if "clip-path" in u]
    assert charts.RATE_PAD > 0
    # the axes run past 0 and 1: the "1" tick label sits inside the axes frame
    ticks = {t: float(x) for x, t in re.findall(
        r'<text [^>]*x="([0-9.]+)"[^>]*>(0|1)</text>', svg)}
    uses_x = sorted(float(x) for x in re.findall(r'<use [^>]*\bx="([0-9.]+)"', svg))
    assert ticks["0"] > min(uses_x) - 0.01 and ticks["1"] < max(uses_x) + 0.01
    frame = [float(x) for x in re.findall(r'M ([0-9.]+) [0-9.]+ +L \1 [0-9.]+ ', svg)]
    assert max(frame) > ticks["1"] + 2, "no room to the right of 1 on the rate axis"


def test_tradeoff_is_not_drawn_for_a_single_variant():
    assert _trade(names=["a"], ranks=[1], x=[0.7], y=[0.8], passing=[True], frontier=[0]) is None
    result = make_result(n_variants=1)
    ctx = build_context(result, with_charts=True)
    assert ctx["tradeoff"]["chart"] is None and ctx["tradeoff"]["plotted"] == 1
    html = render_html(result)
    section = html[html.index('<section id="tradeoff"'):]
    section = section[:section.index("</section>")]
    assert "<svg" not in section
    text = " ".join(re.sub(r"<[^>]+>", "", section).split())
    assert "No chart: only one variant has both figures" in text
    assert "a trade-off needs at least two variants to compare" in text
    assert "Pareto frontier" not in text  # no sentence about a chart that is not there


def test_tradeoff_marks_variants_that_may_not_be_selected():
    plain = str(_trade().svg)
    marked = str(_trade(blocked=[False, False, True]).svg)
    label = "may not be selected"
    assert label not in plain and label in marked
    orange = charts.PALETTE["orange"].lower()
    assert orange not in plain.lower() and orange in marked.lower()
    # a failing variant that may not be selected is drawn as "may not be selected", once
    assert marked.count(label) == 1


def test_tradeoff_draws_intervals_and_keeps_the_legend_clear_of_the_plot():
    # the axes take in the intervals up to one range of the points a side; (0.0, 0.8) runs on
    # past that: it ends in an arrowhead, and the legend says what the arrowhead means (a
    # whisker reaching the frame read as a gridline)
    chart = _trade(x_ci=[(0.0, 0.8), (0.8, 0.9), None], y_ci=[(0.78, 0.82), None, None])
    svg = str(chart.svg)
    # any arrowhead (▲ ▼ ◀ ▶, as the whisker points), not one glyph (review10: the legend
    # showed ▸ beside ▲ and ◀ arrows)
    assert ">interval (an arrowhead: it runs on beyond the plot)<" in svg
    grey_paths = re.findall(r'<path d="([^"]*)"[^>]*stroke: #999999', svg)
    assert grey_paths, "the intervals should be drawn"
    inside = str(_trade(x_ci=[(0.69, 0.71), (0.84, 0.86), None]).svg)
    assert ">interval<" in inside and "beyond the plot" not in inside
    assert ">interval" not in str(_trade().svg)


def test_legend_counts_and_palette_in_a_rendered_report():
    html = render_html(make_result(n_variants=3))
    svgs = re.findall(r"<svg .*?</svg>", html, flags=re.S)
    per_variant = [s for s in svgs if "ratio line (× reference rate)" in s]
    assert len(per_variant) == 3  # one legend per candidate variant, not per figure


def test_signoff_block_never_splits():
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    rule = re.search(r"\.signoff-block \{([^}]*)\}", css)
    assert rule and "break-inside: avoid" in rule.group(1)
    html = render_html(make_result(n_variants=2))
    block = html[html.index('<div class="signoff-block">'):]
    assert block.index("<h3>Sign-off</h3>") < block.index("Approver") \
        if "Approver" in block else "<h3>Sign-off</h3>" in block[:200]


def test_tables_never_strand_a_single_row():
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    assert re.search(r"tbody > tr:last-child \{ ?break-before: avoid", css)
    assert re.search(r"tbody > tr:first-child \{ ?break-after: avoid", css)
    assert re.search(r"thead \{ ?display: table-header-group", css)


def test_variant_names_wrap_between_their_parts_not_inside_words():
    zw = "\u200b"
    name = "logreg+threshold[equalized_odds]"
    out = variant_name(name)
    assert out.replace(zw, "") == name
    assert f"+{zw}threshold" in out and f"threshold{zw}[" in out
    # break opportunities between the parts: no word needs breaking mid-way
    assert out.split(zw) == ["logreg+", "threshold", "[equalized_", "odds]"]
    assert variant_name("<b>") == "<b>"  # escaping is left to the template


def test_gate_legend_names_the_attributes_and_severity_of_each_gate():
    result = make_result(n_variants=2)
    html = render_html(result)
    legend = re.search(r"(G1 = [^<]*)</p>", html)
    assert legend, "the leaderboard should explain G1..."
    first = {}
    for g in result.gates:
        first.setdefault(g.gate, g)
    for i, g in first.items():
        attrs = ", ".join(g.by_attribute) if g.by_attribute else None
        where = f"on {attrs}" if attrs else "overall"
        expected = f"G{i + 1} = {g.metric} "
        assert expected in legend.group(1)
        assert f"{where} ({g.severity})" in legend.group(1).replace("&amp;", "&"), \
            (where, legend.group(1))


@pytest.mark.parametrize("severity", ["warn"])
def test_gate_legend_tells_a_single_attribute_gate_from_an_all_attribute_one(severity):
    result = make_result(n_variants=2)
    gates = [g.model_copy(update={"by_attribute": {"sex": g.status}}) if g.gate == 0
             else g.model_copy(update={"severity": severity}) for g in result.gates]
    result = result.model_copy(update={"gates": gates})
    legend = re.search(r"(G1 = [^<]*)</p>", render_html(result)).group(1)
    assert re.search(r"G1 = [^;]* on sex \(error\)", legend), legend
    assert re.search(r"G2 = [^;]*\(warn\)", legend), legend


def test_short_sections_follow_on_the_same_page():
    """Fewer half-empty pages: only the document's parts start a page in print."""
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    flowing = re.search(r"((?:#[a-z]+\.page-start,?\s*)+)\{\s*break-before: auto", css)
    assert flowing, "no section is allowed to follow the previous one"
    ids = set(re.findall(r"#([a-z]+)\.page-start", flowing.group(1)))
    assert {"tradeoff", "gates", "limitations", "explain", "slices"} <= ids
    assert not ids & {"control", "summary", "candidates", "appendix"}


def test_tradeoff_legend_lists_only_the_kinds_drawn():
    all_fail = str(_trade(passing=[False, False, False], selected=None).svg)
    assert "fails a gate" in all_fail and "passes every error gate" not in all_fail
    assert ">selected<" not in all_fail
    mixed = str(_trade().svg)
    assert "fails a gate" in mixed and "passes every error gate" in mixed


@pytest.mark.parametrize("name", ["lending", "mitigation", "hiring"])
def test_leaderboard_figures_and_gate_outcomes_are_two_tables(name):
    """Beside five or six gate columns the leaderboard's eight figures had a sliver of the page
    each and ran into each other ("0.7720.6260.839", reviewer): the gate outcomes are a table
    of their own, one row per listed variant."""
    from tests.unit.report.test_report_statements import _golden

    result = _golden(name)
    html = render_html(result, with_charts=False)
    board = html.split('<section id="leaderboard"', 1)[1].split("</section>", 1)[0]
    figures = board.split('<table class="grid leaderboard">', 1)[1].split("</table>", 1)[0]
    gates = board.split('<table class="grid leaderboard-gates">', 1)[1].split("</table>", 1)[0]
    assert 'class="gate"' not in figures and "gate-head" not in figures
    head = figures.split("</thead>", 1)[0]
    assert len(re.findall(r"<th[ >]", head)) <= 3 + 8  # #, variant, status, at most 8 figures
    shown = figures.count("<tr data-variant=")
    assert shown and gates.count("<tr data-gates-variant=") == shown
    n_gates = len({g.gate for g in result.gates})
    assert gates.split("</thead>", 1)[0].count("gate-head") == n_gates


def test_labels_of_near_points_go_to_different_spots():
    """Rank labels of points drawn close together were printed over each other ("5 6 8"):
    each takes the first spot around its point no earlier label covers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    charts._place_labels(fig, ax, [("5", 0.5, 0.5, False), ("6", 0.501, 0.5, False),
                                   ("8", 0.5, 0.501, False), ("1", 0.1, 0.1, True)])
    spots = [t.xyann for t in ax.texts]
    plt.close(fig)
    assert len(set(spots[:3])) == 3  # three near points, three different spots
    assert spots[3] != (4, 3)  # the ringed (selected) point's label clears its ring


def test_a_label_is_not_drawn_over_another_points_marker():
    """Mitigation's trade-off chart (p. 51): the label "9" sat on the cross of variant 10,
    drawn up and to the right of it, where a label's first spot is."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    points = [("9", 0.5, 0.5, False), ("10", 0.515, 0.52, False), ("1", 0.6, 0.5, True)]
    charts._place_labels(fig, ax, points)
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.texts]
    markers = []
    for _, xv, yv, ringed in points:
        px, py = ax.transData.transform((xv, yv))
        half = (6.5 if ringed else 4.0) * fig.dpi / 72  # the ring (13 pt), a marker (6-6.5 pt)
        markers.append((px - half, py - half, px + half, py + half))
    plt.close(fig)
    for i, b in enumerate(boxes):
        for j, (x0, y0, x1, y1) in enumerate(markers):
            if i != j:
                assert not (b.x0 < x1 and x0 < b.x1 and b.y0 < y1 and y0 < b.y1), (i, j)


def test_tradeoff_legend_names_the_frontier_only_when_a_frontier_line_is_drawn():
    """Mitigation p.49 (review8): the legend showed a dashed "Pareto frontier" line while the
    frontier was one variant, so no line was drawn."""
    assert "Pareto frontier" in str(_trade(frontier=[0, 1]).svg)
    assert "Pareto frontier" not in str(_trade(frontier=[1]).svg)


@pytest.mark.parametrize("name", ["lending", "mitigation", "branches", "champion", "hiring",
                                  "recidivism"])
def test_tradeoff_text_speaks_of_a_frontier_line_only_when_one_is_drawn(name):
    """Mitigation p.50: "The dashed line joins the Pareto frontier" with a frontier of one
    variant, so no line drawn (and none in the legend)."""
    from tests.unit.report.test_pdf_layout import golden_html

    html = golden_html(name)
    section = html.split('<section id="tradeoff"', 1)[1].split("</section>", 1)[0]
    text = " ".join(re.sub(r"<[^>]+>", " ", section.split("<svg", 1)[0]).split())
    drawn = "Pareto frontier" in section.split("<svg", 1)[1] if "<svg" in section else False
    assert ("The dashed line joins the Pareto frontier" in text) == drawn, (name, text)
    if "<svg" in section and not drawn:
        assert "so no frontier line is drawn" in text, (name, text)


@pytest.mark.parametrize("name", ["lending", "mitigation", "branches", "champion", "hiring",
                                  "recidivism"])
def test_every_section_that_stars_the_selected_variant_says_what_the_star_means(name):
    """Review10: ★ marked the selected variant in the gate and trade-off tables, explained only
    in the leaderboard."""
    from html import unescape

    from tests.unit.report.test_pdf_layout import golden_html

    html = golden_html(name)
    for section in re.findall(r'<section id="[a-z]+".*?</section>', html, flags=re.S):
        body = re.sub(r"<svg\b.*?</svg>", "", section, flags=re.S)
        text = unescape(" ".join(re.sub(r"<[^>]+>", " ", body).split()))
        if "★" in text:
            assert re.search(r"★ (marks|=|is) the selected|★ selected|★ marks the selected",
                             text), (name, text[:120])
