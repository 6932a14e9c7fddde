"""The policy loader: every invalid policy in tests/invalid_policies gives its exact message.

Each file in ``tests/invalid_policies`` starts with a comment saying what is wrong, then
``# expect: <first line of the error, after "fairsel: error: ">`` and ``# exit: <code>``.
The files are run through ``fairsel validate`` in-process (click's runner, the same code path
as the command line, a few milliseconds each); ``tests/e2e/test_bad_input.py`` runs a sample
of them in a real process. Paths in messages are relative to the repository root.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from fairsel.errors import ExitCode, PolicyError
from fairsel.policy import format_path, load_policy, locate, parse_policy
from fairsel.policy.schema import CANDIDATE_KEYS, Policy
from tests.conftest import ROOT

INVALID = ROOT / "tests" / "invalid_policies"
CASES = sorted(INVALID.glob("*.yaml"))
SMALL_CSV = ROOT / "tests" / "fixtures" / "bad_data" / "small.csv"


def _header(path: Path) -> tuple[str, int]:
    """The ``# expect:`` and ``# exit:`` lines of a case file."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    expect = re.search(r"^# expect: (.+)$", text, re.M)
    code = re.search(r"^# exit: (\d+)$", text, re.M)
    assert expect and code, f"{path.name}: needs '# expect: ...' and '# exit: N' header lines"
    return expect.group(1), int(code.group(1))


def test_there_are_cases_for_both_policy_and_data_errors():
    codes = [_header(p)[1] for p in CASES]
    assert codes.count(int(ExitCode.USAGE)) >= 40
    assert codes.count(int(ExitCode.DATA)) >= 15
    assert set(codes) == {int(ExitCode.USAGE), int(ExitCode.DATA)}


def _validate(policy: Path, monkeypatch, command: str = "validate", tmp_path: Path | None = None):
    from fairsel.cli import main

    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("CI", "true")
    args = [command, "--policy", str(policy.relative_to(ROOT))]
    if command == "audit":
        args += ["--output", str(tmp_path / "out")]
    return CliRunner().invoke(main, args)


def test_the_policy_the_cases_break_is_valid(monkeypatch):
    # each case changes this policy in one place, so its error comes from that change
    result = _validate(ROOT / "tests" / "fixtures" / "bad_data" / "base_policy.yaml", monkeypatch)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        "tests/fixtures/bad_data/base_policy.yaml: valid — 40 rows used of 40, 3 features, "
        "1 candidate(s), 3 folds")


@pytest.mark.parametrize("case", CASES, ids=[p.stem for p in CASES])
def test_invalid_policy_gives_its_exact_message(case: Path, monkeypatch, tmp_path):
    expect, code = _header(case)
    # "# command: audit" marks checks that need the estimator itself (parameter values):
    # validate stays free of heavy imports, audit makes them before any training
    command = re.search(r"^# command: (\w+)$", case.read_text(encoding="utf-8", errors="replace"), re.M)
    result = _validate(case, monkeypatch, command.group(1) if command else "validate", tmp_path)
    lines = result.stderr.splitlines()
    assert result.exit_code == code, result.stderr
    assert lines[0] == f"fairsel: error: {expect}"
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


# ---------------------------------------------------------------- parse_policy / load_policy

MINIMAL = f"""\
version: 1
name: minimal
data:
  path: {SMALL_CSV}
  target: approved
  favorable: "yes"
protected:
  - column: sex
candidates:
  - {{name: logreg, kind: sklearn, estimator: logistic_regression}}
"""


def _err(text: str, path: str = "p.yaml") -> str:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, path)
    assert info.value.exit_code == ExitCode.USAGE
    return str(info.value)


def test_minimal_policy_takes_the_documented_defaults():
    p = parse_policy(MINIMAL, "p.yaml")
    assert p.seed == 0
    assert p.data.features == "auto" and p.data.exclude == [] and p.data.id is None
    assert p.intersections is True and p.min_group_size == 30
    assert (p.validation.scheme, p.validation.folds, p.validation.groups) == (
        "stratified_group_kfold", 5, None)
    assert p.metrics.performance == ["roc_auc", "balanced_accuracy", "f1", "brier_score"]
    assert p.metrics.fairness == ["disparate_impact", "demographic_parity_difference",
                                  "equal_opportunity_difference", "equalized_odds_difference"]
    assert (p.metrics.confidence.method, p.metrics.confidence.level,
            p.metrics.confidence.resamples) == ("bootstrap", 0.95, 1000)
    assert p.gates == [] and p.decision == "point"
    assert (p.ranking.objective, p.ranking.tolerance, p.ranking.fairness_tiebreak) == (
        "roc_auc", 0.01, "disparate_impact")
    assert p.report.formats == ["html", "pdf", "json", "junit", "markdown"]
    assert p.candidates[0].threshold == 0.5 and p.candidates[0].params == {}


