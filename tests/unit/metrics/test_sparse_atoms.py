"""The engine with many protected attributes, where most combinations of levels never occur."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from fairsel.metrics import Confidence, evaluate_variant
from fairsel.partition import Partition


def test_counts_and_auc_of_a_sparse_four_way_intersection():
    rng = np.random.default_rng(5)
    n = 4000
    dims = [6, 5, 4, 7]
    # few combinations occur: the levels are tied to one latent cluster
    cluster = rng.integers(0, 25, n)
    levels = [(cluster * (i + 3) + (rng.integers(0, 2, n) if i == 0 else 0)) % d
              for i, d in enumerate(dims)]
    atoms = np.ravel_multi_index(levels, dims)
    n_atoms = int(np.prod(dims))
    assert len(np.unique(atoms)) < n_atoms / 4
    y = rng.integers(0, 2, n)
    s = rng.random(n)
    p = (s >= 0.5).astype(int)
    unr = np.unravel_index(np.arange(n_atoms), dims)
    parts = [Partition(f"a{i}", (f"a{i}",), "attribute", tuple(map(str, range(d))),
                       np.asarray(unr[i]), None) for i, d in enumerate(dims)]
    key = np.ravel_multi_index(unr, dims)  # the full intersection: one group per occurring atom
    used = np.unique(atoms)
    to_group = np.zeros(n_atoms, dtype=np.int64)
    to_group[used] = np.arange(len(used))
    parts.append(Partition("all", tuple(f"a{i}" for i in range(4)), "intersection",
                           tuple(str(u) for u in used), to_group[key], None))
    res = evaluate_variant(y, p, s, atoms=atoms, n_atoms=n_atoms, partitions=parts,
                           folds=np.arange(n) % 5, n_folds=5, min_group_size=1,
                           confidence=Confidence(resamples=200), seed=0)
    frame = pd.DataFrame({"g": atoms, "y": y, "p": p, "s": s})
    inter = res.attributes[-1]
    assert len(inter.groups) == len(used)
    for row, (atom, sub) in zip(inter.groups, frame.groupby("g"), strict=True):
        assert row.group == str(atom)
        assert row.n == len(sub)
        assert row.tp == int(((sub.y == 1) & (sub.p == 1)).sum())
        assert row.fp == int(((sub.y == 0) & (sub.p == 1)).sum())
        auc = row.rates["roc_auc"].value
        if sub.y.nunique() == 2:
            assert auc == pytest.approx(roc_auc_score(sub.y, sub.s), abs=1e-12)
        else:
            assert auc is None
        if row.rates["selection_rate"].ci is not None and row.rates["selection_rate"].value:
            lo, hi = row.rates["selection_rate"].ci
            assert lo <= row.rates["selection_rate"].value <= hi
    for i, d in enumerate(dims):  # every single attribute still sums its occurring atoms
        counts = np.bincount(levels[i], minlength=d)
        assert [g.n for g in res.attributes[i].groups] == counts.tolist()
    assert list(itertools.islice((a.attribute for a in res.attributes), 5)) == [
        "a0", "a1", "a2", "a3", "all"]
