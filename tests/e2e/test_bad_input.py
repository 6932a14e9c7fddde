"""Bad input through the real command line: the contract's exit code, one clear line, no traceback.

Each test starts ``python -m fairsel`` in a fresh process (two to five seconds each on a busy
machine), so this file runs one case of each kind and what only a real process shows (paths,
the working folder, the output folder); every file in tests/invalid_policies is checked
in-process through the same ``validate`` command by tests/unit/test_policy.py. The working
folder is a temporary one, so an internal error would leave its ``fairsel-error.log`` there,
and the tests check that none appears.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT

INVALID = ROOT / "tests" / "invalid_policies"
BAD_DATA = ROOT / "tests" / "fixtures" / "bad_data"
BASE_POLICY = BAD_DATA / "base_policy.yaml"  # valid; each invalid case breaks it once


def _clean_failure(result, code: int, first_line: str, cwd: Path) -> None:
    """Exit ``code``, stderr's first line exactly ``first_line``, no traceback, no crash log."""
    assert result.exit_code == code, result.stderr
    assert result.stderr.splitlines()[0] == first_line
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not (cwd / "fairsel-error.log").exists()


@pytest.fixture
def good_policy(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(BASE_POLICY.read_text(encoding="utf-8").replace(
        "path: small.csv", f"path: {BAD_DATA / 'small.csv'}"), encoding="utf-8")
    return p


def test_missing_policy_file(cli, tmp_path: Path):
    missing = tmp_path / "nope.yaml"
    r = cli("validate", "--policy", str(missing), cwd=tmp_path)
    _clean_failure(r, 2, f"fairsel: error: {missing}: policy file not found (check the path "
                   "given to --policy)", tmp_path)


def test_policy_path_is_a_folder(cli, tmp_path: Path):
    r = cli("audit", "--policy", str(tmp_path), cwd=tmp_path)
    _clean_failure(r, 2, f"fairsel: error: {tmp_path}: is a folder, expected a policy file (.yaml)",
                   tmp_path)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root reads a file whatever its permissions (chmod 000 cannot stop it); "
                           "test_policy_path_is_a_folder covers an unreadable path")
def test_unreadable_policy_file(cli, good_policy: Path, tmp_path: Path):
    good_policy.chmod(0)
    try:
        r = cli("validate", "--policy", str(good_policy), cwd=tmp_path)
    finally:
        good_policy.chmod(0o644)
    _clean_failure(r, 2, f"fairsel: error: {good_policy}: cannot read the policy file: "
                   "Permission denied", tmp_path)


def test_validate_reports_a_policy_error_with_file_line_and_key(cli, tmp_path: Path):
    case = tmp_path / "p.yaml"
    shutil.copy(INVALID / "unknown_key_nested.yaml", case)
    r = cli("validate", "--policy", "p.yaml", cwd=tmp_path)
    _clean_failure(r, 2, "fairsel: error: p.yaml:9: data → favourable: unknown key "
                   "'favourable'; did you mean 'favorable'?", tmp_path)


def test_audit_refuses_an_unknown_metric_and_writes_nothing(cli, tmp_path: Path):
    out = tmp_path / "out"
    r = cli("audit", "--policy", str(INVALID / "unknown_metric_gate.yaml"), "--output", str(out),
            cwd=tmp_path)
    _clean_failure(r, 2, f"fairsel: error: {INVALID / 'unknown_metric_gate.yaml'}:25: gates[0] → "
                   "metric: unknown metric 'disparate_impakt'; did you mean 'disparate_impact'? "
                   "(fairsel list metrics)", tmp_path)
    # the folder is created (its writability is checked first), but nothing is written in it
    assert not out.exists() or not any(out.iterdir())


def test_audit_data_error_exits_3(cli, tmp_path: Path):
    r = cli("audit", "--policy", str(INVALID / "target_column_missing.yaml"), "--output",
            str(tmp_path / "out"), "--quiet", cwd=tmp_path)
    _clean_failure(r, 3, f"fairsel: error: {BAD_DATA / 'small.csv'}: column 'approval' "
                   "(data → target) not found; did you mean 'approved'? The file's columns "
                   "are: id, branch, sex, age, race, income, purpose, approved", tmp_path)
    assert not (tmp_path / "out" / "results.json").exists()


def test_output_folder_under_a_file(cli, good_policy: Path, tmp_path: Path):
    # a path below a regular file cannot be created, even by root
    (tmp_path / "afile").write_text("not a folder")
    out = tmp_path / "afile" / "out"
    r = cli("audit", "--policy", str(good_policy), "--output", str(out), cwd=tmp_path)
    _clean_failure(r, 2, f"fairsel: error: {out}: cannot create the output folder (Not a "
                   "directory); choose another with --output or report → output", tmp_path)


def test_unknown_format_option(cli, good_policy: Path, tmp_path: Path):
    r = cli("audit", "--policy", str(good_policy), "--format", "json,markdwon", "--output",
            str(tmp_path / "out"), cwd=tmp_path)
    _clean_failure(r, 2, "fairsel: error: --format: unknown report format 'markdwon'; did you "
                   "mean 'markdown'? (fairsel list formats)", tmp_path)
    assert not (tmp_path / "out" / "results.json").exists()


def test_missing_policy_option_is_a_usage_error(cli, tmp_path: Path):
    r = cli("validate", cwd=tmp_path)
    assert r.exit_code == 2
    assert "Error: Missing option '--policy'." in r.stderr
    assert "Traceback" not in r.stderr
