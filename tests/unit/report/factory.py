"""Synthetic AuditResults for report tests and benchmarks (no training: counts drawn at random).

The figures are internally consistent where the report relies on it (rates from counts, the
headline as the worst attribute, gates judged on the headline), so the report reads as a real
one. ``inject=True`` names a protected column ``<img src=x onerror=alert(1)>`` with a group
``<script>alert(1)</script>``, and puts markup in the title, organisation and sign-off.
"""

from __future__ import annotations

import itertools

import numpy as np

from fairsel.results import (
    AttributeMetrics,
    AttributeSummary,
    AuditResult,
    DataSummary,
    Estimate,
    Exclusion,
    Failure,
    FoldMetrics,
    GateResult,
    GroupRow,
    GroupSize,
    Headline,
    Provenance,
    Ranking,
    ValidationSummary,
    VariantResult,
    Verdict,
)

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"

PERF = ["roc_auc", "balanced_accuracy", "f1", "brier_score"]
FAIR = ["disparate_impact", "demographic_parity_difference", "equal_opportunity_difference",
        "equalized_odds_difference"]


def _ci(rng, v, w=0.05):
    return (float(max(0.0, v - w * rng.uniform(0.5, 1.5))), float(min(1.0, v + w * rng.uniform(0.5, 1.5))))


def _rates(tp, fp, tn, fn):
    n = tp + fp + tn + fn
    r = {}
    r["selection_rate"] = (tp + fp) / n if n else None
    r["base_rate"] = (tp + fn) / n if n else None
    r["tpr"] = tp / (tp + fn) if tp + fn else None
    r["fpr"] = fp / (fp + tn) if fp + tn else None
    r["accuracy"] = (tp + tn) / n if n else None
    return r


def _disparity(values: list[float], kind: str) -> float | None:
    vals = [v for v in values if v is not None]
    if len(vals) < 2:
        return None
    hi, lo = max(vals), min(vals)
    return (lo / hi if hi > 0 else None) if kind == "ratio" else hi - lo


KIND = {"disparate_impact": ("selection_rate", "ratio"),
        "demographic_parity_difference": ("selection_rate", "difference"),
        "equal_opportunity_difference": ("tpr", "difference"),
        "equalized_odds_difference": ("tpr", "difference")}


