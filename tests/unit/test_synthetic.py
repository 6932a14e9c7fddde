"""Tests of the synthetic lending generator (fairsel.synthetic) and its committed sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairsel.synthetic import (
    COLUMNS,
    EMPLOYMENT_LEVELS,
    PURPOSE_LEVELS,
    RACE_LEVELS,
    REGION_LEVELS,
    _default_branches,
    main,
    make_lending,
)

SAMPLE = Path(__file__).resolve().parents[2] / "data_samples" / "lending_branches.csv"

INT_COLUMNS = ["application_id", "age", "credit_history_years", "prior_defaults"]
FLOAT_COLUMNS = ["income", "loan_amount", "debt_to_income"]
STRING_COLUMNS = ["branch", "region", "sex", "race", "employment", "purpose", "approved"]


@pytest.fixture(scope="module")
def biased() -> pd.DataFrame:
    return make_lending(20_000, seed=3, disparity=1.0)


@pytest.fixture(scope="module")
def unbiased() -> pd.DataFrame:
    return make_lending(20_000, seed=3, disparity=0.0)


def approval(df: pd.DataFrame) -> pd.Series:
    return (df["approved"] == "yes").astype(float)


def test_columns_dtypes_and_domains(biased: pd.DataFrame) -> None:
    df = biased
    assert list(df.columns) == list(COLUMNS)
    assert len(COLUMNS) == 14
    for col in INT_COLUMNS:
        assert df[col].dtype == np.int64, col
    for col in FLOAT_COLUMNS:
        assert df[col].dtype == np.float64, col
    for col in STRING_COLUMNS:
        assert pd.api.types.is_string_dtype(df[col].dtype), col
        assert not isinstance(df[col].dtype, pd.CategoricalDtype), col

    np.testing.assert_array_equal(df["application_id"].to_numpy(), np.arange(len(df)))
    assert df["application_id"].is_unique
    assert set(df["sex"]) == {"female", "male"}
    assert set(df["race"].dropna()) == set(RACE_LEVELS)
    assert set(df["region"]) == set(REGION_LEVELS)
    assert set(df["employment"]) == set(EMPLOYMENT_LEVELS)
    assert set(df["purpose"]) == set(PURPOSE_LEVELS)
    assert set(df["approved"]) == {"yes", "no"}
    assert df["branch"].str.fullmatch(r"B\d{4}").all()

    assert df["age"].between(18, 80).all()
    assert df["age"].min() <= 20 and df["age"].max() >= 75
    assert (df["credit_history_years"] >= 0).all()
    assert (df["credit_history_years"] <= df["age"] - 17).all()
    assert (df["prior_defaults"] >= 0).all() and df["prior_defaults"].max() >= 2
    assert (df["income"].dropna() > 0).all()
    assert 25_000 < df["income"].median() < 100_000
    assert (df["loan_amount"] >= 500).all()
    assert (df["debt_to_income"] >= 0).all()

    female = (df["sex"] == "female").mean()
    assert 0.42 < female < 0.48
    race_share = df["race"].value_counts(normalize=True)
    assert race_share["white"] > race_share["hispanic"] > race_share["asian"] > race_share["other"]
    assert race_share["black"] > race_share["asian"]


def test_income_depends_on_age_and_group(biased: pd.DataFrame) -> None:
    log_income = np.log(biased["income"])
    by_age = log_income.groupby(pd.cut(biased["age"], [17, 25, 45, 60, 80])).median()
    assert by_age.iloc[1] > by_age.iloc[0] + 0.2  # earnings grow early in a career
    by_sex = log_income.groupby(biased["sex"]).median()
    assert by_sex["female"] < by_sex["male"] - 0.1


def test_same_seed_same_frame_other_seed_differs() -> None:
    a = make_lending(3000, seed=11)
    b = make_lending(3000, seed=11)
    pd.testing.assert_frame_equal(a, b)
    c = make_lending(3000, seed=12)
    assert not a.equals(c)
    assert (a["approved"] != c["approved"]).any()
    assert not np.allclose(a["loan_amount"], c["loan_amount"])


@pytest.mark.parametrize("n_rows", [1, 7, 20, 21, 1234, 25_000])
def test_row_count_and_default_branches(n_rows: int) -> None:
    df = make_lending(n_rows, seed=1)
    assert len(df) == n_rows
    expected = min(n_rows, max(20, n_rows // 500))
    assert df["branch"].nunique() == expected


def test_default_branch_count_is_capped() -> None:
    assert _default_branches(100) == 20
    assert _default_branches(10) == 10
    assert _default_branches(100_000) == 200
    assert _default_branches(2_500_000) == 5000
    assert _default_branches(10_000_000) == 5000


def test_every_branch_appears_and_n_branches_respected() -> None:
    df = make_lending(500, n_branches=37, seed=4)
    assert set(df["branch"]) == {f"B{i:04d}" for i in range(37)}
    # as many branches as rows: one application each
    df = make_lending(60, n_branches=60, seed=4)
    assert df["branch"].value_counts().eq(1).all()
    assert df["branch"].nunique() == 60


def test_branches_have_one_region_and_unequal_sizes(biased: pd.DataFrame) -> None:
    assert biased.groupby("branch")["region"].nunique().eq(1).all()
    sizes = biased["branch"].value_counts()
    assert sizes.max() > 3 * sizes.min()


def test_rows_are_not_ordered_by_branch(biased: pd.DataFrame) -> None:
    # a plain KFold over row order must not be accidentally grouped by branch
    branch = biased["branch"].to_numpy()
    runs = 1 + np.count_nonzero(branch[1:] != branch[:-1])
    assert runs > 0.8 * len(branch)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_rows": 0},
        {"n_rows": 10, "n_branches": 11},
        {"n_rows": 10, "n_branches": 0},
        {"n_rows": 10, "missing_rate": -0.1},
        {"n_rows": 10, "missing_rate": 1.5},
        {"n_rows": 10, "disparity": float("nan")},
        {"n_rows": 10.5},
    ],
)
def test_invalid_arguments_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        make_lending(**kwargs)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_overall_approval_rate_is_sane(seed: int) -> None:
    for disparity in (0.0, 1.0):
        rate = approval(make_lending(10_000, seed=seed, disparity=disparity)).mean()
        assert 0.58 < rate < 0.72, (seed, disparity, rate)


def test_built_in_disparity(biased: pd.DataFrame, unbiased: pd.DataFrame) -> None:
    rate = approval(biased).groupby(biased["sex"]).mean()
    gap = rate["male"] - rate["female"]
    assert gap > 0.12
    assert rate["female"] / rate["male"] < 0.8

    rate0 = approval(unbiased).groupby(unbiased["sex"]).mean()
    gap0 = rate0["male"] - rate0["female"]
    # income still differs by sex, so some gap remains, but much less of it
    assert gap0 < 0.5 * gap

    race = approval(biased).groupby(biased["race"]).mean()
    race0 = approval(unbiased).groupby(unbiased["race"]).mean()
    assert race["white"] - race["black"] > 0.1
    assert race["white"] - race["black"] > 1.5 * (race0["white"] - race0["black"])


def test_disparity_and_missing_rate_only_change_labels_and_masks(
    biased: pd.DataFrame, unbiased: pd.DataFrame
) -> None:
    features = [c for c in COLUMNS if c != "approved"]
    pd.testing.assert_frame_equal(biased[features], unbiased[features])
    assert (biased["approved"] != unbiased["approved"]).any()

    complete = make_lending(20_000, seed=3, missing_rate=0.0)
    pd.testing.assert_frame_equal(
        complete.drop(columns=["race", "income"]), biased.drop(columns=["race", "income"])
    )
    known = biased["race"].notna()
    pd.testing.assert_series_equal(complete["race"][known], biased["race"][known])


def _between_branch_chi2(approved: np.ndarray, branch_codes: np.ndarray) -> float:
    """Pearson statistic of approval rate across branches (about n_branches - 1 if no clusters)."""
    p = approved.mean()
    n_b = np.bincount(branch_codes)
    yes_b = np.bincount(branch_codes, weights=approved)
    return float(np.sum((yes_b - n_b * p) ** 2 / (n_b * p * (1 - p))))


def test_branch_clustering_is_real(biased: pd.DataFrame) -> None:
    y = approval(biased).to_numpy()
    codes = pd.factorize(biased["branch"])[0]
    n_branches = codes.max() + 1
    observed = _between_branch_chi2(y, codes)
    rng = np.random.default_rng(0)
    shuffled = [_between_branch_chi2(y, rng.permutation(codes)) for _ in range(20)]
    # shuffling branch labels leaves binomial noise only: chi2 with n_branches - 1 d.o.f.
    assert np.mean(shuffled) < 2 * n_branches
    assert observed > 5 * max(shuffled)

    # the clustering is more than region: branches of one region still differ a lot
    south = (biased["region"] == "south").to_numpy()
    codes_s = pd.factorize(biased["branch"][south])[0]
    observed_s = _between_branch_chi2(y[south], codes_s)
    assert observed_s > 3 * (codes_s.max() + 1)


def test_missing_rate_honoured() -> None:
    df = make_lending(20_000, seed=5, missing_rate=0.1)
    assert abs(df["race"].isna().mean() - 0.1) < 0.015
    assert abs(df["income"].isna().mean() - 0.1) < 0.015
    other = [c for c in COLUMNS if c not in ("race", "income")]
    assert not df[other].isna().any().any()
    # an audit can count missing race as its own group
    unknown = df["race"].fillna("unknown").value_counts()["unknown"]
    assert unknown == df["race"].isna().sum()
    # the two masks are drawn independently
    both = (df["race"].isna() & df["income"].isna()).mean()
    assert both < 0.03

    default = make_lending(20_000, seed=5)
    assert abs(default["race"].isna().mean() - 0.02) < 0.007
    assert abs(default["income"].isna().mean() - 0.02) < 0.007

    none = make_lending(5000, seed=5, missing_rate=0.0)
    assert not none.isna().any().any()


def test_committed_sample_matches_generator() -> None:
    expected = make_lending(5000, seed=7)
    actual = pd.read_csv(SAMPLE)
    assert list(actual.columns) == list(expected.columns)
    assert len(actual) == len(expected)
    for col in INT_COLUMNS:
        pd.testing.assert_series_equal(actual[col], expected[col], check_dtype=False)
        assert actual[col].dtype == np.int64, col
    for col in FLOAT_COLUMNS:
        pd.testing.assert_series_equal(
            actual[col], expected[col], check_exact=False, rtol=1e-12, atol=0
        )
    for col in STRING_COLUMNS:
        pd.testing.assert_series_equal(actual[col].astype("string"), expected[col].astype("string"))
    assert SAMPLE.stat().st_size < 1_000_000


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_cli_writes_file(tmp_path: Path, suffix: str, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / f"lending{suffix}"
    assert main(["--rows", "300", "--seed", "2", "--out", str(out)]) == 0
    expected = make_lending(300, seed=2)
    if suffix == ".parquet":
        pd.testing.assert_frame_equal(pd.read_parquet(out), expected)
    else:
        actual = pd.read_csv(out)
        assert list(actual.columns) == list(COLUMNS)
        assert len(actual) == 300
        np.testing.assert_allclose(actual["loan_amount"], expected["loan_amount"])


def test_cli_format_flag_and_errors(tmp_path: Path) -> None:
    out = tmp_path / "data.bin"
    main(["--rows", "50", "--out", str(out), "--format", "parquet"])
    assert len(pd.read_parquet(out)) == 50
    with pytest.raises(SystemExit):
        main(["--rows", "0", "--out", str(tmp_path / "x.csv")])
