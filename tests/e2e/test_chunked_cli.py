"""``fairsel audit`` and ``fairsel validate`` of a Parquet folder read in chunks, through the
CLI (a real process, as a user runs it)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from test_chunked import make_table, write  # noqa: E402

from tests.conftest import run_cli  # noqa: E402


def test_audit_and_validate_a_folder(tmp_path: Path) -> None:
    _, policy = write(tmp_path, make_table(3000, seed=6), files=3, chunk=400)
    res = run_cli("audit", "--policy", str(policy), "--quiet")
    assert res.exit_code in (0, 1), res.stderr
    out = tmp_path / "out"
    result = json.loads((out / "results.json").read_text())
    chunked = result["data"]["chunked"]
    assert chunked["files"] == 3 and chunked["chunks"] >= 8
    assert chunked["auc"] == {"vendor": "exact", "hard": "exact", "flipped": "exact"}
    assert result["verdict"]["exit_code"] == res.exit_code
    assert not (out / "predictions.parquet").exists()  # the rows are not kept
    v = run_cli("validate", "--policy", str(policy))
    assert v.exit_code == 0, v.stderr
    assert "rows in 3 Parquet file(s), read in chunks of 400 rows" in v.stderr


def test_glob_and_a_refused_candidate(tmp_path: Path) -> None:
    _, policy = write(tmp_path, make_table(1000, seed=7), files=2, chunk=None)
    text = policy.read_text().replace("path: parts", "path: parts/part-*.parquet")
    policy.write_text(text)
    res = run_cli("audit", "--policy", str(policy), "--quiet")
    assert res.exit_code in (0, 1), res.stderr
    result = json.loads((tmp_path / "out" / "results.json").read_text())
    assert result["data"]["chunked"]["files"] == 2
    assert result["data"]["rows_read"] == 1000
    policy.write_text(text.replace("score_column: score, threshold", "score_column: scor, "
                                   "threshold"))
    bad = run_cli("audit", "--policy", str(policy), "--quiet")
    assert bad.exit_code == 3
    assert "part-0.parquet: column 'scor' (a column the candidates read) not found; did you " \
           "mean 'score'?" in bad.stderr
