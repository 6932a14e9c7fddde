"""A reported slice's rows per protected group: counted for every slice over the same columns
at once (``compositions``), the same numbers as selecting each slice's rows (``slice_groups``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fairsel.analysis.slices import (
    Column,
    compositions,
    encode_column,
    find_slices,
    pool_rare,
    protected_column,
    slice_groups,
)


def _columns(n: int, rng) -> tuple[list[Column], list]:
    sex = rng.integers(0, 2, n)
    race = rng.choice(4, size=n, p=[0.5, 0.3, 0.15, 0.05])
    protected = [("sex", sex, ["female", "male"]), ("race", race, ["a", "b", "c", "d"])]
    x = pd.Series(rng.normal(size=n))
    x[rng.random(n) < 0.05] = np.nan  # missing: a level of its own
    cat = pd.Series(rng.choice(np.array(["p", "q", "r", "rare"]), size=n,
                               p=[0.5, 0.3, 0.195, 0.005]))
    cols = [encode_column(x, name="x", categorical=False, bins=4),
            encode_column(cat, name="c", categorical=True, bins=4)]
    cols += [protected_column(name, codes, labels) for name, codes, labels in protected]
    return [pool_rare(c, 100) for c in cols], protected


def test_compositions_equal_each_slice_counted_alone():
    rng = np.random.default_rng(4)
    cols, protected = _columns(20_000, rng)
    keys = []
    for _ in range(60):  # slices of 1 to 3 conditions on distinct columns, rare codes too
        depth = int(rng.integers(1, 4))
        combo = sorted(rng.choice(len(cols), size=depth, replace=False).tolist())
        keys.append(tuple((i, int(rng.integers(0, cols[i].levels))) for i in combo))
    cache: dict = {}
    compositions(keys, cols, protected, cache)
    assert set(cache) == set(keys)
    for key in keys:
        assert cache[key] == slice_groups(key, cols, protected), key
    # keys already known are not counted again
    marker = {"sex": {}, "race": {}}
    cache[keys[0]] = marker
    compositions(keys, cols, protected, cache)
    assert cache[keys[0]] is marker


def test_reported_slices_carry_the_counted_compositions():
    rng = np.random.default_rng(6)
    n = 8000
    cols, protected = _columns(n, rng)
    X = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(np.array(["p", "q"]), size=n)})
    y = (rng.random(n) < 0.5).astype(np.int8)
    pred = np.where(X["x"].to_numpy() > 0.5, 1 - y, y).astype(np.int8)  # errors where x is high
    out = find_slices(X, categorical=["c"], y_true=y, predictions={"m": pred},
                      protected=protected, min_rows=50)
    found = [s for ss in out.variants[0].top.values() for s in ss]
    assert found
    codes = {name: (c, labels) for name, c, labels in protected}
    for s in found:
        mask = np.ones(n, dtype=bool)
        for cond in s.conditions:
            if cond.kind == "numeric":
                v = X[cond.feature].to_numpy()
                mask &= (v >= cond.low if cond.low is not None else True) & \
                    (v < cond.high if cond.high is not None else True)
            elif cond.kind == "protected":
                c, labels = codes[cond.feature]
                mask &= c == labels.index(cond.value)
            else:
                mask &= X[cond.feature].to_numpy() == cond.value
        assert s.rows == int(mask.sum())
        for name, (c, labels) in codes.items():
            assert s.groups[name] == {lab: int((mask & (c == j)).sum())
                                      for j, lab in enumerate(labels)}
