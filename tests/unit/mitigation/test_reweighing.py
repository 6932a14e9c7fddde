"""Reweighing weights against aif360's ``Reweighing`` on the same rows."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest

from fairsel.mitigation.reweighing import reweighing_table, reweighing_weights


def _aif360_weights(frame: pd.DataFrame, protected: list[str], privileged: dict,
                    unprivileged: list[dict], instance_weights=None) -> np.ndarray:
    """aif360's Reweighing fitted and applied to ``frame`` (label column ``y``)."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from aif360.algorithms.preprocessing import Reweighing
            from aif360.datasets import BinaryLabelDataset

            ds = BinaryLabelDataset(df=frame[[*protected, "y"]].astype(float), label_names=["y"],
                                    protected_attribute_names=protected, favorable_label=1.0,
                                    unfavorable_label=0.0,
                                    instance_weights_name=None)
            if instance_weights is not None:
                ds.instance_weights = np.asarray(instance_weights, dtype=float)
            rw = Reweighing(unprivileged_groups=unprivileged, privileged_groups=[privileged])
            return rw.fit_transform(ds).instance_weights
    finally:
        logging.disable(previous)


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(3)
    n = 3000
    sex = rng.integers(0, 2, n)
    race = rng.choice(4, n, p=[0.55, 0.2, 0.15, 0.1])
    y = (rng.random(n) < 0.35 + 0.25 * sex - 0.05 * race).astype(np.int8)
    return pd.DataFrame({"sex": sex, "race": race, "y": y})


def test_binary_groups_equal_aif360(rows):
    ours = reweighing_weights(rows.y.to_numpy(), rows.sex.to_numpy())
    theirs = _aif360_weights(rows, ["sex"], {"sex": 1}, [{"sex": 0}])
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_many_groups_equal_aif360_per_group(rows):
    # aif360 compares a privileged group with the rest; with group g privileged, the weights
    # of g's rows are Kamiran & Calders' n_g n_y / (n n_gy), which fairsel gives every group
    ours = reweighing_weights(rows.y.to_numpy(), rows.race.to_numpy())
    for g in range(4):
        theirs = _aif360_weights(rows, ["race"], {"race": g},
                                 [{"race": h} for h in range(4) if h != g])
        mask = rows.race.to_numpy() == g
        np.testing.assert_allclose(ours[mask], theirs[mask], rtol=1e-12)


def test_intersection_equals_aif360_with_two_attributes(rows):
    cells = rows.sex.to_numpy() * 4 + rows.race.to_numpy()
    ours = reweighing_weights(rows.y.to_numpy(), cells)
    for s in range(2):
        for r in range(4):
            others = [{"sex": a, "race": b} for a in range(2) for b in range(4) if (a, b) != (s, r)]
            theirs = _aif360_weights(rows, ["sex", "race"], {"sex": s, "race": r}, others)
            mask = cells == s * 4 + r
            np.testing.assert_allclose(ours[mask], theirs[mask], rtol=1e-12)


def test_existing_sample_weight_equals_aif360_instance_weights(rows):
    w0 = np.random.default_rng(5).uniform(0.5, 2.0, len(rows))
    ours = reweighing_weights(rows.y.to_numpy(), rows.sex.to_numpy(), sample_weight=w0)
    theirs = _aif360_weights(rows, ["sex"], {"sex": 1}, [{"sex": 0}], instance_weights=w0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_weighted_label_is_independent_of_group(rows):
    y, g = rows.y.to_numpy(), rows.race.to_numpy()
    w = reweighing_weights(y, g)
    assert w.sum() == pytest.approx(len(y))
    overall = y.mean()
    for k in range(4):
        m = g == k
        assert np.average(y[m], weights=w[m]) == pytest.approx(overall, abs=1e-12)
        assert w[m].sum() == pytest.approx(m.sum())  # each group keeps its size


def test_table_formula_and_empty_cell():
    y = np.array([1, 1, 0, 1, 1, 1])
    g = np.array([0, 0, 0, 1, 1, 1])  # group 1 has no unfavorable row
    table = reweighing_table(y, g, n_groups=3)
    n, n_pos, n_neg = 6, 5, 1
    assert table[0, 1] == pytest.approx(3 * n_pos / (n * 2))
    assert table[0, 0] == pytest.approx(3 * n_neg / (n * 1))
    assert table[1, 1] == pytest.approx(3 * n_pos / (n * 3))
    assert np.isnan(table[1, 0]) and np.isnan(table[2]).all()
    np.testing.assert_allclose(reweighing_weights(y, g, n_groups=3), table[g, y])
