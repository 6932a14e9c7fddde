"""Significance of group differences, with multiple-testing control.

For each protected attribute (and intersection), each eligible group is compared with the
reference group in three rates: selection rate, TPR and FPR. The reference is the declared one
(``protected[].reference``) or, where none is declared (intersections, attributes without a
reference), the *most favoured* group for that rate: the eligible group with the highest rate
(ties: the first in the attribute's group order). Only eligible rates take part
(:func:`fairsel.metrics.counts.rate_eligibility`: the rate's denominator is at least
``min_group_size``); a reference whose rate is ineligible gives no test.

The test is on the pooled out-of-fold counts, as the 2×2 table

=========  ============  ==============
 group      k  (events)   n − k
 reference  k₀           n₀ − k₀
=========  ============  ==============

with ``k/n`` = (tp + fp)/n for the selection rate, tp/(tp + fn) for TPR, fp/(fp + tn) for FPR.

* **z** (two-sided pooled two-proportion z-test): ``p̂ = (k + k₀)/(n + n₀)``,
  ``z = (k/n − k₀/n₀) / sqrt(p̂ (1 − p̂) (1/n + 1/n₀))``, ``p = 2 (1 − Φ(|z|))``; ``p = 1`` where
  ``p̂`` is 0 or 1 (both groups all one class: no difference to test).
* **fisher** (Fisher's exact test, two-sided as ``scipy.stats.fisher_exact``): with
  ``N = n + n₀``, ``K = k + k₀``, the count ``k`` is hypergeometric(N, K, n) under equal rates;
  ``p`` is the sum of the probabilities of every table no more likely than the observed one.
* **auto** (default): Fisher where any cell of the table has an expected count under 5
  (``min(n, n₀) · min(K, N − K) / N < 5``), the z-test elsewhere.

Every test is computed from counts alone, vectorised over groups (no pass over rows).

The p-values of the whole audit (every variant × attribute × group × rate) are then adjusted
together, by Holm's step-down method (default: controls the family-wise error rate) or by
Benjamini–Hochberg (controls the false discovery rate), or not at all:

* Holm: sort the m p-values ascending ``p₍₁₎ ≤ … ≤ p₍ₘ₎``; ``p̃₍ᵢ₎ = max_{j≤i} min(1, (m − j + 1) p₍ⱼ₎)``.
* BH: ``p̃₍ᵢ₎ = min_{j≥i} min(1, m p₍ⱼ₎ / j)`` (as ``scipy.stats.false_discovery_control``).

**Clusters.** With ``validation.groups`` (several rows per person, household or branch) rows
within a cluster are correlated and the row counts overstate the information: each group's
counts are deflated by its design effect before testing, ``k/deff`` of ``n/deff`` (the
effective counts of Kish; for the z-test this is the cluster-robust variance
``p̂(1 − p̂)(deff/n + deff₀/n₀)``, for Fisher's test the effective counts rounded to whole
rows). The design effect of a group's rate is the one its interval was computed with (the
cluster bootstrap's variance over the binomial one, at least 1, see
:func:`fairsel.metrics.intervals.design_effect`), read back from that Wilson interval
(:func:`fairsel.metrics.intervals.wilson_design_effect`). Without clusters every design effect
is 1 and the tests are scipy's on the raw counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fairsel.metrics.counts import FN, FP, TN, TP, rate_eligibility
from fairsel.metrics.intervals import MIN_EXPECTED, wilson_design_effect

#: The rates that are tested, each as (numerator cells, denominator cells) of ``(tn, fp, fn, tp)``.
TESTED_RATES: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "selection_rate": ((FP, TP), (TN, FP, FN, TP)),
    "tpr": ((TP,), (FN, TP)),
    "fpr": ((FP,), (TN, FP)),
}
#: A rate whose test is that of another (FNR = 1 − TPR, TNR = 1 − FPR: same 2×2 table).
SAME_TEST: dict[str, str] = {"selection_rate": "selection_rate", "tpr": "tpr", "fnr": "tpr",
                             "fpr": "fpr", "tnr": "fpr"}
TESTS = ("auto", "z", "fisher")
ADJUSTMENTS = ("holm", "bh", "none")
#: The most cells of one batch of Fisher tables (tables × support width).
_GRID = 2_000_000
_ERFC = np.frompyfunc(math.erfc, 1, 1)


def z_pvalues(k1, n1, k0, n0) -> np.ndarray:
    """Two-sided pooled two-proportion z-test, elementwise (NaN where a group has no rows)."""
    k1, n1, k0, n0 = (np.asarray(a, dtype=np.float64) for a in (k1, n1, k0, n0))
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (k1 + k0) / (n1 + n0)
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
        z = (k1 / n1 - k0 / n0) / se
        # 2·P(Z > |z|) = erfc(|z|/√2), accurate far into the tail (as scipy.stats.norm.sf):
        # the C library's erfc, so that a predictions-only audit imports no SciPy at all
        p = np.asarray(_ERFC(np.abs(z) / np.sqrt(2.0)), dtype=np.float64)
    p = np.where(se > 0, p, 1.0)  # both groups all one class: nothing differs
    return np.where((n1 > 0) & (n0 > 0), p, np.nan)


def fisher_pvalues(k1, n1, k0, n0) -> np.ndarray:
    """Two-sided Fisher exact test, elementwise (as ``scipy.stats.fisher_exact``).

    The hypergeometric probabilities of every possible table are laid on one padded grid
    (groups × support), so the work is one array operation; the support of a table is at most
    ``min(n1, n0, K, N − K) + 1`` long.
    """
    from scipy import stats

    k1, n1, k0, n0 = np.broadcast_arrays(*(np.asarray(a, dtype=np.int64)
                                           for a in (k1, n1, k0, n0)))
    shape = k1.shape
    k1, n1, k0, n0 = (a.ravel() for a in (k1, n1, k0, n0))
    out = np.full(k1.shape, np.nan)
    ok = (n1 > 0) & (n0 > 0)
    if not ok.any():
        return out.reshape(shape)
    k1, n1, k0, n0 = k1[ok], n1[ok], k0[ok], n0[ok]
    total, events = n1 + n0, k1 + k0
    lo = np.maximum(0, events - n0)
    hi = np.minimum(events, n1)
    p = np.empty(k1.shape)
    # tables in order of support width, in batches of at most _GRID cells (memory stays bounded
    # when test: fisher is forced on large groups)
    order = np.argsort(hi - lo, kind="stable")
    start = 0
    while start < order.size:
        stop = start + 1
        while stop < order.size and (stop - start + 1) * (int(hi[order[stop]] - lo[order[stop]])
                                                          + 1) <= _GRID:
            stop += 1
        idx = order[start:stop]
        width = int((hi[idx] - lo[idx]).max()) + 1
        x = lo[idx, None] + np.arange(width)[None, :]
        inside = x <= hi[idx, None]
        args = (total[idx, None], events[idx, None], n1[idx, None])
        pmf = stats.hypergeom.pmf(np.where(inside, x, lo[idx, None]), *args)
        observed = stats.hypergeom.pmf(k1[idx], total[idx], events[idx], n1[idx])
        # scipy's relative tolerance for tables as likely as the observed one
        keep = inside & (pmf <= observed[:, None] * (1 + 1e-7))
        p[idx] = np.minimum(1.0, np.where(keep, pmf, 0.0).sum(axis=1))
        start = stop
    out[ok] = p
    return out.reshape(shape)


def needs_exact(k1, n1, k0, n0) -> np.ndarray:
    """Whether any cell of the 2×2 table has an expected count under :data:`MIN_EXPECTED`."""
    k1, n1, k0, n0 = (np.asarray(a, dtype=np.float64) for a in (k1, n1, k0, n0))
    total, events = n1 + n0, k1 + k0
    with np.errstate(divide="ignore", invalid="ignore"):
        smallest = np.minimum(n1, n0) * np.minimum(events, total - events) / total
    return ~(smallest >= MIN_EXPECTED)


def two_proportion_pvalues(k1, n1, k0, n0, test: str = "auto", *, deff1=1.0,
                           deff0=1.0) -> tuple[np.ndarray, np.ndarray]:
    """(p-values, whether each used Fisher's exact test) for ``k1/n1`` against ``k0/n0``.

    ``deff1``, ``deff0``: the design effects of the two rates (clusters); the counts are
    deflated to ``k/deff`` of ``n/deff`` (rounded to whole rows for Fisher's test)."""
    if test not in TESTS:
        raise ValueError(f"test must be one of {TESTS}, not {test!r}")
    k1, n1, k0, n0, deff1, deff0 = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64)
                                                         for a in (k1, n1, k0, n0, deff1, deff0)))
    if (deff1 != 1).any() or (deff0 != 1).any():
        k1, n1, k0, n0 = k1 / deff1, n1 / deff1, k0 / deff0, n0 / deff0
        k1, n1, k0, n0 = np.broadcast_arrays(*(np.asarray(a) for a in (k1, n1, k0, n0)))
        exact_counts = [np.rint(a) for a in (k1, n1, k0, n0)]
    else:
        exact_counts = [k1, n1, k0, n0]
    exact = (np.ones(k1.shape, dtype=bool) if test == "fisher"
             else np.zeros(k1.shape, dtype=bool) if test == "z"
             else needs_exact(k1, n1, k0, n0))
    p = np.array(z_pvalues(k1, n1, k0, n0), dtype=np.float64)
    if exact.any():
        p[exact] = fisher_pvalues(*(a[exact] for a in exact_counts))
    return p, exact


