"""The explanation sample's cost: drawn only when a variant is explained, and drawn with a
radix sort that gives the rows the int64 stable sort gave (results.json unchanged)."""

from __future__ import annotations

import numpy as np
import pytest

from fairsel.analysis import explain
from fairsel.analysis.explain import allocate, explain_variants, sample_rows


def _reference(folds, atoms, n_atoms, *, budget, seed):
    """The draw as it was written first: a stable sort of the int64 cell keys."""
    folds = np.asarray(folds, dtype=np.int64)
    n_folds = int(folds.max()) + 1
    cells = np.asarray(atoms, dtype=np.int64) * n_folds + folds
    sizes = np.bincount(cells, minlength=n_atoms * n_folds)
    take = allocate(sizes, budget)
    perm = np.random.default_rng([seed, 0x5A4B]).permutation(len(cells))
    by_cell = perm[np.argsort(cells[perm], kind="stable")]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.arange(len(cells)) - np.repeat(starts, sizes)
    rows = np.sort(by_cell[rank < np.repeat(take, sizes)])
    return rows, sizes[cells[rows]] / take[cells[rows]]


@pytest.mark.parametrize("n_atoms", [3, 40, 20_000])  # cells: 15 (uint8), 200, 100,000 (int64)
def test_sample_rows_draws_the_rows_of_the_int64_sort(n_atoms):
    rng = np.random.default_rng(5)
    n = 60_000
    folds = rng.integers(0, 5, n)
    atoms = rng.integers(0, n_atoms, n)
    got = sample_rows(folds, atoms, n_atoms, budget=2_000, seed=11)
    rows, weights = _reference(folds, atoms, n_atoms, budget=2_000, seed=11)
    assert np.array_equal(got.rows, rows)
    assert np.array_equal(got.weights, weights)


def test_no_sample_is_drawn_when_no_variant_is_explained(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("sample_rows called although no variant is explained")

    monkeypatch.setattr(explain, "sample_rows", refuse)
    out = explain_variants([], [("vendor", "a fixed candidate without a model")], X=None,
                           folds=np.zeros(10, dtype=np.int64), atoms=np.zeros(10, dtype=np.int64),
                           n_atoms=1, groups=[], features=["score"], flags={}, seed=1,
                           n_variants=3, rows=2000)
    assert out.explained == []
    assert [(s.variant, s.reason) for s in out.skipped] == [
        ("vendor", "a fixed candidate without a model")]
