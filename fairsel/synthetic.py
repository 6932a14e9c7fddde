"""Synthetic consumer-lending data with branch clusters and a built-in disparity.

The real datasets shipped with fairsel (German credit, Adult, COMPAS) have no cluster column, so
they cannot exercise group-aware cross-validation. :func:`make_lending` generates a realistic
loan-application dataset of any size (tested up to 10,000,000 rows; fully vectorised numpy)
in which applications are clustered by the bank *branch* that handled them, and in which the
historical approval decisions carry a known, tunable bias against women and some race groups.

Data-generating process (all draws from ``numpy.random.default_rng(seed)``):

1. **Branches.** ``n_branches`` branches, each with a region (one of five), unequal size
   (log-normal weights, so some branches are several times larger than others), its own race
   composition (a Dirichlet draw around its region's shares), a small income effect and a
   random effect on the approval log-odds (standard deviation ``0.6``). Rows of one branch are
   therefore correlated, which is what group-aware cross-validation must respect.
2. **Applicants.** ``sex`` (about 45 % female), ``age`` (18-80, right-skewed), ``race``
   (from the branch composition), ``employment`` (depends on age and a little on sex),
   ``income`` (log-normal; rises then falls with age, lower for the unemployed and retired,
   and lower for women and for the black, hispanic and "other" groups: the pay and wealth
   gaps that make ordinary features proxies for protected attributes), ``purpose``
   (depends on employment, and its mix differs somewhat between women and men),
   ``loan_amount`` (scales with income and purpose), ``debt_to_income`` (higher at low
   incomes; includes the new loan's payment), ``credit_history_years`` (grows with age,
   somewhat shorter for women) and ``prior_defaults`` (Poisson, more at low incomes).
   Because of these proxies, a model trained without ``sex`` and ``race`` still reproduces
   much of the historical bias (a logistic regression on the other features selects women at
   roughly 0.8 times the rate of men with the default ``disparity=1``).
3. **Historical decision.** ``approved`` is drawn from a logistic model of income,
   debt-to-income, prior defaults, credit history, employment, purpose, region and the branch
   random effect, *minus* ``disparity`` times a direct penalty on the log-odds of
   ``0.9`` for ``sex == "female"`` and of ``0.6`` / ``0.4`` / ``0.2`` for ``race`` "black" /
   "hispanic" / "other" (none for "white" and "asian"). The intercept is shifted by
   ``disparity`` times the population-average penalty, so the overall approval rate stays
   near 65 % whatever the disparity. With ``disparity=0`` there is no direct bias, but
   approval rates still differ by group through the income gap.
4. **Missing values.** Independently, a ``missing_rate`` fraction of ``race`` values (missing
   completely at random; an audit must count them as an "unknown" group) and of ``income``
   values are set to missing. The label was drawn from the true income before masking.

For fixed ``n_rows``, ``n_branches`` and ``seed``, the features are identical whatever
``disparity`` and ``missing_rate`` are: ``disparity`` only changes the labels and
``missing_rate`` only the missingness masks, so runs that vary them compare like with like.

Command line::

    python -m fairsel.synthetic --rows 100000 --seed 0 --out lending.parquet

Only numpy and pandas are imported (pyarrow is needed only to write parquet).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "COLUMNS",
    "EMPLOYMENT_LEVELS",
    "PURPOSE_LEVELS",
    "RACE_LEVELS",
    "REGION_LEVELS",
    "SEX_LEVELS",
    "make_lending",
    "main",
    "plant_proxy",
    "plant_weak_slice",
]

#: Column names of :func:`make_lending`'s frame, in order.
COLUMNS: tuple[str, ...] = (
    "application_id",
    "branch",
    "region",
    "sex",
    "age",
    "race",
    "income",
    "loan_amount",
    "debt_to_income",
    "credit_history_years",
    "prior_defaults",
    "employment",
    "purpose",
    "approved",
)

REGION_LEVELS: tuple[str, ...] = ("north", "south", "east", "west", "central")
SEX_LEVELS: tuple[str, ...] = ("female", "male")
RACE_LEVELS: tuple[str, ...] = ("white", "black", "hispanic", "asian", "other")
EMPLOYMENT_LEVELS: tuple[str, ...] = ("salaried", "self_employed", "unemployed", "retired")
PURPOSE_LEVELS: tuple[str, ...] = (
    "debt_consolidation",
    "home_improvement",
    "car",
    "education",
    "business",
    "medical",
)

# --- branch level ---------------------------------------------------------------------------
_REGION_SHARES = np.array([0.22, 0.27, 0.20, 0.18, 0.13])
_BRANCH_SIZE_SIGMA = 0.8  # log-normal spread of branch sizes
_BRANCH_EFFECT_SD = 0.6  # branch random effect on the approval log-odds
_BRANCH_INCOME_SD = 0.12  # branch effect on log income (neighbourhood wealth)
_RACE_CONCENTRATION = 40.0  # Dirichlet concentration of a branch's race mix around its region
# race shares by region (rows: REGION_LEVELS, columns: RACE_LEVELS); overall about
# 60 % white, 14 % black, 17 % hispanic, 6 % asian, 3 % other.
_RACE_BY_REGION = np.array(
    [
        [0.70, 0.10, 0.10, 0.07, 0.03],  # north
        [0.52, 0.26, 0.17, 0.03, 0.02],  # south
        [0.62, 0.14, 0.12, 0.09, 0.03],  # east
        [0.50, 0.05, 0.31, 0.10, 0.04],  # west
        [0.74, 0.10, 0.10, 0.03, 0.03],  # central
    ]
)
_REGION_INCOME = np.array([0.05, -0.10, 0.10, 0.08, -0.06])
_REGION_APPROVAL = np.array([0.05, -0.05, 0.10, 0.0, -0.10])

# --- applicant level ------------------------------------------------------------------------
_FEMALE_SHARE = 0.45
_RACE_INCOME = np.array([0.0, -0.22, -0.15, 0.10, -0.08])
_FEMALE_INCOME = -0.25
_EMPLOYMENT_INCOME = np.array([0.0, 0.05, -0.95, -0.35])
# purpose probabilities by employment (rows: EMPLOYMENT_LEVELS, columns: PURPOSE_LEVELS)
_PURPOSE_BY_EMPLOYMENT = np.array(
    [
        [0.36, 0.20, 0.24, 0.07, 0.05, 0.08],  # salaried
        [0.25, 0.15, 0.15, 0.05, 0.33, 0.07],  # self_employed
        [0.40, 0.05, 0.15, 0.15, 0.05, 0.20],  # unemployed
        [0.30, 0.30, 0.15, 0.01, 0.04, 0.20],  # retired
    ]
)
# women's purpose mix relative to men's (same employment): a proxy for sex with little
# effect of its own on approval, like many real "neutral" features
_FEMALE_PURPOSE_TILT = np.array([1.0, 1.3, 0.75, 1.4, 0.6, 1.5])
_FEMALE_HISTORY = 0.8  # career breaks: women's credit histories are somewhat shorter
_PURPOSE_LOAN = np.array([-1.30, -1.00, -1.10, -1.40, -0.60, -1.90])

# --- historical decision (log-odds of approval) -----------------------------------------------
_LOG_INCOME_CENTER = 10.9
_COEF_LOG_INCOME = 1.1
_COEF_DTI = -3.0
_DTI_CENTER = 0.33
_COEF_PRIOR_DEFAULTS = -0.9
_COEF_HISTORY = 0.04
_EMPLOYMENT_APPROVAL = np.array([0.0, -0.25, -1.2, -0.1])
_PURPOSE_APPROVAL = np.array([0.0, 0.0, 0.0, -0.15, -0.35, -0.10])
_FEMALE_PENALTY = 0.9
_RACE_PENALTY = np.array([0.0, 0.6, 0.4, 0.0, 0.2])
_INTERCEPT = 1.15
# population-average penalty, added back to the intercept (times disparity) so that the
# overall approval rate does not move with the disparity
_MEAN_PENALTY = float(
    _FEMALE_SHARE * _FEMALE_PENALTY + (_REGION_SHARES @ _RACE_BY_REGION) @ _RACE_PENALTY
)

_MAX_DEFAULT_BRANCHES = 5000


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _categorical_by_group(
    rng: np.random.Generator, group: np.ndarray, probs: np.ndarray
) -> np.ndarray:
    """Draw one category per row from ``probs[group[row]]`` without an (n, k) temporary.

    Each group's cumulative probabilities are shifted by the group index and laid end to end,
    so one ``searchsorted`` of ``group + uniform`` finds every row's category.
    """
    n_groups, k = probs.shape
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    edges = (np.arange(n_groups, dtype=np.float64)[:, None] + cum).ravel()
    pos = np.searchsorted(edges, group + rng.random(group.shape[0]), side="right")
    return np.minimum(pos - k * group, k - 1).astype(np.int8)


# pandas' default string dtype: "str" from pandas 3 on (what read_csv gives too), else object
_STRING_DTYPE = "str" if int(pd.__version__.split(".")[0]) >= 3 else object


def _strings(
    levels: Sequence[str], codes: np.ndarray, missing: np.ndarray | None = None
) -> pd.Series:
    """A string column from integer codes into ``levels``; ``missing`` rows become NaN."""
    codes = codes.astype(np.intp)
    if missing is not None:
        codes[missing] = -1
    # a take on the few distinct values is much faster than converting n Python strings
    return pd.Series(pd.array(list(levels), dtype=_STRING_DTYPE).take(codes, allow_fill=True))


def _default_branches(n_rows: int) -> int:
    return min(n_rows, min(_MAX_DEFAULT_BRANCHES, max(20, n_rows // 500)))


def make_lending(
    n_rows: int = 10_000,
    *,
    n_branches: int | None = None,
    seed: int = 0,
    missing_rate: float = 0.02,
    disparity: float = 1.0,
) -> pd.DataFrame:
    """Generate a synthetic consumer-lending dataset with branch clusters.

    See the module docstring for the full data-generating process.

    Parameters
    ----------
    n_rows : int, default 10_000
        Number of applications (rows), at least 1.
    n_branches : int, optional
        Number of branches. Defaults to ``max(20, n_rows // 500)`` capped at 5000, and never
        more than ``n_rows``. Every branch has at least one application, so it must not
        exceed ``n_rows``.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``; the same arguments always give an identical
        frame.
    missing_rate : float, default 0.02
        Probability, in ``[0, 1]``, that a row's ``race`` is missing, and independently that
        its ``income`` is missing.
    disparity : float, default 1.0
        Scale of the direct historical bias in ``approved``: the approval log-odds are lowered
        by ``disparity * 0.9`` for women and by ``disparity * 0.6 / 0.4 / 0.2`` for black /
        hispanic / "other" applicants. ``0`` removes the direct bias (group gaps then come only
        from features, chiefly income); values above 1 strengthen it, negative values reverse
        it.

    Returns
    -------
    pandas.DataFrame
        One row per application, with columns (string columns use pandas' default string
        dtype, missing values as NaN):

        ``application_id`` : int64
            Unique, ``0 .. n_rows - 1``.
        ``branch`` : str
            Branch handling the application, ``"B0000"``, ``"B0001"``, ...; the clusters.
        ``region`` : str
            Branch's region: north, south, east, west, central.
        ``sex`` : str
            ``"female"`` (about 45 %) or ``"male"``. Protected.
        ``age`` : int64
            18 to 80. Protected in many jurisdictions.
        ``race`` : str
            white (~60 %), black (~14 %), hispanic (~17 %), asian (~6 %), other (~3 %);
            missing for a ``missing_rate`` fraction. Protected.
        ``income`` : float64
            Annual income, log-normal (median about 50,000); missing for a ``missing_rate``
            fraction.
        ``loan_amount`` : float64
            Requested amount, a multiple of 100, at least 500.
        ``debt_to_income`` : float64
            Debt payments including the new loan over income (typically 0.1 to 0.7).
        ``credit_history_years`` : int64
            Years of credit history, at most ``age - 17``.
        ``prior_defaults`` : int64
            Number of earlier defaults (Poisson, mostly 0).
        ``employment`` : str
            salaried, self_employed, unemployed, retired.
        ``purpose`` : str
            debt_consolidation, home_improvement, car, education, business, medical.
        ``approved`` : str
            Target, ``"yes"`` (favourable, about 65 %) or ``"no"``.

    Raises
    ------
    ValueError
        If an argument is out of range.

    Examples
    --------
    >>> df = make_lending(1000, seed=1)
    >>> df.shape
    (1000, 14)
    >>> sorted(df["approved"].unique())
    ['no', 'yes']
    """
    n_rows = _as_int(n_rows, "n_rows")
    if n_rows < 1:
        raise ValueError(f"n_rows must be at least 1, got {n_rows}")
    if n_branches is None:
        n_branches = _default_branches(n_rows)
    n_branches = _as_int(n_branches, "n_branches")
    if not 1 <= n_branches <= n_rows:
        raise ValueError(f"n_branches must be between 1 and n_rows={n_rows}, got {n_branches}")
    missing_rate = float(missing_rate)
    if not 0.0 <= missing_rate <= 1.0:
        raise ValueError(f"missing_rate must be in [0, 1], got {missing_rate}")
    disparity = float(disparity)
    if not np.isfinite(disparity):
        raise ValueError(f"disparity must be finite, got {disparity}")

    rng = np.random.default_rng(seed)
    n = n_rows

    # ---- branches -------------------------------------------------------------------------
    size_weight = rng.lognormal(0.0, _BRANCH_SIZE_SIGMA, n_branches)
    size_weight /= size_weight.sum()
    branch_region = rng.choice(len(REGION_LEVELS), size=n_branches, p=_REGION_SHARES)
    race_mix = rng.gamma(_RACE_CONCENTRATION * _RACE_BY_REGION[branch_region])
    race_mix += 1e-12  # a gamma draw can underflow to 0; keep every row of race_mix positive
    race_mix /= race_mix.sum(axis=1, keepdims=True)
    branch_effect = rng.normal(0.0, _BRANCH_EFFECT_SD, n_branches)
    branch_income = rng.normal(0.0, _BRANCH_INCOME_SD, n_branches)

    # Applications per branch (every branch gets at least one) and, within each branch, per
    # race group; rows are laid out branch by branch and then shuffled into random order.
    branch_size = 1 + rng.multinomial(n - n_branches, size_weight)
    race_count = rng.multinomial(branch_size, race_mix)
    order = rng.permutation(n)
    branch = np.repeat(np.arange(n_branches, dtype=np.int64), branch_size)[order]
    race = np.repeat(
        np.tile(np.arange(len(RACE_LEVELS), dtype=np.int8), n_branches), race_count.ravel()
    )[order]
    del order
    region = branch_region[branch]

    # ---- applicants -----------------------------------------------------------------------
    female = rng.random(n) < _FEMALE_SHARE
    age = 18 + np.floor(63.0 * rng.beta(2.0, 2.8, n)).astype(np.int64)  # 18 .. 80

    years = age - 18.0
    p_retired = 0.9 * _sigmoid((age - 64.0) / 2.0)
    working = 1.0 - p_retired
    p_unemployed = working * (0.05 + 0.035 * female + 0.04 * (age < 25))
    p_self = working * (0.11 - 0.03 * female)
    u = rng.random(n)
    employment = np.zeros(n, dtype=np.int8)  # salaried
    employment[u < p_retired + p_unemployed + p_self] = 1
    employment[u < p_retired + p_unemployed] = 2
    employment[u < p_retired] = 3
    del p_retired, working, p_unemployed, p_self, u

    log_income = (
        10.55
        + 0.045 * years
        - 0.00075 * years**2
        + _EMPLOYMENT_INCOME[employment]
        + _FEMALE_INCOME * female
        + _RACE_INCOME[race]
        + _REGION_INCOME[region]
        + branch_income[branch]
        + rng.normal(0.0, 0.5, n) * np.where(employment == 1, 1.3, 1.0)
    )
    income = np.round(np.exp(log_income), 2)

    purpose_probs = np.concatenate(  # rows: 2 * employment + female
        [_PURPOSE_BY_EMPLOYMENT, _PURPOSE_BY_EMPLOYMENT * _FEMALE_PURPOSE_TILT], axis=1
    ).reshape(2 * len(EMPLOYMENT_LEVELS), len(PURPOSE_LEVELS))
    purpose = _categorical_by_group(rng, 2 * employment.astype(np.int64) + female, purpose_probs)
    loan_amount = np.exp(log_income + _PURPOSE_LOAN[purpose] + rng.normal(0.0, 0.45, n))
    loan_amount = np.maximum(500.0, np.round(loan_amount / 100.0) * 100.0)

    history_scale = np.where(female, _FEMALE_HISTORY, 1.0)
    credit_history_years = np.floor((age - 17) * history_scale * rng.beta(3.0, 1.6, n)).astype(
        np.int64
    )
    del history_scale
    default_rate = (
        0.18
        * np.exp(-0.6 * (log_income - _LOG_INCOME_CENTER))
        * np.where(employment == 2, 2.5, 1.0)
    )
    prior_defaults = rng.poisson(np.minimum(default_rate, 5.0)).astype(np.int64)
    del default_rate

    existing_dti = np.exp(
        -1.35 - 0.35 * (log_income - _LOG_INCOME_CENTER) + rng.normal(0.0, 0.45, n)
    )
    debt_to_income = np.round(np.minimum(existing_dti + 0.23 * loan_amount / income, 2.0), 3)
    del existing_dti

    # ---- historical decision --------------------------------------------------------------
    logit = (
        _INTERCEPT
        + disparity * _MEAN_PENALTY
        + _COEF_LOG_INCOME * (log_income - _LOG_INCOME_CENTER)
        + _COEF_DTI * (debt_to_income - _DTI_CENTER)
        + _COEF_PRIOR_DEFAULTS * prior_defaults
        + _COEF_HISTORY * (np.minimum(credit_history_years, 25) - 10)
        + _EMPLOYMENT_APPROVAL[employment]
        + _PURPOSE_APPROVAL[purpose]
        + _REGION_APPROVAL[region]
        + branch_effect[branch]
        - disparity * (_FEMALE_PENALTY * female + _RACE_PENALTY[race])
    )
    approved = rng.random(n) < _sigmoid(logit)
    del logit, log_income

    # ---- missing values (drawn last, so missing_rate changes nothing else) -----------------
    race_missing = rng.random(n) < missing_rate
    income_missing = rng.random(n) < missing_rate
    income[income_missing] = np.nan

    width = max(4, len(str(n_branches - 1)))
    branch_names = [f"B{i:0{width}d}" for i in range(n_branches)]

    return pd.DataFrame(
        {
            "application_id": np.arange(n, dtype=np.int64),
            "branch": _strings(branch_names, branch),
            "region": _strings(REGION_LEVELS, region),
            "sex": _strings(SEX_LEVELS, np.where(female, 0, 1)),
            "age": age,
            "race": _strings(RACE_LEVELS, race, race_missing),
            "income": income,
            "loan_amount": loan_amount,
            "debt_to_income": debt_to_income,
            "credit_history_years": credit_history_years,
            "prior_defaults": prior_defaults,
            "employment": _strings(EMPLOYMENT_LEVELS, employment),
            "purpose": _strings(PURPOSE_LEVELS, purpose),
            "approved": _strings(("no", "yes"), approved.astype(np.int8)),
        },
        columns=list(COLUMNS),
        copy=False,  # the arrays are fresh; skip consolidating copies (seconds at 10M rows)
    )


#: EEO-1 race/ethnicity categories, and the shares :func:`make_hiring` draws them with.
HIRING_RACE_LEVELS: tuple[str, ...] = (
    "Hispanic or Latino", "White", "Black or African American",
    "Native Hawaiian or Pacific Islander", "Asian", "American Indian or Alaska Native",
    "Two or More Races")
HIRING_RACE_SHARES: tuple[float, ...] = (0.19, 0.53, 0.13, 0.008, 0.08, 0.012, 0.05)
HIRING_EDUCATION_LEVELS: tuple[str, ...] = ("high_school", "associate", "bachelor", "master")


def make_hiring(n_rows: int = 4000, *, seed: int = 0, missing_rate: float = 0.03,
                disparity: float = 1.0) -> pd.DataFrame:
    """Generate a synthetic applicant pool for a hiring screen (no real person described).

    Columns: ``applicant_id``; ``sex`` (female/male, about 48% female); ``race_ethnicity`` (the
    EEO-1 categories of :data:`HIRING_RACE_LEVELS` with :data:`HIRING_RACE_SHARES`, so two
    categories lie under 2% of the rows, as LL144's exclusion rule needs); ``education``;
    ``years_experience`` (gamma); ``skills_test`` (0–100, a little lower where
    ``employment_gap_years`` is longer, and gaps are longer for women: a proxy);
    ``employment_gap_years``; ``referral`` (0/1, rarer for the Black, Hispanic and American
    Indian groups: a proxy); and ``advanced`` ("yes"/"no"), the historical decision to advance
    the applicant to interview, drawn from a logistic model of the qualifications *minus*
    ``disparity`` times a direct penalty on the log-odds (0.5 for women; 0.7 / 0.5 / 0.4 for
    the Black, Hispanic and American Indian groups). Independently, ``missing_rate`` of the
    ``sex`` and of the ``race_ethnicity`` values are missing (the "unknown" category LL144
    asks to count). Every draw comes from ``numpy.random.default_rng(seed)``.
    """
    n = _as_int(n_rows, "n_rows")
    if n < 1:
        raise ValueError(f"n_rows must be at least 1, got {n_rows!r}")
    if not 0 <= missing_rate < 1:
        raise ValueError(f"missing_rate must lie in [0, 1), got {missing_rate!r}")
    rng = np.random.default_rng(seed)
    female = rng.random(n) < 0.48
    race = _categorical_by_group(rng, np.zeros(n, dtype=np.int64),
                                 np.asarray([HIRING_RACE_SHARES]))
    education = _categorical_by_group(rng, np.zeros(n, dtype=np.int64),
                                      np.asarray([[0.25, 0.15, 0.42, 0.18]]))
    experience = np.round(rng.gamma(2.0, 3.0, n), 1)
    gap = np.round(np.where(rng.random(n) < np.where(female, 0.35, 0.18),
                            rng.exponential(1.5, n), 0.0), 1)
    skills = np.clip(np.round(55 + 6 * education + 0.8 * np.minimum(experience, 15)
                              - 2.0 * gap + rng.normal(0, 12, n)), 0, 100)
    referral_p = np.where(np.isin(race, (0, 2, 5)), 0.10, 0.22)
    referral = (rng.random(n) < referral_p).astype(np.int8)
    penalty = 0.5 * female + np.select([race == 2, race == 0, race == 5], [0.7, 0.5, 0.4], 0.0)
    logit = (-4.2 + 0.055 * skills + 0.09 * np.minimum(experience, 15) + 0.25 * education
             + 0.9 * referral - 0.15 * gap - disparity * penalty)
    advanced = (rng.random(n) < _sigmoid(logit)).astype(np.int8)
    sex_missing = rng.random(n) < missing_rate
    race_missing = rng.random(n) < missing_rate
    return pd.DataFrame({
        "applicant_id": np.arange(n, dtype=np.int64),
        "sex": _strings(("female", "male"), np.where(female, 0, 1), sex_missing),
        "race_ethnicity": _strings(HIRING_RACE_LEVELS, race, race_missing),
        "education": _strings(HIRING_EDUCATION_LEVELS, education),
        "years_experience": experience,
        "skills_test": skills.astype(np.int64),
        "employment_gap_years": gap,
        "referral": referral,
        "advanced": _strings(("no", "yes"), advanced),
    })


def plant_proxy(frame: pd.DataFrame, *, attribute: str = "race", name: str = "zip_area",
                strength: float = 0.8, areas_per_group: int = 10, seed: int = 0) -> pd.DataFrame:
    """``frame`` with a planted proxy of ``attribute``: a categorical column ``name``.

    Each group of ``attribute`` gets ``areas_per_group`` areas of its own; a row lives in one
    of its group's areas with probability ``strength`` and otherwise in any area at random
    (rows with a missing ``attribute`` always at random). With the default ``strength`` 0.8
    and the five race groups, the area predicts race with a macro one-vs-rest AUC of about
    0.9 (the share of a group among its own areas' rows is about 0.84, against 0.04 outside).
    The draws come from ``numpy.random.default_rng(seed)``.
    """
    if not 0 <= strength <= 1:
        raise ValueError(f"strength must lie in [0, 1], got {strength!r}")
    rng = np.random.default_rng(seed)
    codes, levels = pd.factorize(frame[attribute], use_na_sentinel=True)
    n, k = len(frame), max(len(levels), 1)
    n_areas = k * areas_per_group
    own = (codes >= 0) & (rng.random(n) < strength)
    area = rng.integers(0, n_areas, size=n)
    within = rng.integers(0, areas_per_group, size=n)
    area = np.where(own, codes * areas_per_group + within, area)
    out = frame.copy()
    out[name] = _strings([f"Z{i:03d}" for i in range(n_areas)], area).array
    return out


def plant_weak_slice(frame: pd.DataFrame, where: Mapping[str, object], *,
                     target: str = "approved", flip: float = 0.6,
                     seed: int = 0) -> pd.DataFrame:
    """``frame`` with a planted weak slice: inside the rows that meet every condition of
    ``where``, each label of ``target`` is flipped (to the other of its two values) with
    probability ``flip``.

    ``where`` maps a column to a value (rows equal to it) or to a ``(low, high)`` pair (rows
    with ``low <= value < high``; either end may be None). Flipped labels that the features
    cannot explain raise a model's error rate in the slice from ``e`` to about
    ``e + flip × (1 − 2e)`` (for a model that cannot single out the slice): doubling it takes
    ``flip = e / (1 − 2e)``. A logistic regression on :func:`make_lending`'s data errs on about
    27 % of the rows, so the default ``flip`` 0.6 about doubles its error in the slice. The
    other rows are unchanged, and the draws come from ``numpy.random.default_rng(seed)``.
    """
    if not 0 <= flip <= 1:
        raise ValueError(f"flip must lie in [0, 1], got {flip!r}")
    if not where:
        raise ValueError("where must name at least one condition")
    inside = np.ones(len(frame), dtype=bool)
    for col, cond in where.items():
        x = frame[col]
        if isinstance(cond, tuple):
            low, high = cond
            v = x.to_numpy(dtype=np.float64, na_value=np.nan)
            inside &= (v >= (-np.inf if low is None else low)) & \
                (v < (np.inf if high is None else high))
        else:
            inside &= (x == cond).to_numpy(dtype=bool, na_value=False)
    values = pd.unique(frame[target].dropna())
    if len(values) != 2:
        raise ValueError(f"{target} must have two values to flip, found {len(values)}")
    rng = np.random.default_rng(seed)
    flipped = inside & (rng.random(len(frame)) < flip)
    out = frame.copy()
    y = out[target].to_numpy(dtype=object)
    y[flipped] = np.where(y[flipped] == values[0], values[1], values[0])
    out[target] = pd.Series(y, index=out.index).astype(frame[target].dtype)
    return out


def _as_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fairsel.synthetic",
        description=(
            "Write a synthetic consumer-lending dataset with branch clusters and a built-in "
            "historical bias against women and some race groups (see fairsel.synthetic)."
        ),
    )
    parser.add_argument("--rows", type=int, default=10_000, help="number of rows (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", required=True, help="output path (.csv, .csv.gz or .parquet)")
    parser.add_argument(
        "--format",
        choices=("csv", "parquet"),
        default=None,
        help="file format (default: parquet if --out ends in .parquet, else csv)",
    )
    parser.add_argument(
        "--branches", type=int, default=None, help="number of branches (default: from --rows)"
    )
    parser.add_argument(
        "--missing-rate", type=float, default=0.02, help="missing fraction of race and income"
    )
    parser.add_argument(
        "--disparity", type=float, default=1.0, help="scale of the built-in bias (0 = none)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: generate with :func:`make_lending` and write the file."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    fmt = args.format
    if fmt is None:
        fmt = "parquet" if args.out.lower().endswith(".parquet") else "csv"
    try:
        df = make_lending(
            args.rows,
            n_branches=args.branches,
            seed=args.seed,
            missing_rate=args.missing_rate,
            disparity=args.disparity,
        )
    except ValueError as exc:
        parser.error(str(exc))
    if fmt == "parquet":
        df.to_parquet(args.out, index=False)
    else:
        df.to_csv(args.out, index=False)
    print(
        f"wrote {len(df):,} rows, {df['branch'].nunique():,} branches to {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
