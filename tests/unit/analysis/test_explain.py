"""SHAP explanations out of fold (fairsel.analysis.explain, policy key ``explain``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from fairsel.analysis.explain import (
    OTHER,
    GroupCodes,
    VariantInput,
    allocate,
    choose_variants,
    column_owners,
    explain_out_of_fold,
    sample_rows,
    summarise,
)
from fairsel.audit import build_candidates, run_audit
from fairsel.data import load_data
from fairsel.policy import load_policy
from fairsel.results import AuditResult
from fairsel.splits import make_folds
from tests.unit.test_registries import tiny_policy, write_tiny_data

LGBM = "  - {name: gbm, kind: lightgbm, params: {n_estimators: 40, num_leaves: 7}}"
LOGREG = "  - {name: logreg, kind: sklearn, estimator: logistic_regression}"


def _fold_models(tmp_path, candidate: str, extra: str = ""):
    """The tiny data, its folds, the first candidate and its model fitted on each fold."""
    write_tiny_data(tmp_path)
    policy = load_policy(tiny_policy(tmp_path, candidates=candidate, extra=extra))
    data = load_data(policy)
    X, cands, _, _ = build_candidates(policy, data)
    folds = make_folds(data.y, scheme="stratified_kfold", n_folds=3, clusters=None, seed=3,
                       where="test")
    models = {k: cands[0].fit(X.iloc[folds != k], data.y[folds != k]) for k in range(3)}
    return data, X, folds, models


def test_allocate_keeps_small_cells_whole_and_spends_the_budget():
    take = allocate(np.array([5, 1000, 40, 300, 0]), 300)
    assert take.sum() == 300
    assert take[0] == 5 and take[2] == 40 and take[4] == 0  # small cells whole
    assert abs(int(take[1]) - int(take[3])) <= 1  # the large ones share what is left equally
    assert (allocate(np.array([3, 4]), 100) == [3, 4]).all()


def test_sample_is_stratified_seeded_and_weighted_back_to_the_counts():
    rng = np.random.default_rng(0)
    atoms = np.where(rng.random(20_000) < 0.01, 1, 0)  # a 1 % group
    folds = rng.integers(0, 5, 20_000)
    s = sample_rows(folds, atoms, 2, budget=1000, seed=7)
    assert len(s.rows) == 1000 and (np.diff(s.rows) > 0).all()
    small = atoms[s.rows] == 1
    assert small.sum() == (atoms == 1).sum()  # the small group is explained whole
    for k in range(5):  # each fold's rows are represented
        assert (folds[s.rows] == k).sum() >= 150
    # the weights give back each (fold, group) cell's size
    cells = atoms * 5 + folds
    np.testing.assert_allclose(np.bincount(cells[s.rows], weights=s.weights, minlength=10),
                               np.bincount(cells, minlength=10))
    again = sample_rows(folds, atoms, 2, budget=1000, seed=7)
    assert (again.rows == s.rows).all()
    assert not np.array_equal(sample_rows(folds, atoms, 2, budget=1000, seed=8).rows, s.rows)


class _Spy:
    """A fitted pipeline that records the rows (by index) it is asked to explain."""

    def __init__(self, fitted, seen: list):
        self.named_steps = {"prepare": self, "model": fitted.named_steps["model"]}
        self._prepare = fitted.named_steps["prepare"]
        self._seen = seen
        self.output_indices_ = self._prepare.output_indices_
        self.transformers_ = self._prepare.transformers_

    def transform(self, X):
        self._seen.append(np.asarray(X.index))
        return self._prepare.transform(X)


def test_lightgbm_values_equal_pred_contrib_and_no_row_is_explained_by_its_training_fold(
        tmp_path):
    data, X, folds, models = _fold_models(tmp_path, LGBM)
    seen = {k: [] for k in models}
    spies = {k: _Spy(m, seen[k]) for k, m in models.items()}
    sample = sample_rows(folds, data.atoms, data.n_atoms, budget=150, seed=3)
    ex = explain_out_of_fold(spies, X=X, folds=folds, sample=sample, features=data.features,
                             seed=3)
    assert ex.explainer == "tree" and ex.units == "log-odds"
    assert sorted(np.concatenate([np.concatenate(v) for v in seen.values()])) == \
        sorted(ex.rows.tolist())
    for k, chunks in seen.items():  # every row a fold model explained is of its test fold
        explained = np.concatenate(chunks)
        assert len(explained) and (folds[explained] == k).all()
        assert not np.isin(explained, np.flatnonzero(folds != k)).any()
    import shap

    for k, m in models.items():
        at = ex.fold == k
        xt = m.named_steps["prepare"].transform(X.iloc[ex.rows[at]])
        booster = m.named_steps["model"].booster_
        contrib = booster.predict(xt, pred_contrib=True)
        # LightGBM keeps the policy's columns in the order of its preparation (categorical
        # first): map them back by name
        owners = column_owners(m.named_steps["prepare"], data.features)
        np.testing.assert_allclose(ex.values[at][:, owners], contrib[:, :-1], atol=1e-10)
        np.testing.assert_allclose(ex.base[at], contrib[:, -1], atol=1e-10)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = shap.TreeExplainer(booster).shap_values(xt)
        np.testing.assert_allclose(ex.values[at][:, owners], np.asarray(tree).reshape(
            contrib[:, :-1].shape), atol=1e-10)
        np.testing.assert_allclose(ex.margin[at], booster.predict(xt, raw_score=True))


def test_tree_shap_threads_change_no_value(tmp_path):
    """The audit computes Tree SHAP with the free cores' threads: each row is computed alone,
    so the values are the same bits as with one thread."""
    data, X, folds, models = _fold_models(tmp_path, LGBM)
    sample = sample_rows(folds, data.atoms, data.n_atoms, budget=300, seed=3)
    one, two = (explain_out_of_fold(models, X=X, folds=folds, sample=sample,
                                    features=data.features, seed=3, threads=t) for t in (1, 2))
    assert len(one.rows) > 100 and one.explainer == "tree"
    for a, b in ((one.values, two.values), (one.base, two.base), (one.margin, two.margin)):
        assert np.array_equal(a, b)


def test_linear_values_are_shaps_linear_explainer_summed_back_to_the_columns(tmp_path):
    import shap

    data, X, folds, models = _fold_models(tmp_path, LOGREG)
    sample = sample_rows(folds, data.atoms, data.n_atoms, budget=90, seed=3)
    ex = explain_out_of_fold(models, X=X, folds=folds, sample=sample, features=data.features,
                             seed=3)
    assert ex.explainer == "linear" and ex.units == "log-odds"
    m = models[0]
    prepare, est = m.named_steps["prepare"], m.named_steps["model"]
    train = np.flatnonzero(folds != 0)
    bg = prepare.transform(X.iloc[train])
    at = ex.fold == 0
    xt = prepare.transform(X.iloc[ex.rows[at]])
    assert xt.shape[1] > len(data.features)  # one-hot parts to sum back
    ref = shap.LinearExplainer(est, shap.maskers.Independent(bg, max_samples=len(bg)))
    parts = ref.shap_values(xt)
    owners = column_owners(prepare, data.features)
    summed = np.zeros((len(xt), len(data.features)))
    for j, o in enumerate(owners):
        summed[:, o] += parts[:, j]
    np.testing.assert_allclose(ex.values[at], summed, atol=1e-9)
    # additivity: the margin is the expected value plus the values
    np.testing.assert_allclose(ex.base + ex.values.sum(1), ex.margin, atol=1e-9)


def test_other_models_use_the_permutation_explainer(tmp_path):
    nb = "  - {name: nb, kind: sklearn, estimator: gaussian_nb}"
    data, X, folds, models = _fold_models(tmp_path, nb)
    sample = sample_rows(folds, data.atoms, data.n_atoms, budget=30, seed=3)
    ex = explain_out_of_fold(models, X=X, folds=folds, sample=sample, features=data.features,
                             seed=3)
    assert ex.explainer == "permutation" and ex.units == "log-odds"
    np.testing.assert_allclose(ex.base + ex.values.sum(1), ex.margin, atol=1e-6)


def test_summaries_gap_decomposition_and_adverse_action_reasons():
    features = ["a", "b", "zip", "sex"]
    # rows 0-3 group 0, rows 4-7 group 1; zip pushes group 1 down, b pushes everyone a little
    values = np.array([[0.5, -0.1, 0.2, 0.0]] * 4 + [[0.4, -0.2, -0.9, -0.05]] * 4)
    base = np.array([0.1] * 4 + [0.12] * 4)  # two fold models with different expected values
    margin = base + values.sum(1)
    y_pred = np.array([1, 1, 1, 1, 0, 0, 0, 1], dtype=np.int8)
    g = GroupCodes(name="race", labels=("white", "black"), codes=np.array([0] * 4 + [1] * 4),
                   reference=None)
    spec = VariantInput(variant="v", model_of="v", note=None, models={}, y_pred=y_pred)
    out = summarise(spec, rows=np.arange(8), weights=np.ones(8), values=values, base=base,
                    margin=margin, groups=[g], features=features,
                    flags={"zip": "proxy", "sex": "protected"}, explainer="tree",
                    units="log-odds", rows_by_fold=[8], top_features=3)
    assert list(out.importance) == ["zip", "a", "b", "sex"]  # mean |SHAP|, largest first
    assert out.importance["zip"] == pytest.approx(0.55)
    d = out.disparities[0]
    assert (d.group, d.reference) == ("black", "white")  # reference: the higher mean margin
    assert d.gap == pytest.approx(margin[4] - margin[0])
    assert d.baseline + sum(d.contributions.values()) == pytest.approx(d.gap, abs=1e-9)
    assert next(iter(d.contributions)) == "zip" and d.contributions["zip"] == pytest.approx(-1.1)
    assert d.contributions[OTHER] == pytest.approx(-0.05)  # "sex" beyond the top 3 features
    black = next(r for r in out.reasons if r.group == "black")
    assert black.unfavorable == 3 and black.flagged == pytest.approx(1.0)
    main = {r.feature: r for r in black.reasons}
    assert main["zip"].main == pytest.approx(1.0) and main["zip"].flag == "proxy"
    # sex pushes down too (top 4), flagged as a protected attribute though never the main one
    assert main["sex"].main == 0 and main["sex"].top == pytest.approx(1.0)
    assert main["sex"].flag == "protected"
    assert not [r for r in out.reasons if r.group == "white"]  # no unfavorable decision
    assert out.additivity_error < 1e-12


def test_a_disparitys_reference_is_a_group_explained_on_enough_rows():
    """Hiring (review10): every intersection's attribution was measured against
    'unknown × Native Hawaiian or Pacific Islander', one row with the highest mean margin;
    the report hides attributions to groups under min_group_size, so the attribute whose gate
    warned had none. The reference is the highest mean margin among groups explained on at
    least min_group_size rows."""
    features = ["a", "b"]
    # group 0: 1 row with a high margin; groups 1 and 2: 5 rows each
    codes = np.array([0] + [1] * 5 + [2] * 5)
    values = np.array([[2.0, 0.0]] + [[0.5, 0.1]] * 5 + [[0.1, -0.2]] * 5)
    base = np.zeros(11)
    margin = base + values.sum(1)
    g = GroupCodes(name="race", labels=("tiny", "big", "other"), codes=codes, reference=None)
    spec = VariantInput(variant="v", model_of="v", note=None, models={},
                        y_pred=np.ones(11, dtype=np.int8))
    common = dict(rows=np.arange(11), weights=np.ones(11), values=values, base=base,
                  margin=margin, groups=[g], features=features, flags={}, explainer="tree",
                  units="log-odds", rows_by_fold=[11])
    assert {d.reference for d in summarise(spec, **common).disparities} == {"tiny"}
    out = summarise(spec, **common, min_rows=5)
    assert {d.reference for d in out.disparities} == {"big"}
    assert {d.group for d in out.disparities} == {"tiny", "other"}
    # no group as large: the highest mean margin of them all, as before
    assert {d.reference for d in summarise(spec, **common, min_rows=6).disparities} == {"tiny"}


def test_choose_variants_selected_first():
    assert choose_variants("b", ["a", "b", "c", "d"], 3) == ["b", "a", "c"]
    assert choose_variants("d", ["a", "b", "c", "d"], 2) == ["d", "a", "b"]
    assert choose_variants(None, ["a", "b"], 3) == ["a", "b"]
    assert choose_variants("a", ["a", "b"], 0) == ["a"]


def test_audit_explains_the_selected_and_best_variants_out_of_fold(tmp_path):
    write_tiny_data(tmp_path)
    cands = "\n".join([LGBM, LOGREG])
    mit = ("mitigation:\n  - {kind: threshold, candidates: [gbm], "
           "constraint: demographic_parity}\n"
           "  - {kind: reductions, candidates: [logreg], constraint: demographic_parity}\n"
           "explain: {variants: 4, rows: 240}\nproxies: false")
    result = run_audit(load_policy(tiny_policy(tmp_path, candidates=cands, extra=mit))).result
    e = result.analysis.explanations
    assert e is not None and e.rows == 240 and e.variants == 4
    names = [x.variant for x in e.explained] + [s.variant for s in e.skipped]
    assert names[0] == result.ranking.selected or result.ranking.selected in names
    assert set(names) == set(result.ranking.order[:4]) | {result.ranking.selected}
    skipped = {s.variant: s.reason for s in e.skipped}
    assert "randomised mixture" in skipped["logreg+reductions[demographic_parity]"]
    by = {x.variant: x for x in e.explained}
    thr = by["gbm+threshold[demographic_parity]"]
    assert thr.model == "gbm" and "group thresholds" in thr.note
    assert by["gbm"].model == "gbm" and by["gbm"].note is None
    assert by["logreg"].explainer == "linear"
    for x in e.explained:
        assert x.rows == 240 and sum(x.rows_by_fold) == 240 and len(x.rows_by_fold) == 3
        assert x.additivity_error < 1e-9
        assert set(x.importance) == set(result.data.features)
        for d in x.disparities:  # the gap comes from the models' own outputs
            assert d.baseline + sum(d.contributions.values()) == pytest.approx(d.gap, abs=1e-6)
        assert [a.attribute for a in x.groups] == ["sex", "region", "sex × region"]
    # the group-threshold variant explains the same margin with its own decisions
    assert thr.importance == by["gbm"].importance
    assert "explain" in result.provenance.timings
    assert AuditResult.model_validate_json(result.model_dump_json()) == result


def test_explain_false_turns_it_off(tmp_path):
    write_tiny_data(tmp_path)
    result = run_audit(load_policy(tiny_policy(tmp_path, extra="explain: false\n"
                                                                "proxies: false"))).result
    assert result.analysis.explanations is None
    assert "explain" not in result.provenance.timings


def test_a_large_forest_is_explained_on_fewer_rows(tmp_path, monkeypatch):
    from fairsel.analysis import explain

    monkeypatch.setattr(explain, "COST_BUDGET", 1.0)
    monkeypatch.setattr(explain, "MIN_ROWS", 60)
    write_tiny_data(tmp_path)
    rf = "  - {name: rf, kind: sklearn, estimator: random_forest, params: {n_estimators: 10}}"
    result = run_audit(load_policy(tiny_policy(
        tmp_path, candidates=rf, extra="explain: {rows: 300}\nproxies: false"))).result
    x = result.analysis.explanations.explained[0]
    assert x.rows == 60 and x.units == "probability" and "costly" in x.row_cap
    assert x.additivity_error < 1e-9
    # the reason given is the forest's (Tree SHAP), with the sample's size: one sentence,
    # not the two explainers' reasons run together
    assert "Tree SHAP of a forest costs" in x.row_cap and "permutation" not in x.row_cap
    assert "rather than the sample's 300" in x.row_cap


@pytest.mark.parametrize("estimator, explainer, units", [
    ("random_forest", "tree", "probability"), ("extra_trees", "tree", "probability"),
    ("decision_tree", "tree", "probability"), ("gradient_boosting", "tree", "log-odds"),
    # shap misreads its native categorical splits (values that do not add up): permutation
    ("hist_gradient_boosting", "permutation", "log-odds"),
])
def test_every_registered_tree_model_adds_up_to_its_margin(tmp_path, estimator, explainer,
                                                          units):
    cand = (f"  - {{name: m, kind: sklearn, estimator: {estimator}, "
            f"params: {{{'max_iter' if estimator.startswith('hist') else 'n_estimators'}: 10}}}}"
            if estimator not in ("decision_tree",) else
            f"  - {{name: m, kind: sklearn, estimator: {estimator}}}")
    data, X, folds, models = _fold_models(tmp_path, cand)
    sample = sample_rows(folds, data.atoms, data.n_atoms, budget=30, seed=3)
    ex = explain_out_of_fold(models, X=X, folds=folds, sample=sample, features=data.features,
                             seed=3)
    assert ex.explainer == explainer and ex.units == units
    np.testing.assert_allclose(ex.base + ex.values.sum(1), ex.margin, atol=1e-6)


def test_fold_models_too_large_to_keep_are_not_kept_and_the_variant_says_why(tmp_path,
                                                                              monkeypatch):
    from fairsel.analysis import explain

    monkeypatch.setattr(explain, "MAX_KEPT_NODES", 50)
    write_tiny_data(tmp_path)
    cands = "\n".join([LOGREG, "  - {name: rf, kind: sklearn, estimator: random_forest, "
                               "params: {n_estimators: 5}}"])
    result = run_audit(load_policy(tiny_policy(
        tmp_path, candidates=cands, extra="explain: {rows: 60}\nproxies: false"))).result
    e = result.analysis.explanations
    assert [x.variant for x in e.explained] == ["logreg"]
    assert [s.variant for s in e.skipped] == ["rf"]
    assert "too large to keep" in e.skipped[0].reason and "tree nodes" in e.skipped[0].reason


def test_permutation_values_are_exact_for_an_additive_model():
    """On a model whose logit is linear, every order gives coef × (x − background mean)."""
    from sklearn.linear_model import LogisticRegression

    from fairsel.analysis.explain import _permutation_values

    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 5))
    y = (X @ [1.0, -2.0, 0.5, 0.0, 1.5] + rng.normal(size=300) > 0).astype(int)
    est = LogisticRegression().fit(X, y)
    bg, xt = X[:40], X[200:230]
    values, base, margin = _permutation_values(est, xt, bg, 1, seed=0)
    np.testing.assert_allclose(values, (xt - bg.mean(0)) * est.coef_[0], atol=1e-8)
    np.testing.assert_allclose(base + values.sum(1), margin, atol=1e-9)
    np.testing.assert_allclose(margin, est.decision_function(xt), atol=1e-8)


def _exact_shapley(f, xt: np.ndarray, bg: np.ndarray) -> tuple[np.ndarray, float]:
    """Shapley values of every row of ``xt`` by enumerating every coalition: the value of a
    coalition S is the mean of ``f`` over the background rows with S's features set to the
    row's (shap's Independent masker, the game fairsel's permutation walks sample)."""
    from itertools import combinations
    from math import factorial

    m = xt.shape[1]
    values = np.zeros(xt.shape)

    def v(row, coalition):
        z = bg.copy()
        z[:, list(coalition)] = row[list(coalition)]
        return f(z).mean()

    for i, row in enumerate(xt):
        for j in range(m):
            rest = [k for k in range(m) if k != j]
            for size in range(m):
                w = factorial(size) * factorial(m - size - 1) / factorial(m)
                for c in combinations(rest, size):
                    values[i, j] += w * (v(row, c + (j,)) - v(row, c))
    return values, float(f(bg).mean())


