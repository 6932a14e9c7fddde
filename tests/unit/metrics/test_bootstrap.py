"""Bootstrap intervals of evaluate_variant: determinism, coverage sanity, widths against the
normal approximation and a brute-force row bootstrap, and the cluster bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from fairsel.metrics import Confidence, evaluate_variant
from fairsel.metrics.engine import seed_for
from tests.reference import auc_mann_whitney, build_partitions, synthetic_audit

ONE_SIGMA = 0.6826894921370859  # level whose interval is ± one standard error
#: Figures the engine does not bootstrap (yet): the ECE needs equal-width score bins, which the
#: count-cell bootstrap does not keep (it keeps rank-quantile bins).  Reported to the lead.
NO_INTERVAL: tuple[str, ...] = ()  # every estimate has an interval


DEFAULT = Confidence(resamples=400)


def _run(d, *, confidence=DEFAULT, seed=0, label="v", clusters=None,
         min_group_size=30, partitions=None, atoms=None, n_atoms=None):
    return evaluate_variant(
        d.y_true, d.y_pred, d.y_score, atoms=d.atoms if atoms is None else atoms,
        n_atoms=d.n_atoms if n_atoms is None else n_atoms,
        partitions=d.partitions if partitions is None else partitions, folds=d.folds,
        n_folds=d.n_folds, clusters=clusters, min_group_size=min_group_size,
        confidence=confidence, seed=seed, label=label)


def _all_estimates(res):
    """Every (name, Estimate) of a result: performance, group rates, fairness, headlines."""
    out = [(f"performance.{k}", v) for k, v in res.performance.items()]
    for a in res.attributes:
        for g in a.groups:
            out += [(f"{a.attribute}.{g.group}.{k}", v) for k, v in g.rates.items()]
        out += [(f"{a.attribute}.fairness.{k}", v) for k, v in a.fairness.items()]
    out += [(f"headline.{k}", v) for k, v in res.fairness.items()]
    return out


@pytest.fixture(scope="module")
def data():
    return synthetic_audit(2000, seed=8, a_reference="a2")


@pytest.fixture(scope="module")
def boot(data):
    return _run(data, confidence=Confidence(resamples=1000))


def test_same_seed_same_intervals_other_seed_other_intervals(data):
    a = _run(data, seed=5)
    b = _run(data, seed=5)
    assert a == b
    c = _run(data, seed=6)
    d = _run(data, seed=5, label="another variant")
    ci = lambda r: [e.ci for _, e in _all_estimates(r)]  # noqa: E731
    assert ci(c) != ci(a) and ci(d) != ci(a)
    # the point estimates never depend on the stream
    val = lambda r: [e.value for _, e in _all_estimates(r)]  # noqa: E731
    assert val(c) == val(a)


def test_seed_stream_is_stable():
    s1 = np.random.default_rng(seed_for(42, "bootstrap:x")).integers(0, 2**31, 3)
    s2 = np.random.default_rng(seed_for(42, "bootstrap:x")).integers(0, 2**31, 3)
    np.testing.assert_array_equal(s1, s2)


def test_intervals_are_ordered_and_contain_the_estimate(boot):
    checked = 0
    for name, est in _all_estimates(boot):
        if NO_INTERVAL and name.endswith(NO_INTERVAL):
            assert est.ci is None, f"{name} has an interval now: test it and update NO_INTERVAL"
            continue
        assert est.ci is not None, name
        lo, hi = est.ci
        if est.value is None:
            continue
        assert lo is not None and hi is not None, name
        assert lo <= hi, name
        assert lo - 1e-12 <= est.value <= hi + 1e-12, (name, lo, est.value, hi)
        checked += 1
    assert checked > 250


def test_binomial_rate_width_matches_normal_approximation():
    """A single group's selection rate: the 95% interval is ≈ ±1.96 √(p(1−p)/n)."""
    rng = np.random.default_rng(0)
    n = 4000
    y = rng.integers(0, 2, n)
    p = (rng.random(n) < 0.3).astype(int)
    s = np.where(p == 1, 0.75, 0.25)
    atoms, n_atoms, parts = build_partitions(np.zeros(n, int), np.zeros(n, int), ("g",), ("h",),
                                             intersections=False)
    res = evaluate_variant(y, p, s, atoms=atoms, n_atoms=n_atoms, partitions=parts,
                           folds=np.zeros(n, int), n_folds=1,
                           confidence=Confidence(resamples=3000), seed=1)
    est = res.performance["selection_rate"]
    lo, hi = est.ci
    rate = est.value
    normal = 2 * 1.959964 * np.sqrt(rate * (1 - rate) / n)
    # Monte Carlo error of a 3000-replicate percentile width is ≈ 2.5%; allow 10%
    assert (hi - lo) == pytest.approx(normal, rel=0.10)
    assert lo < rate < hi


