"""Significance tests of group rates and their multiple-testing adjustment (issue 9 item 4)."""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from fairsel.audit import plan, run_audit
from fairsel.errors import PolicyError
from fairsel.metrics.significance import (
    adjust_pvalues,
    attribute_tests,
    fisher_pvalues,
    needs_exact,
    two_proportion_pvalues,
    z_pvalues,
)
from fairsel.policy import load_policy

# (k1, n1, k0, n0): tiny, empty-class, single-class, lopsided and large tables
TABLES = [(0, 5, 5, 5), (5, 5, 5, 5), (0, 3, 0, 7), (1, 2, 30, 40), (2, 22, 15, 30),
          (45, 100, 60, 100), (0, 1, 1, 1), (7, 7, 0, 9), (300, 1000, 350, 1000), (1, 500, 9, 480)]


def _z_reference(k1, n1, k0, n0) -> float:
    pooled = (k1 + k0) / (n1 + n0)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    if se == 0:
        return 1.0
    return float(2 * stats.norm.sf(abs((k1 / n1 - k0 / n0) / se)))


@pytest.mark.parametrize("k1, n1, k0, n0", TABLES)
def test_fisher_agrees_with_scipy(k1, n1, k0, n0):
    want = stats.fisher_exact([[k1, n1 - k1], [k0, n0 - k0]]).pvalue
    assert fisher_pvalues([k1], [n1], [k0], [n0])[0] == pytest.approx(want, rel=1e-9, abs=1e-15)


