"""The proxy screen (fairsel.analysis.proxies) on synthetic data fairsel generates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import normalized_mutual_info_score, roc_auc_score

from fairsel.analysis import proxies as px
from fairsel.candidates import prepare_frame
from fairsel.gates import proxy_gates
from fairsel.splits import make_folds
from fairsel.synthetic import make_lending, plant_proxy

FEATURES = ["region", "age", "income", "loan_amount", "debt_to_income", "credit_history_years",
            "prior_defaults", "employment", "purpose", "zip_area"]
CATEGORICAL = ["region", "employment", "purpose", "zip_area"]


@pytest.fixture(scope="module")
def lending():
    """8,000 synthetic applications with a planted proxy of race (zip_area), in 5 folds."""
    df = plant_proxy(make_lending(8_000, seed=3), attribute="race", seed=3)
    X = prepare_frame(df[FEATURES], CATEGORICAL)
    race = df["race"].fillna("unknown").to_numpy()
    labels = tuple(sorted(set(race)))
    codes = np.searchsorted(np.array(labels), race)
    sex_labels = ("female", "male")
    sex = np.searchsorted(np.array(sex_labels), df["sex"].to_numpy())
    folds = make_folds((df["approved"] == "yes").to_numpy().astype(np.int8),
                       scheme="stratified_kfold", n_folds=5, clusters=None, seed=3,
                       where="test")
    attrs = [px.AttributeCodes("race", codes, labels, ("race",)),
             px.AttributeCodes("sex", sex, sex_labels, ("sex",))]
    return X, attrs, folds


@pytest.fixture(scope="module")
def screen(lending):
    X, attrs, folds = lending
    return px.screen_proxies(X, categorical=CATEGORICAL, attributes=attrs, folds=folds, seed=3,
                             declared=["purpose"])


def _oof_rate_scores(codes, groups, folds, n_groups):
    """Each row's out-of-fold per-level group shares, the slow way (pandas), as an oracle."""
    out = np.zeros((len(codes), n_groups))
    prior_all = None
    for f in np.unique(folds):
        tr, te = folds != f, folds == f
        counts = pd.crosstab(codes[tr], groups[tr]).reindex(columns=range(n_groups),
                                                            fill_value=0)
        shares = counts.div(counts.sum(axis=1), axis=0)
        prior_all = np.bincount(groups[tr], minlength=n_groups) / tr.sum()
        for i in np.flatnonzero(te):
            out[i] = shares.loc[codes[i]].to_numpy() if codes[i] in shares.index else prior_all
    return out


def test_planted_proxy_found_and_ranked_first(screen):
    race = next(a for a in screen.attributes if a.attribute == "race")
    assert "unknown" not in race.groups
    top = race.features[0]
    assert top.feature == "zip_area"
    assert 0.85 <= top.auc <= 0.95, top.auc
    assert top.flagged and race.flagged[0] == "zip_area"
    assert max(race.features[1:], key=lambda f: f.nmi).nmi < top.nmi
    assert race.all_features_auc > 0.85 and race.all_features_flagged
    # race's own column is never screened against race; sex has no planted proxy
    assert all(f.feature != "race" for f in race.features)
    sex = next(a for a in screen.attributes if a.attribute == "sex")
    assert "zip_area" not in sex.flagged
    # a declared proxy is always reported, whatever its rank
    assert any(f.feature == "purpose" and f.declared for f in sex.features)


def test_nmi_and_feature_auc_match_scikit_learn(lending, screen):
    X, attrs, folds = lending
    race = attrs[0]
    keep = np.array([race.labels[c] != "unknown" for c in race.codes])
    known = [i for i, lab in enumerate(race.labels) if lab != "unknown"]
    g = np.searchsorted(np.array(known), race.codes[keep])
    result = next(a for a in screen.attributes if a.attribute == "race")
    by_name = {f.feature: f for f in result.features}
    checked = 0
    for col in ("zip_area", "income", "age", "region"):
        if col not in by_name:
            continue
        codes, k = px.encode_feature(X[col], categorical=col in CATEGORICAL, bins=10)
        codes = codes[keep]
        assert by_name[col].nmi == pytest.approx(normalized_mutual_info_score(g, codes),
                                                 abs=2e-6)
        scores = _oof_rate_scores(codes, g, folds[keep], len(known))
        want = np.mean([roc_auc_score(g == j, scores[:, j]) for j in range(len(known))])
        assert by_name[col].auc == pytest.approx(want, abs=2e-6)
        checked += 1
    assert checked >= 2


