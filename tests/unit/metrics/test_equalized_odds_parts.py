"""Equalized odds skips an undefined part as fairlearn does (the example hypothesis found)."""

from __future__ import annotations

import numpy as np
import pytest
from fairlearn.metrics import equalized_odds_difference, equalized_odds_ratio

from fairsel.metrics import confusion_counts, disparity, rates_from_counts


def test_no_negative_predictions_in_any_group_keeps_the_tpr_part():
    # group 0: y (0, 1), decisions (0, 0); group 1: y (0, 1), decisions (0, 1): every FPR is 0
    y = np.array([0, 1, 0, 1])
    p = np.array([0, 0, 0, 1])
    g = np.array([0, 0, 1, 1])
    rates = rates_from_counts(confusion_counts(y, p, g, 2))
    ratio = disparity(rates, "equalized_odds_ratio")
    diff = disparity(rates, "equalized_odds_difference")
    assert ratio == pytest.approx(equalized_odds_ratio(y, p, sensitive_features=g)) == 0.0
    assert diff == pytest.approx(equalized_odds_difference(y, p, sensitive_features=g)) == 1.0


def test_both_parts_undefined_is_undefined():
    y = np.array([1, 1, 1, 1])  # no negatives: no FPR; and no TPR difference to speak of
    p = np.array([0, 0, 0, 0])
    g = np.array([0, 0, 1, 1])
    rates = rates_from_counts(confusion_counts(y, p, g, 2))
    assert np.isnan(disparity(rates, "equalized_odds_ratio"))
