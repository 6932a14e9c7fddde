"""Eligibility by denominator (issue 9, item 1), per-fold figures on the pooled groups (item 2)
and figures that exist only for probabilities (item 5), at the level of the metric engine."""

from __future__ import annotations

import numpy as np
import pytest

from fairsel.metrics import Confidence, evaluate_variant
from fairsel.metrics.counts import (
    rate_denominators,
    rate_eligibility,
    rate_fractions,
    rates_from_counts,
)
from fairsel.metrics.disparity import disparity
from tests.reference import JOIN, build_partitions

MIN = 30
NONE = Confidence(method="none")


def _rows(n_pos_pred, n_pos_notpred, n_neg_pred, n_neg_notpred):
    """y_true, y_pred for a group with the given (TP, FN, FP, TN)."""
    y = [1] * (n_pos_pred + n_pos_notpred) + [0] * (n_neg_pred + n_neg_notpred)
    p = [1] * n_pos_pred + [0] * n_pos_notpred + [1] * n_neg_pred + [0] * n_neg_notpred
    return y, p


def _audit(*, reference=None, confidence=NONE, probability=True, n_folds=5, seed=0):
    """A: g0 and g1 large; g2 has 40 rows but only 5 actual positives (all refused: TPR 0/5),
    so its selection rate and FPR are eligible under min_group_size 30 but its TPR and FNR are
    not. B: b0 large, b1 with 100 rows and 10 actual positives."""
    parts_y, parts_p, a = [], [], []
    for code, (tp, fn, fp, tn) in enumerate([(60, 40, 30, 70), (80, 20, 20, 80), (0, 5, 10, 25)]):
        y, p = _rows(tp, fn, fp, tn)
        parts_y += y
        parts_p += p
        a += [code] * len(y)
    y, p, a = np.array(parts_y), np.array(parts_p), np.array(a)
    rng = np.random.default_rng(seed)
    b = np.zeros(len(y), dtype=np.int64)
    # b1: 100 rows of g0/g1 with exactly 10 actual positives
    pos = rng.permutation(np.flatnonzero((a < 2) & (y == 1)))[:10]
    neg = rng.permutation(np.flatnonzero((a < 2) & (y == 0)))[:90]
    b[pos] = 1
    b[neg] = 1
    score = np.clip(0.3 + 0.4 * p + rng.normal(0, 0.1, len(y)), 0, 1)
    if not probability:
        score = score * 10  # a decile-like scale
    atoms, n_atoms, parts = build_partitions(a, b, ("g0", "g1", "g2"), ("b0", "b1"),
                                             a_reference=reference)
    folds = rng.integers(0, n_folds, size=len(y))
    res = evaluate_variant(y, p, score, atoms=atoms, n_atoms=n_atoms, partitions=parts,
                           folds=folds, n_folds=n_folds, min_group_size=MIN,
                           confidence=confidence, seed=1, label="t", probability=probability)
    return res, y, p, a, b, folds


def _attr(res, name):
    return next(x for x in res.attributes if x.attribute == name)


def test_rate_eligibility_counts_the_denominator_of_each_rate():
    counts = np.array([[25.0, 10.0, 5.0, 0.0],    # tn fp fn tp: 40 rows, 5 positives, 10 predicted
                       [70.0, 30.0, 40.0, 60.0]])
    den = rate_denominators(counts)
    assert den["selection_rate"].tolist() == [40, 200]
    assert den["tpr"].tolist() == den["fnr"].tolist() == [5, 100]
    assert den["fpr"].tolist() == den["tnr"].tolist() == [35, 100]
    assert den["precision"].tolist() == [10, 90]
    ok = rate_eligibility(counts, MIN)
    assert ok["selection_rate"].tolist() == [True, True]
    assert ok["tpr"].tolist() == ok["fnr"].tolist() == [False, True]
    assert ok["fpr"].tolist() == [True, True]
    assert ok["precision"].tolist() == [False, True]
    assert ok["avg_odds"].tolist() == [False, True]
    frac = rate_fractions(counts)
    assert (frac["fnr"][0][0], frac["fnr"][1][0]) == (5, 5)   # 5 of 5 positives refused
    assert (frac["tpr"][0][1], frac["tpr"][1][1]) == (60, 100)
    # a rate whose denominator is 0 is never eligible, even with min_group_size 1
    assert not rate_eligibility(np.array([[10.0, 0.0, 0.0, 0.0]]), 1)["tpr"][0]