def _brute_force(d, b: int, seed: int):
    """Row bootstrap done the slow way: resample rows, recompute the figures from scratch."""
    rng = np.random.default_rng(seed)
    n = len(d.y_true)
    out = {"selection_rate": [], "roc_auc": [], "brier_score": [], "dpd_B": [], "auc_a0": []}
    a0 = d.a == "a0"
    for _ in range(b):
        i = rng.integers(0, n, n)
        y, p, s = d.y_true[i], d.y_pred[i], d.y_score[i]
        out["selection_rate"].append(p.mean())
        out["roc_auc"].append(auc_mann_whitney(y, s))
        out["brier_score"].append(np.mean((s - y) ** 2))
        bb = d.b[i]
        out["dpd_B"].append(abs(p[bb == "b0"].mean() - p[bb == "b1"].mean()))
        out["auc_a0"].append(auc_mann_whitney(y[a0[i]], s[a0[i]]))
    return {k: np.std(v, ddof=1) for k, v in out.items()}


def test_standard_errors_match_a_brute_force_row_bootstrap(data):
    """fairsel resamples cell counts (and, for AUC and Brier, score-bin cells); its standard
    errors must match resampling rows and recomputing.  Relative Monte Carlo error of each SE:
    ≈ 1/√(2·600) ≈ 3% (brute force), ≈ 2.5% (fairsel, 2000 replicates, ±1σ quantiles); the
    tolerance of 15% is > 3.5 combined standard deviations."""
    res = _run(data, confidence=Confidence(resamples=2000, level=ONE_SIGMA), seed=3)
    se = _brute_force(data, 600, seed=4)
    half = lambda e: (e.ci[1] - e.ci[0]) / 2  # noqa: E731
    assert half(res.performance["selection_rate"]) == pytest.approx(se["selection_rate"], rel=0.15)
    assert half(res.performance["roc_auc"]) == pytest.approx(se["roc_auc"], rel=0.15)
    assert half(res.performance["brier_score"]) == pytest.approx(se["brier_score"], rel=0.15)
    b = next(a for a in res.attributes if a.attribute == "B")
    assert half(b.fairness["demographic_parity_difference"]) == pytest.approx(se["dpd_B"], rel=0.15)
    a = next(a for a in res.attributes if a.attribute == "A")
    a0 = next(g for g in a.groups if g.group == "a0")
    assert half(a0.rates["roc_auc"]) == pytest.approx(se["auc_a0"], rel=0.15)


def _clustered(n_clusters: int, size: int, seed: int):
    """Rows of a cluster share their decision and outcome: the effective sample is the clusters."""
    rng = np.random.default_rng(seed)
    c = np.repeat(np.arange(n_clusters), size)
    p = np.repeat(rng.integers(0, 2, n_clusters), size)
    y = np.repeat(rng.integers(0, 2, n_clusters), size)
    flip = rng.random(len(c)) < 0.05  # a little within-cluster noise
    y = np.where(flip, 1 - y, y)
    s = np.clip(0.3 + 0.4 * p + rng.normal(0, 0.05, len(c)), 0, 1)
    g = rng.integers(0, 2, len(c))
    atoms, n_atoms, parts = build_partitions(g, np.zeros(len(c), int), ("g0", "g1"), ("x",),
                                             intersections=False)
    return c, y, p, s, atoms, n_atoms, parts


def test_cluster_bootstrap_is_wider_and_right():
    c, y, p, s, atoms, n_atoms, parts = _clustered(60, 40, seed=2)
    kw = dict(atoms=atoms, n_atoms=n_atoms, partitions=parts, folds=np.zeros(len(y), int),
              n_folds=1, confidence=Confidence(resamples=2000, level=ONE_SIGMA), seed=9)
    rows = evaluate_variant(y, p, s, **kw)
    clus = evaluate_variant(y, p, s, clusters=c, **kw)
    half = lambda e: (e.ci[1] - e.ci[0]) / 2  # noqa: E731
    for name in ("selection_rate", "accuracy", "roc_auc"):
        assert half(clus.performance[name]) > 3 * half(rows.performance[name]), name
    # the cluster bootstrap SE of a mean over equal clusters is sd(cluster means) / √C
    means = p.reshape(60, 40).mean(axis=1)
    expected = means.std(ddof=0) / np.sqrt(60)
    assert half(clus.performance["selection_rate"]) == pytest.approx(expected, rel=0.15)
    # and the row bootstrap the binomial √(p(1−p)/n)
    rate = p.mean()
    assert half(rows.performance["selection_rate"]) == pytest.approx(
        np.sqrt(rate * (1 - rate) / len(p)), rel=0.15)
    g0 = clus.attributes[0].groups[0]
    assert g0.rates["selection_rate"].ci[1] - g0.rates["selection_rate"].ci[0] > \
        2 * (rows.attributes[0].groups[0].rates["selection_rate"].ci[1]
             - rows.attributes[0].groups[0].rates["selection_rate"].ci[0])


def test_cluster_labels_need_not_be_integers():
    c, y, p, s, atoms, n_atoms, parts = _clustered(20, 10, seed=5)
    kw = dict(atoms=atoms, n_atoms=n_atoms, partitions=parts, folds=np.zeros(len(y), int),
              n_folds=1, confidence=Confidence(resamples=200), seed=1)
    as_int = evaluate_variant(y, p, s, clusters=c, **kw)
    as_str = evaluate_variant(y, p, s, clusters=np.array([f"branch-{x:03d}" for x in c]), **kw)
    assert as_int == as_str