def test_fisher_is_vectorised_over_tables_of_different_supports():
    k1, n1, k0, n0 = (np.array(c) for c in zip(*TABLES))
    want = [stats.fisher_exact([[a, b - a], [c, d - c]]).pvalue for a, b, c, d in TABLES]
    np.testing.assert_allclose(fisher_pvalues(k1, n1, k0, n0), want, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("k1, n1, k0, n0", TABLES)
def test_z_agrees_with_the_textbook_formula(k1, n1, k0, n0):
    assert z_pvalues(k1, n1, k0, n0) == pytest.approx(_z_reference(k1, n1, k0, n0), rel=1e-12)


def test_empty_groups_have_no_test():
    assert np.isnan(z_pvalues(0, 0, 3, 10))
    assert np.isnan(fisher_pvalues([0], [0], [3], [10])[0])


def test_auto_uses_fisher_exactly_where_an_expected_cell_is_under_5():
    k1, n1, k0, n0 = (np.array(c) for c in zip(*TABLES))
    p, exact = two_proportion_pvalues(k1, n1, k0, n0, "auto")
    for i, (a, b, c, d) in enumerate(TABLES):
        table = np.array([[a, b - a], [c, d - c]], dtype=float)
        expected = table.sum(1)[:, None] * table.sum(0)[None, :] / table.sum()
        assert exact[i] == bool((expected < 5).any()), TABLES[i]
        want = (stats.fisher_exact(table).pvalue if exact[i] else _z_reference(a, b, c, d))
        assert p[i] == pytest.approx(want, rel=1e-9)
    assert exact.any() and not exact.all()
    assert needs_exact(45, 100, 60, 100) == np.False_
    assert two_proportion_pvalues(k1, n1, k0, n0, "fisher")[1].all()
    assert not two_proportion_pvalues(k1, n1, k0, n0, "z")[1].any()


def test_holm_and_bh_on_hand_computed_examples():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.06 (monotone)
    np.testing.assert_allclose(adjust_pvalues(p, "holm"), [0.03, 0.06, 0.06, 0.02, np.nan])
    # BH: 0.005*4/1, 0.01*4/2, 0.03*4/3, 0.04*4/4 -> 0.02, 0.02, 0.04, 0.04
    np.testing.assert_allclose(adjust_pvalues(p, "bh"), [0.02, 0.04, 0.04, 0.02, np.nan])
    np.testing.assert_array_equal(adjust_pvalues(p, "none"), p)
    np.testing.assert_allclose(adjust_pvalues([0.5, 0.9], "holm"), [1.0, 1.0])  # capped at 1


def test_bh_agrees_with_scipy_false_discovery_control():
    p = np.random.default_rng(4).uniform(size=200) ** 3
    np.testing.assert_allclose(adjust_pvalues(p, "bh"), stats.false_discovery_control(p),
                               rtol=1e-12)


def test_only_eligible_rates_are_tested_against_the_most_favoured_group():
    # counts (tn, fp, fn, tp): group 2 has the highest selection rate; group 1 has 3 negatives
    counts = np.array([[40, 10, 20, 30], [3, 0, 10, 27], [10, 20, 5, 65], [0, 0, 0, 0]])
    t = attribute_tests(counts, 10, None)
    assert t.reference["selection_rate"] == 2
    sel = t.p["selection_rate"]
    assert np.isnan(sel[2]) and np.isnan(sel[3]) and np.isfinite(sel[:2]).all()
    assert np.isnan(t.p["fpr"][1])  # FPR of group 1 rests on 3 negatives: not eligible
    # declared reference whose rate is ineligible: no test at all for that rate
    t = attribute_tests(counts, 10, 1)
    assert t.reference["fpr"] is None and np.isnan(t.p["fpr"]).all()
    assert t.reference["selection_rate"] == 1


def test_under_the_null_the_adjusted_rejection_rate_stays_below_alpha():
    rng = np.random.default_rng(7)
    alpha, audits = 0.05, 400
    rejected = dict.fromkeys(("holm", "bh", "none"), 0)
    for _ in range(audits):
        n = rng.choice([8, 20, 60, 300], size=6)
        k = rng.binomial(n, 0.3)  # every group has the same true rate
        counts = np.zeros((6, 4))
        counts[:, 3], counts[:, 2] = k, n - k  # selection rate = tp / n
        p = attribute_tests(counts, 5, 0).p["selection_rate"]
        for method in rejected:
            rejected[method] += bool((adjust_pvalues(p, method) <= alpha).any())
    assert rejected["holm"] / audits <= alpha
    assert rejected["bh"] / audits <= alpha  # all nulls true: the FDR is the family-wise rate
    assert rejected["none"] / audits > alpha  # five tests unadjusted: the control is needed


# ---------------------------------------------------------------- through a whole audit


def _tiny_gap(folder, *, require: bool, adjust: str = "holm"):
    # 12 rows per sex; selection 11/12 vs 6/12: disparate impact 0.545, Fisher p ≈ 0.069
    rows = []
    for sex, chosen in (("a", 11), ("b", 6)):
        for i in range(12):
            rows.append({"id": len(rows), "sex": sex, "y": i % 2, "x": i,
                         "score": 0.9 if i < chosen else 0.1})
    pd.DataFrame(rows).to_csv(folder / "d.csv", index=False)
    text = textwrap.dedent(f"""\
        version: 1
        name: sig
        data: {{path: d.csv, target: y, favorable: 1, id: id, features: [x]}}
        protected: [{{column: sex}}]
        min_group_size: 5
        validation: {{scheme: stratified_kfold, folds: 2}}
        candidates:
          - {{name: vendor, kind: predictions, path: d.csv, score_column: score}}
        metrics:
          fairness: [disparate_impact]
          confidence: {{method: none}}
          significance: {{adjust: {adjust}}}
        gates:
          - {{metric: disparate_impact, min: 0.8, require_significance: {str(require).lower()}}}
        report: {{formats: [json]}}
        """)
    (folder / "p.yaml").write_text(text)
    return run_audit(load_policy(folder / "p.yaml")).result


def test_require_significance_turns_a_non_significant_miss_into_a_warning(tmp_path):
    plain = _tiny_gap(tmp_path, require=False)
    g = plain.gates[0]
    assert g.status == "FAIL" and g.observed == pytest.approx(6 / 11)
    row = {r.group: r for r in plain.variants[0].attributes[0].groups}
    tests = row["b"].significance
    assert set(tests) == {"selection_rate", "tpr", "fpr"}  # three tests in the whole audit
    raw = stats.fisher_exact([[6, 6], [11, 1]]).pvalue
    assert tests["selection_rate"].p == pytest.approx(raw)
    assert tests["selection_rate"].reference == "a" and tests["selection_rate"].test == "fisher"
    # Holm over three: the smallest raw p (the selection rate's) times 3
    assert min(t.p for t in tests.values()) == pytest.approx(raw)
    assert g.p_adjusted == pytest.approx(3 * raw) and g.significant is False
    assert plain.verdict.status == "FAIL"
    # the same gap judged without adjustment is still not significant at 0.05 (p ≈ 0.069)
    assert _tiny_gap(tmp_path, require=False, adjust="none").gates[0].p_adjusted == (
        pytest.approx(raw))
    assert "selection_rate" not in row["a"].significance  # the reference is not tested

    gated = _tiny_gap(tmp_path, require=True).gates[0]
    assert gated.status == "WARN" and gated.by_attribute == {"sex": "WARN"}
    assert "not significant" in gated.message


def test_require_significance_still_fails_a_significant_miss(tmp_path):
    # the same gap on 10× the rows is significant
    rows = []
    for sex, chosen in (("a", 110), ("b", 60)):
        for i in range(120):
            rows.append({"id": len(rows), "sex": sex, "y": i % 2, "x": i,
                         "score": 0.9 if i < chosen else 0.1})
    _tiny_gap(tmp_path, require=True)  # writes the policy
    pd.DataFrame(rows).to_csv(tmp_path / "d.csv", index=False)
    g = run_audit(load_policy(tmp_path / "p.yaml")).result.gates[0]
    assert g.status == "FAIL" and g.significant is True and g.p_adjusted < 1e-6


def test_require_significance_on_an_untested_metric_is_a_policy_error(tmp_path):
    (tmp_path / "p.yaml").write_text(textwrap.dedent("""\
        version: 1
        name: sig
        data: {path: d.csv, target: y, favorable: 1}
        protected: [{column: sex}]
        candidates: [{name: a, kind: sklearn, estimator: logistic_regression}]
        gates: [{metric: roc_auc, min: 0.7, require_significance: true}]
        """))
    with pytest.raises(PolicyError, match=r"gates\[0\]\.require_significance|require_significance"):
        plan(load_policy(tmp_path / "p.yaml"))


def test_the_report_shows_adjusted_p_and_the_method(tmp_path):
    from fairsel.report.context import build_context

    result = _tiny_gap(tmp_path, require=True, adjust="bh")
    ctx = build_context(result, with_charts=False)
    gate = ctx["gates"][0]  # the policy's gate (the proxy screen's own gates follow it)
    assert gate["has_p"] and gate["rows"][0]["p_adjusted"] == f"{result.gates[0].p_adjusted:.3g}"
    text = ctx["method"]["significance_text"]
    assert "Benjamini–Hochberg" in text and "G1 require significance" in text
    assert "independent" in text


def test_list_metrics_says_which_fairness_metrics_are_tested():
    from fairsel.metrics import METRICS
    from fairsel.metrics.significance import testable

    said = {n for n in METRICS.names() if "require_significance" in METRICS.summary(n)}
    assert said == {n for n in METRICS.names() if testable(n)}
    assert "disparate_impact" in said and "equalized_odds_difference" in said
    assert "predictive_parity_difference" not in said


def test_fisher_on_large_tables_is_batched_and_still_exact(monkeypatch):
    import fairsel.metrics.significance as sig

    monkeypatch.setattr(sig, "_GRID", 50)  # force many small batches
    k1, n1, k0, n0 = (np.array(c) for c in zip(*TABLES))
    want = [stats.fisher_exact([[a, b - a], [c, d - c]]).pvalue for a, b, c, d in TABLES]
    np.testing.assert_allclose(sig.fisher_pvalues(k1, n1, k0, n0), want, rtol=1e-9, atol=1e-15)
    big = sig.fisher_pvalues([4000], [10_000], [4100], [10_000])[0]
    assert big == pytest.approx(stats.fisher_exact([[4000, 6000], [4100, 5900]]).pvalue, rel=1e-6)


def test_the_report_says_how_clustered_rows_are_tested(tmp_path):
    from fairsel.report.context import build_context

    result = _tiny_gap(tmp_path, require=False)
    text = build_context(result, with_charts=False)["method"]["significance_text"]
    assert "treat rows as independent" in text and "design effect" not in text
    clustered = result.model_copy(update={
        "validation": result.validation.model_copy(update={"groups": "branch"})})
    text = build_context(clustered, with_charts=False)["method"]["significance_text"]
    assert ("Rows of one 'branch' cluster are correlated: each group's counts are deflated by "
            "its design effect") in text
    assert "too small" not in text


def test_the_gates_section_tabulates_each_variants_smallest_adjusted_p(tmp_path):
    from fairsel.report.context import build_context

    result = _tiny_gap(tmp_path, require=False)
    (row,) = build_context(result, with_charts=False)["significance"]
    sel = {g.group: g for g in result.variants[0].attributes[0].groups}["b"].significance
    assert [c["p_adjusted"] for c in row["cells"]] == [
        f"{sel[r].p_adjusted:.3g}" for r in ("selection_rate", "tpr", "fpr")]
    assert row["cells"][0]["p"] == f"{sel['selection_rate'].p:.3g}"
    assert row["cells"][0]["where"] == "b vs a (sex)"


def test_p_values_read_as_three_digits_or_a_bound_that_does_not_wrap():
    from fairsel.report.context import p_text

    assert p_text(None) == "—" and p_text(0.0123456) == "0.0123" and p_text(1.0) == "1"
    assert p_text(3e-9) == "<\u00a00.0001"


# ---------------------------------------------------------------- clusters: design effects


def test_without_clusters_the_tests_are_scipys_on_the_raw_counts():
    """Design effects of 1 (no clusters) leave the counts alone: z and Fisher equal scipy."""
    for k1, n1, k0, n0 in TABLES:
        for test, want in (("z", _z_reference(k1, n1, k0, n0)),
                           ("fisher", stats.fisher_exact([[k1, n1 - k1], [k0, n0 - k0]]).pvalue)):
            p, _ = two_proportion_pvalues([k1], [n1], [k0], [n0], test, deff1=1.0, deff0=1.0)
            assert p[0] == pytest.approx(want, rel=1e-9, abs=1e-15), (k1, n1, k0, n0, test)


def test_design_effects_deflate_the_counts_for_both_tests():
    """A design effect of 4 tests k/4 of n/4 (Fisher on the rounded effective counts)."""
    p_z, _ = two_proportion_pvalues([120], [400], [160], [400], "z", deff1=4.0, deff0=4.0)
    assert p_z[0] == pytest.approx(_z_reference(30, 100, 40, 100), rel=1e-12)
    p_f, exact = two_proportion_pvalues([12], [40], [22], [41], "fisher", deff1=4.0, deff0=4.1)
    assert exact[0]
    assert p_f[0] == pytest.approx(stats.fisher_exact([[3, 7], [5, 5]]).pvalue, rel=1e-9)


def test_wilson_design_effect_reads_back_the_effective_size():
    from fairsel.metrics.intervals import wilson, wilson_design_effect

    value = np.array([0.3, 1.0, 0.0, 0.5, 0.3])
    n = np.array([200.0, 15.0, 40.0, 10.0, 50.0])
    deff = np.array([2.5, 3.0, 1.7, 1.0, 1.0])
    lo, hi = wilson(value * n / deff, n / deff, 0.95)
    got = wilson_design_effect(value, n, lo, hi, 0.95)
    assert got == pytest.approx(deff, rel=1e-9)
    nan = np.full(1, np.nan)  # no interval: no correction
    assert wilson_design_effect(np.array([0.3]), np.array([50.0]), nan, nan, 0.95)[0] == 1.0


def _clustered_audit(folder, *, groups: bool):
    """Branches of 10 rows that decide together (an intra-cluster correlation near 1): sex a is
    selected in 9 of 15 branches, sex b in 5 of 15."""
    rng = np.random.default_rng(3)
    rows = []
    for sex, chosen in (("a", 9), ("b", 5)):
        for br in range(15):
            for i in range(10):
                rows.append({"id": len(rows), "sex": sex, "branch": f"{sex}{br}",
                             "y": int(rng.random() < 0.5), "x": i,
                             "score": 0.9 if br < chosen else 0.1})
    pd.DataFrame(rows).to_csv(folder / "d.csv", index=False)
    validation = ("{scheme: group_kfold, folds: 3, groups: branch}" if groups
                  else "{scheme: stratified_kfold, folds: 3}")
    (folder / "p.yaml").write_text(textwrap.dedent(f"""\
        version: 1
        name: sig
        data: {{path: d.csv, target: y, favorable: 1, id: id, features: [x]}}
        protected: [{{column: sex, reference: a}}]
        min_group_size: 5
        validation: {validation}
        candidates:
          - {{name: vendor, kind: predictions, path: d.csv, score_column: score}}
        metrics:
          fairness: [disparate_impact]
          confidence: {{resamples: 400}}
          significance: {{test: z, adjust: none}}
        proxies: false
        report: {{formats: [json]}}
        """))
    return run_audit(load_policy(folder / "p.yaml")).result


def test_clustered_rows_give_larger_p_values_than_the_same_rows_taken_as_independent(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "i").mkdir()
    clustered = _clustered_audit(tmp_path / "c", groups=True)
    independent = _clustered_audit(tmp_path / "i", groups=False)
    g_c = {g.group: g for g in clustered.variants[0].attributes[0].groups}
    g_i = {g.group: g for g in independent.variants[0].attributes[0].groups}
    p_c = g_c["b"].significance["selection_rate"].p
    p_i = g_i["b"].significance["selection_rate"].p
    # the same counts (90/150 against 50/150): independent rows are scipy's z-test on them
    assert (g_i["b"].fp + g_i["b"].tp, g_i["b"].n) == (50, 150)
    assert p_i == pytest.approx(_z_reference(50, 150, 90, 150), rel=1e-9)
    assert p_i < 1e-5 and p_c > 10 * p_i


def test_the_z_test_imports_no_scipy_and_matches_its_tail():
    """A predictions-only audit of a million rows takes about a second; importing SciPy for
    the z-test's normal tail cost a sixth of it. The C library's erfc gives the same p-values
    (scipy.stats.norm.sf) to 1e-10 relative, out to p = 1e-300."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from fairsel.metrics.significance import z_pvalues\n"
            "z_pvalues(np.array([5, 500]), np.array([10, 1000]), np.array([2, 400]),"
            " np.array([10, 1000]))\n"
            "print(any(m == 'scipy' or m.startswith('scipy.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
    z = np.linspace(0.0, 37.0, 2001)
    n = np.full_like(z, 1e6)
    # a pair of proportions whose pooled z is each z (k1/n − k0/n over its standard error)
    p1 = 0.5 + z * np.sqrt(0.25 * 2 / n) / 2
    p0 = 0.5 - z * np.sqrt(0.25 * 2 / n) / 2
    ours = z_pvalues(p1 * n, n, p0 * n, n)
    pooled = 0.5
    zz = (p1 - p0) / np.sqrt(pooled * (1 - pooled) * 2 / n)
    ref = 2 * stats.norm.sf(np.abs(zz))
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=0)
