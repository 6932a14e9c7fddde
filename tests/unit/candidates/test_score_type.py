"""candidates[].score_type (issue 9 item 5, issue 13 item 15): declared or inferred, and a
probability outside [0, 1] refused with the candidate, the file and the first rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairsel.audit import run_audit
from fairsel.candidates.predictions import PredictionsCandidate
from fairsel.candidates.score_type import (
    check_probabilities,
    resolve_score_type,
    unavailable_reason,
)
from fairsel.errors import DataError
from fairsel.policy import load_policy, parse_policy
from tests.unit.test_registries import tiny_policy, write_tiny_data


@pytest.mark.parametrize("declared, trainable, kind, scores, expected", [
    (None, True, "sklearn", None, "probability"),
    (None, True, "lightgbm", None, "probability"),
    (None, False, "saved_model", np.array([0.1, 0.9]), "probability"),
    (None, False, "predictions", np.array([0.0, 0.5, 1.0]), "probability"),
    (None, False, "predictions", np.array([1.0, 4.0, 10.0]), "score"),     # deciles
    (None, False, "predictions", np.array([-0.2, 0.5]), "score"),          # a log-odds
    (None, False, "predictions", np.array([np.nan, 0.5]), "probability"),  # NaN: no prediction
    ("score", False, "predictions", np.array([0.2, 0.5]), "score"),        # declared wins
    ("probability", True, "sklearn", None, "probability"),
])
def test_score_type_is_declared_or_inferred(declared, trainable, kind, scores, expected):
    got, how = resolve_score_type(declared, trainable=trainable, kind=kind, scores=scores)
    assert got == expected
    assert ("declared" in how) == (declared is not None)


def test_a_probability_outside_the_unit_interval_names_candidate_file_and_rows():
    with pytest.raises(DataError) as err:
        check_probabilities(np.array([0.2, 1.5, 0.3, -0.1, 7.0]), name="vendor",
                            path=Path("scores.csv"), how="declared in the policy",
                            row=lambda i: f"line {i + 2}")
    msg = str(err.value)
    assert msg.startswith("scores.csv: candidate 'vendor' gives probabilities")
    assert "3 of its 5 score(s) lie outside [0, 1]" in msg
    assert "first: line 3: 1.5, line 5: -0.1, line 6: 7" in msg
    assert "score_type: score" in msg  # how to fix it
    check_probabilities(np.array([0.0, 1.0, np.nan]), name="v", path="p", how="h",
                        row=str)  # in range (NaN = no prediction): no error


def test_a_probability_just_outside_the_unit_interval_is_shown_with_every_digit():
    with pytest.raises(DataError) as err:  # ":g" showed 1.0000001 as "1", inside [0, 1]
        check_probabilities(np.array([0.5, 1.0000001, -1e-9]), name="v", path="p", how="h",
                            row=lambda i: f"line {i + 2}")
    assert "(from -1e-09 to 1.0000001)" in str(err.value)
    assert "first: line 3: 1.0000001, line 4: -1e-09" in str(err.value)


def test_reasons_are_given_only_for_scores():
    assert unavailable_reason("v", "probability", "x") == {}
    why = unavailable_reason("v", "score", "inferred: scores lie outside [0, 1]")
    assert set(why) == {"brier_score", "calibration_error"}
    assert all("'v'" in t and "not probabilities" in t for t in why.values())


def _pred(tmp_path: Path, scores, score_type) -> PredictionsCandidate:
    path = tmp_path / "scores.csv"
    pd.DataFrame({"id": [1, 2, 3], "score": scores}).to_csv(path, index=False)
    return PredictionsCandidate(name="vendor", kind="predictions", path=path, id_column="id",
                                score_column="score", decision_column=None,
                                higher_is_favorable=False, source_threshold=5.0,
                                row_ids=np.array([1, 2, 3]), threshold=5.0,
                                score_type=score_type)


def test_declared_probability_predictions_are_checked_on_the_file_lines(tmp_path):
    with pytest.raises(DataError, match=r"first: line 3 \(id 2\): 7, line 4 \(id 3\): 3"):
        _pred(tmp_path, [0.5, 7, 3], "probability").score_all()
    # the same file as scores (declared, or left to inference) is audited
    assert _pred(tmp_path, [0.5, 7, 3], "score").score_all().tolist() == [-0.5, -7, -3]
    assert _pred(tmp_path, [0.5, 7, 3], None).score_all().tolist() == [-0.5, -7, -3]


def test_schema_describes_score_type():
    from fairsel.policy.schema import CandidateSpec

    field = CandidateSpec.model_fields["score_type"]
    assert field.default is None
    assert "probability" in field.description and "inferred" in field.description


def _scores_file(folder: Path, scale: float) -> None:
    frame = pd.read_csv(folder / "tiny.csv")
    rng = np.random.default_rng(0)
    frame[["id"]].assign(score=rng.random(len(frame)) * scale).to_csv(
        folder / "scores.csv", index=False)


def test_audit_of_a_score_candidate_has_no_brier_and_says_why(tmp_path):
    write_tiny_data(tmp_path)
    _scores_file(tmp_path, 10.0)
    cands = ("  - {name: vendor, kind: predictions, path: scores.csv, score_column: score, "
             "threshold: 5}\n  - {name: logreg, kind: sklearn, estimator: logistic_regression}")
    run = run_audit(load_policy(tiny_policy(tmp_path, candidates=cands)))
    by = {v.name: v for v in run.result.variants}
    assert by["vendor"].score_type == "score"
    assert by["vendor"].performance["brier_score"].value is None
    assert "not probabilities" in by["vendor"].unavailable["calibration_error"]
    assert by["logreg"].score_type == "probability" and by["logreg"].unavailable == {}
    assert by["logreg"].performance["brier_score"].value is not None


def test_audit_refuses_a_declared_probability_out_of_range(tmp_path):
    write_tiny_data(tmp_path)
    _scores_file(tmp_path, 10.0)
    cands = ("  - {name: vendor, kind: predictions, path: scores.csv, score_column: score, "
             "score_type: probability}")
    with pytest.raises(DataError, match=r"scores.csv: candidate 'vendor' gives probabilities"):
        run_audit(load_policy(tiny_policy(tmp_path, candidates=cands)))


def test_unknown_score_type_is_a_policy_error():
    from fairsel.errors import PolicyError
    from tests.unit.test_gates import policy_text

    text = policy_text(gates="  - {metric: roc_auc, min: 0.5}").replace(
        "kind: sklearn", "kind: sklearn, score_type: odds", 1)
    assert "score_type: odds" in text
    with pytest.raises(PolicyError, match="score_type"):
        parse_policy(text)


def test_a_trained_probability_out_of_range_is_refused_and_a_mitigated_one_becomes_a_score():
    from types import SimpleNamespace

    from fairsel.audit import _variant_score_type

    cand = SimpleNamespace(name="gbm")
    policy = SimpleNamespace(data=SimpleNamespace(id="app_id"))
    data = SimpleNamespace(path=Path("data.csv"), row_ids=np.array([101, 102, 103]))
    trained = ("probability", "inferred: a lightgbm candidate gives predict_proba probabilities")
    bad = np.array([0.5, 1.2, 0.1])
    with pytest.raises(DataError, match=r"data.csv: candidate 'gbm' .* first: app_id 102: 1.2"):
        _variant_score_type(trained, bad, cand, "gbm", policy, data)
    assert _variant_score_type(trained, bad, cand, "gbm+x", policy, data)[0] == "score"
    assert _variant_score_type(trained, np.array([0.5, 1.0]), cand, "gbm", policy,
                               data) == trained
