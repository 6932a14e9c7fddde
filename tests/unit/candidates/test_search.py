"""Search spaces (issue 11 part 1): trials, seeding, the holdout split, pruning, optimism.

The audits here are small (1,000 rows of pure noise, decision trees, few bootstrap resamples)
so the whole file runs in seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairsel.audit import OPTIMISTIC_AFTER, run_audit
from fairsel.candidates.search import expand_policy, settings, trial_name
from fairsel.errors import DataError, PolicyError
from fairsel.policy import load_policy, parse_policy
from fairsel.splits import holdout_mask

NOISE_ROWS = 1000


def _noise_data(folder: Path, rows: int = NOISE_ROWS) -> None:
    """Features, a protected attribute and an outcome that are all independent: no signal."""
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(6)})
    frame["sex"] = rng.choice(["f", "m"], size=rows)
    frame["branch"] = rng.integers(0, 60, size=rows)
    frame["y"] = rng.choice(["yes", "no"], size=rows)
    frame.to_csv(folder / "noise.csv", index=False)


def _policy(folder: Path, *, search: str, holdout: str = "", gates: str = "[]",
            extra_candidates: str = "", seed: int = 5) -> Path:
    text = f"""version: 1
name: noise
seed: {seed}
data: {{path: noise.csv, target: y, favorable: "yes", exclude: [branch]}}
protected: [{{column: sex}}]
validation: {{scheme: stratified_kfold, folds: 4{holdout}}}
candidates:
  - name: tree
    kind: sklearn
    estimator: decision_tree
    search:
{search}
{extra_candidates}
metrics: {{confidence: {{resamples: 200}}}}
gates: {gates}
proxies: false
report: {{formats: [json]}}
"""
    path = folder / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


RANDOM_50 = """      method: random
      trials: 50
      params:
        max_depth: {low: 2, high: 12, integer: true}
        min_samples_leaf: {low: 1, high: 40, integer: true}
        max_features: {low: 0.2, high: 1.0}
        criterion: [gini, entropy]
        random_state: {low: 0, high: 1000000, integer: true}"""


def _parsed(search: str, seed: int = 5, mitigation: str = ""):
    return parse_policy(f"""version: 1
