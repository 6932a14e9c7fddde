"""Worst-slice discovery and the proxy leftovers inside an audit, on data fairsel generates.

The issue's "done when": on synthetic lending data with a planted weak slice (a feature
combination where the model's error rate doubles) and a planted proxy (a feature predicting
race with AUC about 0.9), both are found and ranked first: the slice by the slice analysis,
the proxy by the proxy screen.
"""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from fairsel.audit import PROXY_FREE, add_proxy_free, run_audit
from fairsel.policy import load_policy
from fairsel.results import AuditResult
from fairsel.synthetic import make_lending, plant_proxy, plant_weak_slice
from tests.unit.test_registries import tiny_policy, write_tiny_data

PLANTED = {"employment": "salaried", "purpose": "car"}


def _policy(folder, extra: str = "", candidates: str = "") -> object:
    text = textwrap.dedent("""\
        version: 1
        name: planted
        seed: 5
        data: {path: planted.csv, target: approved, favorable: "yes", id: application_id,
               exclude: [branch]}
        protected:
          - column: race
          - column: sex
        intersections: false
        validation: {scheme: stratified_group_kfold, folds: 4, groups: branch}
        candidates:
          - {name: logreg, kind: sklearn, estimator: logistic_regression}
        """) + candidates + textwrap.dedent("""\
        metrics:
          confidence: {method: bootstrap, level: 0.95, resamples: 50}
        report: {formats: [json], output: out}
        """) + extra
    path = folder / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return load_policy(path)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted")
    df = make_lending(12_000, seed=12)
    df = plant_proxy(plant_weak_slice(df, PLANTED, seed=12), attribute="race", seed=12)
    df.to_csv(folder / "planted.csv", index=False)
    return folder, df


@pytest.fixture(scope="module")
def audited(planted):
    folder, df = planted
    run = run_audit(_policy(folder))
    return df, run


def test_planted_weak_slice_and_proxy_are_found_and_ranked_first(audited):
    df, run = audited
    result = run.result
    # the proxy screen ranks the planted proxy first for race, and flags it
    race = next(a for a in result.analysis.proxies.attributes if a.attribute == "race")
    assert race.features[0].feature == "zip_area" and race.flagged[0] == "zip_area"
    assert 0.85 <= race.features[0].auc <= 0.95
    # the slice analysis ranks the planted slice first by error rate, for the selected variant
    slices = result.analysis.slices
    selected = slices.variants[0]
    assert selected.variant == result.ranking.selected == "logreg"
    worst = selected.top["error_rate"][0]
    assert worst.text == "employment = salaried ∧ purpose = car"
    assert {c.feature: c.value for c in worst.conditions} == PLANTED
    # where the model's error rate doubles (out of fold, as the audit measured it)
    pred = next(p for p in run.predictions if p.name == "logreg").y_pred
    inside = ((df["employment"] == "salaried") & (df["purpose"] == "car")).to_numpy()
    wrong = pred != run.y_true
    assert worst.rows == inside.sum() and worst.rate == pytest.approx(wrong[inside].mean())
    assert worst.rate >= 1.8 * worst.rest_rate, (worst.rate, worst.rest_rate)
    assert worst.ci[0] > 0 and worst.p_adjusted < 1e-6
    # the protected groups inside the slice are counted
    assert sum(worst.groups["sex"].values()) == worst.rows
    assert set(worst.groups["race"]) >= {"white", "black"}
    # the features and the protected attributes are searched; the cost is recorded
    assert {"zip_area", "income", "race", "sex"} <= set(slices.features)
    assert "slices" in result.provenance.timings


def test_results_json_round_trips_and_the_schema_describes_slices(audited):
    _, run = audited
    result = run.result
    assert AuditResult.model_validate_json(result.model_dump_json()) == result
    schema = json.dumps(AuditResult.model_json_schema(), ensure_ascii=False)
    for text in ("Benjamini–Hochberg adjusted over every test", "Newcombe's hybrid score",
                 "slices.depth"):
        assert text in schema


def test_slices_false_turns_it_off_and_settings_are_taken(tmp_path):
    write_tiny_data(tmp_path)
    off = run_audit(load_policy(tiny_policy(tmp_path, extra="slices: false"))).result
    assert off.analysis.slices is None and "slices" not in off.provenance.timings
    on = run_audit(load_policy(tiny_policy(
        tmp_path, extra="slices: {depth: 1, bins: 3, min_rows: 50, metrics: [fnr], top: 2, "
                        "variants: 1}",
        candidates="  - {name: logreg, kind: sklearn, estimator: logistic_regression}\n"
                   "  - {name: tree, kind: sklearn, estimator: decision_tree}"))).result
    s = on.analysis.slices
    assert s.depth == 1 and s.bins == 3 and s.min_rows == 50 and s.metrics == ["fnr"]
    assert [v.variant for v in s.variants] == [on.ranking.selected or on.ranking.order[0]]
    v = s.variants[0]
    assert list(v.top) == ["fnr"] and len(v.top["fnr"]) <= 2
    assert v.tested == s.slices  # one metric: one test per slice


