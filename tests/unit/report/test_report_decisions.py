"""Sections that describe how the decisions they read were made say so truly: "out of fold"
only for candidates trained in the audit (reviewer: recidivism's slices read "pooled
out-of-fold decisions" for a vendor score)."""

from __future__ import annotations

import pytest

from fairsel.report.html import render_html
from tests.unit.report.test_report_statements import _golden

EXAMPLES = ["lending", "mitigation", "branches", "recidivism", "champion", "hiring"]


@pytest.mark.parametrize("name", EXAMPLES)
def test_out_of_fold_is_said_only_of_candidates_trained_in_the_audit(name):
    result = _golden(name)
    text = " ".join(render_html(result, with_charts=False).split())
    fixed = {"predictions", "saved_model"}
    kinds = {v.kind for v in result.variants}
    if kinds <= fixed:  # nothing trained: no section may call its decisions out of fold
        assert "out-of-fold decisions" not in text and "out-of-fold predictions" not in text
        if result.analysis.slices is not None:
            assert "decisions over all the rows pooled (from scores made before the audit)" in text
    elif not kinds & fixed:
        if result.analysis.slices is not None:
            assert "on the pooled out-of-fold decisions" in text


def test_an_audit_with_no_model_to_explain_does_not_describe_fold_models():
    """recidivism scores came from a vendor: nothing is explained, so the section must not
    describe the fold models fairsel trains (reviewer: p14)."""
    result = _golden("recidivism")
    e = result.analysis.explanations
    assert e is not None and not e.explained and e.skipped
    text = " ".join(render_html(result, with_charts=False).split())
    assert "Each fold's model fairsel trains" not in text
    assert "No variant could be explained" in text
    assert "Each fold's model fairsel trains" in " ".join(
        render_html(_golden("lending"), with_charts=False).split())
