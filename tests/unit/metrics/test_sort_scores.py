"""sort_scores: the packed-key sort the engine uses instead of np.argsort must be exact."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from fairsel.metrics.scores import MASK_GROUPS, roc_auc_presorted, sort_scores

N = 1 << 17  # above the size where the packed keys are used


def _scores(kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "uniform":
        return rng.random(N)
    if kind == "below_grid":  # 5% of the scores a few ulps above another one: they share its
        s = rng.random(N)      # grid value, in row order, so those runs must be re-sorted
        m = N // 20
        s[:m] = s[m:2 * m] * (1 + rng.integers(1, 4, m) * np.finfo(float).eps)
        return s
    if kind == "crowded":  # all within a few ulps: the grid cannot separate them
        return 0.5 + rng.integers(0, 1000, N) * np.finfo(float).eps
    if kind == "outlier":  # one huge score squeezes the rest into few grid steps
        s = rng.random(N)
        s[7] = 1e12
        return s
    if kind == "signed":
        s = rng.normal(size=N) * 1e-3
        s[:5], s[5:10] = -0.0, 0.0
        return s
    if kind == "ties":
        return rng.integers(0, 10, N) / 10
    if kind == "constant":
        return np.full(N, 0.25)
    raise AssertionError(kind)


KINDS = ["uniform", "below_grid", "crowded", "outlier", "signed", "ties", "constant"]


@pytest.mark.parametrize("kind", KINDS)
def test_sort_scores_is_an_exact_sort(kind):
    s = _scores(kind, np.random.default_rng(3))
    order, s_sorted = sort_scores(s)
    assert np.array_equal(np.sort(order), np.arange(N))  # a permutation
    assert np.array_equal(s_sorted, s[order])
    assert np.array_equal(s_sorted, np.sort(s))  # ascending, every value kept


def test_runs_below_the_grid_are_resorted_without_falling_back(monkeypatch):
    s = _scores("below_grid", np.random.default_rng(3))
    resorted = []
    lexsort = np.lexsort

    def spy(keys):
        resorted.append(len(keys[0]))
        return lexsort(keys)

    def no_argsort(*a, **k):
        raise AssertionError("fell back to np.argsort")

    monkeypatch.setattr(np, "lexsort", spy)
    monkeypatch.setattr(np, "argsort", no_argsort)
    order, s_sorted = sort_scores(s)
    monkeypatch.undo()
    assert resorted and resorted[0] > 1000  # the fix-up ran on the colliding runs
    assert np.array_equal(s_sorted, np.sort(s))
    assert np.array_equal(s_sorted, s[order])


def test_sort_scores_small_and_empty():
    for s in (np.array([]), np.array([0.3]), np.array([0.2, 0.1, 0.2])):
        order, s_sorted = sort_scores(s)
        assert np.array_equal(s_sorted, np.sort(s))
        assert np.array_equal(np.sort(order), np.arange(len(s)))


@pytest.mark.parametrize("kind", ["uniform", "below_grid", "ties", "signed"])
@pytest.mark.parametrize("n_groups", [1, MASK_GROUPS, 9])  # one group, masks, radix sort
def test_auc_from_sort_scores_equals_sklearn(kind, n_groups):
    rng = np.random.default_rng(5)
    s = _scores(kind, rng)
    y = (rng.random(N) < 0.4).astype(np.int8)
    codes = rng.integers(0, n_groups, N)
    order, s_sorted = sort_scores(s)
    ties = bool(np.any(s_sorted[1:] == s_sorted[:-1]))
    got = roc_auc_presorted(y[order], s_sorted, codes[order], n_groups, ties=ties)
    want = [roc_auc_score(y[codes == g], s[codes == g]) for g in range(n_groups)]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