def test_auc_from_levels_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 5, 500).astype(float)
    y = rng.random(500) < 0.3 + 0.1 * s
    assert px.auc_from_levels(s, y.astype(float), (~y).astype(float)) == pytest.approx(
        roc_auc_score(y, s), abs=1e-12)


def test_all_features_model_never_scores_a_row_it_saw(lending, monkeypatch):
    X, attrs, folds = lending
    calls = []
    real = px._fit_predict

    def spy(M, groups, train, test, **kw):
        calls.append((train.copy(), test.copy()))
        return real(M, groups, train, test, **kw)

    monkeypatch.setattr(px, "_fit_predict", spy)
    res = px.screen_proxies(X, categorical=CATEGORICAL, attributes=attrs[1:], folds=folds,
                            seed=3, max_rows=3_000)
    assert res.attributes[0].all_features_rows == 3_000
    assert len(calls) == 5
    scored = np.concatenate([t for _, t in calls])
    assert len(scored) == len(np.unique(scored)) == 3_000  # each sampled row scored once
    # the rows drawn with the seed, as screen_proxies draws them: the model's rows are these
    sample = np.sort(np.random.default_rng(3).choice(len(folds), size=3_000, replace=False))
    fold_of = folds[sample]
    for train, test in calls:
        assert not np.intersect1d(train, test).size
        assert len(train) + len(test) == 3_000
        (k,) = np.unique(fold_of[test])  # one fold scored, by a model of the other folds only
        assert not (fold_of[train] == k).any()


def test_row_cap_sample_is_seeded(lending):
    X, attrs, folds = lending
    a = px.screen_proxies(X, categorical=CATEGORICAL, attributes=attrs[1:], folds=folds,
                          seed=5, max_rows=2_000)
    b = px.screen_proxies(X, categorical=CATEGORICAL, attributes=attrs[1:], folds=folds,
                          seed=5, max_rows=2_000)
    assert a == b


def test_numeric_bins_keep_discrete_values_apart():
    codes, k = px.encode_feature(pd.Series([0.0, 1.0, 2.0, 2.0, np.nan]), categorical=False,
                                 bins=10)
    assert len(set(codes[:3])) == 3 and codes[2] == codes[3] and codes[4] == k - 1


def test_gates_pass_and_warn_as_the_bounds_say(lending, screen):
    from fairsel.results import VariantResult

    v = [VariantResult(name=n, candidate=n, kind="sklearn", status="PASS", performance={},
                       fairness={}, attributes=[], folds=[]) for n in ("a", "b")]
    gates = proxy_gates(screen, v, severity="warn", first_index=2)
    assert [(g.variant, g.gate, g.metric) for g in gates] == [
        ("a", 2, "proxy_feature_auc"), ("a", 3, "proxy_all_auc"),
        ("b", 2, "proxy_feature_auc"), ("b", 3, "proxy_all_auc")]
    feat = gates[0]
    assert feat.status == "WARN" and "zip_area for race" in feat.message
    assert feat.by_attribute == {"race": "WARN", "sex": "PASS"}
    assert gates[1].status == "WARN" and gates[1].attribute == "race"
    assert proxy_gates(screen, v, severity="error", first_index=0)[0].status == "FAIL"
    X, attrs, folds = lending
    lax = px.screen_proxies(X, categorical=CATEGORICAL, attributes=attrs, folds=folds, seed=3,
                            max_feature_auc=0.99, max_all_auc=0.99, max_rows=2_000)
    assert {g.status for g in proxy_gates(lax, v, severity="warn", first_index=0)} == {"PASS"}
    assert proxy_gates(None, v, severity="warn", first_index=0) == []


def test_screen_json_round_trips(screen):
    from fairsel.results import ProxyScreen

    assert ProxyScreen.model_validate_json(screen.model_dump_json()) == screen