def test_exclude_flagged_adds_a_variant_trained_without_the_proxies(planted):
    folder, _ = planted
    policy = _policy(folder, extra="proxies: {exclude_flagged: true}\nslices: false\n",
                     candidates="  - {name: gbm, kind: lightgbm, params: {n_estimators: 30}}\n")
    result = run_audit(policy).result
    names = [v.name for v in result.variants]
    assert names == ["logreg", "gbm", f"logreg+{PROXY_FREE}", f"gbm+{PROXY_FREE}"]
    for base in ("logreg", "gbm"):
        v = result.variant(f"{base}+{PROXY_FREE}")
        assert v.candidate == base and v.base == base and v.mitigation == PROXY_FREE
        assert v.rank is not None and v.name in result.ranking.order  # ranked with the others
        assert not v.uses_protected_at_decision
        assert v.performance["roc_auc"].value != result.variant(base).performance[
            "roc_auc"].value
        # its feature gate leaves out the features it never sees; the base's names them
        gate = {g.variant: g for g in result.gates if g.metric == "proxy_feature_auc"}
        assert gate[base].status == "WARN" and "proxies: zip_area for race" in gate[base].message
        assert gate[v.name].status == "PASS" and "zip_area for race" not in gate[v.name].message
        assert "trained without zip_area" in gate[v.name].message
        assert gate[v.name].observed <= 0.70 < gate[base].observed
    from fairsel.report.html import render_html

    html = render_html(result, with_charts=False)
    assert html.count("It is trained without the features the proxy screen flags") == 2
    text = " ".join(html.split())
    # the kind's row never claims the attribute is used in training: only the screen uses it
    assert "used only by the proxy screen, before training" in text
    assert "features left out (proxies.exclude_flagged)" in text
    assert "No — the attribute is used only in training" not in text


def test_add_proxy_free_drops_the_flagged_features_and_keeps_fixed_candidates(planted):
    from types import SimpleNamespace

    from fairsel.candidates import make_trainable

    spec = SimpleNamespace(kind="sklearn", estimator="logistic_regression", params={},
                           name="logreg", threshold=0.5)
    cand = make_trainable(spec, seed=0, numeric=["income", "age"],
                          categorical=["zip_area", "purpose"])
    fixed = SimpleNamespace(name="vendor", trainable=False)
    screen = SimpleNamespace(attributes=[SimpleNamespace(flagged=["zip_area"]),
                                         SimpleNamespace(flagged=["age"])])
    cands, types = [cand, fixed], {0: ("probability", "x"), 1: ("score", "y")}
    origin = add_proxy_free(cands, types, screen)
    assert origin == {2: "logreg"} and len(cands) == 3 and types[2] == types[0]
    assert cands[2].name == "logreg+no_proxies"
    assert cands[2].numeric == ["income"] and cands[2].categorical == ["purpose"]
    assert cand.numeric == ["income", "age"]  # the original is untouched
    none = SimpleNamespace(attributes=[SimpleNamespace(flagged=[])])
    assert add_proxy_free([cand], {0: ("probability", "x")}, none) == {}


def test_proxy_gates_read_insufficient_on_a_40_row_audit(tmp_path):
    write_tiny_data(tmp_path, n=40)
    result = run_audit(load_policy(tiny_policy(tmp_path, min_group_size=30,
                                               extra="slices: false"))).result
    for a in result.analysis.proxies.attributes:
        assert a.insufficient and "min_group_size (30)" in a.insufficient
        assert not a.flagged and not a.all_features_flagged
    gates = [g for g in result.gates if g.metric.startswith("proxy_")]
    assert gates and all(g.status == "INSUFFICIENT" for g in gates)
    assert all(set(g.by_attribute.values()) == {"INSUFFICIENT"} for g in gates)
    assert all("fewer than two groups of at least min_group_size (30) rows" in g.message
               for g in gates)
    # the same data with 400 rows is judged (PASS or WARN, never INSUFFICIENT)
    write_tiny_data(tmp_path, n=400)
    big = run_audit(load_policy(tiny_policy(tmp_path, min_group_size=30,
                                            extra="slices: false"))).result
    assert all(a.insufficient is None for a in big.analysis.proxies.attributes)
    assert all(g.status in ("PASS", "WARN") for g in big.gates
               if g.metric.startswith("proxy_"))


def test_one_attribute_too_small_leaves_the_gate_undecided_unless_a_flag_fails():
    from fairsel.gates import proxy_gates
    from fairsel.results import ProxyAttribute, ProxyFeature, ProxyScreen

    def attr(name, auc, insufficient=None):
        return ProxyAttribute(attribute=name, columns=[name], groups=["a", "b"], rows=100,
                              features_screened=1, features=[ProxyFeature(
                                  feature="f", kind="numeric", levels=2, nmi=0.1, auc=auc,
                                  flagged=auc > 0.7 and insufficient is None)],
                              flagged=["f"] if auc > 0.7 and insufficient is None else [],
                              all_features_auc=0.6, all_features_rows=100,
                              insufficient=insufficient)

    variant = [np.nan]  # proxy_gates only reads .status and .name
    from types import SimpleNamespace
    variant = [SimpleNamespace(name="m", status="PASS")]
    screen = ProxyScreen(max_feature_auc=0.7, max_all_auc=0.8, bins=10, max_rows=100,
                         attributes=[attr("sex", 0.6), attr("race", 0.95, "too small")])
    feat = proxy_gates(screen, variant, severity="warn", first_index=0)[0]
    assert feat.status == "INSUFFICIENT" and feat.by_attribute == {
        "sex": "PASS", "race": "INSUFFICIENT"}
    assert "undecided on race: too small" in feat.message
    screen = ProxyScreen(max_feature_auc=0.7, max_all_auc=0.8, bins=10, max_rows=100,
                         attributes=[attr("sex", 0.9), attr("race", 0.95, "too small")])
    feat = proxy_gates(screen, variant, severity="warn", first_index=0)[0]
    assert feat.status == "WARN"  # a flag on a judged attribute still shows
