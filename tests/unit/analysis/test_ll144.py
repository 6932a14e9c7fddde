"""LL144 impact ratios and scoring rates against tables computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from fairsel.analysis.ll144 import impact_rows, is_unknown, ll144_summary, scoring_hits
from fairsel.partition import Partition


def _part(labels, name="g", kind="attribute"):
    return Partition(name=name, columns=(name,), kind=kind, labels=tuple(labels),
                     atom_to_group=np.arange(len(labels)))


def test_impact_ratio_against_the_most_selected_category_by_hand():
    # F 10/40 = 0.25, M 25/50 = 0.5, X 1/1 = 1.0 but 1% of the data, unknown 3/9
    rows, most = impact_rows(["F", "M", "X", "unknown"], [40, 50, 1, 9], [10, 25, 1, 3],
                             min_share=0.02)
    by = {r.group: r for r in rows}
    # X has the highest rate but is under 2%: excluded, so M is the most selected
    assert most == "M"
    assert by["F"].rate == pytest.approx(0.25) and by["F"].impact_ratio == pytest.approx(0.5)
    assert by["M"].impact_ratio == pytest.approx(1.0)
    assert by["X"].excluded and by["X"].impact_ratio is None
    assert by["X"].n == 1 and by["X"].rate == pytest.approx(1.0)  # still shown
    assert by["X"].share == pytest.approx(0.01)
    assert by["unknown"].unknown and not by["unknown"].excluded
    assert by["unknown"].impact_ratio is None and by["unknown"].rate == pytest.approx(1 / 3)
    assert [r.share for r in rows] == pytest.approx([0.40, 0.50, 0.01, 0.09])


def test_a_category_of_exactly_two_percent_is_compared():
    rows, most = impact_rows(["A", "B"], [2, 98], [2, 49], min_share=0.02)
    assert not rows[0].excluded and most == "A"
    assert rows[1].impact_ratio == pytest.approx(0.5)


def test_no_compared_category_selected_gives_no_ratio():
    rows, most = impact_rows(["A", "B"], [50, 50], [0, 0], min_share=0.02)
    assert most == "A"  # the highest rate, 0, ties: the first
    assert all(r.impact_ratio is None for r in rows)


def test_unknown_parts_of_an_intersection():
    assert is_unknown("unknown")
    assert is_unknown("female × unknown") and is_unknown("unknown × White")
    assert not is_unknown("female × White") and not is_unknown("unknownish")


def test_scoring_rate_with_ties_at_the_median_by_hand():
    # sorted: 0.1 0.2 0.3 0.5 0.5 0.5 0.7 0.8 0.9 -> median 0.5; three ties, three above
    scores = np.array([0.1, 0.2, 0.5, 0.5, 0.5, 0.7, 0.8, 0.9, 0.3])
    pred = (scores >= 0.5).astype(np.int8)
    atoms = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1])  # A: first five, B: last four
    s = ll144_summary("v", scores, pred, [_part(["A", "B"])], atoms, min_share=0.02,
                      scores=True)
    assert s.median_score == pytest.approx(0.5) and s.ties_at_median == 3
    (sel,), (sco,) = s.selection, s.scoring
    a, b = sco.rows
    # A: 0 of 5 above the median (its three 0.5s tie), B: 3 of 4 (0.3 is below)
    assert (a.selected, a.ties, a.n) == (0, 3, 5) and a.rate == pytest.approx(0.0)
    assert (b.selected, b.ties, b.n) == (3, 0, 4) and b.rate == pytest.approx(0.75)
    assert sco.most_selected == "B" and a.impact_ratio == pytest.approx(0.0)
    # selection: A 3/5 = 0.6 (the three 0.5s pass the 0.5 threshold), B 3/4 = 0.75
    assert [r.selected for r in sel.rows] == [3, 3]
    assert sel.rows[0].impact_ratio == pytest.approx(0.6 / 0.75)
    assert sel.rows[0].ties is None and sel.basis == "selection_rate"
    assert sco.basis == "scoring_rate"


def test_even_sample_median_is_the_mean_of_the_middle_two():
    above, at, median = scoring_hits(np.array([4.0, 1.0, 3.0, 2.0]))
    assert median == 2.5 and above.tolist() == [1, 0, 1, 0] and at.sum() == 0


def test_decisions_only_have_no_scoring_table_and_missing_rows_are_left_out():
    scores = np.array([1.0, 0.0, np.nan, 1.0, 0.0, 0.0])
    pred = np.array([1, 0, 0, 1, 0, 0])
    atoms = np.array([0, 0, 0, 1, 1, 2])
    part = _part(["a", "b", "unknown"])
    s = ll144_summary("v", scores, pred, [part], atoms, min_share=0.02, scores=False)
    assert s.scoring == [] and s.median_score is None and s.ties_at_median is None
    assert s.rows == 5
    t = s.selection[0]
    assert [r.n for r in t.rows] == [2, 2, 1] and t.unknown_n == 1
    assert [r.selected for r in t.rows] == [1, 1, 0]
    assert t.most_selected == "a" and t.rows[1].impact_ratio == pytest.approx(1.0)


def test_intersection_table_excludes_small_cells_and_counts_unknown_cells():
    labels = ["f × A", "f × B", "m × A", "m × unknown"]
    atoms = np.repeat(np.arange(4), [60, 1, 30, 9])  # f × B is 1 of 100 rows
    pred = np.concatenate([np.r_[np.ones(30), np.zeros(30)], [1],
                           np.r_[np.ones(24), np.zeros(6)], np.ones(9)]).astype(np.int8)
    s = ll144_summary("v", np.linspace(0, 1, 100), pred,
                      [_part(labels, "sex × race", "intersection")], atoms, min_share=0.02,
                      scores=False)
    t = s.selection[0]
    assert t.kind == "intersection" and t.excluded == ["f × B"] and t.unknown_n == 9
    assert t.most_selected == "m × A"
    assert t.rows[0].impact_ratio == pytest.approx(0.5 / 0.8)
