"""The static parameter-name table matches the installed libraries; validate imports a library
only where the policy needs it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fairsel.candidates import ESTIMATORS, check_params
from fairsel.candidates.estimators import lightgbm_param_names
from fairsel.candidates.param_names import PARAM_NAMES
from tests.conftest import POLICIES, ROOT


@pytest.mark.parametrize("name", ESTIMATORS.names())
def test_table_matches_the_installed_estimator(name):
    _, valid = ESTIMATORS.get(name).make({}, 0)
    assert set(PARAM_NAMES[name]) == set(valid), (
        "regenerate fairsel/candidates/param_names.py (python -m fairsel.candidates.param_names)")


def test_table_matches_the_installed_lightgbm():
    assert set(PARAM_NAMES["lightgbm"]) == lightgbm_param_names()


def test_shallow_check_refuses_a_misspelt_name_and_skips_values():
    assert check_params("sklearn", "logistic_regression", {"C": -1}, deep=False) == []
    deep = check_params("sklearn", "logistic_regression", {"C": -1}, deep=True)
    assert deep and deep[0][0] == ("params", "C")
    shallow = check_params("sklearn", "random_forest", {"n_estimator": 5}, deep=False)
    assert shallow == [(("params", "n_estimator"), "unknown parameter 'n_estimator' for "
                        "random_forest; did you mean 'n_estimators'?")]


HEAVY = ("sklearn", "scipy", "lightgbm", "fairlearn", "aif360", "weasyprint", "matplotlib",
         "shap")


def needed_by(policy) -> list[str]:
    """What validate may import for a policy: an estimator's library when a trained candidate
    sets parameter values (they are checked by the library), the model libraries when a saved
    model is loaded and scored as audit does (issue 13 item 18); nothing else."""
    import yaml

    need: set[str] = set()
    for c in yaml.safe_load(policy.read_text(encoding="utf-8"))["candidates"]:
        if c["kind"] == "sklearn" and c.get("params"):
            need |= {"sklearn", "scipy"}
        if c["kind"] == "lightgbm" and c.get("params"):
            need |= {"sklearn", "scipy", "lightgbm"}  # LightGBM imports scikit-learn itself
        if c["kind"] == "saved_model":
            need |= {"sklearn", "scipy", "lightgbm"}  # a skops pipeline, a LightGBM booster
    return [m for m in HEAVY if m in need]


LIGHT_POLICY = ROOT / "tests" / "fixtures" / "bad_data" / "base_policy.yaml"  # sklearn, no params


@pytest.mark.parametrize("policy", [*sorted(POLICIES.glob("*.yaml")), LIGHT_POLICY],
                         ids=lambda p: p.stem)
def test_validate_imports_only_what_the_policy_needs(policy):
    code = ("import sys; from fairsel.cli import main\n"
            "try:\n    main(['validate', '--policy', sys.argv[1]])\n"
            "except SystemExit as e:\n    code = e.code\n"
            f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
            "print(code, heavy)")
    out = subprocess.run([sys.executable, "-c", code, str(policy)], capture_output=True,
                         text=True, cwd=ROOT, env={"CI": "true", "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == f"0 {needed_by(policy)}", out.stdout + out.stderr


def test_policies_without_trained_parameters_or_saved_models_stay_light():
    # the claim above is not vacuous: some policies import nothing heavy at all
    assert needed_by(POLICIES / "recidivism.yaml") == [] and needed_by(LIGHT_POLICY) == []


def test_lightgbm_values_are_checked_by_lightgbm_without_training(capfd):
    assert check_params("lightgbm", None, {"num_leaves": 1}, deep=False) == []
    assert check_params("lightgbm", None, {"num_leaves": 1}, deep=True) == [
        (("params", "num_leaves"), "LightGBM: num_leaves must be > 1 (found 1)")]
    # a scikit-learn-style alias is named as the policy wrote it
    assert check_params("lightgbm", None, {"subsample": 2.0}, deep=True) == [
        (("params", "subsample"), "LightGBM: bagging_fraction must be <= 1.0 (found 2.0)")]
    assert check_params("lightgbm", None, {"boosting_type": "nope"}, deep=True) == [
        (("params", "boosting_type"), "LightGBM: Unknown boosting type nope (found 'nope')")]
    assert check_params("lightgbm", None, {"objective": "nope"}, deep=True) == [
        (("params", "objective"), "LightGBM: Unknown objective type name: nope (found 'nope')")]
    assert check_params("lightgbm", None, {"n_estimators": 0}, deep=True) == [
        (("params", "n_estimators"), "LightGBM: n_estimators must be an integer ≥ 1 (the number "
                                     "of boosting rounds); found 0")]
    assert check_params("lightgbm", None, {"n_estimators": 200, "learning_rate": 0.03,
                                           "num_leaves": 15, "min_child_samples": 20},
                        deep=True) == []
    # sized by the prepared features, which only fit knows: never refused on the dummy Dataset
    assert check_params("lightgbm", None, {"max_bin_by_feature": [10, 20, 30],
                                           "monotone_constraints": [1, -1, 0]}, deep=True) == []
    # quoted, "inf" is text for YAML but infinity for LightGBM: refused like .inf
    for text in ("inf", "1e999", "-Infinity", "nan"):
        assert check_params("lightgbm", None, {"min_gain_to_split": text}, deep=True) == [
            (("params", "min_gain_to_split"), f"LightGBM: min_gain_to_split must be a finite "
             f"number; found {text!r}, text LightGBM reads as NaN or infinity (a policy takes "
             "no NaN or infinity): write a finite number, or leave the key out")]
    out, err = capfd.readouterr()
    assert "[LightGBM]" not in out + err  # LightGBM's own Fatal lines are not shown
