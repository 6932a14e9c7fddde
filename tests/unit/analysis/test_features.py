"""The categorical features factorized once and shared by the proxy screen and the slice
search (fairsel.analysis.features): same figures as each factorizing on its own, and one
factorization per column."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fairsel.analysis import features as ft
from fairsel.analysis import proxies as px
from fairsel.analysis import slices as sl
from fairsel.candidates import prepare_frame
from fairsel.splits import make_folds
from fairsel.synthetic import make_lending

FEATURES = ["region", "age", "income", "employment", "purpose"]
CATEGORICAL = ["region", "employment", "purpose"]


def test_shared_codes_give_the_same_proxies_and_slices_and_factorize_each_column_once(
        monkeypatch):
    df = make_lending(3_000, seed=5)
    df.loc[df.index[::37], "employment"] = None  # missing values keep their own level
    X = prepare_frame(df[FEATURES], CATEGORICAL)
    y = (df["approved"] == "yes").to_numpy().astype(np.int8)
    labels = ("female", "male")
    sex = np.searchsorted(np.array(labels), df["sex"].to_numpy())
    attrs = [px.AttributeCodes("sex", sex, labels, ("sex",))]
    folds = make_folds(y, scheme="stratified_kfold", n_folds=3, clusters=None, seed=5,
                       where="test")
    pred = np.where(np.random.default_rng(5).random(len(y)) < 0.3, 1 - y, y).astype(np.int8)

    def run(codes):
        screen = px.screen_proxies(X, categorical=CATEGORICAL, attributes=attrs, folds=folds,
                                   seed=5, codes=codes)
        found = sl.find_slices(X, categorical=CATEGORICAL, y_true=y, predictions={"m": pred},
                               protected=[("sex", sex, labels)], codes=codes)
        return screen.model_dump(), found.model_dump()

    alone = run(None)
    calls = []
    real = pd.factorize

    def counting(values, *a, **k):
        calls.append(getattr(values, "name", None))
        return real(values, *a, **k)

    monkeypatch.setattr(ft.pd, "factorize", counting)
    shared = run(ft.FeatureCodes(X))
    assert shared == alone
    assert sorted(calls) == sorted(CATEGORICAL)  # each categorical once, for both analyses
    assert alone[1]["variants"][0]["tested"] > 0  # the comparison covered real slices