def test_policy_is_frozen():
    p = parse_policy(MINIMAL)
    with pytest.raises(Exception, match="frozen"):
        p.seed = 3  # type: ignore[misc]
    with pytest.raises(Exception, match="frozen"):
        p.data.target = "other"  # type: ignore[misc]


@pytest.mark.parametrize("name", ["lending.yaml", "branches.yaml"])
def test_example_policies_load(name: str):
    p = load_policy(ROOT / "policies" / name)
    assert p.path == ROOT / "policies" / name
    assert p.resolve(p.data.path).exists()


def test_load_policy_records_path_text_and_sha256(tmp_path: Path):
    f = tmp_path / "sub" / "p.yaml"
    f.parent.mkdir()
    f.write_text(MINIMAL.replace(str(SMALL_CSV), "../data/x.csv"), encoding="utf-8")
    p = load_policy(f)
    assert p.path == f
    assert p.text == f.read_text(encoding="utf-8")
    assert p.sha256 == hashlib.sha256(f.read_bytes()).hexdigest()
    # paths in a policy are relative to the policy file, not to the working folder
    assert p.resolve(p.data.path) == tmp_path / "data" / "x.csv"
    assert p.resolve("/abs/y.csv") == Path("/abs/y.csv")
    assert p.output_dir() == Path("reports") / "minimal"


def test_missing_policy_file(tmp_path: Path):
    f = tmp_path / "nope.yaml"
    with pytest.raises(PolicyError) as info:
        load_policy(f)
    assert str(info.value) == f"{f}: policy file not found (check the path given to --policy)"
    assert info.value.exit_code == ExitCode.USAGE


def test_policy_path_is_a_folder(tmp_path: Path):
    with pytest.raises(PolicyError) as info:
        load_policy(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a folder, expected a policy file (.yaml)"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root reads a file whatever its permissions (chmod 000 cannot stop it)")
def test_unreadable_policy_file(tmp_path: Path):
    f = tmp_path / "p.yaml"
    f.write_text(MINIMAL, encoding="utf-8")
    f.chmod(0)
    try:
        with pytest.raises(PolicyError) as info:
            load_policy(f)
    finally:
        f.chmod(0o644)
    assert str(info.value) == f"{f}: cannot read the policy file: Permission denied"


def test_permission_denied_message_even_as_root(tmp_path: Path, monkeypatch):
    # the same branch as chmod 000, reached as root too: reading raises PermissionError
    f = tmp_path / "p.yaml"
    f.write_text(MINIMAL, encoding="utf-8")

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(PolicyError) as info:
        load_policy(f)
    assert str(info.value) == f"{f}: cannot read the policy file: Permission denied"


def test_not_utf8_names_the_line_and_byte(tmp_path: Path):
    f = tmp_path / "p.yaml"
    f.write_bytes(b"version: 1\nname: x\ndescription: caf\xe9\n")
    with pytest.raises(PolicyError) as info:
        load_policy(f)
    assert str(info.value) == (f"{f}:3: expected UTF-8 text, found byte 0xe9, which is not "
                               "UTF-8; save the file as UTF-8")


def test_every_error_is_reported_at_once():
    text = MINIMAL.replace("name: minimal\n", "name: minimal\nseeed: 1\nintersection: true\n")
    assert _err(text).splitlines() == [
        "p.yaml:3: seeed: unknown key 'seeed'; did you mean 'seed'?",
        "p.yaml:4: intersection: unknown key 'intersection'; did you mean 'intersections'?",
    ]


def test_misspelt_required_key_is_one_error_not_two():
    # the unknown key's "did you mean" already names the missing key
    text = MINIMAL.replace("  target: approved", "  targett: approved")
    assert _err(text) == "p.yaml:5: data → targett: unknown key 'targett'; did you mean 'target'?"


def test_missing_key_is_reported_when_the_unknown_key_is_unrelated():
    text = MINIMAL.replace("  target: approved", "  colour: blue")
    assert _err(text).splitlines() == [
        "p.yaml:3: data: required key 'target' is missing",
        "p.yaml:5: data → colour: unknown key 'colour'",
    ]


def test_union_errors_collapse_to_one_message():
    text = MINIMAL.replace('favorable: "yes"', "favorable: {value: yes}")
    assert _err(text) == ("p.yaml:6: data → favorable: expected a single value (text, a number, "
                          "or true or false), found a mapping")
    text = MINIMAL.replace('favorable: "yes"', 'favorable: "yes"\n  features: [income, 3]')
    # the list member matched the shape, so only its error is shown (not "expected 'auto'")
    assert _err(text) == "p.yaml:7: data → features[1]: expected a string, found 3 (int)"
    text = MINIMAL.replace('favorable: "yes"', 'favorable: "yes"\n  exclude_rows:\n'
                           '    - {column: age, equals: {a: 1}, reason: r}')
    assert _err(text) == ("p.yaml:8: data → exclude_rows[0] → equals: expected a single value "
                          "(text, a number, or true or false) or a list of them, found a mapping")


