"""evaluate_variant end to end (attributes, an intersection, a declared reference, small, empty
and one-class groups, folds) against fairlearn, aif360 and scikit-learn on the same predictions;
and the contract test over every entry of METRICS."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fairsel.metrics import (
    FAIRNESS_METRICS,
    METRICS,
    PERFORMANCE_NAMES,
    Confidence,
    evaluate_variant,
)
from fairsel.metrics.catalog import PERFORMANCE_RATE
from fairsel.metrics.engine import GROUP_RATES, SCORE_RATES
from tests.reference import (
    JOIN,
    aif360_fairness,
    aif360_group_table,
    assert_same_table,
    build_partitions,
    calibration_error,
    fairlearn_fairness,
    fairlearn_group_table,
    fairlearn_rate_disparity,
    sklearn_overall,
    synthetic_audit,
)

MIN_GROUP = 30
A_LEVELS = ("a0", "a1", "a2", "a3", "a4", "a5")
NONE = Confidence(method="none")


@pytest.fixture(scope="module")
def case():
    """a1 is the declared reference; a3 has no favorable outcome (TPR undefined); a4 has ~8 rows
    (below min_group_size); a5 is a level with no row.  B has no reference; A × B is audited."""
    d = synthetic_audit(3000, seed=21, a_levels=A_LEVELS, a_weights=[6, 5, 4, 3, 0.05, 0],
                        a_reference="a1")
    y = d.y_true.copy()
    y[d.a == "a3"] = 0
    a_codes = np.array([A_LEVELS.index(x) for x in d.a])
    b_codes = np.array([int(x[1]) for x in d.b])
    atoms, n_atoms, parts = build_partitions(a_codes, b_codes, A_LEVELS, ("b0", "b1"),
                                             a_reference="a1")
    result = evaluate_variant(y, d.y_pred, d.y_score, atoms=atoms, n_atoms=n_atoms,
                              partitions=parts, folds=d.folds, n_folds=d.n_folds,
                              min_group_size=MIN_GROUP, confidence=NONE, seed=1, label="t")
    labels = {"A": d.a, "B": d.b, f"A{JOIN}B": pd.DataFrame({"a": d.a, "b": d.b})}
    joined = {"A": d.a, "B": d.b, f"A{JOIN}B": np.char.add(np.char.add(d.a, JOIN), d.b)}
    return d, y, parts, result, labels, joined


def _table(attr) -> pd.DataFrame:
    rows = {}
    for g in attr.groups:
        row = {"n": g.n, "tp": g.tp, "fp": g.fp, "tn": g.tn, "fn": g.fn}
        for k, est in g.rates.items():
            row["brier" if k == "brier_score" else k] = np.nan if est.value is None else est.value
        rows[g.group] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def _attr(result, name):
    return next(a for a in result.attributes if a.attribute == name)


def test_fixture_has_the_edge_cases(case):
    _, y, _, result, _, _ = case
    a = _table(_attr(result, "A"))
    assert a.loc["a5", "n"] == 0 and 0 < a.loc["a4", "n"] < MIN_GROUP
    assert a.loc["a3", "tp"] + a.loc["a3", "fn"] == 0 and a.loc["a3", "n"] >= MIN_GROUP
    assert [g.group for g in _attr(result, f"A{JOIN}B").groups] == [
        f"{x}{JOIN}{b}" for x in A_LEVELS[:5] for b in ("b0", "b1")]


@pytest.mark.parametrize("name", ["A", "B", f"A{JOIN}B"])
def test_group_tables_match_fairlearn_and_aif360(case, name):
    d, y, _, result, labels, joined = case
    fs = _table(_attr(result, name))
    fl = fairlearn_group_table(y, d.y_pred, d.y_score, labels[name]).by_group
    n = assert_same_table(fs, fl, "fairlearn")
    assert n >= 17 * len(fl.index)
    assert_same_table(fs, aif360_group_table(y, d.y_pred, joined[name]).by_group, "aif360")
    for g, row in fs.iterrows():
        if row["n"]:
            rows = joined[name] == g
            assert row["calibration_error"] == pytest.approx(
                calibration_error(y[rows], d.y_score[rows]), abs=1e-9)


def test_flags_and_eligibility(case):
    _, _, _, result, _, _ = case
    a = _attr(result, "A")
    flags = {g.group: g.flags for g in a.groups}
    assert flags["a5"] == ["empty"]
    assert flags["a4"][0] == "small"
    assert "no_favorable_outcome" in flags["a3"] and "small" not in flags["a3"]
    assert flags["a0"] == [] and flags["a1"] == []
    assert a.eligible_groups == ["a0", "a1", "a2", "a3"]
    assert a.reference == "a1" and a.reference_rule == "declared"
    b = _attr(result, "B")
    assert b.reference is None and b.reference_rule == "fairlearn_min_max"
    assert b.eligible_groups == ["b0", "b1"]
    ab = _attr(result, f"A{JOIN}B")
    assert ab.kind == "intersection" and ab.columns == ["a", "b"]
    assert all(g.n >= MIN_GROUP for g in ab.groups if g.group in ab.eligible_groups)
    assert all(not g.group.startswith("a4") for g in ab.groups if g.group in ab.eligible_groups)


def _expected_fairlearn(metric, y, p, lab, rates_fs, eligible, reference):
    """fairsel's rule, rate by rate, from fairlearn's MetricFrame on the rows where the rate is
    defined (fairlearn itself would read an undefined TPR as 0 — see tests/reference.py)."""
    spec = FAIRNESS_METRICS[metric]
    parts = []
    for rate in spec.rates:
        needed = ("tpr", "fpr") if rate == "avg_odds" else (rate,)
        ok = [g for g in eligible if all(np.isfinite(rates_fs.loc[g, k]) for k in needed)]
        rows = np.isin(lab, ok)
        if reference is not None and reference not in ok:
            parts.append(np.nan)
            continue
        parts.append(fairlearn_rate_disparity(rate, spec.kind, y[rows], p[rows], lab[rows],
                                              reference=reference))
    return max(parts) if spec.kind == "difference" else min(parts)


@pytest.mark.parametrize("name", ["A", "B", f"A{JOIN}B"])
def test_fairness_matches_references(case, name):
    d, y, _, result, _, joined = case
    attr = _attr(result, name)
    lab = joined[name]
    fs = _table(attr)
    rows = np.isin(lab, attr.eligible_groups)
    ai = aif360_fairness(y[rows], d.y_pred[rows], lab[rows], reference=attr.reference)
    undefined = {g for g in attr.eligible_groups if not np.isfinite(fs.loc[g, "tpr"])}
    named = fairlearn_fairness(y[rows], d.y_pred[rows], lab[rows]) if not undefined else {}
    for metric in FAIRNESS_METRICS:
        got = attr.fairness[metric].value
        assert got is not None, metric
        # aif360 leaves 0/0 comparisons out, as fairsel does
        assert got == pytest.approx(ai[metric], abs=1e-9), metric
        assert got == pytest.approx(_expected_fairlearn(metric, y, d.y_pred, lab, fs,
                                                        attr.eligible_groups, attr.reference),
                                    abs=1e-9), metric
        if named and attr.reference is None:  # fairlearn's own named functions, as they are
            assert got == pytest.approx(named[metric], abs=1e-9), metric


def test_headline_is_the_worst_attribute(case):
    _, _, _, result, _, _ = case
    for metric, head in result.fairness.items():
        values = {a.attribute: a.fairness[metric].value for a in result.attributes}
        higher_is_fairer = FAIRNESS_METRICS[metric].kind == "ratio"
        worst = (min if higher_is_fairer else max)(values, key=lambda k: values[k])
        assert head.value == values[worst] and head.attribute == worst, metric
        assert head.by_attribute[worst].value == values[worst]


def test_overall_performance_matches_sklearn_and_aif360(case):
    d, y, _, result, _, joined = case
    ref = sklearn_overall(y, d.y_pred, d.y_score)
    ai = aif360_group_table(y, d.y_pred, joined["A"]).overall
    for name in PERFORMANCE_NAMES:
        assert result.performance[name].value == pytest.approx(ref[name], abs=1e-9), name
        key = PERFORMANCE_RATE.get(name)
        if key in ai:
            assert result.performance[name].value == pytest.approx(ai[key], abs=1e-9), name


def test_per_fold_figures(case):
    d, y, _, result, _, joined = case
    assert [f.fold for f in result.folds] == list(range(d.n_folds))
    assert sum(f.n for f in result.folds) == len(y)
    for f in result.folds:
        rows = d.folds == f.fold
        ref = sklearn_overall(y[rows], d.y_pred[rows], d.y_score[rows])
        for name in PERFORMANCE_NAMES:
            assert f.performance[name] == pytest.approx(ref[name], abs=1e-9), (f.fold, name)
        # B: two large groups, both eligible in every fold, no reference: fairlearn as it is
        fl = fairlearn_fairness(y[rows], d.y_pred[rows], joined["B"][rows])
        for metric in FAIRNESS_METRICS:
            assert f.fairness[metric]["B"] == pytest.approx(fl[metric], abs=1e-9), (f.fold, metric)
        # A: the pooled figure's groups (a4, too small overall, stays out of every fold), with
        # the declared reference
        lab = joined["A"][rows]
        keep = np.isin(lab, _attr(result, "A").eligible_groups)
        ai = aif360_fairness(y[rows][keep], d.y_pred[rows][keep], lab[keep], reference="a1")
        for metric in FAIRNESS_METRICS:
            got = f.fairness[metric]["A"]
            assert (np.nan if got is None else got) == pytest.approx(ai[metric], abs=1e-9,
                                                                     nan_ok=True), (f.fold, metric)


def test_no_eligible_group_gives_no_figure():
    d = synthetic_audit(200, seed=3)
    res = evaluate_variant(d.y_true, d.y_pred, d.y_score, atoms=d.atoms, n_atoms=d.n_atoms,
                           partitions=d.partitions, folds=d.folds, n_folds=d.n_folds,
                           min_group_size=10_000, confidence=NONE)
    for a in res.attributes:
        assert a.eligible_groups == []
        assert all(e.value is None for e in a.fairness.values())
        assert all("small" in g.flags for g in a.groups)
    assert all(h.value is None and h.attribute is None for h in res.fairness.values())
    assert res.performance["roc_auc"].value is not None


def test_single_group_attribute_with_reference():
    """An attribute whose only present group is the reference: nothing to compare (NaN → None)."""
    d = synthetic_audit(300, seed=4)
    atoms, n_atoms, parts = build_partitions(np.zeros(300, int), np.zeros(300, int), ("only",),
                                             ("x",), a_reference="only")
    res = evaluate_variant(d.y_true, d.y_pred, d.y_score, atoms=atoms, n_atoms=n_atoms,
                           partitions=parts, folds=d.folds, n_folds=d.n_folds, confidence=NONE)
    assert all(e.value is None for a in res.attributes for e in a.fairness.values())


# ---------------------------------------------------------------- contract over METRICS -----

@pytest.fixture(scope="module")
def whole_data_refs(case):
    d, y, _, _, _, joined = case
    return {"sklearn": sklearn_overall(y, d.y_pred, d.y_score),
            "fairlearn_B": fairlearn_fairness(y, d.y_pred, joined["B"]),
            "aif360_B": aif360_fairness(y, d.y_pred, joined["B"])}


@pytest.mark.parametrize("name", METRICS.names())
def test_every_registered_metric(case, whole_data_refs, name):
    """Each name a policy may use is documented, computed by the engine, and equals the reference."""
    _, _, _, result, _, _ = case
    info = METRICS.get(name)
    assert info.name == name and info.family in ("performance", "fairness")
    assert info.formula and METRICS.summary(name).startswith(info.family)
    if info.family == "performance":
        assert name in PERFORMANCE_NAMES
        assert result.performance[name].value == pytest.approx(
            whole_data_refs["sklearn"][name], abs=1e-9)
        key = PERFORMANCE_RATE.get(name, name)
        assert key in GROUP_RATES + SCORE_RATES  # reported per group too
    else:
        spec = FAIRNESS_METRICS[name]
        assert info.higher_is_better == (spec.kind == "ratio")
        assert result.fairness[name].value is not None
        b = _attr(result, "B")
        assert b.fairness[name].value == pytest.approx(whole_data_refs["fairlearn_B"][name],
                                                       abs=1e-9)
        assert b.fairness[name].value == pytest.approx(whole_data_refs["aif360_B"][name], abs=1e-9)
