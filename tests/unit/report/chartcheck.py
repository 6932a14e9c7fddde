"""Reading a chart as matplotlib lays it out: the figures a chart function draws, and where
each of their texts lands. Used by the chart tests (``test_report_layout.py``,
``test_report_chart_cost.py``)."""

from __future__ import annotations

from collections.abc import Callable


def drawn_figures(monkeypatch, module, draw: Callable[[], object]) -> list:
    """The matplotlib figures ``draw()`` saves through ``module._to_svg``."""
    figures: list = []
    original = module._to_svg

    def keep(fig, key, label):
        figures.append(fig)
        return original(fig, key, label)

    monkeypatch.setattr(module, "_to_svg", keep)
    draw()
    return figures


def text_boxes(fig, *, legends_only: bool = False) -> list[tuple[str, tuple[float, ...]]]:
    """(text, (x0, y0, x1, y1) in pixels) of every visible text of ``fig`` laid out by Agg, or
    of its legends' texts only (an axis keeps labels of ticks beyond its limits, not drawn)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    if legends_only:
        texts = [t for lg in fig.legends + [a.get_legend() for a in fig.axes]
                 if lg is not None for t in [*lg.get_texts(), lg.get_title()]]
    else:
        texts = fig.findobj(lambda a: hasattr(a, "get_text"))
    out = []
    for t in texts:
        if t.get_visible() and t.get_text():
            b = t.get_window_extent(renderer)
            out.append((t.get_text(), (b.x0, b.y0, b.x1, b.y1)))
    return out