def test_permutation_values_match_the_exact_shapley_values_in_expectation():
    """On a model with interactions, the values agree with the exact Shapley values of the same
    game, every coalition of the 3 features enumerated (which shap's ExactExplainer with an
    Independent masker of the same background gives to 1e-12, checked when this replaced the
    comparison with shap's PermutationExplainer at 2,000 evaluations a row: that reference is
    itself 0.047 from the exact values here, and its first call compiles shap's numba code,
    12–39 s of the suite)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from fairsel.analysis import explain

    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 3))
    y = ((X[:, 0] * X[:, 1] + X[:, 2]) + 0.3 * rng.normal(size=400) > 0).astype(int)
    est = HistGradientBoostingClassifier(max_iter=30).fit(X, y)
    bg, xt = X[:20], X[300:310]
    # with 3 features, 6 orders: enough walks visit each to give the exact Shapley values
    old = explain.PERMUTATIONS
    try:
        explain.PERMUTATIONS = 200
        values, base, _ = explain._permutation_values(est, xt, bg, 1, seed=0)
    finally:
        explain.PERMUTATIONS = old
    exact, exact_base = _exact_shapley(lambda x: explain._logit(est.predict_proba(x)[:, 1]),
                                       xt, bg)
    assert np.abs(exact).max() > 0.5  # the features matter: 0.05 is a real bound
    np.testing.assert_allclose(values, exact, atol=0.05)
    np.testing.assert_allclose(base, exact_base, atol=1e-9)
