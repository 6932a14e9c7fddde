"""Confusion counts and count-based rates, against fairlearn's MetricFrame and aif360."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairsel.metrics import CELLS, confusion_counts, rates_from_counts
from fairsel.metrics.counts import RATE_FORMULAS
from tests.reference import (
    aif360_group_table,
    assert_same_table,
    fairlearn_group_table,
    fairsel_group_table,
    synthetic_audit,
)

COUNT_RATES = ("selection_rate", "base_rate", "tpr", "fpr", "fnr", "tnr", "precision",
               "accuracy", "balanced_accuracy", "f1")


def _codes(labels: np.ndarray, levels: list[str]) -> np.ndarray:
    index = {lev: i for i, lev in enumerate(levels)}
    return np.array([index[x] for x in labels], dtype=np.int64)


@pytest.fixture(scope="module")
def data():
    d = synthetic_audit(4000, seed=11, a_weights=[5, 4, 3, 2, 1])
    levels = sorted(set(d.a.tolist()))
    return d, levels, _codes(d.a, levels)


@pytest.fixture(scope="module")
def edge():
    """Groups that exercise every undefined case, plus an empty level (no rows)."""
    rows = [
        # group, y_true, y_pred
        *[("normal", t, p) for t, p in [(1, 1), (1, 0), (0, 1), (0, 0), (1, 1), (0, 0)]],
        ("one_row", 1, 0),
        *[("no_pos", 0, p) for p in (0, 1, 0, 0)],          # TPR, FNR undefined
        *[("no_neg", 1, p) for p in (1, 1, 0)],             # FPR, TNR undefined
        *[("no_sel", t, 0) for t in (1, 0, 1, 0, 0)],       # precision undefined
        *[("all_tn", 0, 0) for _ in range(3)],              # TPR, FNR, precision, F1 undefined
    ]
    frame = pd.DataFrame(rows, columns=["g", "y", "p"])
    levels = sorted(frame["g"].unique().tolist()) + ["empty"]
    return frame, levels, _codes(frame["g"].to_numpy(), levels)


def test_cells_order():
    assert CELLS == ("tn", "fp", "fn", "tp")
    c = confusion_counts(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]))
    np.testing.assert_array_equal(c, [[1, 1, 1, 1]])


def test_counts_and_rates_match_fairlearn(data):
    d, levels, codes = data
    fs = fairsel_group_table(d.y_true, d.y_pred, None, codes, levels)
    ref = fairlearn_group_table(d.y_true, d.y_pred, None, d.a).by_group
    n = assert_same_table(fs, ref, "fairlearn", columns=("n", "tp", "fp", "tn", "fn") + COUNT_RATES)
    assert n == len(levels) * 15
    assert fs["n"].sum() == len(d.y_true)


def test_counts_and_rates_match_aif360(data):
    d, levels, codes = data
    fs = fairsel_group_table(d.y_true, d.y_pred, None, codes, levels)
    ref = aif360_group_table(d.y_true, d.y_pred, d.a)
    assert_same_table(fs, ref.by_group, "aif360")
    assert set(ref.by_group.columns) >= {"tp", "selection_rate", "tpr", "precision", "accuracy"}


def test_overall_counts_match_both(data):
    d, _, _ = data
    rates = rates_from_counts(confusion_counts(d.y_true, d.y_pred)[0])
    fl = fairlearn_group_table(d.y_true, d.y_pred, None, d.a).overall
    ai = aif360_group_table(d.y_true, d.y_pred, d.a).overall
    for key in COUNT_RATES:
        assert rates[key] == pytest.approx(fl[key], abs=1e-9), key
        if key in ai:
            assert rates[key] == pytest.approx(ai[key], abs=1e-9), key


def test_edge_groups(edge):
    frame, levels, codes = edge
    y, p = frame["y"].to_numpy(), frame["p"].to_numpy()
    fs = fairsel_group_table(y, p, None, codes, levels)
    # fairsel's documented behaviour: NaN where the denominator is zero
    assert fs.loc["empty", ["n", "tp", "fp", "tn", "fn"]].tolist() == [0, 0, 0, 0, 0]
    assert fs.loc["empty", list(COUNT_RATES)].isna().all()
    assert np.isnan(fs.loc["no_pos", "tpr"]) and np.isnan(fs.loc["no_pos", "fnr"])
    assert fs.loc["no_pos", "fpr"] == 0.25 and fs.loc["no_pos", "tnr"] == 0.75
    assert np.isnan(fs.loc["no_neg", "fpr"]) and np.isnan(fs.loc["no_neg", "tnr"])
    assert np.isnan(fs.loc["no_sel", "precision"]) and fs.loc["no_sel", "selection_rate"] == 0
    assert np.isnan(fs.loc["all_tn", "f1"]) and fs.loc["all_tn", "accuracy"] == 1.0
    # balanced accuracy over the classes present, as scikit-learn: TNR when there is no positive
    assert fs.loc["no_pos", "balanced_accuracy"] == fs.loc["no_pos", "tnr"]
    assert fs.loc["no_neg", "balanced_accuracy"] == fs.loc["no_neg", "tpr"]
    assert fs.loc["one_row", "accuracy"] == 0.0 and fs.loc["one_row", "fnr"] == 1.0
    # the references on the same rows: defined values equal, undefined ones as documented
    # (fairlearn reads 0/0 as 0; aif360 as NaN except PPV and accuracy, read as 0)
    fl = fairlearn_group_table(y, p, None, frame["g"]).by_group
    assert "empty" not in fl.index  # fairlearn lists only the groups it sees
    assert fl.loc["no_pos", "tpr"] == 0.0 and fl.loc["no_sel", "precision"] == 0.0
    assert_same_table(fs, fl, "fairlearn")
    ai = aif360_group_table(y, p, frame["g"]).by_group
    assert np.isnan(ai.loc["no_pos", "tpr"]) and ai.loc["no_sel", "precision"] == 0.0
    assert_same_table(fs, ai, "aif360")


def test_empty_input():
    c = confusion_counts(np.array([], int), np.array([], int), np.array([], int), 3)
    assert c.shape == (3, 4) and not c.any()
    assert np.isnan(rates_from_counts(c)["selection_rate"]).all()
    assert confusion_counts(np.array([], int), np.array([], int), np.array([], int)).shape == (0, 4)


def test_n_groups_inferred_and_default_one_group(data):
    d, levels, codes = data
    np.testing.assert_array_equal(confusion_counts(d.y_true, d.y_pred, codes),
                                  confusion_counts(d.y_true, d.y_pred, codes, len(levels)))
    np.testing.assert_array_equal(confusion_counts(d.y_true, d.y_pred)[0],
                                  confusion_counts(d.y_true, d.y_pred, codes).sum(axis=0))


def test_weighted_counts_match_fairlearn(data):
    d, levels, codes = data
    w = np.random.default_rng(3).uniform(0.2, 3.0, len(d.y_true))
    fs = fairsel_group_table(d.y_true, d.y_pred, None, codes, levels, sample_weight=w)
    ref = fairlearn_group_table(d.y_true, d.y_pred, None, d.a, sample_weight=w).by_group
    n = assert_same_table(fs, ref, "fairlearn",
                          columns=("n", "selection_rate", "tpr", "fpr", "fnr", "tnr", "accuracy"))
    assert n == len(levels) * 7


def test_rates_broadcast_over_leading_axes(data):
    d, levels, codes = data
    rng = np.random.default_rng(0)
    stack = np.stack([confusion_counts(d.y_true, rng.permutation(d.y_pred), codes, len(levels))
                      for _ in range(3)])  # (3, G, 4)
    together = rates_from_counts(stack)
    for i in range(3):
        alone = rates_from_counts(stack[i])
        for key, val in alone.items():
            np.testing.assert_array_equal(together[key][i], val, err_msg=key)


def test_every_rate_has_a_formula():
    rates = rates_from_counts(np.array([1.0, 2.0, 3.0, 4.0]))
    assert set(RATE_FORMULAS) == set(rates) - {"n"}


labels_st = st.lists(st.tuples(st.sampled_from(["g0", "g1", "g2", "g3"]), st.integers(0, 1),
                               st.integers(0, 1)), min_size=1, max_size=40)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(labels_st)
def test_property_table_equals_fairlearn_and_aif360(rows):
    """Any small dataset: fairsel's group table equals fairlearn's and aif360's (conventions aside)."""
    g = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    p = np.array([r[2] for r in rows])
    levels = ["g0", "g1", "g2", "g3"]
    fs = fairsel_group_table(y, p, None, _codes(g, levels), levels)
    assert fs["n"].sum() == len(rows)
    assert_same_table(fs, fairlearn_group_table(y, p, None, g).by_group, "fairlearn")
    assert_same_table(fs, aif360_group_table(y, p, g).by_group, "aif360")