def adjust_pvalues(p, method: str = "holm") -> np.ndarray:
    """Adjusted p-values (Holm, Benjamini–Hochberg or none); NaN entries stay NaN and are not
    counted among the tests."""
    if method not in ADJUSTMENTS:
        raise ValueError(f"adjust must be one of {ADJUSTMENTS}, not {method!r}")
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    q = p[ok]
    m = q.size
    if m == 0 or method == "none":
        out[ok] = q
        return out
    order = np.argsort(q, kind="stable")
    s = q[order]
    i = np.arange(1, m + 1)
    if method == "holm":
        adj = np.maximum.accumulate(np.minimum(1.0, (m - i + 1) * s))
    else:
        adj = np.minimum(1.0, np.minimum.accumulate((m * s / i)[::-1])[::-1])
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out


@dataclass(frozen=True)
class AttributeTests:
    """The raw tests of one attribute: ``rate -> arrays over its groups`` (NaN: no test)."""

    reference: dict[str, int | None]  # rate -> index of the reference group, or None
    p: dict[str, np.ndarray]
    exact: dict[str, np.ndarray]


def attribute_tests(counts: np.ndarray, min_group_size: int, reference: int | None,
                    test: str = "auto",
                    deff: dict[str, np.ndarray] | None = None) -> AttributeTests:
    """Each eligible group against the reference, for every rate of :data:`TESTED_RATES`.

    ``counts`` has shape ``(G, 4)`` (``tn, fp, fn, tp``); ``reference`` is the declared
    reference group's index or None (then the eligible group with the highest rate);
    ``deff``: rate -> (G,) design effects (clusters), none for independent rows.
    """
    counts = np.asarray(counts, dtype=np.float64).reshape(-1, 4)
    eligible = rate_eligibility(counts, min_group_size)
    refs: dict[str, int | None] = {}
    ps: dict[str, np.ndarray] = {}
    exacts: dict[str, np.ndarray] = {}
    for rate, (num, den) in TESTED_RATES.items():
        k = counts[:, list(num)].sum(axis=1)
        n = counts[:, list(den)].sum(axis=1)
        ok = eligible[rate] & (n > 0)
        ref = reference
        if ref is None and ok.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                ref = int(np.argmax(np.where(ok, k / np.where(n > 0, n, 1), -np.inf)))
        p = np.full(len(counts), np.nan)
        exact = np.zeros(len(counts), dtype=bool)
        if ref is not None and ok[ref]:
            others = ok.copy()
            others[ref] = False
            if others.any():
                d = np.ones(len(counts)) if deff is None else np.asarray(deff[rate], float)
                p[others], exact[others] = two_proportion_pvalues(
                    k[others], n[others], k[ref], n[ref], test, deff1=d[others], deff0=d[ref])
        else:
            ref = None
        refs[rate], ps[rate], exacts[rate] = ref, p, exact
    return AttributeTests(refs, ps, exacts)


