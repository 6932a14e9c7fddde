"""``fairsel init``: the starter policy reads back, validates, and never guesses the favorable value."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from fairsel.policy import load_policy
from fairsel.starter import choose_favorable, yaml_scalar
from tests.conftest import SAMPLES


def _cli(*args: str):
    from fairsel.cli import main

    return CliRunner().invoke(main, list(args), env={"CI": "true"})


def _init(tmp_path: Path, data: Path, *args: str):
    out = tmp_path / "p.policy.yaml"
    res = _cli("init", str(data), "--output", str(out), *args)
    return res, out


@pytest.mark.parametrize("data, args, favorable", [
    ("german_credit.csv", ["--target", "credit"], "good"),
    ("compas.csv", ["--target", "two_year_recid", "--favorable", "0"], 0),
    ("lending_branches.csv", ["--target", "approved"], "yes"),
], ids=["german_credit", "compas", "lending"])
def test_the_starter_policy_validates_on_each_sample(tmp_path, data, args, favorable):
    res, out = _init(tmp_path, SAMPLES / data, *args)
    assert res.exit_code == 0, res.stderr
    policy = load_policy(out)
    assert policy.data.favorable == favorable
    assert policy.intersections == 2  # pairs, not every combination
    check = _cli("validate", "--policy", str(out))
    assert check.exit_code == 0, check.stderr
    assert check.stderr.startswith(f"{out}: valid")


def test_an_income_target_is_not_guessed(tmp_path):
    # Adult's target: the commonest value, <=50K, is the unfavorable one
    data = tmp_path / "adult.csv"
    pd.DataFrame({"sex": ["Male", "Female"] * 6, "age": range(20, 32),
                  "income": ["<=50K"] * 9 + [">50K"] * 3}).to_csv(data, index=False)
    res, out = _init(tmp_path, data, "--target", "income")
    assert res.exit_code == 2
    assert res.stderr.splitlines()[0] == (
        f"fairsel: error: {data}: cannot tell which value of target 'income' is the favorable "
        "outcome (the one a person hopes for); its values are '<=50K' (9 rows), '>50K' "
        "(3 rows): name the favorable one with --favorable VALUE")
    assert not out.exists()
    res, out = _init(tmp_path, data, "--target", "income", "--favorable", ">50K")
    assert res.exit_code == 0, res.stderr
    assert load_policy(out).data.favorable == ">50K"


def test_a_favorable_value_that_does_not_occur_is_refused(tmp_path):
    res, out = _init(tmp_path, SAMPLES / "compas.csv", "--target", "two_year_recid",
                     "--favorable", "2")
    assert res.exit_code == 2
    assert "--favorable 2 is not a value of target 'two_year_recid'; its values are 0 " in res.stderr
    assert not out.exists()


@pytest.mark.parametrize("target, values, want", [
    ("approved", ["yes", "no"], "yes"),
    ("approved", ["No", "Yes"], "Yes"),
    ("label", [0, 1], 1),
    ("label", [False, True], True),
    ("credit", ["bad", "good"], "good"),
    ("decision", ["denied", "approved"], "approved"),
    ("exam", ["FAIL", "PASS"], "PASS"),
    ("two_year_recid", [0, 1], None),  # 1 = reoffended: yes is the adverse outcome
    ("default", ["yes", "no"], None),
    ("churned", [True, False], None),
    ("income", ["<=50K", ">50K"], None),
    ("grade", ["a", "b"], None),
])
def test_the_favorable_value_is_chosen_only_when_obvious(target, values, want):
    assert choose_favorable(target, values) == want


ODD = ["age_group: x", "yes", "on", "#x", "- a", "sëx ünïcode", "Null", "1.5", "'q'", '"d"',
       "a\tb", "x\x85y", "[l]", "{m}", "*s", "&a", "!t", ">f", "|p", "%d", "@r", "`b", "? k",
       "", " lead", "trail ", "a: b # c"]


@pytest.mark.parametrize("value", ODD + [0, 1.5, True, None])
def test_yaml_scalar_reads_back_as_itself(value):
    text = yaml_scalar(value)
    assert "\n" not in text
    assert yaml.safe_load(f"key: {text}    # a comment") == {"key": value}


def test_odd_column_names_give_a_policy_that_parses_and_round_trips(tmp_path):
    protected = ["age_group: x", "sex #1", "race - a", "gender_ünï", "ethnicity: yes"]
    frame = pd.DataFrame({c: ["p", "q"] * 30 for c in protected})
    frame["on"] = ["approved", "denied", "denied"] * 20
    frame["x"] = range(60)
    data = tmp_path / "odd: name #1.csv"
    frame.to_csv(data, index=False)
    res, out = _init(tmp_path, data, "--target", "on")
    assert res.exit_code == 0, res.stderr
    policy = load_policy(out)
    assert policy.data.target == "on" and policy.data.favorable == "approved"
    assert [p.column for p in policy.protected] == protected
    assert policy.resolve(policy.data.path) == data
    check = _cli("validate", "--policy", str(out))
    assert check.exit_code == 0, check.stderr