name: p
seed: {seed}
data: {{path: d.csv, target: y, favorable: 1}}
protected: [{{column: sex}}]
candidates:
  - name: gbm
    kind: lightgbm
    params: {{n_estimators: 20}}
    search:
{search}
  - {{name: logreg, kind: sklearn, estimator: logistic_regression}}
{mitigation}""")


SPACE = """      trials: 12
      params:
        num_leaves: [7, 15, 31]
        learning_rate: {low: 0.01, high: 0.3, log: true}
        min_child_samples: {low: 5, high: 100, integer: true}"""


def test_same_policy_and_seed_give_the_same_trials_and_another_seed_others():
    a, ta = expand_policy(_parsed(SPACE))
    b, tb = expand_policy(_parsed(SPACE))
    c, tc = expand_policy(_parsed(SPACE, seed=6))
    assert [t.params for t in ta.values()] == [t.params for t in tb.values()]
    assert [t.params for t in ta.values()] != [t.params for t in tc.values()]
    assert [x.name for x in a.candidates] == [f"gbm#{i:02d}" for i in range(1, 13)] + ["logreg"]
    assert a.candidates[0].params == {"n_estimators": 20, **ta["gbm#01"].params}
    assert all(x.search is None for x in a.candidates)


def test_random_draws_stay_in_their_ranges_and_types():
    _, trials = expand_policy(_parsed(SPACE.replace("trials: 12", "trials: 300")))
    params = [t.params for t in trials.values()]
    assert {p["num_leaves"] for p in params} == {7, 15, 31}
    lr = np.array([p["learning_rate"] for p in params])
    assert lr.min() >= 0.01 and lr.max() <= 0.3
    # log scale: about as many draws below the geometric middle as above it
    assert 0.4 < np.mean(lr < np.sqrt(0.01 * 0.3)) < 0.6
    mcs = [p["min_child_samples"] for p in params]
    assert all(isinstance(m, int) and 5 <= m <= 100 for m in mcs)
    assert min(mcs) <= 10 and max(mcs) >= 95


def test_grid_lists_the_combinations_in_order_capped_by_trials():
    spec = _parsed("""      method: grid
      trials: 5
      params:
        num_leaves: [7, 15]
        max_depth: [3, 4, 5]""").candidates[0]
    got = settings(spec.name, spec.search, 0)
    assert got == [{"num_leaves": 7, "max_depth": 3}, {"num_leaves": 7, "max_depth": 4},
                   {"num_leaves": 7, "max_depth": 5}, {"num_leaves": 15, "max_depth": 3},
                   {"num_leaves": 15, "max_depth": 4}]
    assert trial_name("gbm", 7, 30) == "gbm#07" and trial_name("gbm", 7, 300) == "gbm#007"


def test_a_mitigation_naming_the_searched_candidate_applies_to_every_trial():
    policy, _ = expand_policy(_parsed(SPACE.replace("12", "3"), mitigation="""mitigation:
  - {kind: reweighing, candidates: [gbm, logreg]}"""))
    assert policy.mitigation[0].candidates == ["gbm#01", "gbm#02", "gbm#03", "logreg"]


def test_holdout_mask_is_seeded_grouped_and_stratified():
    rng = np.random.default_rng(3)
    y = (rng.random(5000) < 0.3).astype(np.int8)
    clusters = rng.integers(0, 400, size=5000)
    m = holdout_mask(y, 0.2, clusters=clusters, seed=9)
    assert np.array_equal(m, holdout_mask(y, 0.2, clusters=clusters, seed=9))
    assert not np.array_equal(m, holdout_mask(y, 0.2, clusters=clusters, seed=10))
    assert not set(clusters[m]) & set(clusters[~m])  # no cluster on both sides
    assert abs(m.mean() - 0.2) < 0.03
    assert abs(y[m].mean() - y.mean()) < 0.03
    rows = holdout_mask(y, 0.25, seed=1)
    assert abs(rows.mean() - 0.25) < 0.002  # rows: exact quota per outcome
    assert abs(y[rows].mean() - y.mean()) < 0.002


def test_holdout_with_one_outcome_is_a_data_error():
    y = np.array([1] * 40 + [0], dtype=np.int8)
    with pytest.raises(DataError, match=r"d.csv: validation → holdout 0.1 leaves the holdout"):
        holdout_mask(y, 0.1, seed=0, where="d.csv")


def test_no_signal_fifty_trials_look_better_than_chance_and_the_holdout_says_chance(tmp_path):
    _noise_data(tmp_path)
    plain = run_audit(load_policy(_policy(tmp_path, search=RANDOM_50))).result
    auc = {v.name: v.performance["roc_auc"].value for v in plain.variants}
    assert len(auc) == 50 and all(n.startswith("tree#") for n in auc)
    best = max(auc.values())
    # the trials average chance, yet the best of 50 looks like a (weak) model, on pure noise
    assert abs(np.mean(list(auc.values())) - 0.5) < 0.015
    assert best > 0.525, best
    sel = plain.selection
    assert sel.variants == 50 > OPTIMISTIC_AFTER and sel.optimistic and sel.holdout is None
    assert f"'{plain.ranking.selected}'" in sel.note and "holdout" in sel.note

    held = run_audit(load_policy(_policy(tmp_path, search=RANDOM_50,
                                         holdout=", holdout: 0.2"))).result
    sel = held.selection
    assert not sel.optimistic and sel.note is None
    assert sel.holdout.rows == 200 and held.data.rows_used == NOISE_ROWS
    assert sum(held.validation.fold_sizes) == NOISE_ROWS - 200
    chosen = held.ranking.selected
    cv_auc = held.variant(chosen).performance["roc_auc"].value
    hv = sel.holdout.variants[0]
    assert hv.name == chosen and hv.folds[0].n == 200
    h_auc = hv.performance["roc_auc"]
    assert abs(h_auc.value - 0.5) < 0.08, h_auc  # near chance on rows no choice has seen
    assert h_auc.ci[0] < 0.5 < h_auc.ci[1], h_auc
    assert cv_auc - h_auc.value > 0.03  # the cross-validated figure flattered the winner
    assert held.verdict.selected == chosen and "on the holdout (200 rows)" in held.verdict.message
    # the runner-up within the tolerance is refitted and measured on the holdout too
    near = [n for n in held.ranking.order if n in held.ranking.passed_over
            and held.ranking.passed_over[n].reason == "less_fair"]
    assert near, "50 noise trials: some lie within the tolerance of the best"
    assert [v.name for v in sel.holdout.variants] == [chosen, near[0]]
    assert {g.variant for g in sel.holdout.gates} <= {chosen, near[0]}


def test_the_verdict_is_judged_on_the_holdout_figures(tmp_path):
    _noise_data(tmp_path)
    search = RANDOM_50.replace("trials: 50", "trials: 30")
    # a gate the flattered cross-validated winner passes and the holdout refutes
    held = run_audit(load_policy(_policy(
        tmp_path, search=search, holdout=", holdout: 0.2",
        gates="[{metric: roc_auc, min: 0.515}]"))).result
    chosen = held.ranking.selected
    assert chosen is not None and held.variant(chosen).status == "PASS"
    hv = held.selection.holdout.variants[0]
    assert hv.status == "FAIL" and hv.performance["roc_auc"].value < 0.515
    assert [g.status for g in held.selection.holdout.gates if g.variant == chosen] == ["FAIL"]
    assert held.verdict.status == "FAIL" and held.verdict.exit_code == 1
    assert held.verdict.selected is None
    assert f"'{chosen}', selected by cross-validation, does not pass" in held.verdict.message


def test_pruned_trials_are_marked_and_never_selected(tmp_path):
    _noise_data(tmp_path)
    search = RANDOM_50.replace("trials: 50", "trials: 4") + "\n      prune: true"
    logreg = "  - {name: logreg, kind: sklearn, estimator: logistic_regression}"
    res = run_audit(load_policy(_policy(tmp_path, search=search, extra_candidates=logreg,
                                        gates="[{metric: roc_auc, min: 0.8}]"))).result
    trials = [v for v in res.variants if v.trial is not None]
    assert len(trials) == 4 and res.selection.pruned == 4
    for v in trials:
        assert v.trial.pruned and v.status == "ERROR" and v.rank is not None
        assert v.trial.pruned_reason.startswith("roc_auc 0.") and "below 0.8 by more than 0.05" \
            in v.trial.pruned_reason and "folds 0-1" in v.trial.pruned_reason
    assert res.variant("logreg").trial is None and res.variant("logreg").status == "FAIL"
    assert res.failures == []  # pruning is not a failure
    # without prune the same trials are measured and fail the gate in the ordinary way
    full = run_audit(load_policy(_policy(tmp_path, search=search.replace("prune: true", ""),
                                         gates="[{metric: roc_auc, min: 0.8}]"))).result
    assert {v.status for v in full.variants} == {"FAIL"}
    assert not any(v.trial.pruned for v in full.variants)


def test_trial_params_are_in_results_and_the_policy_as_written(tmp_path):
    _noise_data(tmp_path)
    search = RANDOM_50.replace("trials: 50", "trials: 3")
    res = run_audit(load_policy(_policy(tmp_path, search=search))).result
    v = res.variant("tree#02")
    assert set(v.trial.params) == {"max_depth", "min_samples_leaf", "max_features", "criterion",
                                   "random_state"}
    assert v.trial.of == "tree" and v.trial.number == 2
    # results.json keeps the policy as written: one candidate with its search
    assert [c["name"] for c in res.policy["candidates"]] == ["tree"]
    assert res.policy["candidates"][0]["search"]["trials"] == 3
    assert not res.selection.optimistic  # 3 variants: not flagged


@pytest.mark.parametrize("space, where, message", [
    ("num_leavs: [7, 15]", "search → params → num_leavs",
     "unknown LightGBM parameter 'num_leavs'; did you mean 'num_leaves'?"),
    ("num_leaves: [7, 1]", "search → params → num_leaves[1]", "value 1 of 'num_leaves' is refused"),
    ("learning_rate: {low: 0.3, high: 0.01}", "search → params → learning_rate → high",
     "high (0.01) must be above low (0.3)"),
    ("n_estimators: [5]", "search → params → n_estimators", "'n_estimators' is both fixed (params) and searched"),
])
def test_search_parameters_are_checked_before_any_fit(tmp_path, space, where, message):
    from fairsel.audit import plan

    policy = _parsed(f"      params:\n        {space}")
    with pytest.raises(PolicyError) as err:
        plan(policy)
    assert f"candidates[0] → {where}: candidate 'gbm': {message}" in str(err.value)


OPTUNA_8 = RANDOM_50.replace("method: random", "method: optuna").replace("trials: 50",
                                                                           "trials: 8")


def test_optuna_trials_are_seeded_and_drawn_from_the_space(tmp_path):
    pytest.importorskip("optuna")
    _noise_data(tmp_path, rows=400)
    runs = [run_audit(load_policy(_policy(tmp_path, search=OPTUNA_8, seed=s))).result
            for s in (5, 5, 6)]
    params = [[v.trial.params for v in r.variants] for r in runs]
    assert params[0] == params[1] and params[0] != params[2]
    for p in params[0]:
        assert 2 <= p["max_depth"] <= 12 and isinstance(p["max_depth"], int)
        assert 0.2 <= p["max_features"] <= 1.0 and p["criterion"] in ("gini", "entropy")
    assert [v.name for v in runs[0].variants] == [f"tree#{i:02d}" for i in range(1, 9)]
    assert runs[0].selection.trials == 8


def test_optuna_is_told_the_ranking_rule(tmp_path):
    """search.objective ranking: a variant failing an error gate scores below every passing
    one, however good its performance; performance alone prefers it."""
    from fairsel.audit import FoldOutput, search_objective
    from fairsel.data import load_data
    from fairsel.metrics import Confidence

    _noise_data(tmp_path, rows=400)
    policy = load_policy(_policy(tmp_path, search=OPTUNA_8,
                                 gates="[{metric: disparate_impact, min: 0.8}]"))
    data = load_data(policy)
    rng = np.random.default_rng(0)
    m = data.attributes[0].codes(data.atoms) == data.attributes[0].labels.index("m")
    # favorable decisions only for group m (disparate impact 0), yet the outcome ranks well
    accurate_unfair = 0.3 * data.y + 0.3 * m + 0.1 + 0.05 * rng.random(len(m))
    # the same decisions in both groups, with noisier scores
    fair_weaker = np.clip(0.2 * data.y + 0.4 + 0.6 * rng.random(len(m)), 0, 1)

    def outputs(scores):
        rows = np.arange(len(scores))
        return [(0, 0, rows, [FoldOutput(name="t", y_score=scores,
                                         y_pred=(scores >= 0.5).astype(np.int8))], None)]

    kw = dict(policy=policy, data=data, confidence=Confidence(method="none"))
    unfair_r = search_objective(outputs(accurate_unfair), "ranking", **kw)
    fair_r = search_objective(outputs(fair_weaker), "ranking", **kw)
    assert unfair_r < -5 < fair_r  # fails disparate_impact: below every passing trial
    unfair_p = search_objective(outputs(accurate_unfair), "performance", **kw)
    fair_p = search_objective(outputs(fair_weaker), "performance", **kw)
    assert unfair_p > fair_p > 0.5


def _stable(result) -> dict:
    """An AuditResult as results.json holds it, without its volatile fields."""
    from fairsel.results import VOLATILE_FIELDS

    data = result.model_dump(mode="json")
    for dotted in VOLATILE_FIELDS:
        *head, last = dotted.split(".")
        d = data
        for h in head:
            d = d.get(h, {}) if isinstance(d, dict) else {}
        if isinstance(d, dict):
            d.pop(last, None)
    return data


def test_optuna_trials_run_in_batches_through_the_backend(tmp_path, monkeypatch):
    """An optuna search asks OPTUNA_BATCH trials, runs all their folds in one call of the
    backend's runner (each task carrying its trial's candidate), then asks the next batch."""
    pytest.importorskip("optuna")
    from fairsel.candidates.search import OPTUNA_BATCH
    from fairsel.execution import Runner

    calls: list[list[tuple]] = []
    original = Runner.run

    def recording(self, fn, shared, tasks, **kw):
        calls.append(list(tasks))
        return original(self, fn, shared, tasks, **kw)

    monkeypatch.setattr(Runner, "run", recording)
    _noise_data(tmp_path, rows=400)
    res = run_audit(load_policy(_policy(tmp_path, search=OPTUNA_8))).result
    assert OPTUNA_BATCH < 8
    batches = [c for c in calls if c]
    sizes = [len({t[0] for t in c}) for c in batches]
    assert sizes == [OPTUNA_BATCH] * (8 // OPTUNA_BATCH)
    assert all(len(c) == OPTUNA_BATCH * 4 for c in batches)  # every fold of the batch at once
    by_name = {v.name: v.trial.params for v in res.variants}
    for c in batches:  # each task carries its trial's setting, as results.json reports it
        for _, _, cand in c:
            assert {k: cand.params[k] for k in by_name[cand.name]} == by_name[cand.name]


def test_optuna_gives_the_same_trials_and_results_with_jobs_2(tmp_path):
    """Same policy and seed: the same trials and results in one process and on a pool of
    2 workers (the batch size does not depend on the workers)."""
    pytest.importorskip("optuna")
    _noise_data(tmp_path, rows=400)
    policy = load_policy(_policy(tmp_path, search=OPTUNA_8, seed=7))
    one, two = (_stable(run_audit(policy, jobs=j).result) for j in (1, 2))
    assert [v["trial"]["params"] for v in one["variants"]] == \
        [v["trial"]["params"] for v in two["variants"]]
    assert one == two
    # the trials differ: optuna was told the batches' figures, not handed one setting
    assert len({str(v["trial"]["params"]) for v in one["variants"]}) == 8
