"""Loading and encoding the audit table: target, groups, bins, intersections, features, exclusions."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairsel.data import UNKNOWN, AuditData, load_data, read_table
from fairsel.errors import DataError, ExitCode
from fairsel.policy import parse_policy
from tests.conftest import ROOT

BAD_DATA = ROOT / "tests" / "fixtures" / "bad_data"


def _policy(data_path: Path, *, target: str = "t", favorable: str = '"yes"',
            protected: str = "  - column: sex\n", data_extra: str = "", top: str = "",
            validation: str = "  scheme: stratified_kfold\n  folds: 2\n"):
    text = (f"version: 1\nname: t\n{top}data:\n  path: {data_path}\n  target: {target}\n"
            f"  favorable: {favorable}\n{data_extra}protected:\n{protected}"
            f"validation:\n{validation}"
            "candidates:\n  - {name: lr, kind: sklearn, estimator: logistic_regression}\n")
    return parse_policy(text, data_path.parent / "p.yaml")


def _load(tmp_path: Path, frame: pd.DataFrame, fmt: str = "csv", **kw) -> AuditData:
    path = tmp_path / f"d.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return load_data(_policy(path, **kw))


def _fails(tmp_path: Path, frame: pd.DataFrame, **kw) -> str:
    with pytest.raises(DataError) as info:
        _load(tmp_path, frame, **kw)
    assert info.value.exit_code == ExitCode.DATA
    return str(info.value)


def _counts(data: AuditData, name: str) -> dict[str, int]:
    part = next(p for p in data.partitions if p.name == name)
    n = np.bincount(part.codes(data.atoms), minlength=part.n_groups)
    return dict(zip(part.labels, n.tolist()))


def _frame(n: int = 12, **cols) -> pd.DataFrame:
    base = {"sex": ["f", "m"] * (n // 2), "x": np.arange(n, dtype=float),
            "t": ["yes", "no", "no"] * (n // 3)}
    base.update(cols)
    return pd.DataFrame(base)


# ------------------------------------------------------------------------------ the target

def test_favorable_value_becomes_one(tmp_path: Path):
    f = _frame()
    d = _load(tmp_path, f)
    np.testing.assert_array_equal(d.y, (f["t"] == "yes").to_numpy().astype(np.int8))
    assert d.y.dtype == np.int8 and d.favorable == "yes" and d.target == "t"
    d = _load(tmp_path, f, favorable='"no"')
    np.testing.assert_array_equal(d.y, (f["t"] == "no").to_numpy().astype(np.int8))


def test_compas_two_year_recid_favorable_zero(tmp_path: Path):
    # not reoffending (0) is the favorable outcome: the positive class is the number 0
    src = ROOT / "data_samples" / "compas.csv"
    policy = _policy(src, target="two_year_recid", favorable="0",
                     protected="  - column: race\n  - column: sex\n")
    policy._path = tmp_path / "p.yaml"  # noqa: SLF001 — the data path is absolute anyway
    d = load_data(policy)
    raw = pd.read_csv(src)
    np.testing.assert_array_equal(d.y, (raw["two_year_recid"] == 0).to_numpy().astype(np.int8))
    assert int(d.y.sum()) == int((raw["two_year_recid"] == 0).sum()) > 0
    assert d.favorable == "0"
    assert d.rows_read == len(raw) == d.n_rows


def test_numeric_target_with_gaps_and_favorable_written_as_text(tmp_path: Path):
    # a numeric column with gaps is read as 1.0/0.0; favorable "1" still means the number 1
    f = _frame(t=[1, 0, None, 1, 0, 0, 1, None, 0, 1, 0, 0])
    d = _load(tmp_path, f, favorable='"1"')
    kept = f["t"].notna().to_numpy()
    np.testing.assert_array_equal(d.y, (f["t"][kept] == 1).to_numpy().astype(np.int8))
    assert d.excluded == [("missing target value ('t')", 2)]
    assert (d.rows_read, d.n_rows) == (12, 10)


@pytest.mark.parametrize(("favorable", "positive"), [("true", True), ("false", False)])
def test_boolean_target(tmp_path: Path, favorable: str, positive: bool):
    flags = [True, False, False] * 4
    d = _load(tmp_path, _frame(t=flags), favorable=favorable)
    np.testing.assert_array_equal(d.y, (np.array(flags) == positive).astype(np.int8))


def test_boolean_target_with_missing_values(tmp_path: Path):
    flags = [True, False, None] * 4  # read back as objects, not bools
    d = _load(tmp_path, _frame(t=flags), favorable="true")
    assert d.y.tolist() == [1, 0] * 4
    assert d.excluded == [("missing target value ('t')", 4)]


def test_favorable_value_absent_lists_the_values(tmp_path: Path):
    msg = _fails(tmp_path, _frame(), favorable='"good"')
    assert msg == (f"{tmp_path / 'd.csv'}: target column 't': the favorable value 'good' does "
                   "not occur; the values found are 'no' (8), 'yes' (4) (set data → favorable "
                   "to one of them)")


def test_target_with_three_values(tmp_path: Path):
    msg = _fails(tmp_path, _frame(t=["yes", "no", "maybe"] * 4))
    assert msg == (f"{tmp_path / 'd.csv'}: target column 't' must have exactly two values "
                   "(favorable 'yes' and one other); found 3 values: 'yes' (4), 'no' (4), "
                   "'maybe' (4)")


def test_target_missing_everywhere_leaves_no_rows(tmp_path: Path):
    msg = _fails(tmp_path, _frame(t=[None] * 12))
    assert msg == (f"{tmp_path / 'd.csv'}: no rows are left after excluding 12 row(s) for "
                   "'missing target value ('t')' (of 12); check data → exclude_rows and the "
                   "target column")


# ---------------------------------------------------------------------- protected groups

def test_missing_protected_values_form_a_counted_unknown_group(tmp_path: Path):
    sex = ["f", "m", None, "f", "m", "f", None, "m", "f", "m", "f", "m"]
    d = _load(tmp_path, _frame(sex=sex))
    assert d.partitions[0].labels == ("f", "m", UNKNOWN)
    assert _counts(d, "sex") == {"f": 5, "m": 5, UNKNOWN: 2}
    assert d.n_rows == 12  # never dropped


def test_a_value_named_unknown_joins_the_missing_values(tmp_path: Path):
    sex = ["f", "m", "unknown", "f", None, "m"] * 2
    d = _load(tmp_path, _frame(sex=sex))
    assert d.partitions[0].labels == ("f", "m", UNKNOWN)
    assert _counts(d, "sex") == {"f": 4, "m": 4, UNKNOWN: 4}


def test_no_unknown_group_when_nothing_is_missing(tmp_path: Path):
    d = _load(tmp_path, _frame())
    assert d.partitions[0].labels == ("f", "m")


def test_bins_and_labels_with_values_outside_the_bins_going_to_unknown(tmp_path: Path):
    age = [-5, 0, 24.9, 25, 199, 200, None, 30, 18, 60, 250, 40]
    d = _load(tmp_path, _frame(age=age), protected=(
        "  - column: age\n    bins: [0, 25, 200]\n    labels: [under_25, 25_and_over]\n"))
    part = d.partitions[0]
    assert part.labels == ("under_25", "25_and_over", UNKNOWN)
    got = [part.labels[c] for c in part.codes(d.atoms)]
    # bins are closed on the left: [0, 25) and [25, 200)
    assert got == [UNKNOWN, "under_25", "under_25", "25_and_over", "25_and_over", UNKNOWN,
                   UNKNOWN, "25_and_over", "under_25", "25_and_over", UNKNOWN, "25_and_over"]


def test_bins_without_labels_are_named_by_their_edges(tmp_path: Path):
    d = _load(tmp_path, _frame(age=[10, 30] * 6),
              protected="  - column: age\n    bins: [0, 25, 200]\n")
    assert d.partitions[0].labels == ("[0, 25)", "[25, 200)")
    assert _counts(d, "age") == {"[0, 25)": 6, "[25, 200)": 6}


def test_bins_on_a_text_column(tmp_path: Path):
    msg = _fails(tmp_path, _frame(), protected="  - column: sex\n    bins: [0, 1]\n")
    assert msg == (f"{tmp_path / 'd.csv'}: protected column 'sex' has bins, so it must be "
                   "numeric; found values 'f' (6), 'm' (6)")


def test_display_name_and_reference(tmp_path: Path):
    d = _load(tmp_path, _frame(), protected="  - column: sex\n    name: gender\n    reference: m\n")
    part = d.partitions[0]
    assert (part.name, part.columns, part.kind) == ("gender", ("sex",), "attribute")
    assert part.labels[part.reference] == "m"


def test_numeric_reference_on_a_numeric_column(tmp_path: Path):
    d = _load(tmp_path, _frame(grp=[1, 2, 3] * 4), protected="  - column: grp\n    reference: 2\n")
    part = d.partitions[0]
    assert part.labels == ("1", "2", "3") and part.reference == 1


def test_reference_that_does_not_occur(tmp_path: Path):
    msg = _fails(tmp_path, _frame(), protected="  - column: sex\n    reference: x\n")
    assert msg == (f"{tmp_path / 'd.csv'}: protected column 'sex': reference group 'x' does not "
                   "occur. The groups are: f, m")


def test_intersections_enumerate_the_combinations_present(tmp_path: Path):
    # (m, b) never occurs: it is not a group of the intersection
    sex = ["f", "f", "m", "f", "m", "f"] * 2
    grp = ["a", "b", "a", "a", "a", "b"] * 2
    d = _load(tmp_path, _frame(sex=sex, grp=grp),
              protected="  - column: sex\n  - column: grp\n")
    assert [p.name for p in d.partitions] == ["sex", "grp", "sex × grp"]
    inter = d.partitions[2]
    assert (inter.kind, inter.columns, inter.reference) == ("intersection", ("sex", "grp"), None)
    assert inter.labels == ("f × a", "f × b", "m × a")
    assert _counts(d, "sex × grp") == {"f × a": 4, "f × b": 4, "m × a": 4}
    got = [inter.labels[c] for c in inter.codes(d.atoms)]
    assert got == [f"{s} × {g}" for s, g in zip(sex, grp)]


def test_every_combination_of_three_attributes(tmp_path: Path):
    f = _frame(a=["p", "q"] * 6, b=["r", "r", "s"] * 4, c=["u"] * 6 + ["v"] * 6)
    d = _load(tmp_path, f, protected="  - column: a\n  - column: b\n  - column: c\n")
    assert [p.name for p in d.partitions] == ["a", "b", "c", "a × b", "a × c", "b × c",
                                              "a × b × c"]
    triple = d.partitions[-1]
    present = {f"{x} × {y} × {z}" for x, y, z in zip(f["a"], f["b"], f["c"])}
    assert set(triple.labels) == present
    assert sum(_counts(d, "a × b × c").values()) == 12


def test_intersections_off(tmp_path: Path):
    d = _load(tmp_path, _frame(grp=["a", "b"] * 6), top="intersections: false\n",
              protected="  - column: sex\n  - column: grp\n")
    assert [p.name for p in d.partitions] == ["sex", "grp"]
    assert [p.name for p in d.attributes] == ["sex", "grp"]


def test_intersections_2_audits_pairs_only(tmp_path: Path):
    f = _frame(a=["p", "q"] * 6, b=["r", "r", "s"] * 4, c=["u"] * 6 + ["v"] * 6)
    d = _load(tmp_path, f, top="intersections: 2\n",
              protected="  - column: a\n  - column: b\n  - column: c\n")
    assert [p.name for p in d.partitions] == ["a", "b", "c", "a × b", "a × c", "b × c"]
    # N at or above the number of attributes is every combination, as true
    d3 = _load(tmp_path, f, top="intersections: 3\n",
               protected="  - column: a\n  - column: b\n  - column: c\n")
    assert [p.name for p in d3.partitions][-1] == "a × b × c"


def _row_labels(data: AuditData, name: str) -> list[str]:
    part = next(p for p in data.partitions if p.name == name)
    return [part.labels[c] for c in part.codes(data.atoms)]


def test_attributes_with_a_huge_product_of_levels_number_only_the_cells_present(tmp_path: Path):
    # 3 attributes of 300 levels: 27 million cells, of which at most 600 hold a row. The atoms
    # are the cells present (not a 27-million table), and every partition still gives each
    # row its own cell, with the labels in the order of the levels.
    rng = np.random.default_rng(0)
    n = 600
    cols = {k: [f"{k}{v:03d}" for v in rng.permutation(300).tolist() * 2] for k in "abc"}
    f = _frame(n=n, **cols)
    d = _load(tmp_path, f, protected="  - column: a\n  - column: b\n  - column: c\n")
    assert d.n_atoms <= n
    for name in ("a", "a × b", "b × c", "a × b × c"):
        want = [" × ".join(f[k][i] for k in name.split(" × ")) for i in range(n)]
        assert _row_labels(d, name) == want
        part = next(p for p in d.partitions if p.name == name)
        assert list(part.labels) == sorted(set(want))


def test_the_compact_atoms_give_the_same_partitions_as_the_full_table(tmp_path: Path,
                                                                      monkeypatch):
    import fairsel.data as data_mod

    a = list("pqr") * 20
    f = _frame(n=60, a=a, b=["r" if x == "p" else "s" for x in a], c=["u"] * 30 + ["v"] * 30)
    prot = "  - column: a\n  - column: b\n  - column: c\n"
    full = _load(tmp_path, f, protected=prot)
    monkeypatch.setattr(data_mod, "_DENSE_ATOMS", 0)  # as when the product of levels is huge
    compact = _load(tmp_path, f, protected=prot)
    assert (full.n_atoms, compact.n_atoms) == (12, 6)
    assert len(full.partitions) == len(compact.partitions) == 7
    for x, y in zip(full.partitions, compact.partitions):
        assert (x.name, x.labels) == (y.name, y.labels)
        assert np.array_equal(x.codes(full.atoms), y.codes(compact.atoms))


def test_an_audit_of_more_groups_than_the_limit_is_refused(tmp_path: Path):
    from fairsel.errors import PolicyError
    from fairsel.policy.limits import MAX_GROUPS

    # 4 attributes of 30 levels on 12,000 rows: 120 groups, 6 pairs of at most 900 cells,
    # then the triples push the count past the limit
    rng = np.random.default_rng(1)
    n = 12_000
    cols = {k: [f"{k}{v}" for v in rng.integers(0, 30, n)] for k in "abcd"}
    f = _frame(n=n, **cols)
    prot = "".join(f"  - column: {k}\n" for k in "abcd")
    with pytest.raises(PolicyError) as info:
        _load(tmp_path, f, protected=prot)
    msg = str(info.value)
    assert info.value.exit_code == ExitCode.USAGE
    assert f"more than {MAX_GROUPS:,} groups" in msg
    assert "intersections: 2 (pairs only)" in msg
    assert "by the combinations of 3 attributes" in msg
    d = _load(tmp_path, f, protected=prot, top="intersections: 2\n")
    assert len(d.partitions) == 4 + 6


def test_attributes_alone_with_more_groups_than_the_limit_are_refused(tmp_path: Path):
    from fairsel.errors import PolicyError
    from fairsel.policy.limits import MAX_GROUPS

    n = MAX_GROUPS + 2
    f = _frame(n=n, who=[f"p{i}" for i in range(n)])
    with pytest.raises(PolicyError) as info:
        _load(tmp_path, f, protected="  - column: who\n", top="intersections: false\n")
    assert str(info.value).startswith(
        f"{tmp_path / 'p.yaml'}:8: protected: the protected attributes have {n:,} groups in "
        f"the data (who: {n:,}), more than an audit measures (the limit on groups is "
        f"{MAX_GROUPS:,})")


# ------------------------------------------------------------------------------ features

def test_protected_id_cluster_and_excluded_columns_are_not_features(tmp_path: Path):
    f = _frame(id=range(12), branch=["b1", "b2", "b3"] * 4, z=list("abcdefghijkl"),
               w=[1.5] * 12)
    d = _load(tmp_path, f, data_extra="  id: id\n  exclude: [w]\n",
              validation="  scheme: group_kfold\n  folds: 2\n  groups: branch\n")
    assert d.features == ["x", "z"]
    assert list(d.X.columns) == ["x", "z"]
    assert (d.numeric_features, d.categorical_features) == (["x"], ["z"])
    assert d.protected_as_features == []
    np.testing.assert_array_equal(d.row_ids, np.arange(12))
    assert d.cluster_column == "branch"
    assert len(np.unique(d.clusters)) == 3


def test_protected_column_listed_in_features_is_used_and_reported(tmp_path: Path):
    d = _load(tmp_path, _frame(), data_extra="  features: [sex, x]\n")
    assert d.features == ["sex", "x"]
    assert d.protected_as_features == ["sex"]


def test_features_list_minus_exclude(tmp_path: Path):
    d = _load(tmp_path, _frame(z=[1] * 12), data_extra="  features: [x, z]\n  exclude: [z]\n")
    assert d.features == ["x"]


def test_no_feature_left(tmp_path: Path):
    msg = _fails(tmp_path, _frame(), data_extra="  exclude: [x]\n")
    assert msg == (f"{tmp_path / 'd.csv'}: no feature columns are left (every column is the "
                   "target, id, a protected attribute, the cluster column or excluded)")


def test_feature_that_is_the_id(tmp_path: Path):
    msg = _fails(tmp_path, _frame(id=range(12)), data_extra="  id: id\n  features: [x, id]\n")
    assert msg == (f"{tmp_path / 'd.csv'}: data → features lists 'id' (the id column); a model "
                   "may not use it as a feature: remove it from data → features")


def test_missing_cluster_values_form_one_cluster(tmp_path: Path):
    d = _load(tmp_path, _frame(branch=["b1", None, "b2"] * 4),
              validation="  scheme: group_kfold\n  folds: 2\n  groups: branch\n")
    assert len(np.unique(d.clusters)) == 3
    assert len(np.unique(d.clusters[[1, 4, 7, 10]])) == 1


# ---------------------------------------------------------------------------- exclusions

def test_exclude_rows_are_counted_with_their_reason(tmp_path: Path):
    f = _frame(age=[15, 30, 45, 70, 120, 30, 40, 50, 16, 33, 44, 80],
               kind=["a", "b", "c", "a", "b", "c", "a", "b", "c", "a", "b", "c"],
               inc=[1.0, None, 2.0, 3.0, 4.0, 5.0, None, 6.0, 7.0, 8.0, 9.0, 10.0])
    d = _load(tmp_path, f, data_extra="""  exclude_rows:
    - {column: age, outside: [0, 110], reason: implausible age}
    - {column: age, below: 18, reason: minors}
    - {column: age, above: 75, reason: over 75}
    - {column: kind, equals: c, reason: kind c}
    - {column: inc, missing: true, reason: no income}
    - {column: kind, equals: [z, "y"], reason: never}
