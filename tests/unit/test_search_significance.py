"""An optuna search scores its trials with the audit's own significance settings.

``search.objective: ranking`` judges each trial by the policy's gates, and a gate with
``require_significance`` reads the group tests. In a clustered audit (``validation.groups``)
those tests deflate the counts by the clusters' design effects, read from the rate intervals
at ``metrics.confidence.level`` (``audit._significance``). ``search_objective`` called the
tests without ``clustered`` or ``level`` (reviewer finding, the holdout's twin), so a trial
whose shortfall is not significant once the clusters are counted was scored as failing the
gate, while the audit itself would pass it with a warning.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fairsel.audit import FoldOutput, _confidence, search_objective
from fairsel.data import load_data
from fairsel.policy import load_policy

from tests.unit.test_holdout_significance import _clustered_data

_POLICY = """version: 1
name: clustered-search
seed: 7
data: {{path: clustered.csv, target: y, favorable: "yes"}}
protected: [{{column: sex}}]
min_group_size: 20
validation: {{scheme: {scheme}, folds: 3{groups}}}
candidates:
  - name: tree
    kind: sklearn
    estimator: decision_tree
    search: {{method: optuna, trials: 4, objective: ranking,
              params: {{max_depth: {{low: 2, high: 5, integer: true}}}}}}
metrics: {{confidence: {{level: 0.9, resamples: 300}}}}
gates: [{{metric: disparate_impact, min: 0.95, require_significance: true}}]
proxies: false
explain: false
slices: false
report: {{formats: [json]}}
"""


def _objective(folder: Path, *, clustered: bool) -> float:
    text = _POLICY.format(scheme="stratified_group_kfold" if clustered else "stratified_kfold",
                          groups=", groups: branch" if clustered else "")
    (folder / "policy.yaml").write_text(text, encoding="utf-8")
    policy = load_policy(folder / "policy.yaml")
    data = load_data(policy)
    assert (data.clusters is not None) == clustered
    frame = pd.read_csv(folder / "clustered.csv")
    assert len(frame) == data.n_rows
    # a model that favours 'm' a little: disparate impact just under 0.95
    scores = 1 / (1 + np.exp(-(frame.x1.to_numpy() - 0.3 * (frame.sex.to_numpy() == "f"))))
    rows = np.arange(len(scores))
    outputs = [(0, 0, rows, [FoldOutput(name="t", y_score=scores,
                                        y_pred=(scores >= 0.5).astype(np.int8))], None)]
    return search_objective(outputs, "ranking", policy=policy, data=data,
                            confidence=_confidence(policy))


def test_a_clustered_search_tests_its_gates_with_the_clusters_design_effects(tmp_path):
    _clustered_data(tmp_path)
    # read as independent rows, the shortfall is significant: the error gate fails ...
    assert _objective(tmp_path, clustered=False) < -5
    # ... with the branches' design effects it is not: the gate only warns, and the trial
    # scores as a selectable one, as the audit would judge it
    assert _objective(tmp_path, clustered=True) > 0
