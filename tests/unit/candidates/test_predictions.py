"""kind: predictions — joining on the id, orienting scores, and refusing bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairsel.candidates.predictions import PredictionsCandidate
from fairsel.errors import DataError


def cand(path: Path, row_ids, *, score="score", decision=None, hif=True, threshold=0.5,
         data_path=None) -> PredictionsCandidate:
    return PredictionsCandidate(name="vendor", kind="predictions", path=path, id_column="id",
                                score_column=None if decision else score,
                                decision_column=decision, higher_is_favorable=hif,
                                source_threshold=threshold, row_ids=np.asarray(row_ids),
                                data_path=data_path, threshold=threshold)


def write(tmp_path: Path, frame: pd.DataFrame, name: str = "scores.csv") -> Path:
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def decisions(c: PredictionsCandidate, scores: np.ndarray) -> np.ndarray:
    return (scores >= c.threshold).astype(int)


def test_same_order_is_used_as_is(tmp_path):
    p = write(tmp_path, pd.DataFrame({"id": [10, 11, 12], "score": [0.2, 0.9, 0.5]}))
    c = cand(p, [10, 11, 12])
    s = c.score_all()
    np.testing.assert_array_equal(s, [0.2, 0.9, 0.5])
    np.testing.assert_array_equal(decisions(c, s), [0, 1, 1])


@pytest.mark.parametrize("name", ["scores.csv", "scores.parquet"])
def test_rows_are_joined_on_the_id_not_the_position(tmp_path, name):
    p = write(tmp_path, pd.DataFrame({"id": ["c", "a", "b"], "score": [0.3, 0.1, 0.2]}), name)
    s = cand(p, np.array(["a", "b", "c"], dtype=object)).score_all()
    np.testing.assert_array_equal(s, [0.1, 0.2, 0.3])


def test_numeric_ids_match_text_ids(tmp_path):
    p = write(tmp_path, pd.DataFrame({"id": ["2", "1"], "score": [0.7, 0.4]}))
    # a CSV whose ids are read as numbers against text ids in the data
    s = cand(p, np.array(["1", "2"], dtype=object)).score_all()
    np.testing.assert_array_equal(s, [0.4, 0.7])


def test_lower_is_favorable_probabilities_become_one_minus_score(tmp_path):
    raw = np.array([0.0, 0.29999, 0.3, 0.30001, 1.0, 0.7])
    p = write(tmp_path, pd.DataFrame({"id": range(6), "score": raw}))
    c = cand(p, range(6), hif=False, threshold=0.3)
    s = c.score_all()
    assert c.transform == "1 - score"
    np.testing.assert_allclose(s, 1 - raw)
    # favorable exactly when the source score is below the threshold (0.3 itself is not)
    np.testing.assert_array_equal(decisions(c, s), (raw < 0.3).astype(int))


def test_lower_is_favorable_other_scores_are_negated_with_a_strict_threshold(tmp_path):
    deciles = np.arange(1, 11)
    p = write(tmp_path, pd.DataFrame({"id": range(10), "score": deciles}))
    c = cand(p, range(10), hif=False, threshold=5)
    s = c.score_all()
    assert c.transform == "-score"
    np.testing.assert_array_equal(s, -deciles)
    np.testing.assert_array_equal(decisions(c, s), [1, 1, 1, 1, 0, 0, 0, 0, 0, 0])


@pytest.mark.parametrize("values,hif,expected", [
    ([1, 0, 1], True, [1, 0, 1]),
    ([True, False, True], True, [1, 0, 1]),
    (["1", "0", "true"], True, [1, 0, 1]),
    ([1, 0, 1], False, [0, 1, 0]),
])
def test_decision_column(tmp_path, values, hif, expected):
    p = write(tmp_path, pd.DataFrame({"id": [1, 2, 3], "d": values}))
    c = cand(p, [1, 2, 3], decision="d", hif=hif)
    s = c.score_all()
    assert c.threshold == 0.5
    np.testing.assert_array_equal(decisions(c, s), expected)


def test_decision_column_with_other_values_is_refused(tmp_path):
    p = write(tmp_path, pd.DataFrame({"id": [1, 2, 3], "d": ["approve", "deny", "1"]}))
    with pytest.raises(DataError) as err:
        cand(p, [1, 2, 3], decision="d").score_all()
    msg = str(err.value)
    assert "decision column 'd' must hold 0/1" in msg
    assert "2 row(s) hold something else" in msg and "'approve' (1)" in msg
    assert "line 2 (id 1), line 3 (id 2)" in msg


def test_missing_ids_are_counted_and_listed(tmp_path):
    p = write(tmp_path, pd.DataFrame({"id": [1, 2], "score": [0.1, 0.2]}))
    with pytest.raises(DataError) as err:
        cand(p, [1, 2, 3, 4]).score_all()
    msg = str(err.value)
    assert "candidate 'vendor'" in msg
    assert "2 of the 4 audited row(s) have no prediction" in msg
    assert "first ids: 3, 4" in msg


def test_prediction_ids_unknown_to_the_data_are_refused(tmp_path):
    p = write(tmp_path, pd.DataFrame({"id": [1, 2, 99], "score": [0.1, 0.2, 0.3]}))
    with pytest.raises(DataError) as err:
        cand(p, [1, 2]).score_all()
    assert "1 prediction row(s) have ids that are not in the data" in str(err.value)
    assert "line 4 (id 99)" in str(err.value)


def test_prediction_ids_of_excluded_rows_are_not_errors(tmp_path):
    data = write(tmp_path, pd.DataFrame({"id": [1, 2, 3], "y": [0, 1, 1]}), "data.csv")
    p = write(tmp_path, pd.DataFrame({"id": [3, 2, 1], "score": [0.3, 0.2, 0.1]}))
    c = cand(p, [1, 3], data_path=data)  # row 2 was excluded by the policy
    np.testing.assert_array_equal(c.score_all(), [0.1, 0.3])
    assert c.notes == ["1 prediction row(s) belong to data rows the policy excluded; they are "
                       "not used"]


def test_duplicate_ids_are_counted_with_their_rows(tmp_path):
    p = write(tmp_path, pd.DataFrame({"id": [1, 2, 2, 3, 3, 3], "score": [0.1] * 6}))
    with pytest.raises(DataError) as err:
        cand(p, [1, 2, 3]).score_all()
    msg = str(err.value)
    assert "id column 'id' has 3 repeated value(s) (2 id(s) occur more than once)" in msg
    assert "line 3 (id 2), line 4 (id 2), line 5 (id 3)" in msg


def test_rows_without_an_id_are_refused(tmp_path):
    p = tmp_path / "scores.csv"
    p.write_text("id,score\n1,0.1\n,0.2\n2,0.3\n")
    with pytest.raises(DataError) as err:
        cand(p, [1, 2]).score_all()
    assert "1 prediction row(s) have no id in column 'id'; first: line 3" in str(err.value)


def test_nan_infinite_and_text_scores_are_counted_with_first_rows(tmp_path):
    p = tmp_path / "scores.csv"
    p.write_text("id,score\n1,0.5\n2,abc\n3,\n4,inf\n5,NaN\n6,x\n")
    with pytest.raises(DataError) as err:
        cand(p, [1, 2, 3, 4, 5, 6]).score_all()
    msg = str(err.value)
    assert "score column 'score'" in msg
    assert "2 non-numeric score(s); first: line 3 (id 2): 'abc', line 7 (id 6): 'x'" in msg
    assert "2 missing or NaN score(s); first: line 4 (id 3), line 6 (id 5)" in msg
    assert "1 infinite score(s); first: line 5 (id 4): inf" in msg


def test_parquet_rows_are_numbered_from_one(tmp_path):
    p = write(tmp_path, pd.DataFrame({"id": [1, 2, 3], "score": [0.1, np.nan, -np.inf]}),
              "scores.parquet")
    with pytest.raises(DataError) as err:
        cand(p, [1, 2, 3]).score_all()
    assert "1 missing or NaN score(s); first: row 2 (id 2)" in str(err.value)
    assert "1 infinite score(s); first: row 3 (id 3): -inf" in str(err.value)


def test_a_missing_column_names_the_columns(tmp_path):
    p = write(tmp_path, pd.DataFrame({"id": [1], "scores": [0.1]}))
    with pytest.raises(DataError) as err:
        cand(p, [1]).score_all()
    assert "score/decision column 'score' not found in the predictions file; did you mean " \
           "'scores'?; the columns are: id, scores" in str(err.value)


def test_a_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="predictions file of candidate 'vendor' not found"):
        cand(tmp_path / "nope.csv", [1]).score_all()