def make_result(*, n_variants: int = 3, attributes: dict[str, list[str]] | None = None,
                intersections: bool = True, n_folds: int = 5, rows: int = 2000,
                inject: bool = False, passing: bool = True, seed: int = 0,
                paper: str = "A4", signoff: list[dict] | None = None,
                templates: str | None = None, policy_path: str = "policies/synthetic.yaml",
                small_group: bool = True, failures: bool = False) -> AuditResult:
    """A synthetic AuditResult with ``n_variants`` variants over ``attributes``."""
    rng = np.random.default_rng(seed)
    if attributes is None:
        attributes = {"sex": ["female", "male"], "age": ["under_25", "25_and_over"]}
        if inject:
            attributes = {IMG: [SCRIPT, "b & c", "plain"], "sex": ["female", "male"]}
    names = list(attributes)
    # group shares: one small group per attribute (below min_group_size) when asked
    partitions = []
    for a in names:
        k = len(attributes[a])
        w = rng.dirichlet(np.ones(k) * 3)
        partitions.append((a, [a], "attribute", attributes[a], w))
    if intersections and len(names) >= 2:
        a, b = names[0], names[1]
        labels = [f"{x} × {y}" for x, y in itertools.product(attributes[a], attributes[b])]
        wa = partitions[0][4]
        wb = partitions[1][4]
        w = np.array([x * y for x, y in itertools.product(wa, wb)])
        partitions.append((f"{a} × {b}", [a, b], "intersection", labels, w / w.sum()))

    def sizes(w):
        n = np.maximum(np.round(w * rows).astype(int), 1)
        if small_group:
            n[-1] = min(n[-1], 12)
        return n

    part_sizes = [sizes(p[4]) for p in partitions]
    data_attrs = []
    for (a, cols, kind, labels, _), n in zip(partitions, part_sizes):
        fav = [int(round(x * rng.uniform(0.4, 0.8))) for x in n]
        data_attrs.append(AttributeSummary(
            attribute=a, columns=cols, kind=kind, reference=None,
            groups=[GroupSize(group=g, n=int(c), favorable=f, favorable_rate=f / c,
                              flags=(["small"] if c < 30 else []))
                    for g, c, f in zip(labels, n, fav)]))

    variants = []
    gates = []
    gate_specs = [("disparate_impact", 0.8, None, "error"),
                  ("equal_opportunity_difference", None, 0.1, "error"),
                  ("roc_auc", 0.7, None, "warn")]
    for i in range(n_variants):
        name = f"model_{i:02d}" if n_variants > 3 else ["logreg", "forest", "gbm"][i]
        auc = float(rng.uniform(0.70, 0.80))
        perf = {m: Estimate(value=v, ci=_ci(rng, v)) for m, v in
                [("roc_auc", auc), ("balanced_accuracy", auc - 0.1), ("f1", 0.8),
                 ("brier_score", 0.2)]}
        attrs = []
        head: dict[str, tuple[float | None, str | None, dict]] = {m: (None, None, {}) for m in FAIR}
        strength = rng.uniform(0.3, 0.45) if not passing else rng.uniform(0.02, 0.08)
        for (a, cols, kind, labels, _), n in zip(partitions, part_sizes):
            groups = []
            for g, c in zip(labels, n):
                c = int(c)
                pos = int(round(c * rng.uniform(0.5, 0.75)))
                neg = c - pos
                tpr = float(np.clip(0.85 - strength * rng.uniform(0, 2), 0.05, 0.99))
                fpr = float(np.clip(0.5 - strength * rng.uniform(0, 2), 0.02, 0.95))
                tp = int(round(pos * tpr))
                fp = int(round(neg * fpr))
                tn, fn = neg - fp, pos - tp
                rr = _rates(tp, fp, tn, fn)
                groups.append(GroupRow(
                    group=g, n=c, tp=tp, fp=fp, tn=tn, fn=fn,
                    flags=(["small"] if c < 30 else []),
                    rates={k: Estimate(value=v, ci=_ci(rng, v, 0.08 if c > 30 else 0.2)
                                       if v is not None else None)
                           for k, v in rr.items()}))
            eligible = [g.group for g in groups if g.n >= 30]
            fairness = {}
            for m in FAIR:
                rate, kind_ = KIND[m]
                v = _disparity([g.rates[rate].value for g in groups if g.group in eligible], kind_)
                fairness[m] = Estimate(value=v, ci=_ci(rng, v) if v is not None else None)
                worst, where, by = head[m]
                by[a] = fairness[m]
                if v is not None and (worst is None or (v < worst if kind_ == "ratio" else v > worst)):
                    head[m] = (v, a, by)
                else:
                    head[m] = (worst, where, by)
            attrs.append(AttributeMetrics(attribute=a, columns=cols, kind=kind, reference=None,
                                          reference_rule="fairlearn_min_max", groups=groups,
                                          eligible_groups=eligible, fairness=fairness))
        fair = {m: Headline(value=v, ci=_ci(rng, v) if v is not None else None, attribute=where,
                            by_attribute=by) for m, (v, where, by) in head.items()}
        folds = [FoldMetrics(fold=f, n=rows // n_folds,
                             performance={m: float(perf[m].value + rng.normal(0, 0.02)) for m in PERF},
                             fairness={m: {a: (float(fair[m].by_attribute[a].value + rng.normal(0, 0.03))
                                               if fair[m].by_attribute[a].value is not None else None)
                                           for a in fair[m].by_attribute} for m in FAIR})
                 for f in range(n_folds)]
        vg = []
        for gi, (metric, lo, hi, sev) in enumerate(gate_specs):
            if metric in fair:
                obs, ci, where = fair[metric].value, fair[metric].ci, fair[metric].attribute
            else:
                obs, ci, where = perf[metric].value, perf[metric].ci, None
            gap = 0.0
            if obs is None:
                status = "INSUFFICIENT"
                gap = None
            else:
                if lo is not None and obs < lo:
                    gap = lo - obs
                if hi is not None and obs > hi:
                    gap = obs - hi
                status = "PASS" if gap == 0 else ("FAIL" if sev == "error" else "WARN")
            by_attr = {a: status for a in fair[metric].by_attribute} if metric in fair else {}
            vg.append(GateResult(gate=gi, metric=metric, variant=name, min=lo, max=hi, severity=sev,
                                 decision="point", status=status, observed=obs, ci=ci,
                                 attribute=where, by_attribute=by_attr, gap=gap,
                                 message=f"{metric} = {obs}"))
        gates += vg
        err = [g.status for g in vg if g.severity == "error"]
        status = ("FAIL" if "FAIL" in err else "INSUFFICIENT" if "INSUFFICIENT" in err
                  else "WARN" if any(g.status == "WARN" for g in vg) else "PASS")
        variants.append(VariantResult(
            name=name, candidate=name, kind="sklearn", status=status, performance=perf,
            fairness=fair, attributes=attrs, folds=folds))
    passing_v = sorted([v for v in variants if v.status in ("PASS", "WARN")],
                       key=lambda v: -v.performance["roc_auc"].value)
    rest = sorted([v for v in variants if v.status not in ("PASS", "WARN")],
                  key=lambda v: sum(g.gap or 0 for g in gates if g.variant == v.name))
    order = [v.name for v in passing_v + rest]
    selected = passing_v[0].name if passing_v else None
    variants = [v.model_copy(update={"rank": order.index(v.name) + 1}) for v in variants]
    fail_list = []
    if failures:
        fail_list.append(Failure(candidate="broken", variant="broken", stage="fit", fold=2,
                                 message="ValueError: Input contains NaN " + (SCRIPT if inject else "")))
    title = "Synthetic audit" + (f" {SCRIPT}" if inject else "")
    org = "Acme Bank" + (f" {IMG}" if inject else "")
    policy = {
        "version": 1, "name": "synthetic", "seed": 1,
        "gates": [{"metric": m, "min": lo, "max": hi, "severity": s, "attributes": None}
                  for m, lo, hi, s in gate_specs],
        "decision": "point", "intersections": intersections,
        "report": {"title": title, "output": None, "formats": ["html", "pdf"], "paper": paper,
                   "organisation": org, "system": "Credit scoring v2" + (f" {IMG}" if inject else ""),
                   "signoff": signoff if signoff is not None else
                   [{"role": "Model owner", "name": "A. Owner" + (f" {SCRIPT}" if inject else "")},
                    {"role": "Independent validator", "name": None},
                    {"role": "Head of risk", "name": "C. Chief"}],
                   "templates": templates},
    }
    policy_text = "version: 1\nname: synthetic\n# " + (SCRIPT if inject else "comment") + "\n"
    excluded = [Exclusion(reason="age outside [18, 100]" + (f" {IMG}" if inject else ""), count=7)]
    return AuditResult(
        name="synthetic", title=title, description="A synthetic audit for report tests.",
        verdict=Verdict(status=("PASS" if selected else "FAIL"), exit_code=0 if selected else 1,
                        selected=selected,
                        message=(f"'{selected}' is selected and passes every error-severity gate"
                                 if selected else "no variant passes every error-severity gate")),
        policy=policy, policy_text=policy_text,
        data=DataSummary(path="data/synthetic.csv", format="csv", rows_read=rows + 7, rows_used=rows,
                         excluded=excluded, target="approved", favorable="yes", favorable_rate=0.6,
                         features=["income", "debt"] + ([IMG] if inject else []),
                         protected_as_features=[], attributes=data_attrs, cluster_column=None,
                         n_clusters=None),
        validation=ValidationSummary(scheme="stratified_kfold", folds=n_folds, groups=None,
                                     fold_sizes=[rows // n_folds] * n_folds, seed=1),
        metrics={"performance": PERF, "fairness": FAIR},
        confidence={"method": "bootstrap", "level": 0.95, "resamples": 200},
        min_group_size=30, variants=variants, gates=gates, failures=fail_list,
        ranking=Ranking(selected=selected, order=order, objective="roc_auc", tolerance=0.01,
                        fairness_tiebreak="disparate_impact",
                        reasons=([f"'{selected}' has the best roc_auc"] if selected
                                 else ["no variant passes every error-severity gate"])),
        provenance=Provenance(policy_path=policy_path, policy_sha256="a" * 64, data_sha256="b" * 64,
                              seed=1, fairsel_version="0.1.0", python="3.11.7", platform="Linux",
                              packages={"numpy": "2.4"}, started="2026-01-02T03:04:05Z",
                              finished="2026-01-02T03:04:09Z", duration_seconds=4.0,
                              timings={"total": 4.0}),
    )


def many_groups(n_variants: int = 20) -> AuditResult:
    """The benchmark's large case: 20 variants; 10 × 5 groups and their 50 intersections."""
    return make_result(
        n_variants=n_variants,
        attributes={"region": [f"region_{i:02d}" for i in range(10)],
                    "age_band": ["18-25", "26-35", "36-50", "51-65", "over_65"]},
        rows=60_000, seed=3, small_group=True, passing=True)
