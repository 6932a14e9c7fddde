"""The static parameter-name table matches the installed libraries; validate imports neither."""

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


@pytest.mark.parametrize("policy", sorted(POLICIES.glob("*.yaml")), ids=lambda p: p.stem)
def test_validate_imports_no_heavy_library(policy):
    code = ("import sys; from fairsel.cli import main\n"
            "try:\n    main(['validate', '--policy', sys.argv[1]])\n"
            "except SystemExit as e:\n    code = e.code\n"
            "heavy = [m for m in ('sklearn', 'scipy', 'lightgbm', 'fairlearn', 'aif360', "
            "'weasyprint', 'matplotlib', 'shap') if m in sys.modules]\n"
            "print(code, heavy)")
    out = subprocess.run([sys.executable, "-c", code, str(policy)], capture_output=True,
                         text=True, cwd=ROOT, env={"CI": "true", "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "0 []", out.stdout + out.stderr