def test_booleans_are_shown_as_yaml_spells_them():
    text = MINIMAL.replace("name: minimal", "name: minimal\nseed: true")
    assert _err(text) == "p.yaml:3: seed: expected an integer, found true (bool)"


def test_duplicate_key_inside_a_list_item():
    text = MINIMAL.replace("  - column: sex\n", "  - column: sex\n    column: age\n")
    assert _err(text) == ("p.yaml:9: YAML error: duplicate key 'column' (first on line 8); "
                          "keep only one")


def test_row_filters_accept_every_condition():
    text = MINIMAL.replace('favorable: "yes"', '''favorable: "yes"
  exclude_rows:
    - {column: age, outside: [18, 99], reason: implausible age}
    - {column: age, below: 18, reason: minors}
    - {column: age, above: 99, reason: too old}
    - {column: purpose, equals: [car, 3, true], reason: several}
    - {column: income, missing: true, reason: no income}''')
    rows = parse_policy(text).data.exclude_rows
    assert rows[0].outside == [18.0, 99.0]  # a YAML list (strict mode refused tuples)
    assert [r.reason for r in rows] == ["implausible age", "minors", "too old", "several",
                                        "no income"]
    assert rows[3].equals == ["car", 3, True]


@pytest.mark.parametrize(("seed", "ok"), [(0, True), (2**32 - 1, True), (2**32, False), (-1, False)])
def test_seed_range(seed: int, ok: bool):
    text = MINIMAL.replace("name: minimal", f"name: minimal\nseed: {seed}")
    if ok:
        assert parse_policy(text).seed == seed
    else:
        assert _err(text).startswith("p.yaml:3: seed: expected a value")


KIND_BASE = {"sklearn": "estimator: logistic_regression", "lightgbm": "",
             "saved_model": "path: m.skops", "predictions": "path: s.csv, score_column: s",
             "mlflow": "path: models:/x"}
ALL_KEYS = sorted(set().union(*CANDIDATE_KEYS.values()))
KIND_KEY = [(k, key) for k in CANDIDATE_KEYS for key in ALL_KEYS if key not in CANDIDATE_KEYS[k]]
KEY_VALUE = {"estimator": "logistic_regression", "params": "{C: 1.0}", "path": "x",
             "score_column": "s", "decision_column": "d", "higher_is_favorable": "false",
             "threshold": "0.4", "trusted": "true", "sha256": "abc", "trusted_types": "[x]",
             "search": "{params: {C: [1, 2]}}"}


@pytest.mark.parametrize(("kind", "key"), KIND_KEY, ids=[f"{k}-{key}" for k, key in KIND_KEY])
def test_key_that_does_not_apply_to_the_kind(kind: str, key: str):
    base = KIND_BASE[kind]
    entry = f"{{name: c, kind: {kind}{', ' + base if base else ''}, {key}: {KEY_VALUE[key]}}}"
    text = MINIMAL.replace('favorable: "yes"', 'favorable: "yes"\n  id: id').replace(
        "{name: logreg, kind: sklearn, estimator: logistic_regression}", entry)
    allowed = ", ".join(sorted(CANDIDATE_KEYS[kind]))
    assert _err(text) == (f"p.yaml:11: candidates[0] → {key}: key '{key}' does not apply to "
                          f"kind '{kind}' (it takes: {allowed})")


def test_gate_bounds():
    gate = MINIMAL + "gates:\n  - {metric: disparate_impact, min: 0.8, max: 1.25}\n"
    g = parse_policy(gate).gates[0]
    assert (g.min, g.max, g.severity) == (0.8, 1.25, "error")
    equal = MINIMAL + "gates:\n  - {metric: roc_auc, min: 0.7, max: 0.7}\n"
    assert parse_policy(equal).gates[0].min == 0.7  # min == max is a point, not an error


def test_locate_and_format_path():
    assert format_path(("gates", 0, "metric")) == "gates[0] → metric"
    assert format_path(("data", "exclude_rows", 2, "outside")) == "data → exclude_rows[2] → outside"
    p = parse_policy(MINIMAL, "dir/p.yaml")
    assert locate(p, ("candidates", 0, "estimator"), "bad") == (
        "dir/p.yaml:10: candidates[0] → estimator: bad")
    assert locate(p, ("data", "target"), "bad") == "dir/p.yaml:5: data → target: bad"
    # a key the file does not spell points at its parent's line
    assert locate(p, ("validation", "folds"), "bad") == "dir/p.yaml: validation → folds: bad"


