"""Eligibility by denominator through the CLI (issue 9, item 1): a gate decided on a rate that
rests on fewer than ``min_group_size`` people reads INSUFFICIENT (exit 5), as a gate on a group
of fewer rows always has."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from tests.e2e.test_existing_models import run_here


def _write(folder: Path, groups: dict[str, tuple[int, int, int, int]], *, gates: str,
           decision: str = "point") -> Path:
    """Data whose group g has (TP, FN, FP, TN) rows, scored by a predictions candidate."""
    rows = []
    for g, (tp, fn, fp, tn) in groups.items():
        for y, p, k in ((1, 1, tp), (1, 0, fn), (0, 1, fp), (0, 0, tn)):
            rows += [(g, "yes" if y else "no", 0.8 if p else 0.2)] * k
    df = pd.DataFrame(rows, columns=["grp", "outcome", "score"])
    df.insert(0, "id", np.arange(len(df)))
    df["x"] = np.random.default_rng(0).normal(size=len(df))
    df.to_csv(folder / "data.csv", index=False)
    policy = folder / "policy.yaml"
    policy.write_text(textwrap.dedent(f"""\
        version: 1
        name: eligibility
        seed: 1
        data: {{path: data.csv, target: outcome, favorable: "yes", id: id, features: [x]}}
        protected:
          - column: grp
        intersections: false
        proxies: false
        min_group_size: 30
        validation: {{scheme: stratified_kfold, folds: 3}}
        candidates:
          - {{name: vendor, kind: predictions, path: data.csv, score_column: score}}
        metrics:
          confidence: {{method: bootstrap, level: 0.95, resamples: 200}}
        gates: [{gates}]
        decision: {decision}
        report: {{formats: [json], output: out}}
        """), encoding="utf-8")
    return policy


def _gates(folder: Path) -> dict[str, str]:
    res = json.loads((folder / "out" / "results.json").read_text(encoding="utf-8"))
    return {g["metric"]: g["status"] for g in res["gates"]}


def test_five_of_five_in_a_five_row_group_is_insufficient(tmp_path):
    """The issue's case: a 5-row group, all approved (5/5), under ci_bound and min_group_size 30."""
    policy = _write(tmp_path, {"big": (100, 50, 50, 100), "tiny": (3, 0, 2, 0)},
                    gates="{metric: disparate_impact, min: 0.8}", decision="ci_bound")
    r = run_here("audit", "--policy", str(policy), "--quiet")
    assert r.exit_code == 5, r.stderr
    assert _gates(tmp_path) == {"disparate_impact": "INSUFFICIENT"}


def test_a_tpr_on_ten_people_decides_no_gate(tmp_path):
    """'few' has 100 rows (its selection rate is compared) but 10 actual positives, all refused
    (TPR 0/10): its TPR takes no part, so equal opportunity has one group and is undecided."""
    policy = _write(tmp_path, {"many": (120, 30, 50, 100), "few": (0, 10, 45, 45)},
                    gates="{metric: equal_opportunity_difference, max: 0.1}, "
                          "{metric: disparate_impact, min: 0.5}")
    r = run_here("audit", "--policy", str(policy), "--quiet")
    assert r.exit_code == 5, r.stderr
    assert _gates(tmp_path) == {"equal_opportunity_difference": "INSUFFICIENT",
                                "disparate_impact": "PASS"}
    res = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    few = next(g for g in res["variants"][0]["attributes"][0]["groups"] if g["group"] == "few")
    assert few["fractions"]["tpr"] == [0, 10] and "tpr" in few["small_rates"]
    assert few["rates"]["tpr"]["value"] == 0.0
