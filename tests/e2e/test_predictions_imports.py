"""A predictions-only audit (scores made elsewhere, nothing trained) does not import the
training, model-loading or report-rendering code: its start-up is most of its time at a
million rows (benchmarks/bench_predictions.py, issue 11's speed target)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]

#: Modules a predictions-only audit writing json, junit and markdown must not load.
NOT_ON_THE_PATH = (
    "sklearn", "lightgbm", "scipy", "matplotlib", "jinja2", "weasyprint", "shap", "joblib",
    "distributed", "fairsel.candidates.saved", "fairsel.candidates.lgbm_text",
    "fairsel.candidates.mlflow_model", "fairsel.mitigation.reweighing",
)

POLICY = """version: 1
name: imports
seed: 1
data: {{path: {data}, target: approved, favorable: 1, id: id, features: [score]}}
protected:
  - column: sex
validation: {{scheme: stratified_kfold, folds: 3}}
candidates:
  - {{name: vendor, kind: predictions, path: {data}, score_column: score, threshold: 0.5}}
metrics:
  confidence: {{method: bootstrap, level: 0.95, resamples: 50}}
proxies: false
report: {{output: {out}, formats: [json, junit, markdown]}}
"""

PROBE = """
import json, runpy, sys
sys.argv = ["fairsel", "audit", "--policy", sys.argv[1], "--quiet"]
code = 0
try:
    runpy.run_module("fairsel", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def test_predictions_only_audit_imports_no_training_or_rendering_code(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 3000
    score = rng.random(n)
    pq.write_table(pa.table({
        "id": np.arange(n), "approved": (rng.random(n) < score).astype(np.int8),
        "sex": rng.choice(np.array(["female", "male"]), size=n), "score": score,
    }), tmp_path / "scores.parquet")
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY.format(data=tmp_path / "scores.parquet", out=tmp_path / "out"),
                      encoding="utf-8")
    env = {**os.environ, "CI": "true", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", PROBE, str(policy)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["code"] in (0, 1), proc.stderr  # a verdict, not an error
    assert (tmp_path / "out" / "results.json").is_file()
    loaded = set(out["modules"])
    assert "fairsel.audit" in loaded and "fairsel.candidates.predictions" in loaded
    assert sorted(m for m in NOT_ON_THE_PATH if m in loaded) == []
