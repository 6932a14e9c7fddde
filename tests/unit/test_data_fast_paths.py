"""The loader's fast paths give exactly what the general path gives.

The general paths are pandas' hash-based ones (``factorize``, ``unique``, ``duplicated``),
which the loader used for every column before the fast paths for categoricals, numbers and
sorted ids were added. Each test runs both on the same values and compares.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairsel.data import (
    UNKNOWN,
    _check_ids,
    _encode_protected,
    _n_distinct,
    _sort_key,
    _strictly_increasing,
    _unique_numbers,
    load_data,
)
from fairsel.errors import DataError
from fairsel.policy import ProtectedSpec, parse_policy

PATH = Path("d.parquet")


def _general_encoding(values: pd.Series, spec: ProtectedSpec) -> tuple[list[int], tuple[str, ...]]:
    """The encoding as the loader computed it before the fast paths (row by row, no tables)."""
    if spec.bins is not None:
        labels = spec.labels or [f"[{a:g}, {b:g})" for a, b in zip(spec.bins, spec.bins[1:])]
        cut = pd.cut(values, bins=spec.bins, right=False, labels=list(range(len(labels))))
        codes = cut.cat.codes.to_numpy().astype(np.int64)
        levels = list(labels)
    else:
        raw, uniques = pd.factorize(values, sort=False)
        names = [str(u) for u in uniques]
        levels = sorted(set(names), key=_sort_key)
        codes = np.array([levels.index(names[c]) if c >= 0 else -1 for c in raw], dtype=np.int64)
    if (codes < 0).any() or UNKNOWN in levels:
        if UNKNOWN in levels:
            k = levels.index(UNKNOWN)
            codes = np.where(codes == k, -1, np.where(codes > k, codes - 1, codes))
            levels.pop(k)
        codes = np.where(codes < 0, len(levels), codes)
        levels.append(UNKNOWN)
    return codes.tolist(), tuple(levels)


def _fast_encoding(values: pd.Series, spec: ProtectedSpec) -> tuple[list[int], tuple[str, ...]]:
    codes, levels = _encode_protected(pd.DataFrame({spec.column: values}), spec, PATH)
    assert codes.dtype.kind == "i" and len(codes) == len(values)
    return codes.tolist(), levels


# pools of values a protected column may hold; "1" and 1 read alike (one group), "unknown"
# joins the missing values, numbers sort as numbers ("9" before "10")
POOLS = {
    "text": ["a", "b", "B", "unknown", "10", "9", "é"],
    "int": [1, 2, 10, -3, 0],
    "float": [1.0, 2.5, 10.0, -0.5],
    "bool": [True, False],
    "mixed": [1, "1", "a", 2.0, "unknown"],
}


@st.composite
def protected_values(draw):
    pool = POOLS[draw(st.sampled_from(sorted(POOLS)))]
    values = draw(st.lists(st.one_of(st.sampled_from(pool), st.none()), min_size=1, max_size=30))
    observed = [v for v in dict.fromkeys(values) if v is not None]
    unused = [v for v in pool if v not in observed and draw(st.booleans())]
    return values, observed, unused


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(protected_values())
def test_categorical_codes_match_factorizing_the_values(case):
    values, observed, unused = case
    spec = ProtectedSpec(column="g")
    as_objects = pd.Series(values, dtype=object)
    expected = _general_encoding(as_objects, spec)
    assert _fast_encoding(as_objects, spec) == expected  # the general path, with its tables
    try:  # categories in an order of their own, with some that no row uses
        categorical = pd.Categorical(values, categories=unused + observed[::-1])
    except (TypeError, ValueError):  # categories pandas refuses (e.g. 1 and 1.0 both)
        return
    as_categorical = pd.Series(categorical)  # (its categories may cast the values: 1 → 1.0)
    got = _fast_encoding(as_categorical, spec)
    assert got == _general_encoding(as_categorical, spec)  # factorize keeps the used ones
    assert got == _general_encoding(as_categorical.astype(object), spec)
    never = set(map(str, unused)) - set(map(str, observed)) - {UNKNOWN}
    assert not never & set(got[1])  # a category no row uses is no group


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.floats(-10, 260, allow_nan=False), st.none()), min_size=1,
                max_size=30),
       st.sampled_from([None, ["young", "old"], ["unknown", "old"]]))
def test_bins_match_the_general_encoding(values, labels):
    spec = ProtectedSpec(column="age", bins=[0, 25, 200], labels=labels)
    series = pd.Series(values, dtype=float)
    assert _fast_encoding(series, spec) == _general_encoding(series, spec)


def test_unused_category_and_missing_values_through_parquet(tmp_path: Path):
    sex = pd.Categorical(["f", "m", None, "f", "unknown", "m"] * 2,
                         categories=["x", "m", "unknown", "f", "never"])
    grp = pd.Categorical([3, 1, 1, 20, 3, 1] * 2, categories=[20, 3, 1, 7])
    frame = pd.DataFrame({"sex": sex, "grp": grp, "x": np.arange(12.0),
                          "t": ["yes", "no", "no"] * 4})
    frame.to_parquet(tmp_path / "cat.parquet", index=False)
    frame.astype({"sex": object, "grp": np.int64}).to_csv(tmp_path / "plain.csv", index=False)
    loaded = {}
    for name in ("cat.parquet", "plain.csv"):
        policy = parse_policy(f"version: 1\nname: t\ndata:\n  path: {tmp_path / name}\n"
                              "  target: t\n  favorable: \"yes\"\nprotected:\n  - column: sex\n"
                              "  - column: grp\nvalidation:\n  scheme: stratified_kfold\n"
                              "  folds: 2\ncandidates:\n  - {name: lr, kind: sklearn, "
                              "estimator: logistic_regression}\n", tmp_path / "p.yaml")
        loaded[name] = load_data(policy)
    cat, plain = loaded["cat.parquet"], loaded["plain.csv"]
    assert isinstance(pd.read_parquet(tmp_path / "cat.parquet")["sex"].dtype, pd.CategoricalDtype)
    # "x", "never" and 7 occur in no row: no group; "unknown" and the gaps are one group
    assert [p.labels for p in cat.partitions] == [p.labels for p in plain.partitions] == [
        ("f", "m", UNKNOWN), ("1", "3", "20"),
        ("f × 3", "f × 20", "m × 1", UNKNOWN + " × 1", UNKNOWN + " × 3")]
    np.testing.assert_array_equal(cat.atoms, plain.atoms)
    assert cat.atoms.dtype == np.int64 and cat.n_atoms == plain.n_atoms == 9
    codes = [p.codes(cat.atoms) for p in cat.attributes]
    np.testing.assert_array_equal(cat.atoms, np.ravel_multi_index(codes, (3, 3)))


# ------------------------------------------------------------------------------------ ids

def _id_error(ids: pd.Series) -> str | None:
    try:
        _check_ids(ids.rename("id"), PATH, "csv")
    except DataError as err:
        return str(err)
    return None


@pytest.mark.parametrize("ids", [
    [7, 14, 21, 28],                      # written in order: the one-pass check
    [28, 7, 21, 14],                      # unique but not in order: the sorted check
    [3, 1, 2, 1],                         # a repeat
    [1, 2, 3, 4, 4],                      # in order but for a repeat at the end
    [5, 1, 5, 2, 1, 9, 5],                # several repeats
    [-1, 0, 2**30, -2**30, 0],
])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint64, np.float64])
def test_numeric_ids_are_checked_like_pandas_checks_text(ids, dtype):
    if dtype is np.uint64:  # the same pattern of repeats, as unsigned numbers
        ids = [i - min(ids) for i in ids]
    numeric = pd.Series(np.array(ids, dtype=dtype))
    general = pd.Series(numeric.tolist(), dtype=object)  # the hash path, same values
    assert _id_error(numeric) == _id_error(general)
    assert (_id_error(numeric) is None) == (len(set(ids)) == len(ids))


def test_repeated_unsorted_int_ids_keep_their_message():
    msg = _id_error(pd.Series([9, 1, 2, 3, 1, 5, 2, 7, 3, 9, 4, 4], dtype=np.int64))
    assert msg == ("d.parquet: id column 'id' must be unique, but 5 id(s) repeat: 9 on lines "
                   "2, 11; 1 on lines 3, 6; 2 on lines 4, 8; ... (5 repeated ids in all)")


def test_text_ids_use_the_general_path():
    assert _id_error(pd.Series(["b", "a", "c"])) is None
    assert _id_error(pd.Series(["b", "a", "b"])) == (
        "d.parquet: id column 'id' must be unique, but 1 id(s) repeat: 'b' on lines 2, 4")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-5, 40), max_size=40), st.integers(1, 6))
def test_strictly_increasing_in_slices(values, size):
    a = np.array(values, dtype=np.int64)
    # a slice size this small puts slice borders everywhere, where a pair could be missed
    assert _strictly_increasing(a, size=size) == bool(np.all(np.diff(a) > 0))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["int8", "uint8", "int64", "uint64", "float64"]).flatmap(
    lambda dtype: st.tuples(st.just(dtype), st.lists(
        st.integers(*{"int8": (-128, 127), "uint8": (0, 255), "int64": (-2**63, 2**63 - 1),
                      "uint64": (0, 2**64 - 1), "float64": (-2**53, 2**53)}[dtype]),
        max_size=30))),
       st.integers(0, 5))
def test_unique_numbers_like_a_set(case, spread):
    dtype, values = case
    if spread and values:  # values near one another: the table of seen values, not the sort
        values = [values[0] // 2 + spread * (v % 7) for v in values]
    a = np.array(values, dtype=dtype)
    assert _unique_numbers(a) == (len(set(a.tolist())) == len(a))


def test_unique_numbers_at_the_ends_of_narrow_and_unsigned_types():
    # offsets from the minimum overflow int8 (0 - -128 = 128, which wraps to the slot of -27),
    # and uint64 values above 2**63 do not fit int64: either mistake makes distinct ids
    # collide in the table of seen values
    narrow = [-128, 100, 0, -27, *range(-127, -102)]
    assert _unique_numbers(np.array(narrow, dtype=np.int8))
    assert not _unique_numbers(np.array([*narrow, -27], dtype=np.int8))
    top = [2**64 - 1, 2**64 - 3, 2**64 - 2, 2**63 + 1]
    assert not _unique_numbers(np.array([*top, 2**64 - 3], dtype=np.uint64))
    assert _unique_numbers(np.array(top[:3], dtype=np.uint64))


# ---------------------------------------------------------------------------------- target

TARGET_POOLS = {
    "int8": [0, 1, 2, -1, 127, -128],
    "int64": [0, 1, 2, -1, 2**40],
    "uint8": [0, 1, 2, 255],
    "bool": [True, False],
    "float64": [0.0, -0.0, 1.0, 0.5, 2.0, -1.0],
}


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(TARGET_POOLS)).flatmap(
    lambda dtype: st.tuples(st.just(dtype), st.lists(st.sampled_from(TARGET_POOLS[dtype]),
                                                     min_size=1, max_size=20))))
def test_distinct_values_counted_like_unique(case):
    dtype, values = case
    series = pd.Series(np.array(values, dtype=dtype))
    assert _n_distinct(series) == len(series.dropna().unique())


def test_distinct_values_with_missing_values_and_extension_types():
    for series in (pd.Series([1.0, np.nan, 0.0]), pd.Series([1, None, 0], dtype="Int64"),
                   pd.Series(["a", None, "b", "c"]), pd.Series([np.nan, np.nan])):
        assert _n_distinct(series) == len(series.dropna().unique())


def test_int8_target_from_parquet_is_a_writable_int8_copy(tmp_path: Path):
    t = np.array([1, 0, 0, 1, 1, 0] * 2, dtype=np.int8)
    frame = pd.DataFrame({"t": t, "sex": ["f", "m"] * 6, "x": np.arange(12.0)})
    frame.to_parquet(tmp_path / "d.parquet", index=False)
    policy = parse_policy(f"version: 1\nname: t\ndata:\n  path: {tmp_path / 'd.parquet'}\n"
                          "  target: t\n  favorable: 0\nprotected:\n  - column: sex\n"
                          "candidates:\n  - {name: lr, kind: sklearn, "
                          "estimator: logistic_regression}\n", tmp_path / "p.yaml")
    d = load_data(policy)
    assert d.y.dtype == np.int8 and d.y.flags.writeable
    assert d.y.tolist() == (t == 0).astype(int).tolist()
