"""Coverage when clusters cross the groups (a branch holds applicants of every group, and its
effect is shared by them): the design-effect floor of a group follows its own cluster sizes
(engine._ClusterSizes), so a small group with few rows per branch keeps an interval near its
true width and still covers. bench_coverage.py simulates clusters nested in groups, where the
old and new floors coincide; this is the layout where they differ."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from fairsel.metrics import Confidence, evaluate_variant
from tests.reference import build_partitions

ICC = 0.2
CLUSTERS, BIG, SMALL = 150, 20, 3
RATES = (0.6, 0.45)


def _audit(seed: int):
    rng = np.random.default_rng(seed)
    k = (1 - ICC) / ICC
    q = rng.random(CLUSTERS)  # the branch's effect, shared by both groups (comonotone)
    r = [stats.beta.ppf(q, m * k, (1 - m) * k) for m in RATES]
    c = np.concatenate([np.repeat(np.arange(CLUSTERS), BIG), np.repeat(np.arange(CLUSTERS), SMALL)])
    g = np.repeat([0, 1], [CLUSTERS * BIG, CLUSTERS * SMALL])
    p = (rng.random(len(c)) < np.concatenate([np.repeat(r[0], BIG), np.repeat(r[1], SMALL)]))
    y = rng.random(len(c)) < 0.5
    s = np.clip(0.25 + 0.5 * p + rng.normal(0, 0.1, len(c)), 0, 1)
    atoms, n_atoms, parts = build_partitions(g, np.zeros(len(c), int), ("big", "small"), ("x",),
                                             intersections=False)
    return evaluate_variant(y.astype(np.int8), p.astype(np.int8), s, atoms=atoms,
                            n_atoms=n_atoms, partitions=parts, folds=np.zeros(len(c), int),
                            n_folds=1, clusters=c, confidence=Confidence(resamples=300),
                            seed=seed, min_group_size=1)


@pytest.mark.slow
def test_a_small_group_across_clusters_is_covered_without_the_whole_datas_design_effect():
    audits = 150
    covered, widths = 0, []
    for seed in range(audits):
        sr = _audit(seed).attributes[0].groups[1].rates["selection_rate"]
        covered += sr.ci[0] <= RATES[1] <= sr.ci[1]
        widths.append(sr.ci[1] - sr.ci[0])
    assert covered / audits >= 0.90  # nominal 0.95; 150 audits (Monte Carlo SE 0.018)
    # its true design effect is 1 + (3 − 1)·0.2 = 1.4; all rows' is about 1 + (m̄ − 1)·0.2 ≈ 4
    n = CLUSTERS * SMALL
    true_width = 2 * 1.96 * np.sqrt(RATES[1] * (1 - RATES[1]) * 1.4 / n)
    assert np.mean(widths) < 1.35 * true_width
