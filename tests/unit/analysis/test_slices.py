"""Worst-slice discovery (fairsel.analysis.slices): counts against pandas, the tests and the
interval against references, the support floor, and duplicates."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fairsel.analysis import slices as sl
from fairsel.metrics.significance import adjust_pvalues


def _frame(n=3_000, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "colour": rng.choice(["red", "green", "blue"], n).astype(object),
        "size": rng.normal(size=n),
        "shape": rng.choice(["round", "square"], n).astype(object),
        "weight": rng.integers(0, 4, n).astype(float),
    })
    X.loc[rng.random(n) < 0.05, "size"] = np.nan
    X.loc[rng.random(n) < 0.04, "colour"] = None
    y = (rng.random(n) < 0.6).astype(np.int8)
    weak = (X["colour"] == "red").to_numpy() & (X["shape"] == "round").to_numpy()
    wrong = rng.random(n) < np.where(weak, 0.45, 0.15)
    p1 = np.where(wrong, 1 - y, y).astype(np.int8)
    p2 = np.where(rng.random(n) < 0.2, 1 - y, y).astype(np.int8)
    return X, y, {"a": p1, "b": p2}


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_counts_equal_a_pandas_groupby_of_each_combination(depth):
    X, y, preds = _frame()
    cols = [sl.encode_column(X[c], name=c, categorical=c in ("colour", "shape"), bins=4)
            for c in X.columns]
    state, fold = sl.joint_states(y, [preds["a"], preds["b"]])
    keys, counts = sl.slice_counts(cols, state, fold, depth=depth, min_rows=30)
    frame = pd.DataFrame({c.name: c.codes for c in cols})
    seen = set()
    for d in range(1, depth + 1):
        for combo in itertools.combinations(range(len(cols)), d):
            names = [cols[i].name for i in combo]
            for lv, idx in frame.groupby(names if d > 1 else names[0]).groups.items():
                lv = lv if isinstance(lv, tuple) else (lv,)
                key = tuple(zip(combo, (int(v) for v in lv)))
                rows = np.asarray(idx)
                if key not in keys:
                    continue
                seen.add(key)
                got = counts[keys.index(key)]
                for v, name in enumerate(("a", "b")):
                    cells = np.bincount(2 * y[rows] + preds[name][rows], minlength=4)
                    assert got[v].tolist() == cells.tolist(), (key, name)
    assert seen == set(keys) and len(keys) > 10
    # every slice holds at least min_rows rows; depth d means at most d conditions
    assert counts[:, 0].sum(axis=1).min() >= 30
    assert max(len(k) for k in keys) == depth


def test_a_conjunction_with_the_rows_of_a_part_is_dropped():
    rng = np.random.default_rng(1)
    n = 1_000
    a = rng.choice(["x", "y"], n).astype(object)
    X = pd.DataFrame({"a": a, "a_copy": np.where(a == "x", "X", "Y").astype(object)})
    y = rng.integers(0, 2, n).astype(np.int8)
    state, fold = sl.joint_states(y, [y])
    cols = [sl.encode_column(X[c], name=c, categorical=True, bins=5) for c in X.columns]
    keys, _ = sl.slice_counts(cols, state, fold, depth=2, min_rows=1)
    # a = x ∧ a_copy = X has a = x's rows: only the four single conditions remain
    assert sorted(len(k) for k in keys) == [1, 1, 1, 1]


def test_numeric_bins_read_as_conditions_and_missing_is_a_level():
    x = pd.Series([1.0, 2.0, 3.0, 4.0, np.nan] * 20)
    col = sl.encode_column(x, name="v", categorical=False, bins=4)
    texts = [c.text for c in col.conditions]
    assert texts[-1] == "v missing" and col.conditions[-1].missing
    for code, value in zip(col.codes, x):
        cond = col.conditions[code]
        if np.isnan(value):
            assert cond.missing
        else:
            assert (cond.low is None or value >= cond.low) and \
                (cond.high is None or value < cond.high)
    assert texts[0].startswith("v < ") and texts[-2].startswith("v ≥ ")


def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, table II example (a): 56/70 − 48/80,
    # hybrid score interval (method 10) 0.0524 to 0.3339
    lo, hi = sl.newcombe(np.array([56.0]), np.array([70.0]), np.array([48.0]),
                         np.array([80.0]), 0.95)
    assert lo[0] == pytest.approx(0.0524, abs=5e-5) and hi[0] == pytest.approx(0.3339, abs=5e-5)


@pytest.fixture(scope="module")
def found():
    X, y, preds = _frame()
    sex = np.random.default_rng(5).integers(0, 2, len(y))
    res = sl.find_slices(X, categorical=["colour", "shape"], y_true=y, predictions=preds,
                         protected=[("sex", sex, ("female", "male"))], bins=4, min_rows=30,
                         min_support=0.01, top=5)
    return X, y, preds, sex, res


def test_planted_slice_of_the_fixture_is_worst_by_error_rate(found):
    _, _, _, _, res = found
    a = next(v for v in res.variants if v.variant == "a")
    assert a.top["error_rate"][0].text == "colour = red ∧ shape = round"
    assert "sex" in res.features


def test_figures_tests_and_adjustment_of_a_reported_slice(found):
    X, y, preds, sex, res = found
    a = next(v for v in res.variants if v.variant == "a")
    s = a.top["error_rate"][0]
    inside = (X["colour"] == "red").to_numpy() & (X["shape"] == "round").to_numpy()
    err = preds["a"] != y
    assert s.rows == inside.sum() and s.k == err[inside].sum() and s.n == inside.sum()
    assert s.rest_k == err[~inside].sum() and s.rest_n == (~inside).sum()
    assert s.rate == pytest.approx(err[inside].mean(), abs=1e-6)
    assert s.difference == pytest.approx(err[inside].mean() - err[~inside].mean(), abs=1e-6)
    assert s.ci[0] < s.difference < s.ci[1]
    # the pooled two-proportion z-test, as scipy computes it
    table = np.array([[s.k, s.n - s.k], [s.rest_k, s.rest_n - s.rest_k]])
    chi2 = stats.chi2_contingency(table, correction=False)
    assert s.p_value == pytest.approx(chi2.pvalue, rel=1e-4)
    assert s.p_adjusted >= s.p_value and s.p_adjusted <= 0.05
    assert s.groups["sex"] == {"female": int((sex[inside] == 0).sum()),
                               "male": int((sex[inside] == 1).sum())}
    assert s.counts == {k: int(v) for k, v in zip(
        ("tn", "fp", "fn", "tp"), np.bincount(2 * y[inside] + preds["a"][inside], minlength=4))}
    # every slice × metric with rows on both sides was tested; the counts are reported
    assert a.tested == res.slices * len(res.metrics)
    assert 0 < a.significant < a.tested


def test_only_significant_detriments_are_reported_surest_first(found):
    _, _, _, _, res = found
    for v in res.variants:
        for metric, top in v.top.items():
            assert len(top) <= 5
            sign = -1 if metric == "selection_rate" else 1
            worse = [sign * s.difference for s in top]
            # ordered by the interval's bound nearest zero: the smallest detriment supported
            bound = [s.ci[0] if sign > 0 else -s.ci[1] for s in top]
            assert all(w > 0 for w in worse) and bound == sorted(bound, reverse=True)
            assert all(s.p_adjusted <= res.alpha and s.metric == metric for s in top)
    assert any(len(t) >= 2 for v in res.variants for t in v.top.values())


def test_adjusted_p_is_benjamini_hochberg_over_every_test():
    X, y, preds = _frame()
    res = sl.find_slices(X, categorical=["colour", "shape"], y_true=y,
                         predictions={"a": preds["a"]}, metrics=["error_rate"], top=100,
                         alpha=0.999999, bins=4)
    cols = [sl.encode_column(X[c], name=c, categorical=c in ("colour", "shape"), bins=4)
            for c in X.columns]
    state, fold = sl.joint_states(y, [preds["a"]])
    keys, counts = sl.slice_counts(cols, state, fold, depth=2, min_rows=res.min_rows)
    k1, n1 = counts[:, 0, 1] + counts[:, 0, 2], counts[:, 0].sum(axis=1)
    k0, n0 = (preds["a"] != y).sum() - k1, len(y) - n1
    p = np.array([stats.fisher_exact([[a, b - a], [c, d - c]])[1]
                  if min(b, d) * min(a + c, b + d - a - c) / (b + d) < 5
                  else stats.chi2_contingency([[a, b - a], [c, d - c]], correction=False).pvalue
                  for a, b, c, d in zip(k1, n1, k0, n0)])
    adj = adjust_pvalues(p, "bh")
    v = res.variants[0]
    assert v.tested == len(keys)
    for s in v.top["error_rate"]:
        i = [c.text for c in s.conditions]
        j = next(j for j, key in enumerate(keys)
                 if [cols[c].conditions[lv].text for c, lv in key] == i)
        assert s.p_adjusted == pytest.approx(adj[j], rel=1e-4)


def test_support_floor_is_the_larger_of_share_and_rows():
    X, y, preds = _frame()
    res = sl.find_slices(X, categorical=["colour", "shape"], y_true=y, predictions=preds,
                         min_support=0.1, min_rows=30, bins=4)
    assert res.min_rows == 300
    assert all(s.rows >= 300 for v in res.variants for t in v.top.values() for s in t)
    res = sl.find_slices(X, categorical=["colour", "shape"], y_true=y, predictions=preds,
                         min_support=0.0, min_rows=700, bins=4)
    assert res.min_rows == 700


def test_bad_arguments_are_refused():
    X, y, preds = _frame(200)
    with pytest.raises(ValueError, match="depth"):
        sl.find_slices(X, categorical=[], y_true=y, predictions=preds, depth=4)
    with pytest.raises(ValueError, match="unknown slice metric"):
        sl.find_slices(X, categorical=[], y_true=y, predictions=preds, metrics=["auc"])


def test_many_variants_are_analysed_in_batches_with_the_same_figures():
    X, y, preds = _frame()
    many = {f"v{i}": preds["a"] if i % 2 else preds["b"] for i in range(sl.MAX_JOINT + 2)}
    res = sl.find_slices(X, categorical=["colour", "shape"], y_true=y, predictions=many, bins=4)
    one = sl.find_slices(X, categorical=["colour", "shape"], y_true=y,
                         predictions={"a": preds["a"]}, bins=4)
    assert [v.variant for v in res.variants] == list(many)
    for v in res.variants[1::2]:
        assert v.top == one.variants[0].top and v.tested == one.variants[0].tested


def test_rare_categories_are_pooled_and_never_a_condition():
    rng = np.random.default_rng(2)
    n = 2_000
    ids = np.array([f"id{i}" for i in range(n)], dtype=object)  # every value once
    common = rng.choice(["a", "b", "c"], n).astype(object)
    rare = np.where(rng.random(n) < 0.01, "rare", common).astype(object)
    X = pd.DataFrame({"id": ids, "kind": rare})
    y = rng.integers(0, 2, n).astype(np.int8)
    col = sl.pool_rare(sl.encode_column(X["id"], name="id", categorical=True, bins=5), 30)
    assert col.levels == 1 and col.rare == 0 and not col.conditions
    res = sl.find_slices(X, categorical=["id", "kind"], y_true=y, predictions={"m": 1 - y},
                         min_rows=30, metrics=["error_rate"], top=100, alpha=0.999999)
    texts = {s.text for s in res.variants[0].top["error_rate"]}
    # 'kind = rare' has about 20 rows: pooled with nothing, never reported; no id is a slice
    assert res.slices == 3 and not any("rare" in t or "id" in t for t in texts)


def test_a_triple_with_the_rows_of_duplicate_pairs_is_dropped_too():
    rng = np.random.default_rng(4)
    n = 1_000
    a = rng.choice(["x", "y"], n).astype(object)
    X = pd.DataFrame({"a": a, "a_copy": np.where(a == "x", "X", "Y").astype(object),
                      "a_code": np.where(a == "x", "1", "2").astype(object)})
    y = rng.integers(0, 2, n).astype(np.int8)
    state, fold = sl.joint_states(y, [y])
    cols = [sl.encode_column(X[c], name=c, categorical=True, bins=5) for c in X.columns]
    keys, _ = sl.slice_counts(cols, state, fold, depth=3, min_rows=1)
    # every pair and the triple have the rows of a single condition (the pairs, dropped
    # themselves, still tell the triple it is a duplicate)
    assert sorted(len(k) for k in keys) == [1] * 6


def test_a_rate_on_fewer_than_min_group_size_people_is_not_tested():
    """min_group_size counts a rate's denominator (issue 9): a slice whose FNR rests on a few
    actual positives may hold many rows, yet it is never tested, so never a finding."""
    X, y, preds = _frame()
    kw = dict(categorical=["colour", "shape"], y_true=y, predictions={"a": preds["a"]},
              metrics=["fnr", "fpr"], top=1000, alpha=0.999999, bins=4)
    loose = sl.find_slices(X, **kw)
    floor = 200
    strict = sl.find_slices(X, **kw, min_denominator=floor)
    small = [s for t in loose.variants[0].top.values() for s in t
             if s.n < floor or s.rest_n < floor]
    assert small  # the fixture has slices whose rate rests on fewer than 200 people
    kept = [s for t in strict.variants[0].top.values() for s in t]
    assert kept and all(s.n >= floor and s.rest_n >= floor for s in kept)
    assert strict.variants[0].tested < loose.variants[0].tested