""")
    assert d.excluded == [("implausible age", 1), ("minors", 2), ("over 75", 1), ("kind c", 2),
                          ("no income", 2), ("never", 0)]
    assert d.rows_read == 12 and d.n_rows == 4
    assert d.X["x"].tolist() == [3.0, 7.0, 9.0, 10.0]  # rows 3, 7, 9, 10 survive every filter


def test_row_filter_and_missing_target_are_both_counted(tmp_path: Path):
    f = _frame(t=["yes", "no", None] * 4, age=[10, 20, 30, 40] * 3)
    d = _load(tmp_path, f, data_extra="  exclude_rows:\n    - {column: age, below: 15, "
                                      "reason: minors}\n")
    assert d.excluded == [("minors", 3), ("missing target value ('t')", 3)]
    assert d.n_rows == 6


def test_range_filter_on_a_text_column(tmp_path: Path):
    msg = _fails(tmp_path, _frame(), data_extra="  exclude_rows:\n    - {column: sex, below: 1, "
                                                "reason: r}\n")
    assert msg == (f"{tmp_path / 'd.csv'}: column 'sex' (data → exclude_rows[0], 'r') must be "
                   "numeric for 'below'; found values 'f' (6), 'm' (6); use 'equals' for text "
                   "values")


# --------------------------------------------------------------------- ids and the file

def test_repeated_ids_are_listed_with_their_lines(tmp_path: Path):
    ids = [1, 2, 3, 1, 5, 2, 7, 3, 9, 4, 4, 12]
    msg = _fails(tmp_path, _frame(id=ids), data_extra="  id: id\n")
    assert msg == (f"{tmp_path / 'd.csv'}: id column 'id' must be unique, but 4 id(s) repeat: "
                   "1 on lines 2, 5; 2 on lines 3, 7; 3 on lines 4, 9; ... (4 repeated ids in all)")


def test_missing_ids(tmp_path: Path):
    ids = [1, 2, None, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    msg = _fails(tmp_path, _frame(id=ids), data_extra="  id: id\n")
    assert msg == (f"{tmp_path / 'd.csv'}: id column 'id' is empty in 1 row(s) (line 4); every "
                   "row needs an id")


def test_parquet_reads_like_csv(tmp_path: Path):
    f = _frame(sex=["f", "m", None] * 4)
    a = _load(tmp_path, f)
    b = _load(tmp_path, f, fmt="parquet")
    assert (a.format, b.format) == ("csv", "parquet")
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.atoms, b.atoms)
    assert b.partitions[0].labels == ("f", "m", UNKNOWN)
    assert b.sha256 == hashlib.sha256((tmp_path / "d.parquet").read_bytes()).hexdigest()


@pytest.mark.parametrize(("name", "message"), [
    ("empty.csv", "the data file is empty (0 bytes); expected a header row and data rows"),
    ("header_only.csv", "the data file has a header but no rows (its one line has 8 "
                        "comma-separated fields, not shown); expected a header row and data "
                        "rows"),
    ("no_such.csv", "data file not found (paths in a policy are relative to the policy file)"),
])
def test_read_table_errors(name: str, message: str):
    with pytest.raises(DataError) as info:
        read_table(BAD_DATA / name)
    assert str(info.value) == f"{BAD_DATA / name}: {message}"


def test_read_table_ragged_csv_names_the_line(tmp_path: Path):
    f = tmp_path / "r.csv"
    f.write_text("a,b,t\n1,2,yes\n3,4,5,no\n")
    with pytest.raises(DataError) as info:
        read_table(f)
    assert str(info.value) == (f"{f}: cannot read the data file as CSV: Error tokenizing data. "
                               "C error: Expected 3 fields in line 3, saw 4")


def test_read_table_parquet_that_is_not(tmp_path: Path):
    f = tmp_path / "x.parquet"
    f.write_text("a,b\n1,2\n")
    with pytest.raises(DataError) as info:
        read_table(f)
    assert str(info.value).startswith(f"{f}: cannot read the data file as PARQUET: ")
