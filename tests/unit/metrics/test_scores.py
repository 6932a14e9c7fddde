"""Score metrics per group (ROC AUC, Brier, calibration error) against fairlearn / scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairsel.metrics import brier_by_group, calibration_error_by_group, roc_auc_by_group
from tests.reference import (
    assert_same_table,
    auc_mann_whitney,
    calibration_error,
    fairlearn_group_table,
    fairsel_group_table,
    synthetic_audit,
)


def _codes(labels, levels):
    index = {lev: i for i, lev in enumerate(levels)}
    return np.array([index[x] for x in labels], dtype=np.int64)


@pytest.fixture(scope="module", params=[None, 2, 1], ids=["continuous", "ties-2dp", "ties-1dp"])
def data(request):
    d = synthetic_audit(3000, seed=5, decimals=request.param, a_weights=[6, 4, 3, 2, 1])
    levels = sorted(set(d.a.tolist()))
    return d, levels, _codes(d.a, levels)


def test_auc_and_brier_match_fairlearn(data):
    d, levels, codes = data
    fs = fairsel_group_table(d.y_true, d.y_pred, d.y_score, codes, levels)
    ref = fairlearn_group_table(d.y_true, d.y_pred, d.y_score, d.a)
    n = assert_same_table(fs, ref.by_group, "fairlearn", columns=("roc_auc", "brier"))
    assert n == 2 * len(levels)
    assert roc_auc_by_group(d.y_true, d.y_score)[0] == pytest.approx(ref.overall["roc_auc"], abs=1e-9)
    assert brier_by_group(d.y_true, d.y_score)[0] == pytest.approx(ref.overall["brier"], abs=1e-9)


def test_auc_is_on_scores_not_decisions(data):
    """The oracle passes scores to AUC; MetricFrame's y_pred would silently give another number."""
    from sklearn.metrics import roc_auc_score

    d, _, _ = data
    on_scores = roc_auc_by_group(d.y_true, d.y_score)[0]
    assert on_scores == pytest.approx(roc_auc_score(d.y_true, d.y_score), abs=1e-12)
    assert abs(on_scores - roc_auc_score(d.y_true, d.y_pred)) > 1e-3


def test_auc_matches_rank_formula_with_ties(data):
    d, levels, codes = data
    auc = roc_auc_by_group(d.y_true, d.y_score, codes, len(levels))
    for i in range(len(levels)):
        rows = codes == i
        assert auc[i] == pytest.approx(auc_mann_whitney(d.y_true[rows], d.y_score[rows]), abs=1e-9)


def test_auc_reuses_a_precomputed_order(data):
    d, levels, codes = data
    order = np.argsort(d.y_score, kind="stable")
    np.testing.assert_array_equal(roc_auc_by_group(d.y_true, d.y_score, codes, len(levels), order=order),
                                  roc_auc_by_group(d.y_true, d.y_score, codes, len(levels)))


def test_auc_edge_groups():
    # group 0: one class only; 1: all scores tied (AUC 0.5); 2: one row; 3: empty; 4: perfect
    y = np.array([1, 1, 1, 0, 1, 0, 1, 1, 0, 0, 1])
    s = np.array([.9, .2, .4, .5, .5, .5, .5, .3, .1, .2, .8])
    g = np.array([0, 0, 0, 1, 1, 1, 1, 2, 4, 4, 4])
    auc = roc_auc_by_group(y, s, g, 5)
    assert np.isnan(auc[0]) and auc[1] == 0.5 and np.isnan(auc[2]) and np.isnan(auc[3])
    assert auc[4] == 1.0
    # scikit-learn 1.9 warns (UndefinedMetricWarning) and returns NaN on a one-class group
    # (older versions raised, and a plain MetricFrame with them); NaN is fairsel's value too
    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.metrics import roc_auc_score

    with pytest.warns(UndefinedMetricWarning):
        assert np.isnan(roc_auc_score(y[g == 0], s[g == 0]))
    brier = brier_by_group(y, s, g, 5)
    assert np.isnan(brier[3]) and brier[2] == pytest.approx(0.49)
    assert np.isnan(roc_auc_by_group(np.array([], int), np.array([]), np.array([], int), 2)).all()


def test_auc_is_invariant_to_monotone_transforms(data):
    d, levels, codes = data
    a = roc_auc_by_group(d.y_true, d.y_score, codes, len(levels))
    b = roc_auc_by_group(d.y_true, np.exp(3 * d.y_score) - 7, codes, len(levels))
    np.testing.assert_allclose(a, b, atol=1e-12)
    flipped = roc_auc_by_group(d.y_true, -d.y_score, codes, len(levels))
    np.testing.assert_allclose(flipped, 1 - a, atol=1e-12)


def test_calibration_error_matches_independent_computation(data):
    d, levels, codes = data
    ece = calibration_error_by_group(d.y_true, d.y_score, codes, len(levels) + 1)
    for i in range(len(levels)):
        rows = codes == i
        assert ece[i] == pytest.approx(calibration_error(d.y_true[rows], d.y_score[rows]), abs=1e-9)
    assert np.isnan(ece[len(levels)])  # an empty group
    assert calibration_error_by_group(d.y_true, d.y_score)[0] == pytest.approx(
        calibration_error(d.y_true, d.y_score), abs=1e-9)


def test_calibration_error_bin_edges():
    """A score of k/10 lies in [k/10, (k+1)/10); 1.0 in the last bin; 0.3 is not put below 0.3."""
    y = np.array([1, 0])
    # same bin [0.2, 0.3): |0.5 − 0.275| = 0.225; separate bins: (0.7 + 0.25) / 2 = 0.475
    assert calibration_error_by_group(y, np.array([0.3, 0.25]))[0] == pytest.approx(0.475)
    assert calibration_error_by_group(y, np.array([0.29, 0.25]))[0] == pytest.approx(0.23)
    assert calibration_error_by_group(y, np.array([1.0, 0.95]))[0] == pytest.approx(
        abs(0.5 - 0.975))
    for scores in (np.arange(101) / 100, np.array([0.0, 0.1, 0.3, 0.6, 0.7, 1.0])):
        yy = (np.arange(len(scores)) % 3 == 0).astype(int)
        assert calibration_error_by_group(yy, scores)[0] == pytest.approx(
            calibration_error(yy, scores), abs=1e-12)


def test_calibration_error_of_perfect_calibration_is_small():
    rng = np.random.default_rng(0)
    s = rng.random(200_000)
    y = (rng.random(len(s)) < s).astype(int)
    assert calibration_error_by_group(y, s)[0] < 0.01


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1), st.integers(0, 8)),
                min_size=1, max_size=50))
def test_property_auc_brier_equal_sklearn(rows):
    """Random small data with heavy ties: per-group AUC and Brier equal scikit-learn's."""
    from sklearn.metrics import roc_auc_score

    g = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    s = np.array([r[2] for r in rows]) / 8
    auc = roc_auc_by_group(y, s, g, 3)
    brier = brier_by_group(y, s, g, 3)
    for k in range(3):
        rows_k = g == k
        if not rows_k.any():
            assert np.isnan(auc[k]) and np.isnan(brier[k])
            continue
        assert brier[k] == pytest.approx(np.mean((s[rows_k] - y[rows_k]) ** 2), abs=1e-12)
        if len(np.unique(y[rows_k])) < 2:
            assert np.isnan(auc[k])
        else:
            assert auc[k] == pytest.approx(roc_auc_score(y[rows_k], s[rows_k]), abs=1e-9)
