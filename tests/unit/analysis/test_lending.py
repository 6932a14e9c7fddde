"""Adverse impact ratios and the less-discriminatory-alternative table, by hand."""

from __future__ import annotations

import pytest

from fairsel.analysis.lending import adverse_impact_table, alternatives
from fairsel.results import (
    AttributeMetrics,
    Estimate,
    GroupRow,
    GroupTest,
    Headline,
    PassedOver,
    Ranking,
    VariantResult,
)


def _row(group, n, selected, *, small=False, test=None):
    return GroupRow(group=group, n=n, tp=selected, fp=0, tn=n - selected, fn=0,
                    rates={"selection_rate": Estimate(value=selected / n)},
                    small_rates=["selection_rate"] if small else [],
                    significance={"selection_rate": test} if test else {})


def _attr(rows, reference=None):
    return AttributeMetrics(attribute="sex", columns=["sex"], kind="attribute",
                            reference=reference,
                            reference_rule="declared" if reference else "fairlearn_min_max",
                            groups=rows, eligible_groups=[r.group for r in rows])


def test_air_against_the_highest_eligible_group_with_four_fifths_and_test():
    t_b = GroupTest(reference="a", test="z", p=0.03, p_adjusted=0.06)
    t_d = GroupTest(reference="a", test="fisher", p=0.001, p_adjusted=0.004)
    table = adverse_impact_table(_attr([
        _row("a", 100, 60), _row("b", 100, 45, test=t_b),
        _row("c", 10, 9, small=True),  # the highest rate, but too small to be the reference
        _row("d", 200, 100, test=t_d)]), alpha=0.05)
    assert table.reference == "a"
    a, b, c, d = table.rows
    assert a.air is None and a.below_four_fifths is None
    assert b.air == pytest.approx(0.75) and b.below_four_fifths is True
    assert b.significant is False and b.p == 0.03 and b.test == "z"  # 0.06 > 0.05
    assert c.small and c.air is None
    assert d.air == pytest.approx(0.5 / 0.6) and d.below_four_fifths is False
    assert d.significant is True and d.test == "fisher"


def test_a_declared_reference_is_used_even_when_not_the_highest():
    table = adverse_impact_table(_attr([_row("a", 100, 60), _row("b", 100, 30)],
                                       reference="b"), alpha=0.05)
    assert table.reference == "b"
    assert table.rows[0].air == pytest.approx(2.0) and table.rows[1].air is None


def _variant(name, auc, di, status="PASS"):
    return VariantResult(name=name, candidate=name.split("+")[0], kind="sklearn", status=status,
                         performance={"roc_auc": Estimate(value=auc)},
                         fairness={"disparate_impact": Headline(value=di)},
                         attributes=[], folds=[])


def test_alternatives_are_the_variants_within_tolerance_with_the_rankings_reasons():
    vs = [_variant("gbm", 0.80, 0.70), _variant("gbm+reweighing", 0.795, 0.90),
          _variant("logreg", 0.70, 0.95), _variant("broken", 0.99, 1.0, status="ERROR")]
    ranking = Ranking(
        selected="gbm+reweighing", order=["gbm+reweighing", "gbm", "logreg", "broken"],
        objective="roc_auc", tolerance=0.01, fairness_tiebreak="disparate_impact",
        reasons=["3 of 4 pass", "'gbm' has the best roc_auc; 'gbm+reweighing' is fairer"],
        passed_over={"gbm": PassedOver(reason="less_fair", text="it is less fair"),
                     "logreg": PassedOver(reason="lower_objective", text="too far")})
    best, alts = alternatives(vs, ranking, higher_is_better=True,
                              fairness=["disparate_impact", "equal_opportunity_difference"])
    assert best == pytest.approx(0.80)  # the ERROR variant's figure does not count
    assert [a.variant for a in alts] == ["gbm", "gbm+reweighing"]
    gbm, rw = alts
    assert not gbm.selected and gbm.why == "it is less fair"
    assert rw.selected and rw.why == "3 of 4 pass; 'gbm' has the best roc_auc; 'gbm+reweighing' is fairer"
    assert rw.disparities == {"disparate_impact": 0.90, "equal_opportunity_difference": None}


def test_alternatives_of_a_lower_is_better_objective():
    vs = [_variant("a", 0.20, 0.9), _variant("b", 0.205, 0.8), _variant("c", 0.3, 0.9)]
    ranking = Ranking(selected=None, order=["a", "b", "c"], objective="roc_auc",
                      tolerance=0.01, fairness_tiebreak="disparate_impact", reasons=[])
    best, alts = alternatives(vs, ranking, higher_is_better=False, fairness=[])
    assert best == pytest.approx(0.20) and [a.variant for a in alts] == ["a", "b"]
    assert alts[0].why == "not selected: no variant was selected"


def test_alternatives_include_those_within_tolerance_of_the_best_selectable():
    """Lending p.7 (review7): the best of all ('logreg' 0.7811) failed its gates, the ranking
    chose 'forest' (0.7724) and said '1 other variant(s) within 0.01 of it' — 'gbm' (0.766) —
    but the table counted only from 0.7811 and left 'gbm' out."""
    from fairsel.analysis.lending import best_selectable, lending_review

    vs = [_variant("logreg", 0.7811, 0.7999, status="FAIL"), _variant("forest", 0.7724, 0.918),
          _variant("gbm", 0.766, 0.855), _variant("far", 0.70, 0.99)]
    ranking = Ranking(
        selected="forest", order=["forest", "gbm", "far", "logreg"], objective="roc_auc",
        tolerance=0.01, fairness_tiebreak="disparate_impact", reasons=["2 of 3 pass"],
        passed_over={"gbm": PassedOver(reason="less_fair", text="no fairer"),
                     "far": PassedOver(reason="lower_objective", text="too far"),
                     "logreg": PassedOver(reason="not_passing", text="fails")})
    assert best_selectable(vs, ranking, higher_is_better=True) == pytest.approx(0.7724)
    best, alts = alternatives(vs, ranking, higher_is_better=True, fairness=[])
    assert best == pytest.approx(0.7811)
    assert [a.variant for a in alts] == ["logreg", "forest", "gbm"]  # 'far' is out of both
    review = lending_review(vs[1], vs, ranking, alpha=0.05, higher_is_better=True, fairness=[])
    assert review.best_selectable_objective == pytest.approx(0.7724)
    # nothing selected: only the best of all is a reference
    none = ranking.model_copy(update={"selected": None, "passed_over": {}})
    assert best_selectable(vs, none, higher_is_better=True) is None
    assert [a.variant for a in alternatives(vs, none, higher_is_better=True,
                                            fairness=[])[1]] == ["logreg", "forest"]


def test_an_air_of_exactly_four_fifths_is_not_below_them():
    """40/120 against 50/120 is 4/5 exactly; in floating point 0.7999999999999999, which was
    marked ▼ "below four-fifths" (review10)."""
    table = adverse_impact_table(_attr([_row("a", 120, 50), _row("b", 120, 40)]), alpha=0.05)
    b = table.rows[1]
    assert b.air != 0.8 and b.air == pytest.approx(0.8)
    assert b.below_four_fifths is False
