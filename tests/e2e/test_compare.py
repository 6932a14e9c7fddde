"""fairsel compare: the promotion gate between two audits' results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fairsel.compare import compare
from fairsel.errors import PolicyError, UsageError
from fairsel.policy.schema import CompareSpec
from fairsel.results import AuditResult, load_results
from tests.e2e.test_existing_models import make_data, run_here

ALLOW = {"max_drop": {"roc_auc": 0.01, "disparate_impact": 0.02},
         "max_increase": {"equal_opportunity_difference": 0.02}}


def scores_policy(folder: Path, column: str, out: str, compare_section=None) -> Path:
    policy = {
        "version": 1, "name": "vendor", "seed": 5,
        "data": {"path": "data.csv", "target": "label", "favorable": "good", "id": "id",
                 "features": ["x1"]},
        "protected": [{"column": "sex"}],
        "validation": {"scheme": "stratified_kfold", "folds": 3},
        "candidates": [{"name": "vendor", "kind": "predictions", "path": "scores.csv",
                        "score_column": column}],
        "metrics": {"performance": ["roc_auc", "balanced_accuracy"],
                    "fairness": ["disparate_impact", "equal_opportunity_difference"],
                    "confidence": {"method": "bootstrap", "level": 0.95, "resamples": 200}},
        "gates": [{"metric": "roc_auc", "min": 0.5}],
        "compare": compare_section if compare_section is not None else ALLOW,
        "report": {"output": out, "formats": ["json"]},
    }
    path = folder / f"{out}.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """Audits of version 1 (twice, unchanged) and of a regressed version 2."""
    folder = tmp_path_factory.mktemp("compare")
    frame = make_data(folder, n=2000, seed=11)
    rng = np.random.default_rng(3)
    good = frame["vendor_score"].to_numpy()
    # version 2: noisier and shifted against women — worse AUC, worse equal opportunity
    bad = np.clip(0.5 * good + 0.5 * rng.random(len(good))
                  - 0.15 * (frame["sex"] == "female").to_numpy(), 0, 1)
    pd.DataFrame({"id": frame["id"], "v1": good, "v2": bad}).to_csv(folder / "scores.csv",
                                                                   index=False)
    for column, out in [("v1", "v1"), ("v1", "v1_again"), ("v2", "v2")]:
        r = run_here("audit", "--policy", str(scores_policy(folder, column, out)), "--quiet")
        assert r.exit_code in (0, 1), r.stderr
    return folder


def test_compare_flags_a_constructed_regression(versions):
    out = versions / "cmp"
    r = run_here("compare", str(versions / "v1" / "results.json"),
                 str(versions / "v2" / "results.json"), "--output", str(out))
    assert r.exit_code == 1, r.stderr
    cmp = json.loads((out / "comparison.json").read_text())
    assert cmp["status"] == "FAIL"
    by = {c["metric"]: c for c in cmp["changes"]}
    base = load_results(versions / "v1" / "results.json").variant("vendor")
    cand = load_results(versions / "v2" / "results.json").variant("vendor")
    auc = by["roc_auc"]
    assert auc["change"] == pytest.approx(cand.performance["roc_auc"].value
                                          - base.performance["roc_auc"].value, abs=1e-12)
    assert auc["regression"] > 0.1 and auc["status"] == "FAIL"
    assert auc["regression_ci"][0] > 0.01  # the whole interval is beyond the allowance
    assert by["equal_opportunity_difference"]["status"] == "FAIL"
    assert by["balanced_accuracy"]["status"] == "NOT_GATED"
    md = (out / "comparison.md").read_text()
    assert "| metric | baseline | candidate | change | allowed | status |" in md
    row = next(line for line in md.splitlines() if line.startswith("| `roc_auc`"))
    assert "drop ≤ 0.01" in row and "FAIL" in row and f"{auc['change']:+.4f}" in row
    assert "- FAIL: roc\\_auc: " in md  # Markdown-escaped
    assert md in r.stderr + "\n"  # the table is shown to the person running it


def test_compare_passes_an_unchanged_model(versions):
    out = versions / "same"
    r = run_here("compare", str(versions / "v1" / "results.json"),
                 str(versions / "v1_again" / "results.json"), "--output", str(out))
    assert r.exit_code == 0, r.stderr
    cmp = json.loads((out / "comparison.json").read_text())
    assert cmp["status"] == "PASS"
    gated = [c for c in cmp["changes"] if c["rule"]]
    assert {c["metric"] for c in gated} == {"roc_auc", "disparate_impact",
                                            "equal_opportunity_difference"}
    assert all(c["change"] == 0 and c["status"] == "PASS" for c in gated)


def test_policy_option_sets_the_allowances(versions, tmp_path):
    strict = scores_policy(tmp_path, "v1", "x", {"max_drop": {"balanced_accuracy": 0.0}})
    r = run_here("compare", str(versions / "v1" / "results.json"),
                 str(versions / "v2" / "results.json"), "--policy", str(strict),
                 "--output", str(tmp_path / "o"))
    assert r.exit_code == 1, r.stderr
    cmp = json.loads((tmp_path / "o" / "comparison.json").read_text())
    assert [c["metric"] for c in cmp["changes"] if c["rule"]] == ["balanced_accuracy"]
    assert cmp["allowances_from"] == str(strict)


def test_allowance_for_an_unknown_metric_is_a_usage_error(versions, tmp_path):
    bad = scores_policy(tmp_path, "v1", "x", {"max_drop": {"roc_aux": 0.01}})
    r = run_here("compare", str(versions / "v1" / "results.json"),
                 str(versions / "v1_again" / "results.json"), "--policy", str(bad),
                 "--output", str(tmp_path / "o"))
    assert r.exit_code == 2
    assert f"{bad}: compare → max_drop → roc_aux: unknown metric 'roc_aux'; did you mean " \
           "'roc_auc'?" in r.stderr


def test_allowance_pointing_the_wrong_way_is_a_usage_error(versions, tmp_path):
    bad = scores_policy(tmp_path, "v1", "x", {"max_drop": {"equal_opportunity_difference": 0.1}})
    r = run_here("compare", str(versions / "v1" / "results.json"),
                 str(versions / "v1_again" / "results.json"), "--policy", str(bad),
                 "--output", str(tmp_path / "o"))
    assert r.exit_code == 2
    assert "lower is better for equal_opportunity_difference, so a drop is an improvement; " \
           "use max_increase: {equal_opportunity_difference: 0.1}" in r.stderr


def test_a_missing_results_file_is_a_usage_error(versions, tmp_path):
    r = run_here("compare", str(tmp_path / "nope.json"), str(versions / "v1" / "results.json"))
    assert r.exit_code == 2 and "cannot read the results file" in r.stderr


def test_compare_writes_the_step_summary_and_annotations(versions, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    r = run_here("compare", str(versions / "v1" / "results.json"),
                 str(versions / "v2" / "results.json"), "--output", str(tmp_path / "o"),
                 "--quiet", env={"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTIONS": "true"})
    assert r.exit_code == 1
    text = summary.read_text()
    assert text.startswith("earlier step\n## fairsel compare: vendor vs vendor")
    errors = [line for line in r.stderr.splitlines() if line.startswith("::error ")]
    assert any(line.startswith("::error title=fairsel compare roc_auc::roc_auc: ")
               for line in errors)
    cmp = json.loads((tmp_path / "o" / "comparison.json").read_text())
    assert len(errors) == sum(c["status"] == "FAIL" for c in cmp["changes"]) >= 2


# -- the rule with intervals, on constructed results -----------------------------------------------

def with_auc(result: AuditResult, value: float, ci: tuple[float, float] | None) -> AuditResult:
    data = json.loads(result.model_dump_json())
    data["variants"][0]["performance"]["roc_auc"] = {"value": value,
                                                     "ci": list(ci) if ci else None}
    return AuditResult.model_validate(data)


@pytest.fixture
def base_result(versions):
    return load_results(versions / "v1" / "results.json")


def test_a_drop_within_the_uncertainty_warns_when_the_policy_judges_on_uncertainty(base_result):
    # issue 13 item 17: WARN used to be the default; it is now compare → judge: uncertainty
    allow = CompareSpec(max_drop={"roc_auc": 0.01}, judge="uncertainty")
    b = with_auc(base_result, 0.80, (0.77, 0.83))
    c = with_auc(base_result, 0.78, (0.75, 0.81))  # drop 0.02 > 0.01, but intervals ±0.03
    cmp = compare(b, c, allow)
    auc = next(ch for ch in cmp.changes if ch.metric == "roc_auc")
    assert auc.status == "WARN" and cmp.status == "WARN"
    assert auc.regression == pytest.approx(0.02)
    half = 1.959963984540054 * np.sqrt(2 * (0.03 / 1.959963984540054) ** 2)
    assert auc.regression_ci == pytest.approx((0.02 - half, 0.02 + half))
    assert cmp.exit_code("error") == 0 and cmp.exit_code("warn") == 1


def test_a_drop_beyond_the_uncertainty_fails(base_result):
    allow = CompareSpec(max_drop={"roc_auc": 0.01})
    cmp = compare(with_auc(base_result, 0.80, (0.79, 0.81)),
                  with_auc(base_result, 0.76, (0.75, 0.77)), allow)
    assert cmp.status == "FAIL" and cmp.exit_code() == 1


def test_without_intervals_the_point_change_decides(base_result):
    allow = CompareSpec(max_drop={"roc_auc": 0.01})
    assert compare(with_auc(base_result, 0.80, None), with_auc(base_result, 0.789, None),
                   allow).status == "FAIL"
    assert compare(with_auc(base_result, 0.80, None), with_auc(base_result, 0.79, None),
                   allow).status == "PASS"  # exactly the allowance passes


def test_an_improvement_passes_and_a_missing_value_fails(base_result):
    allow = CompareSpec(max_drop={"roc_auc": 0.0})
    assert compare(with_auc(base_result, 0.7, None), with_auc(base_result, 0.9, None),
                   allow).status == "PASS"
    missing = compare(with_auc(base_result, 0.7, None), with_auc(base_result, None, None), allow)
    assert missing.status == "FAIL"
    assert "the candidate has no value (not computable)" in missing.changes[0].message


def test_unknown_allowance_names_are_refused_by_the_library(base_result):
    with pytest.raises(PolicyError, match="did you mean 'roc_auc'"):
        compare(base_result, base_result, CompareSpec(max_drop={"roc_aux": 0.1}))


# -- issue 13 item 17: point judging by default, default allowances, same data ---------------------

def test_by_default_a_drop_beyond_the_allowance_fails_even_within_the_uncertainty(base_result):
    # the case: an AUC drop of 0.035 against 0.01 read "WARN … within the uncertainty"
    allow = CompareSpec(max_drop={"roc_auc": 0.01})
    cmp = compare(with_auc(base_result, 0.800, (0.75, 0.85)),
                  with_auc(base_result, 0.765, (0.715, 0.815)), allow)
    auc = next(ch for ch in cmp.changes if ch.metric == "roc_auc")
    assert auc.regression == pytest.approx(0.035)
    assert auc.regression_ci[0] < 0.01  # the interval reaches back within the allowance
    assert auc.status == "FAIL" and cmp.status == "FAIL" and cmp.judge == "point"
    assert cmp.exit_code("error") == 1
    assert "judged on the point estimate" in auc.message
    uncertain = compare(with_auc(base_result, 0.800, (0.75, 0.85)),
                        with_auc(base_result, 0.765, (0.715, 0.815)),
                        CompareSpec(max_drop={"roc_auc": 0.01}, judge="uncertainty"))
    assert uncertain.status == "WARN" and uncertain.exit_code("error") == 0


def test_judge_must_be_point_or_uncertainty():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        CompareSpec(judge="ci_bound")


def write(result: AuditResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(result.model_dump_json(indent=2), encoding="utf-8")
    return path


def with_compare(result: AuditResult, section: dict) -> AuditResult:
    data = json.loads(result.model_dump_json())
    data["policy"]["compare"] = section
    return AuditResult.model_validate(data)


@pytest.mark.parametrize("candidate_auc, code, status", [(0.765, 1, "FAIL"), (0.795, 0, "PASS")])
def test_cli_a_constructed_auc_change_beyond_or_within_the_allowance(
        base_result, tmp_path, candidate_auc, code, status):
    section = {"max_drop": {"roc_auc": 0.01}}
    b = write(with_compare(with_auc(base_result, 0.80, (0.75, 0.85)), section), tmp_path / "b.json")
    c = write(with_compare(with_auc(base_result, candidate_auc, (0.70, 0.85)), section),
              tmp_path / "c.json")
    r = run_here("compare", str(b), str(c), "--output", str(tmp_path / "o"))
    assert r.exit_code == code, r.stderr
    cmp = json.loads((tmp_path / "o" / "comparison.json").read_text())
    auc = next(ch for ch in cmp["changes"] if ch["metric"] == "roc_auc")
    assert (auc["status"], cmp["status"]) == (status, status)
    assert cmp["judge"] == "point" and cmp["default_allowances"] is False
    assert [ch["metric"] for ch in cmp["changes"] if ch["rule"]] == ["roc_auc"]
    md = (tmp_path / "o" / "comparison.md").read_text()
    assert cmp["allowances_from"] == f"the policy in {c}"
    assert "; judged on the point estimate" in md and "allowances from the policy in " in md


def test_cli_no_compare_section_applies_the_documented_defaults(versions, tmp_path):
    base = load_results(versions / "v1" / "results.json")
    cand = load_results(versions / "v2" / "results.json")
    b = write(with_compare(base, {}), tmp_path / "b.json")
    c = write(with_compare(cand, {}), tmp_path / "c.json")
    r = run_here("compare", str(b), str(c), "--output", str(tmp_path / "o"))
    assert r.exit_code == 1, r.stderr  # the regression is caught without any allowance set
    cmp = json.loads((tmp_path / "o" / "comparison.json").read_text())
    assert cmp["default_allowances"] is True
    assert cmp["allowances_from"] == (
        f"fairsel's defaults (the policy in {c} sets no compare allowance): performance 0.01, "
        "fairness 0.02 for every metric both audits measured")
    by = {ch["metric"]: ch for ch in cmp["changes"]}
    assert set(by) == {"roc_auc", "balanced_accuracy", "disparate_impact",
                       "equal_opportunity_difference"}
    assert (by["roc_auc"]["rule"], by["roc_auc"]["allowance"]) == ("max_drop", 0.01)
    assert (by["disparate_impact"]["rule"], by["disparate_impact"]["allowance"]) == ("max_drop", 0.02)
    assert (by["equal_opportunity_difference"]["rule"],
            by["equal_opportunity_difference"]["allowance"]) == ("max_increase", 0.02)
    assert by["roc_auc"]["status"] == "FAIL"
    md = (tmp_path / "o" / "comparison.md").read_text()
    assert "allowances from fairsel's defaults" in md
    # the same audit against itself passes under the defaults
    r = run_here("compare", str(b), str(b), "--output", str(tmp_path / "same"))
    assert r.exit_code == 0, r.stderr
    assert json.loads((tmp_path / "same" / "comparison.json").read_text())["status"] == "PASS"


def golden_results(name: str, folder: Path) -> Path:
    """A results.json rebuilt from a golden file (its volatile fields filled in)."""
    from tests.e2e.regenerate_golden import GOLDEN_DIR

    data = json.loads((GOLDEN_DIR / f"{name}.json").read_text(encoding="utf-8"))["results"]
    data["provenance"].update(policy_path=f"policies/{name}.yaml", python="3", platform="x",
                              packages={}, started="2026-01-01T00:00:00Z",
                              finished="2026-01-01T00:00:01Z", duration_seconds=1.0)
    data["data"]["path"] = "data.csv"
    return write(AuditResult.model_validate(data), folder / name / "results.json")


def test_cli_refuses_audits_of_different_data_and_names_each_difference(tmp_path):
    lending, branches = golden_results("lending", tmp_path), golden_results("branches", tmp_path)
    r = run_here("compare", str(lending), str(branches), "--output", str(tmp_path / "o"))
    assert r.exit_code == 2, r.stderr
    assert not (tmp_path / "o").exists()
    b, c = load_results(lending), load_results(branches)
    assert f"{lending} and {branches} are audits of different data" in r.stderr
    for line in ["data → target: baseline 'credit' vs candidate 'approved'",
                 "data → favorable: baseline 'good' vs candidate 'yes'",
                 "protected columns: baseline ['age', 'sex'] vs candidate ['race', 'sex']",
                 "protected 'sex' → reference: baseline None vs candidate 'male'",
                 f"data sha256: baseline '{b.provenance.data_sha256}' vs candidate "
                 f"'{c.provenance.data_sha256}'",
                 "pass --allow-different-data"]:
        assert line in r.stderr


def test_cli_allow_different_data_compares_and_says_so_everywhere(tmp_path):
    lending, branches = golden_results("lending", tmp_path), golden_results("branches", tmp_path)
    out = tmp_path / "o"
    r = run_here("compare", str(lending), str(branches), "--output", str(out),
                 "--allow-different-data", "--quiet")
    assert r.exit_code in (0, 1), r.stderr
    cmp = json.loads((out / "comparison.json").read_text())
    assert cmp["allow_different_data"] is True
    assert "data → target: baseline 'credit' vs candidate 'approved'" in cmp["differences"]
    md = (out / "comparison.md").read_text()
    assert "compared with --allow-different-data: the two audits differ in data → target" in md
    warning = [line for line in r.stderr.splitlines() if line.startswith("fairsel: warning: ")]
    assert len(warning) == 1 and "--allow-different-data" in warning[0]  # even with --quiet
    assert "data → target: baseline 'credit' vs candidate 'approved'" in warning[0]


def test_a_different_data_hash_alone_is_refused_unless_allowed(versions, tmp_path):
    # a new month of data: same target and attributes, another file
    data = json.loads((versions / "v1_again" / "results.json").read_text())
    data["provenance"]["data_sha256"] = "0" * 64
    other = write(AuditResult.model_validate(data), tmp_path / "new_month.json")
    base = versions / "v1" / "results.json"
    r = run_here("compare", str(base), str(other), "--output", str(tmp_path / "o"))
    assert r.exit_code == 2
    diffs = [line.strip() for line in r.stderr.splitlines() if line.startswith("  - ")]
    assert diffs == [f"- data sha256: baseline '{load_results(base).provenance.data_sha256}' "
                     f"vs candidate '{'0' * 64}'"]
    r = run_here("compare", str(base), str(other), "--output", str(tmp_path / "o"),
                 "--allow-different-data")
    assert r.exit_code == 0, r.stderr
    assert "compared with --allow-different-data" in r.stderr


def test_same_audits_list_no_difference(versions):
    from fairsel.compare import data_differences

    a, b = (load_results(versions / v / "results.json") for v in ("v1", "v2"))
    assert data_differences(a, b) == []


def test_bins_labels_reference_and_intersections_are_differences(versions):
    from fairsel.compare import data_differences

    base = load_results(versions / "v1" / "results.json")
    data = json.loads(base.model_dump_json())
    data["policy"]["protected"][0].update(bins=[0.0, 1.0], labels=["a"], reference="male")
    data["policy"]["intersections"] = False
    changed = AuditResult.model_validate(data)
    assert data_differences(base, changed) == [
        "protected 'sex' → bins: baseline None vs candidate [0.0, 1.0]",
        "protected 'sex' → labels: baseline None vs candidate ['a']",
        "protected 'sex' → reference: baseline None vs candidate 'male'",
        "intersections: baseline True vs candidate False"]
    with pytest.raises(UsageError, match="pass --allow-different-data"):
        compare(base, changed, CompareSpec(max_drop={"roc_auc": 0.01}))
    allowed = compare(base, changed, CompareSpec(max_drop={"roc_auc": 0.01}),
                      allow_different_data=True)
    assert allowed.allow_different_data and len(allowed.differences) == 4
