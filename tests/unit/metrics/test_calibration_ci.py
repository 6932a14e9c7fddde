"""The calibration error's bootstrap interval agrees with a brute-force row bootstrap.

The interval is the basic bootstrap, ``[2θ̂ − q(0.975), 2θ̂ − q(0.025)]`` cut at 0 (the plug-in
ECE is biased upwards, so the percentile interval sits above it and often misses it)."""

from __future__ import annotations

import numpy as np
import pytest

from fairsel.metrics import Confidence, Partition, calibration_error_by_group, evaluate_variant


def test_calibration_interval_matches_a_brute_force_bootstrap():
    rng = np.random.default_rng(3)
    n = 6000
    g = rng.integers(0, 2, n)
    s = rng.random(n)
    y = (rng.random(n) < np.clip(s + 0.08 * (g == 1), 0, 1)).astype(int)  # group 1 miscalibrated
    p = (s >= 0.5).astype(int)
    part = Partition("g", ("g",), "attribute", ("a", "b"), np.arange(2), None)
    res = evaluate_variant(y, p, s, atoms=g, n_atoms=2, partitions=[part],
                           folds=np.arange(n) % 5, n_folds=5,
                           confidence=Confidence(resamples=2000), seed=1)
    est = {row.group: row.rates["calibration_error"] for row in res.attributes[0].groups}
    reps = []
    for _ in range(600):
        idx = rng.integers(0, n, n)
        reps.append(calibration_error_by_group(y[idx], s[idx], g[idx], 2))
    q_lo, q_hi = np.quantile(np.array(reps), [0.025, 0.975], axis=0)
    for j, label in enumerate(("a", "b")):
        e = est[label]
        lo = np.maximum(2 * e.value - q_hi, 0.0)
        hi = 2 * e.value - q_lo
        assert e.ci[0] <= e.value <= e.ci[1]
        # the same sums added in another order (per score-bin cell): equal to rounding
        assert e.value == pytest.approx(calibration_error_by_group(y, s, g, 2)[j], rel=1e-12)
        width = q_hi[j] - q_lo[j]
        assert abs(e.ci[0] - lo[j]) < 0.25 * width, (label, e.ci, lo[j], hi[j])
        assert abs(e.ci[1] - max(hi[j], e.value)) < 0.25 * width, (label, e.ci, lo[j], hi[j])
    assert est["b"].ci[0] > est["a"].ci[1]  # the miscalibrated group is told apart
