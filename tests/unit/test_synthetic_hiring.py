"""make_hiring: the shipped hiring sample is what the generator makes, with the EEO-1
categories, two of them under 2% (LL144's exclusion rule), unknowns, and its documented bias."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairsel.synthetic import HIRING_RACE_LEVELS, make_hiring

SAMPLE = Path(__file__).resolve().parents[2] / "data_samples" / "hiring_applicants.csv"


def test_the_shipped_sample_equals_the_generator_output():
    expected = make_hiring(4000, seed=12)
    actual = pd.read_csv(SAMPLE)
    assert list(actual.columns) == list(expected.columns) and len(actual) == 4000
    for col in expected.columns:
        if expected[col].dtype.kind in "if":
            np.testing.assert_allclose(actual[col].to_numpy(float),
                                       expected[col].to_numpy(float), rtol=1e-12)
        else:
            pd.testing.assert_series_equal(actual[col].astype("string"),
                                           expected[col].astype("string"))


def test_same_seed_same_frame_and_domains():
    a, b = make_hiring(3000, seed=5), make_hiring(3000, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(make_hiring(3000, seed=6))
    assert set(a["race_ethnicity"].dropna()) <= set(HIRING_RACE_LEVELS)
    assert set(a["sex"].dropna()) == {"female", "male"}
    assert set(a["advanced"]) == {"yes", "no"}
    assert a["skills_test"].between(0, 100).all()


def test_small_categories_unknowns_and_the_planted_disparity():
    f = make_hiring(40_000, seed=1)
    share = f["race_ethnicity"].value_counts(normalize=True, dropna=False)
    assert share["Native Hawaiian or Pacific Islander"] < 0.02
    assert share["American Indian or Alaska Native"] < 0.02
    assert share["White"] > 0.4
    assert f["sex"].isna().mean() == pytest.approx(0.03, abs=0.005)
    rate = f.assign(y=f["advanced"] == "yes").groupby("sex")["y"].mean()
    assert rate["female"] / rate["male"] < 0.9  # the penalty on women shows in the labels
    fair = make_hiring(40_000, seed=1, disparity=0.0)
    fair_rate = fair.assign(y=fair["advanced"] == "yes").groupby("sex")["y"].mean()
    assert fair_rate["female"] / fair_rate["male"] > rate["female"] / rate["male"]


@pytest.mark.parametrize("bad", [dict(n_rows=0), dict(n_rows=1.5), dict(missing_rate=1.0)])
def test_bad_arguments_are_refused(bad):
    with pytest.raises(ValueError):
        make_hiring(**{"n_rows": 10, **bad})
