"""load_results (behind `fairsel render` and `fairsel compare`) refuses what fairsel never wrote.

Each refusal is a UsageError (exit 2) that names the file and the JSON path of the problem.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fairsel.errors import UsageError
from fairsel.policy import load_policy
from fairsel.results import SCHEMA_VERSION, load_results
from tests.conftest import ROOT
from tests.unit.report.factory import make_result


@pytest.fixture(scope="module")
def good() -> dict:
    data = json.loads(make_result(n_variants=2).model_dump_json())
    # the factory's embedded policy is partial: put in a whole one, as an audit does
    policy = load_policy(ROOT / "tests" / "fixtures" / "bad_data" / "base_policy.yaml")
    data["policy"] = policy.model_dump(mode="json")
    return data


def _write(tmp_path: Path, data) -> Path:
    path = tmp_path / "results.json"
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def _refused(tmp_path: Path, data) -> str:
    path = _write(tmp_path, data)
    with pytest.raises(UsageError) as err:
        load_results(path)
    assert err.value.exit_code == 2
    msg = str(err.value)
    assert msg.startswith(f"{path}: not a fairsel results.json"), msg
    return msg


def _tampered(good: dict, change) -> dict:
    data = json.loads(json.dumps(good))
    change(data)
    return data


def test_a_result_fairsel_wrote_loads(good, tmp_path):
    result = load_results(_write(tmp_path, good))
    assert result.schema_version == SCHEMA_VERSION
    assert load_results(_write(tmp_path, b"\xef\xbb\xbf" + json.dumps(good).encode()))  # a BOM


@pytest.mark.parametrize("version, expected", [
    ("2.0", "schema_version: 2.0 is newer than this fairsel reads (1.x)"),
    ("99.0", "upgrade fairsel"),
    ("0.9", "schema_version: 0.9 is older than this fairsel reads (1.x)"),
    ("banana", "schema_version: 'banana' is not a results schema version"),
    ("1", "is not a results schema version (expected MAJOR.MINOR, such as 1.0)"),
    (1.0, "schema_version: 1.0 is not a results schema version"),
    (None, "schema_version: None is not a results schema version"),
])
def test_other_schema_versions_are_refused(version, expected, good, tmp_path):
    msg = _refused(tmp_path, _tampered(good, lambda d: d.update(schema_version=version)))
    assert expected in msg


def test_score_errors_above_1_are_read(good, tmp_path):
    # a candidate whose scores are not probabilities (COMPAS deciles) has a Brier score of 33
    def scores(d):
        d["variants"][0]["performance"]["brier_score"] = {"value": 33.0, "ci": [30.5, 35.5]}
        d["variants"][0]["attributes"][0]["groups"][0]["rates"]["calibration_error"] = {
            "value": 4.5, "ci": None}

    load_results(_write(tmp_path, _tampered(good, scores)))


def test_a_newer_minor_version_is_read(good, tmp_path):
    assert load_results(_write(tmp_path, _tampered(good, lambda d: d.update(
        schema_version="1.7")))).schema_version == "1.7"


def test_not_utf8_not_json_not_an_object(good, tmp_path):
    latin = json.dumps(good, ensure_ascii=False).replace("synthetic", "sÿnthetic")
    assert "byte" in _refused(tmp_path, latin.encode("latin-1"))
    assert "is not UTF-8" in _refused(tmp_path, latin.encode("latin-1"))
    assert "not valid JSON at line 1, column 2 (Unterminated string" in _refused(
        tmp_path, json.dumps(good)[:10])
    assert "expected a JSON object, found list" in _refused(tmp_path, "[1, 2]")
    assert "nested too deeply" in _refused(tmp_path, "[" * 200_000 + "]" * 200_000)


@pytest.mark.parametrize("text, shown", [("NaN", "NaN"), ("Infinity", "Infinity"),
                                         ("-Infinity", "-Infinity"), ("1e999", "inf")])
def test_non_finite_numbers_are_refused_with_their_path(text, shown, good, tmp_path):
    raw = json.dumps(good).replace('"duration_seconds": 4.0', f'"duration_seconds": {text}')
    assert text in raw
    msg = _refused(tmp_path, raw)
    assert f"provenance.duration_seconds: {shown} is not a finite number" in msg


def test_absurd_magnitudes_are_refused(good, tmp_path):
    msg = _refused(tmp_path, _tampered(good, lambda d: d["variants"][0]["performance"]
                                       ["roc_auc"].update(value=1e308)))
    assert "variants[0].performance.roc_auc.value: 1e+308 is out of range" in msg
    msg = _refused(tmp_path, _tampered(good, lambda d: d["variants"][1]["attributes"][0]
                                       ["groups"][0].update(n=10**400)))
    assert "variants[1].attributes[0].groups[0].n:" in msg and "out of range" in msg


def test_schema_errors_name_the_json_path(good, tmp_path):
    msg = _refused(tmp_path, _tampered(good, lambda d: d["variants"][1].update(status="GREAT")))
    assert "variants[1].status: Input should be 'PASS'" in msg
    msg = _refused(tmp_path, _tampered(good, lambda d: d["provenance"].update(extra=1)))
    assert "provenance.extra: Extra inputs are not permitted" in msg
    msg = _refused(tmp_path, _tampered(good, lambda d: d.pop("ranking")))
    assert "ranking: Field required" in msg


@pytest.mark.parametrize("level", ["x", 1.5, True, 0])
def test_a_confidence_level_that_is_not_one_is_refused(level, good, tmp_path):
    msg = _refused(tmp_path, _tampered(good, lambda d: d["confidence"].update(level=level)))
    assert "confidence.level:" in msg and "is not a confidence level" in msg


def test_the_embedded_policy_is_checked_against_the_policy_schema(good, tmp_path):
    msg = _refused(tmp_path, _tampered(good, lambda d: d["policy"]["gates"].append(
        {"metric": "disparate_impact", "min": 0.8, "attributes": True})))
    assert "policy.gates[0].attributes: Input should be a valid list" in msg
    msg = _refused(tmp_path, _tampered(good, lambda d: d["policy"].update(report=[])))
    assert "policy.report:" in msg


def test_a_selected_variant_that_does_not_exist_is_refused(good, tmp_path):
    msg = _refused(tmp_path, _tampered(good, lambda d: d["ranking"].update(selected="ghost")))
    assert "ranking.selected: 'ghost' is not a variant of this result" in msg
    msg = _refused(tmp_path, _tampered(good, lambda d: d["verdict"].update(selected="ghost")))
    assert "verdict.selected: 'ghost'" in msg
    msg = _refused(tmp_path, _tampered(good, lambda d: d["ranking"]["order"].append("ghost")))
    assert "ranking.order[2]: 'ghost'" in msg
    msg = _refused(tmp_path, _tampered(good, lambda d: d["gates"][0].update(variant="ghost")))
    assert "gates[0].variant: 'ghost'" in msg


def test_rates_counts_and_figures_out_of_their_range_are_refused(good, tmp_path):
    def rate(d):
        d["variants"][0]["attributes"][1]["groups"][0]["rates"]["tpr"]["value"] = 1.5

    msg = _refused(tmp_path, _tampered(good, rate))
    assert "variants[0].attributes[1].groups[0].rates.tpr.value: 1.5 is impossible for tpr" in msg
    msg = _refused(tmp_path, _tampered(good, lambda d: d["data"].update(favorable_rate=-0.2)))
    assert "data.favorable_rate: -0.2 is not a rate" in msg
    msg = _refused(tmp_path, _tampered(good, lambda d: d["variants"][0]["attributes"][0]
                                       ["groups"][0].update(fp=-3)))
    assert "variants[0].attributes[0].groups[0]: a negative count" in msg
    msg = _refused(tmp_path, _tampered(good, lambda d: d["variants"][0]["performance"]
                                       ["roc_auc"].update(ci=[0.5, 7.0])))
    assert "variants[0].performance.roc_auc.ci[1]: 7.0 is impossible for roc_auc" in msg
    msg = _refused(tmp_path, _tampered(good, lambda d: d["variants"][0]["performance"]
                                       ["brier_score"].update(value=-0.1)))
    assert "variants[0].performance.brier_score.value: -0.1 is impossible" in msg
    fair = next(iter(good["variants"][0]["fairness"]))
    msg = _refused(tmp_path, _tampered(good, lambda d: d["variants"][0]["fairness"][fair]
                                       .update(value=-5.0)))
    assert f"variants[0].fairness.{fair}.value: -5.0 is impossible" in msg
