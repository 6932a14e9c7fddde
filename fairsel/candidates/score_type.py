"""What a candidate's scores are: probabilities of the favorable outcome, or ranking scores.

``candidates[].score_type`` declares it; when absent it is inferred: trained candidates
(sklearn, lightgbm) and saved models give ``predict_proba`` probabilities; scores made
elsewhere are probabilities when every one lies in [0, 1], and scores otherwise (a risk
decile, a log-odds, a credit score). Brier score and calibration error exist only for
probabilities. A candidate that is a probability (declared, or trained as one) whose scores
leave [0, 1] is a data error (exit 3) naming the candidate, the file and the first rows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fairsel.errors import DataError

PROBABILITY, SCORE = "probability", "score"
#: How many offending rows a message shows.
SHOW = 5


def in_unit_interval(scores: np.ndarray) -> bool:
    """Whether every defined score lies in [0, 1] (NaN marks rows without a prediction)."""
    s = np.asarray(scores, dtype=np.float64)
    s = s[~np.isnan(s)]
    return bool(len(s) == 0 or (s.min() >= 0.0 and s.max() <= 1.0))


def resolve_score_type(declared: str | None, *, trainable: bool, kind: str,
                       scores: np.ndarray | None) -> tuple[str, str]:
    """``(score_type, how)``: the declared type, or the inferred one with the reason."""
    if declared is not None:
        return declared, "declared in the policy"
    if trainable or kind in ("saved_model", "mlflow") or scores is None:
        return PROBABILITY, f"inferred: a {kind} candidate gives predict_proba probabilities"
    if in_unit_interval(scores):
        return PROBABILITY, "inferred: every score lies in [0, 1]"
    return SCORE, "inferred: scores lie outside [0, 1]"


def _exact(x: float) -> str:
    """A score short (``7``, ``1.5``) where that is exact, else every digit: 1.0000001 shown as
    ``1`` read as a value inside [0, 1]."""
    short = f"{float(x):g}"
    return short if float(short) == float(x) else repr(float(x))


def check_probabilities(scores: np.ndarray, *, name: str, path, how: str,
                        row: Callable[[int], str]) -> None:
    """Raise DataError when a probability candidate's scores leave [0, 1].

    ``row(i)`` names the i-th score's row for the message (a file line, a data row id).
    """
    s = np.asarray(scores, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero((s < 0.0) | (s > 1.0))
    if not len(bad):
        return
    raise DataError(
        f"{path}: candidate '{name}' gives probabilities (score_type: probability, {how}) but "
        f"{len(bad)} of its {len(s)} "
        f"score(s) lie outside [0, 1] (from {_exact(np.nanmin(s))} to {_exact(np.nanmax(s))}); "
        "first: " + ", ".join(f"{row(int(i))}: {_exact(s[i])}" for i in bad[:SHOW])
        + ". Fix the scores, or declare score_type: score if they are not probabilities "
          "(Brier score and calibration error are then not computed)")


def unavailable_reason(name: str, score_type: str, how: str) -> dict[str, str]:
    """metric -> why it is null, for a variant whose scores are not probabilities."""
    if score_type == PROBABILITY:
        return {}
    why = (f"the scores of '{name}' are not probabilities (score_type: score, {how}); "
           "{0} compares a score with the 0/1 outcome as a probability, so it has no meaning "
           "on another scale")
    return {"brier_score": why.format("the Brier score"),
            "calibration_error": why.format("calibration error")}
