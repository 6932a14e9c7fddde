"""Fairness metrics against fairlearn (no reference: max − min, min / max) and aif360
(each group against the declared reference; the headline is the worst group)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fairsel.metrics import (
    FAIRNESS_METRICS,
    confusion_counts,
    disparity,
    rates_from_counts,
    versus_reference,
)
from tests.reference import (
    Aif360,
    aif360_fairness,
    fairlearn_fairness,
    fairlearn_versus_reference,
    synthetic_audit,
)

NAMES = tuple(FAIRNESS_METRICS)


def _codes(labels, levels):
    index = {lev: i for i, lev in enumerate(levels)}
    return np.array([index[x] for x in labels], dtype=np.int64)


def _rates(y, p, labels, levels):
    return rates_from_counts(confusion_counts(y, p, _codes(labels, levels), len(levels)))


@pytest.fixture(scope="module")
def data():
    d = synthetic_audit(3000, seed=7, a_weights=[5, 4, 3, 2, 1])
    levels = sorted(set(d.a.tolist()))
    return d, levels, _rates(d.y_true, d.y_pred, d.a, levels)


@pytest.fixture(scope="module")
def refs(data):
    d, levels, _ = data
    return {
        "fairlearn": fairlearn_fairness(d.y_true, d.y_pred, d.a),
        "aif360_pairs": aif360_fairness(d.y_true, d.y_pred, d.a),
        "aif360_ref": aif360_fairness(d.y_true, d.y_pred, d.a, reference="a1", per_group=True),
        "fairlearn_ref": fairlearn_versus_reference(d.y_true, d.y_pred, d.a, "a1"),
    }


def test_every_metric_has_references():
    for name, spec in FAIRNESS_METRICS.items():
        assert spec.kind in ("difference", "ratio"), name
        assert spec.rates, name
        assert spec.summary, name


@pytest.mark.parametrize("name", NAMES)
def test_no_reference_matches_fairlearn_and_aif360(name, data, refs):
    _, _, rates = data
    value = float(disparity(rates, name))
    assert np.isfinite(value)
    assert value == pytest.approx(refs["fairlearn"][name], abs=1e-9)
    # aif360's unprivileged-vs-privileged comparison, worst over every pair of groups
    assert value == pytest.approx(refs["aif360_pairs"][name], abs=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_reference_matches_aif360_and_fairlearn(name, data, refs):
    _, levels, rates = data
    value = float(disparity(rates, name, reference=levels.index("a1")))
    head, _ = refs["aif360_ref"]
    assert np.isfinite(value)
    assert value == pytest.approx(head[name], abs=1e-9)
    assert value == pytest.approx(refs["fairlearn_ref"][name], abs=1e-9)
    # the worst-group headline can only be milder than the all-pairs one
    spec = FAIRNESS_METRICS[name]
    free = float(disparity(rates, name))
    assert (value >= free - 1e-12) if spec.kind == "ratio" else (value <= free + 1e-12)


def test_named_aif360_methods_are_the_ones_compared(data, refs):
    """The FairnessMetric.aif360 / .fairlearn names point at real functions of those libraries."""
    import fairlearn.metrics as flm
    from aif360.metrics import ClassificationMetric

    for spec in FAIRNESS_METRICS.values():
        if spec.aif360:
            assert hasattr(ClassificationMetric, spec.aif360), spec.aif360
        if spec.fairlearn:
            assert hasattr(flm, spec.fairlearn), spec.fairlearn


def test_versus_reference_matches_aif360_signed(data, refs):
    _, levels, rates = data
    ref = levels.index("a1")
    _, signed = refs["aif360_ref"]
    diff = versus_reference(rates["selection_rate"], ref, kind="difference")
    ratio = versus_reference(rates["selection_rate"], ref, kind="ratio")
    tpr = versus_reference(rates["tpr"], ref, kind="difference")
    for g, vals in signed.items():
        i = levels.index(g)
        assert diff[i] == pytest.approx(vals["statistical_parity_difference"], abs=1e-9)
        assert ratio[i] == pytest.approx(vals["disparate_impact"], abs=1e-9)
        assert tpr[i] == pytest.approx(vals["equal_opportunity_difference"], abs=1e-9)
    assert diff[ref] == 0 and ratio[ref] == 1


def test_folded_ratio_reads_both_directions_alike():
    rates = {"selection_rate": np.array([0.4, 0.6, 0.4 / 1.5])}  # reference 0
    # group 1 favoured by 1.5, group 2 disfavoured by 1.5: both read 1/1.5
    assert disparity(rates, "disparate_impact", reference=0) == pytest.approx(1 / 1.5)
    only_up = {"selection_rate": np.array([0.4, 0.6])}
    assert disparity(only_up, "disparate_impact", reference=0) == pytest.approx(1 / 1.5)
    # aif360's own disparate_impact is unfolded: 1.5 for the favoured group
    y = np.zeros(10, int)
    p = np.array([1, 1, 0, 0, 0, 1, 1, 1, 0, 0])
    g = np.array(["r"] * 5 + ["u"] * 5)
    assert Aif360(y, p, g).versus("u", "r")["disparate_impact"] == pytest.approx(1.5)
    assert aif360_fairness(y, p, g, reference="r")["disparate_impact"] == pytest.approx(1 / 1.5)
    assert disparity(_rates(y, p, g, ["r", "u"]), "disparate_impact", reference=0) == pytest.approx(1 / 1.5)


def test_small_groups_are_left_out(data):
    """Groups below min_group_size are excluded: fairsel equals the references on the rest."""
    d, levels, rates = data
    small = rates["n"] < 350  # a3, a4 in this sample (weights 2 and 1 of 15)
    assert 1 <= small.sum() < len(levels) - 1
    keep = np.isin(d.a, [lev for lev, s in zip(levels, small) if not s])
    fl = fairlearn_fairness(d.y_true[keep], d.y_pred[keep], d.a[keep])
    ai = aif360_fairness(d.y_true[keep], d.y_pred[keep], d.a[keep], reference="a1")
    for name in NAMES:
        assert float(disparity(rates, name, eligible=~small)) == pytest.approx(fl[name], abs=1e-9)
        assert float(disparity(rates, name, eligible=~small, reference=levels.index("a1"))) == \
            pytest.approx(ai[name], abs=1e-9)
    # an ineligible reference makes every reference-based figure undefined
    small_ref = small.copy()
    small_ref[levels.index("a1")] = True
    for name in NAMES:
        assert np.isnan(disparity(rates, name, eligible=~small_ref, reference=levels.index("a1")))


def test_group_without_positives_is_left_out_of_tpr_metrics():
    """A group with no favorable outcome has no TPR.  fairsel leaves it out; aif360 (NaN) agrees;
    fairlearn reads its TPR as 0 and so reports the largest TPR as the gap."""
    y = np.array([1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0])
    p = np.array([1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 0])
    g = np.array(["a"] * 4 + ["b"] * 4 + ["c"] * 4)  # c: no positives
    rates = _rates(y, p, g, ["a", "b", "c"])
    assert np.isnan(rates["tpr"][2])
    eod = float(disparity(rates, "equal_opportunity_difference"))
    assert eod == pytest.approx(2 / 3 - 1 / 2)
    assert eod == pytest.approx(aif360_fairness(y, p, g)["equal_opportunity_difference"], abs=1e-9)
    ab = g != "c"
    assert eod == pytest.approx(fairlearn_fairness(y[ab], p[ab], g[ab])["equal_opportunity_difference"],
                                abs=1e-9)
    # the documented difference: fairlearn on all rows counts c's TPR as 0
    assert fairlearn_fairness(y, p, g)["equal_opportunity_difference"] == pytest.approx(2 / 3)
    # with c as the reference, nothing can be compared
    assert np.isnan(disparity(rates, "equal_opportunity_difference", reference=2))
    # equalized odds: undefined parts propagate only when a whole part is undefined
    assert float(disparity(rates, "equalized_odds_difference")) == pytest.approx(
        max(eod, float(disparity(rates, "false_positive_rate_difference"))))


def test_fewer_than_two_groups_is_nan():
    one = {"selection_rate": np.array([0.3]), "tpr": np.array([0.5]), "fpr": np.array([0.1])}
    two_one_nan = {"selection_rate": np.array([0.3, np.nan])}
    for name in ("disparate_impact", "demographic_parity_difference"):
        assert np.isnan(disparity(one, name))
        assert np.isnan(disparity(one, name, reference=0))
        assert np.isnan(disparity(two_one_nan, name))
    assert np.isnan(disparity(one, "equalized_odds_difference"))
    both_zero = {"selection_rate": np.array([0.0, 0.0])}
    assert disparity(both_zero, "demographic_parity_difference") == 0.0
    assert np.isnan(disparity(both_zero, "disparate_impact"))  # 0/0, as fairlearn's ratio
    assert np.isnan(disparity(both_zero, "disparate_impact", reference=0))


def test_ratio_with_a_zero_rate():
    rates = {"selection_rate": np.array([0.0, 0.5])}
    assert disparity(rates, "disparate_impact") == 0.0
    assert disparity(rates, "disparate_impact", reference=0) == 0.0  # aif360: 0.5 / 0 = inf → 0
    assert disparity(rates, "disparate_impact", reference=1) == 0.0


def test_broadcasts_over_replicates(data):
    _, levels, rates = data
    rng = np.random.default_rng(1)
    reps = {k: v[None, :] * rng.uniform(0.8, 1.2, size=(4, len(levels))) for k, v in rates.items()}
    for name in NAMES:
        for ref in (None, 1):
            together = disparity(reps, name, reference=ref)
            assert together.shape == (4,)
            for b in range(4):
                alone = disparity({k: v[b] for k, v in reps.items()}, name, reference=ref)
                np.testing.assert_allclose(together[b], alone, rtol=0, atol=0, err_msg=name)


rows_st = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1), st.integers(0, 1)),
                   min_size=2, max_size=60)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows_st, st.integers(0, 3))
@example(rows=[(0, 0, 1), (0, 1, 0), (1, 0, 0), (1, 1, 0)], ref=0)  # every TPR 0 (found by hypothesis)
def test_property_matches_references(rows, ref):
    """Random small data: where every group's rate is defined, fairsel equals fairlearn and aif360;
    otherwise it equals aif360, which (like fairsel) skips undefined comparisons."""
    levels = ["g0", "g1", "g2", "g3"]
    g = np.array([levels[r[0]] for r in rows])
    y = np.array([r[1] for r in rows])
    p = np.array([r[2] for r in rows])
    present = sorted(set(g.tolist()))
    rates = _rates(y, p, g, present)
    fl = fairlearn_fairness(y, p, g)
    ai = aif360_fairness(y, p, g)
    ref_label = levels[ref]
    ai_ref = aif360_fairness(y, p, g, reference=ref_label) if ref_label in present else None
    for name, spec in FAIRNESS_METRICS.items():
        value = float(disparity(rates, name))
        keys = [k for k in spec.rates if k != "avg_odds"] or ["tpr", "fpr"]
        defined = all(np.isfinite(rates[k]).all() for k in keys)
        if defined and len(present) >= 2 and name == "equalized_odds_ratio" \
                and np.nanmax(rates["tpr"]) == 0 and np.isnan(fl[name]):
            # every TPR is 0, so the TPR ratio is 0/0: fairlearn's worst case is Python's
            # min(tpr_ratio, fpr_ratio), which returns the NaN when it comes first (and the
            # FPR ratio when the NaN comes second). fairsel always skips the undefined part.
            fpr = rates["fpr"]
            want = fpr.min() / fpr.max() if fpr.max() > 0 else np.nan
            assert value == pytest.approx(want, abs=1e-9, nan_ok=True), name
        elif defined and len(present) >= 2:
            assert value == pytest.approx(fl[name], abs=1e-9, nan_ok=True), name
            assert value == pytest.approx(ai[name], abs=1e-9, nan_ok=True), name
        elif len(spec.rates) == 1 and spec.rates[0] not in ("precision", "accuracy", "avg_odds"):
            assert value == pytest.approx(ai[name], abs=1e-9, nan_ok=True), name
        if ai_ref is not None and (defined or (len(spec.rates) == 1 and spec.rates[0] not in
                                               ("precision", "accuracy", "avg_odds"))):
            got = float(disparity(rates, name, reference=present.index(ref_label)))
            assert got == pytest.approx(ai_ref[name], abs=1e-9, nan_ok=True), name


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.01, 0.99), min_size=2, max_size=6),
       st.lists(st.floats(0.01, 0.99), min_size=2, max_size=6), st.randoms(use_true_random=False))
def test_property_invariances(sel, tpr, rnd):
    n = min(len(sel), len(tpr))
    rates = {"selection_rate": np.array(sel[:n]), "tpr": np.array(tpr[:n]),
             "fpr": np.array(sel[:n]) / 2, "fnr": 1 - np.array(tpr[:n]), "precision": np.array(tpr[:n]),
             "accuracy": np.array(sel[:n])}
    perm = list(range(n))
    rnd.shuffle(perm)
    shuffled = {k: v[perm] for k, v in rates.items()}
    for name, spec in FAIRNESS_METRICS.items():
        v = float(disparity(rates, name))
        # the order of the groups does not matter
        assert float(disparity(shuffled, name)) == pytest.approx(v, abs=1e-12)
        # nor which group is the reference, once shuffled along with it
        assert float(disparity(shuffled, name, reference=perm.index(0))) == pytest.approx(
            float(disparity(rates, name, reference=0)), abs=1e-12)
        assert 0.0 <= v <= 1.0
        if spec.kind == "ratio":
            ref_v = float(disparity(rates, name, reference=0))
            assert 0.0 <= ref_v <= 1.0 and ref_v >= v - 1e-12
    # flipping every decision maps selection rates to 1 − rate: the gap is unchanged
    flipped = {"selection_rate": 1 - rates["selection_rate"]}
    assert float(disparity(flipped, "demographic_parity_difference")) == pytest.approx(
        float(disparity(rates, "demographic_parity_difference")), abs=1e-12)
    # FNR = 1 − TPR: the same gap
    assert float(disparity(rates, "false_negative_rate_difference")) == pytest.approx(
        float(disparity(rates, "equal_opportunity_difference")), abs=1e-12)