@pytest.mark.parametrize("confidence", [Confidence(method="none"), Confidence(resamples=0)])
def test_no_bootstrap_no_intervals(data, confidence):
    res = _run(data, confidence=confidence)
    ests = _all_estimates(res)
    assert len(ests) > 250
    assert all(e.ci is None for _, e in ests)
    # the point estimates are those of a bootstrapped run
    assert [e.value for _, e in ests] == [e.value for _, e in _all_estimates(_run(data))]


def test_headline_interval_is_the_worst_attribute_per_replicate(boot):
    """The headline CI bounds the worst-over-attributes figure: never milder than every
    attribute's own interval."""
    for metric, head in boot.fairness.items():
        lo, hi = head.ci
        per = [a.fairness[metric].ci for a in boot.attributes if a.fairness[metric].ci]
        if metric.endswith("ratio") or metric == "disparate_impact":
            assert hi <= max(c[1] for c in per) + 1e-12, metric
        else:
            assert lo >= min(c[0] for c in per) - 1e-12, metric


def test_a_groups_design_effect_floor_follows_its_own_cluster_sizes():
    """A group's expected design effect is 1 + (m̄ − 1)·ρ (Kish), m̄ its own mean cluster size:
    a group of one row per cluster is not charged the design effect of all rows."""
    from fairsel.metrics.engine import _ClusterSizes, cluster_cells

    k = 1
    # group 0: 20 clusters of 10 rows; group 1: one row in each of 20 other clusters
    cluster = np.concatenate([np.repeat(np.arange(20), 10), np.arange(20, 40)])
    atom = np.concatenate([np.zeros(200, int), np.ones(20, int)])
    y = np.arange(len(atom)) % 2
    p = (np.arange(len(atom)) // 2) % 2
    cell = ((atom * 2 + y) * 2 + p) * k
    cc = cluster_cells(cluster, 40, cell, 2 * 4 * k, np.zeros((len(cell), 2)))
    sizes = _ClusterSizes(cc.count, 2, k)
    groups = np.array([0, 1])
    # rows (selection rate): m̄ = Σ n_c² / Σ n_c
    assert sizes._mbar("selection_rate", groups, 2).tolist() == pytest.approx([10.0, 1.0])
    allrows = (20 * 100 + 20 * 1) / 220
    assert sizes._mbar("selection_rate", np.zeros(2, int), 1)[0] == pytest.approx(allrows)
    # TPR: its denominator is the actual positives (half of each big cluster, 5 rows)
    assert sizes._mbar("tpr", groups, 2)[0] == pytest.approx(5.0)
    rho = sizes.icc("selection_rate", deff_all=4.0)
    assert rho == pytest.approx(3.0 / (allrows - 1))
    floor = sizes.expected_deff("selection_rate", groups, 2, rho)
    assert floor[0] == pytest.approx(1 + 9 * rho) and floor[1] == 1.0
    assert floor[1] < 4.0  # the old floor (all rows' design effect) would have been 4
    # the effective numbers of clusters, n / m̄, that weigh each group's own bootstrap estimate
    assert sizes.clusters("selection_rate", groups, 2).tolist() == pytest.approx([20.0, 20.0])
    assert sizes.clusters("tpr", groups, 2)[0] == pytest.approx(100 / 5.0)
    assert sizes.clusters("selection_rate", np.zeros(2, int), 1)[0] == pytest.approx(220 / allrows)
    assert sizes.clusters("selection_rate", np.array([0, 0]), 2)[1] == 0.0  # an empty group


def test_thinly_spread_small_groups_get_intervals_near_their_binomial_width():
    """Clusters that are homogeneous in the outcome inflate all rows' design effect; a small
    group with one row per cluster keeps an interval near the binomial (Wilson) one."""
    rng = np.random.default_rng(4)
    n_clusters, size = 200, 30
    c = np.repeat(np.arange(n_clusters), size)
    p = np.repeat(rng.integers(0, 2, n_clusters), size)  # decisions shared by a cluster
    y = p.copy()
    s = np.clip(0.3 + 0.4 * p + rng.normal(0, 0.05, len(c)), 0, 1)
    g = np.zeros(len(c), int)
    g[::size] = 1  # group 1: the first row of each cluster (200 rows, one per cluster)
    atoms, n_atoms, parts = build_partitions(g, np.zeros(len(c), int), ("big", "spread"),
                                             ("x",), intersections=False)
    res = evaluate_variant(y, p, s, atoms=atoms, n_atoms=n_atoms, partitions=parts,
                           folds=np.zeros(len(y), int), n_folds=1, clusters=c,
                           confidence=Confidence(resamples=1000), seed=3)
    spread = res.attributes[0].groups[1].rates["selection_rate"]
    rate, n = spread.value, 200
    z = 1.959964
    wilson_half = z * np.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    half = (spread.ci[1] - spread.ci[0]) / 2
    assert half < 1.6 * wilson_half  # all rows' design effect (~30) would make it ~5× wider
    assert half >= 0.99 * wilson_half  # never narrower than Wilson on the rows
