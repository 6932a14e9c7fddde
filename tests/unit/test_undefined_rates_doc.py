"""The 0/0 rule (an undefined rate is left out, where fairlearn counts it as 0) is documented
where users read about metrics — `fairsel list metrics`, the report's method section, the
README — and the documentation says what the engine does."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from fairsel.cli import main
from fairsel.metrics import METRICS
from fairsel.metrics.catalog import UNDEFINED_RATES_NOTE
from fairsel.metrics.counts import rates_from_counts
from fairsel.metrics.disparity import disparity

ROOT = Path(__file__).resolve().parents[2]


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_list_metrics_prints_the_rule_after_the_names():
    out = CliRunner().invoke(main, ["list", "metrics"]).stdout
    names, _, note = out.partition("\n\n")
    assert "Undefined rates (0/0)" in note and "never counted as 0" in _flat(note)
    assert _flat(note) == _flat(UNDEFINED_RATES_NOTE)
    # no line of the note reads as a metric's entry
    assert not any(ln.split(" ", 1)[0] in METRICS.names() for ln in note.splitlines())
    assert all(ln.split(" ", 1)[0] in METRICS.names() for ln in names.splitlines())


def test_the_rule_is_what_the_engine_does():
    """The rates the note names are NaN (null) at 0/0, and a disparity leaves them out where
    fairlearn's convention (0) would report a gap."""
    # group 0: tp 1, fn 1, tn 1, fp 1; group 1: no actual positives, no favorable decisions
    counts = np.array([[1.0, 1.0, 1.0, 1.0], [3.0, 0.0, 0.0, 0.0]])
    rates = rates_from_counts(counts)
    for rate in ("tpr", "fnr", "precision"):
        assert np.isnan(rates[rate][1]), rate
    assert np.isfinite(rates["fpr"][1]) and rates["selection_rate"][1] == 0.0
    # TPR: one defined group only, so the difference is undefined (fairlearn: 0.5 − 0 = 0.5)
    assert np.isnan(disparity(rates, "equal_opportunity_difference"))
    # equalized odds skips the undefined TPR part and uses the FPR part (0.5 vs 0)
    assert float(disparity(rates, "equalized_odds_difference")) == 0.5
    # an undefined reference rate makes the figure undefined
    assert np.isnan(disparity(rates, "equal_opportunity_difference", reference=1))
    # a ratio whose larger rate is 0 is undefined
    zero = {"selection_rate": np.array([0.0, 0.0])}
    assert np.isnan(disparity(zero, "disparate_impact"))
    # with a reference at 0, a group at 0 is left out, another is compared
    ref0 = {"selection_rate": np.array([0.0, 0.0, 0.5])}
    assert float(disparity(ref0, "disparate_impact", reference=0)) == 0.0
    assert np.isnan(disparity({"selection_rate": np.array([0.0, 0.0])}, "disparate_impact",
                              reference=0))


def test_the_report_method_section_states_the_rule():
    from fairsel.report.html import render_html
    from tests.unit.report.factory import make_result

    html = render_html(make_result(n_variants=2, seed=3))
    method = _flat(re.sub(r"<[^>]+>", " ", html[html.index('id="method"'):]))
    assert "A rate whose denominator is 0" in method
    assert "never counted as 0 (fairlearn counts it as 0" in method
    assert "A ratio whose larger rate is 0 is undefined too." in method


def test_the_readme_states_the_rule_under_how_metrics_are_defined():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### How metrics are defined"):readme.index("## Data")]
    assert "Undefined rates (the 0/0 rule)" in section
    assert "never counted as 0" in _flat(section)