def test_disparity_takes_one_mask_per_rate():
    rates = rates_from_counts(np.array([[25.0, 10.0, 5.0, 0.0], [70.0, 30.0, 40.0, 60.0],
                                        [80.0, 20.0, 20.0, 80.0]]))
    ok = rate_eligibility(np.array([[25.0, 10.0, 5.0, 0.0], [70.0, 30.0, 40.0, 60.0],
                                    [80.0, 20.0, 20.0, 80.0]]), MIN)
    eod = disparity(rates, "equal_opportunity_difference", eligible=ok)
    assert eod == pytest.approx(0.8 - 0.6)  # the 0/5 TPR is left out
    dpd = disparity(rates, "demographic_parity_difference", eligible=ok)
    assert dpd == pytest.approx(0.5 - 10 / 40)  # its selection rate (10/40) takes part
    # a single array still applies to every rate
    assert disparity(rates, "equal_opportunity_difference",
                     eligible=np.array([True, True, True])) == pytest.approx(0.8)


def test_a_rate_on_too_few_people_is_reported_flagged_and_never_compared():
    res, *_ = _audit()
    a = _attr(res, "A")
    g2 = next(g for g in a.groups if g.group == "g2")
    assert g2.n == 40 and "small" not in g2.flags and "g2" in a.eligible_groups
    assert g2.rates["tpr"].value == 0.0 and g2.rates["fnr"].value == 1.0  # still reported
    assert tuple(g2.fractions["fnr"]) == (5, 5) and tuple(g2.fractions["tpr"]) == (0, 5)
    assert {"tpr", "fnr", "precision"} <= set(g2.small_rates)
    assert "selection_rate" not in g2.small_rates and "fpr" not in g2.small_rates
    # TPR 0.6 (g0) and 0.8 (g1) only: g2's 0/5 would make it 0.8
    assert a.fairness["equal_opportunity_difference"].value == pytest.approx(0.2)
    assert a.fairness["false_negative_rate_difference"].value == pytest.approx(0.2)
    # the selection rate of g2 (10/40) does take part
    assert a.fairness["demographic_parity_difference"].value == pytest.approx(0.5 - 0.25)
    # B: b1 has 10 actual positives, so TPR has one eligible group: undefined
    b = _attr(res, "B")
    assert b.fairness["equal_opportunity_difference"].value is None
    assert b.fairness["demographic_parity_difference"].value is not None
    # the headline comes from eligible rates only
    head = res.fairness["equal_opportunity_difference"]
    assert head.value == pytest.approx(max(
        x.fairness["equal_opportunity_difference"].value or 0 for x in res.attributes))
    assert head.value < 0.8


def test_an_ineligible_reference_leaves_the_figure_undefined():
    res, *_ = _audit(reference="g2")
    a = _attr(res, "A")
    assert a.fairness["equal_opportunity_difference"].value is None
    assert a.fairness["disparate_impact"].value is not None


def test_bootstrap_replicates_use_the_same_eligible_rates():
    res, *_ = _audit(confidence=Confidence(method="bootstrap", resamples=200))
    ci = _attr(res, "A").fairness["equal_opportunity_difference"].ci
    assert ci is not None and ci[1] < 0.5  # never the 0.8 gap g2's 0/5 would give


def test_per_fold_figures_use_the_pooled_groups_and_mark_small_cells():
    res, y, p, a, b, folds = _audit()
    for f in res.folds:
        rows = folds == f.fold
        sel = [p[rows & (a == g)].mean() for g in range(3)]
        # every pooled-eligible group (g2 included, with ~8 rows in the fold) takes part
        assert f.fairness["demographic_parity_difference"]["A"] == pytest.approx(
            max(sel) - min(sel))
        tpr = [p[rows & (a == g) & (y == 1)].mean() for g in range(2)]
        assert f.fairness["equal_opportunity_difference"]["A"] == pytest.approx(
            abs(tpr[0] - tpr[1]))  # g2's TPR is not in the pooled figure, nor in the fold's
        assert "g2" in f.small_cells["selection_rate"]["A"]
        assert "g2" not in f.small_cells.get("tpr", {}).get("A", [])
        n_g0 = int(np.sum(rows & (a == 0)))
        assert ("g0" in f.small_cells["selection_rate"]["A"]) == (n_g0 < MIN)


def test_scores_that_are_not_probabilities_have_no_brier_or_calibration():
    res, *_ = _audit(probability=False)
    for m in ("brier_score", "calibration_error"):
        assert res.performance[m].value is None and res.performance[m].ci is None
        assert all(f.performance[m] is None for f in res.folds)
        assert all(g.rates[m].value is None for x in res.attributes for g in x.groups)
    assert res.performance["roc_auc"].value is not None
    prob, *_ = _audit(probability=True)
    assert prob.performance["brier_score"].value is not None
    assert all(f.performance["calibration_error"] is not None for f in prob.folds)


def test_intersections_are_judged_by_denominator_too():
    res, *_ = _audit()
    ab = _attr(res, f"A{JOIN}B")
    for g in ab.groups:
        pos = g.tp + g.fn
        assert ("tpr" in g.small_rates) == (pos < MIN), g.group