def group_design_effects(groups: list, level: float) -> dict[str, np.ndarray]:
    """rate -> (G,) the design effect of each group's rate, read back from its interval
    (:func:`fairsel.metrics.intervals.wilson_design_effect`); 1 without an interval."""
    out = {}
    for rate, (_, den) in TESTED_RATES.items():
        val, n, lo, hi = (np.full(len(groups), np.nan) for _ in range(4))
        for i, g in enumerate(groups):
            e = g.rates.get(rate)
            n[i] = sum((g.tn, g.fp, g.fn, g.tp)[c] for c in den)
            if e is not None and e.value is not None and e.ci is not None \
                    and None not in e.ci:
                val[i], (lo[i], hi[i]) = e.value, e.ci
        out[rate] = wilson_design_effect(val, n, lo, hi, level)
    return out


def annotate(variants: list, *, min_group_size: int, test: str = "auto",
             adjust: str = "holm", clustered: bool = False, level: float = 0.95) -> list:
    """The variants with every group's tests (``GroupRow.significance``) filled in, adjusted
    over the whole audit at once. Called once per audit, after the metrics are computed.
    ``clustered``: the audit resampled clusters, and its rate intervals (at confidence
    ``level``) carry the design effects the tests deflate the counts by."""
    from fairsel.results import GroupTest

    found = []  # (variant index, attribute index, rate, AttributeTests)
    for vi, v in enumerate(variants):
        for ai, attr in enumerate(v.attributes):
            labels = [g.group for g in attr.groups]
            counts = np.array([[g.tn, g.fp, g.fn, g.tp] for g in attr.groups],
                              dtype=np.float64).reshape(-1, 4)
            ref = labels.index(attr.reference) if attr.reference in labels else None
            deff = group_design_effects(attr.groups, level) if clustered else None
            found.append((vi, ai, attribute_tests(counts, min_group_size, ref, test, deff)))
    flat = [t.p[r] for *_, t in found for r in TESTED_RATES]
    adjusted = adjust_pvalues(np.concatenate(flat), adjust) if flat else np.empty(0)
    out = list(variants)
    pos = 0
    new_attrs: dict[int, list] = {}
    for vi, ai, t in found:
        attr = out[vi].attributes[ai]
        per_group: list[dict] = [{} for _ in attr.groups]
        for rate in TESTED_RATES:
            p = t.p[rate]
            adj = adjusted[pos:pos + len(p)]
            pos += len(p)
            ref = t.reference[rate]
            for gi in np.flatnonzero(np.isfinite(p)):
                per_group[gi][rate] = GroupTest(
                    reference=attr.groups[ref].group, test="fisher" if t.exact[rate][gi] else "z",
                    p=float(p[gi]), p_adjusted=float(adj[gi]))
        groups = [g.model_copy(update={"significance": s}) for g, s in zip(attr.groups, per_group)]
        new_attrs.setdefault(vi, list(out[vi].attributes))[ai] = attr.model_copy(
            update={"groups": groups})
    for vi, attrs in new_attrs.items():
        out[vi] = out[vi].model_copy(update={"attributes": attrs})
    return out


def testable(metric: str) -> bool:
    """Whether a fairness metric is built only on rates that have a test (gates may then
    ``require_significance``)."""
    from fairsel.metrics.disparity import FAIRNESS_METRICS

    m = FAIRNESS_METRICS.get(metric)
    return m is not None and all(r in SAME_TEST for r in m.rates)


def smallest_adjusted(attr, rates) -> float | None:
    """The smallest adjusted p-value of an attribute's groups in the tests behind ``rates``
    (FNR and TNR read the TPR and FPR tests), or None when there is none."""
    tested = {SAME_TEST[r] for r in rates if r in SAME_TEST}
    ps = [t.p_adjusted for g in attr.groups for r, t in g.significance.items() if r in tested]
    return min(ps) if ps else None