def test_policy_json_schema_builds():
    schema = Policy.model_json_schema()
    assert "data" in schema["required"] and "candidates" in schema["required"]


# ---------------------------------------------------------------- limits (issue 13, item 4)

def _alias_bomb(levels: int = 9) -> str:
    chain = "".join(f"      l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n"
                    for i in range(1, levels + 1))
    return MINIMAL.replace(
        "  - {name: logreg, kind: sklearn, estimator: logistic_regression}\n",
        "  - name: logreg\n    kind: sklearn\n    estimator: logistic_regression\n    params:\n"
        "      l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + chain)


def test_an_alias_bomb_is_refused_at_once_without_building_it():
    import time

    text = _alias_bomb()
    assert len(text.encode()) < 1500  # 9**9 'lol's: gigabytes once expanded
    start = time.perf_counter()
    msg = _err(text)
    assert time.perf_counter() - start < 0.5
    assert msg.startswith("p.yaml:19: candidates[0] → params → l5[2]: with its aliases expanded "
                          "(here *l4), the policy is more than 1,000,000 characters long (the "
                          "limit on a policy's expanded size is 1,000,000)")


def test_aliases_below_the_limits_still_work():
    from fairsel.policy.limits import MAX_ALIASES

    shared = MINIMAL + "report:\n  title: &t same\n  system: *t\n"
    assert parse_policy(shared).report.system == "same"
    uses = ", ".join(["*t"] * MAX_ALIASES)
    at_limit = MINIMAL + f"report:\n  title: &t x\n  formats: [{uses}]\n"
    assert parse_policy(at_limit).report.formats == ["x"] * MAX_ALIASES
    over = at_limit.replace(f"[{uses}]", f"[{uses}, *t]")
    assert _err(over) == (f"p.yaml:13: report → formats[{MAX_ALIASES}]: more than {MAX_ALIASES} "
                          f"YAML aliases (*t) (the limit on aliases in a policy is {MAX_ALIASES}); "
                          "write the values out instead")
    p = parse_policy(_alias_bomb(levels=4))  # 9**4 items once expanded: within the limit
    assert len(p.candidates[0].params["l4"]) == 9


def test_200000_bins_on_300_rows_are_refused_fast(tmp_path: Path, monkeypatch):
    import time

    data = tmp_path / "d.csv"
    data.write_text("age,sex,y\n" + "".join(f"{20 + i % 50},{'fm'[i % 2]},{i % 3 == 0}\n"
                                            for i in range(300)))
    edges = ", ".join(str(i) for i in range(200_000))
    policy = tmp_path / "p.yaml"
    policy.write_text(MINIMAL.replace(str(SMALL_CSV), str(data)).replace("approved", "y")
                      .replace('"yes"', "true")
                      .replace("  - column: sex\n", f"  - column: age\n    bins: [{edges}]\n"))
    from fairsel.cli import main

    start = time.perf_counter()
    res = CliRunner().invoke(main, ["validate", "--policy", str(policy)], env={"CI": "true"})
    assert time.perf_counter() - start < 2
    assert res.exit_code == 2
    assert res.stderr.splitlines()[0] == (
        f"fairsel: error: {policy}:9: protected[0] → bins: expected at most 100 edges (the limit "
        "on bins per attribute is 100 edges, 99 groups), found more; use fewer, wider bins")


def test_the_limits_are_documented_in_the_schema_and_readme():
    from fairsel.policy.limits import MAX_BIN_EDGES, MAX_GROUPS

    props = Policy.model_json_schema()
    assert f"{MAX_GROUPS:,} groups" in props["properties"]["intersections"]["description"]
    bins = props["$defs"]["ProtectedSpec"]["properties"]["bins"]["description"]
    assert f"at most {MAX_BIN_EDGES} edges" in bins
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    from fairsel.policy import limits

    for name in ("MAX_ALIASES", "MAX_EXPANDED_SIZE", "MAX_DEPTH", "MAX_BIN_EDGES", "MAX_GROUPS"):
        assert f"{getattr(limits, name):,}" in readme, name


def test_a_name_that_differs_only_in_case_is_the_suggestion():
    from fairsel.errors import did_you_mean

    assert did_you_mean("male", ["Female", "Male"]) == "; did you mean 'Male'?"
    assert did_you_mean("MALE", ["female", "male"]) == "; did you mean 'male'?"
    assert did_you_mean("femal", ["female", "male"]) == "; did you mean 'female'?"
    assert did_you_mean("zzz", ["female", "male"]) == ""
