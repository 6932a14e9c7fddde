"""One rule for missing-value groups: a group is one when it is "unknown" or, for an
intersection, any of its parts is ("m × unknown").

Reviewer finding: single-attribute "unknown" groups carried the ``unknown`` flag, intersection
cells with a missing part did not, so the data section did not mark them and the
``relative_to_overall`` gates, which skip missing-value groups (their members may belong to
any group), judged "m × unknown" as if it were a demographic group.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fairsel.audit import run_audit
from fairsel.policy import load_policy


def test_the_rule():
    from fairsel.partition import is_missing_group

    assert is_missing_group("unknown", "attribute")
    assert is_missing_group("m × unknown") and is_missing_group("unknown × a")
    assert not is_missing_group("m × a") and not is_missing_group("m", "attribute")
    # an attribute's value is compared whole: a recorded value with the separator in it is
    # not an intersection
    assert not is_missing_group("x × unknown", "attribute")


def _write(folder: Path) -> None:
    """Sex always recorded, race missing for 10% of rows; a vendor score that is right for
    everyone except the men whose race was not recorded (wrong for all of them)."""
    rng = np.random.default_rng(5)
    rows = 1200
    sex = rng.choice(["f", "m"], size=rows)
    race = rng.choice(["a", "b"], size=rows).astype(object)
    race[rng.random(rows) < 0.1] = None
    y = rng.integers(0, 2, size=rows)
    right = 0.2 + 0.6 * y + 0.1 * rng.random(rows)
    score = np.where((sex == "m") & pd.isna(race), 1.0 - right, right)
    ids = np.arange(rows)
    pd.DataFrame({"id": ids, "sex": sex, "race": race, "x": rng.normal(size=rows),
                  "y": np.where(y == 1, "yes", "no")}).to_csv(folder / "d.csv", index=False)
    pd.DataFrame({"id": ids, "score": score}).to_csv(folder / "scores.csv", index=False)
    (folder / "policy.yaml").write_text("""version: 1
name: missing-intersections
seed: 3
data: {path: d.csv, target: y, favorable: "yes", id: id}
protected: [{column: sex}, {column: race}]
intersections: true
min_group_size: 20
validation: {scheme: stratified_kfold, folds: 3}
candidates:
  - {name: vendor, kind: predictions, path: scores.csv, score_column: score, threshold: 0.5}
metrics: {performance: [balanced_accuracy], confidence: {method: none}}
gates: [{metric: balanced_accuracy, min: 0.9, relative_to_overall: true}]
proxies: false
explain: false
slices: false
report: {formats: [json]}
""", encoding="utf-8")


def test_intersections_with_a_missing_part_are_flagged_and_skipped_by_relative_gates(tmp_path):
    _write(tmp_path)
    result = run_audit(load_policy(tmp_path / "policy.yaml")).result
    cells = {"f × unknown", "m × unknown"}
    # the data section marks every missing-value group, single and intersection alike
    for attr in result.data.attributes:
        for g in attr.groups:
            assert ("unknown" in g.flags) == (g.group == "unknown" or g.group in cells), g.group
    variant = result.variants[0]
    rows = {(a.attribute, g.group): g for a in variant.attributes for g in a.groups}
    assert "unknown" in rows[("sex × race", "m × unknown")].flags
    assert "unknown" not in rows[("sex × race", "m × a")].flags
    # the model is wrong for every 'm × unknown' row: a gate reading that cell would fail,
    # but a missing-value cell is skipped like the single 'unknown' group
    assert rows[("sex × race", "m × unknown")].rates["tpr"].value == 0.0
    gate = next(g for g in result.gates if g.metric == "balanced_accuracy")
    assert gate.status == "PASS", gate.message
    assert "unknown" not in gate.message
