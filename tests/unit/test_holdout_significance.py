"""The holdout's significance tests use the cross-validated measurement's settings.

A clustered audit (``validation.groups``) tests its groups with the clusters' design effects,
read back from the rate intervals at ``metrics.confidence.level``. The holdout rows are as
clustered as the others: their tests must deflate the counts the same way, not treat the
holdout rows as independent (reviewer finding: ``measure_holdout`` called the tests without
``clustered`` or ``level``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fairsel.audit import run_audit
from fairsel.metrics.significance import annotate
from fairsel.policy import load_policy


def _clustered_data(folder: Path) -> None:
    """Branches whose approval rates differ a lot (a strong cluster effect), with sex
    unevenly spread over the branches, so the design effects are well above 1."""
    rng = np.random.default_rng(3)
    branches = 40
    rows = 2400
    branch = rng.integers(0, branches, size=rows)
    effect = rng.normal(0, 1.6, size=branches)[branch]
    p_female = rng.uniform(0.15, 0.85, size=branches)[branch]
    sex = np.where(rng.random(rows) < p_female, "f", "m")
    x1 = effect + rng.normal(size=rows)
    x2 = rng.normal(size=rows)
    logit = 1.2 * effect + 0.4 * x2 - 0.5 * (sex == "f")
    y = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")
    pd.DataFrame({"x1": x1, "x2": x2, "sex": sex, "branch": branch, "y": y}).to_csv(
        folder / "clustered.csv", index=False)


def _policy(folder: Path) -> Path:
    path = folder / "policy.yaml"
    path.write_text("""version: 1
name: clustered-holdout
seed: 7
data: {path: clustered.csv, target: y, favorable: "yes"}
protected: [{column: sex}]
min_group_size: 20
validation: {scheme: stratified_group_kfold, folds: 3, groups: branch, holdout: 0.3}
candidates:
  - {name: logreg, kind: sklearn, estimator: logistic_regression}
metrics: {confidence: {level: 0.9, resamples: 300}}
gates: [{metric: disparate_impact, min: 0.5}]
proxies: false
explain: false
slices: false
report: {formats: [json]}
""", encoding="utf-8")
    return path


def _p_values(variants) -> dict:
    return {(v.name, a.attribute, g.group, rate): (t.p, t.p_adjusted)
            for v in variants for a in v.attributes for g in a.groups
            for rate, t in (g.significance or {}).items()}


def test_a_clustered_holdout_is_tested_with_the_clusters_design_effects(tmp_path):
    _clustered_data(tmp_path)
    result = run_audit(load_policy(_policy(tmp_path))).result
    holdout = result.selection.holdout
    assert holdout is not None and holdout.variants and holdout.rows > 0
    shown = _p_values(holdout.variants)
    assert shown, "the holdout's groups carry significance tests"
    bare = [v.model_copy(update={"attributes": [a.model_copy(update={"groups": [
        g.model_copy(update={"significance": None}) for g in a.groups]})
        for a in v.attributes]}) for v in holdout.variants]
    kwargs = dict(min_group_size=20, test="auto", adjust="holm")
    clustered = _p_values(annotate(bare, clustered=True, level=0.9, **kwargs))
    independent = _p_values(annotate(bare, **kwargs))
    # the data is clustered enough that the two readings differ ...
    assert any(abs(clustered[k][0] - independent[k][0]) > 1e-6 for k in clustered)
    # ... and the holdout's tests are the clustered ones, at the policy's confidence level
    assert shown.keys() == clustered.keys()
    for key, (p, p_adj) in shown.items():
        assert np.isclose(p, clustered[key][0], rtol=1e-12, atol=0), key
        assert np.isclose(p_adj, clustered[key][1], rtol=1e-12, atol=0), key
