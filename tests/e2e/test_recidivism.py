"""policies/recidivism.yaml reproduces ProPublica's "Machine Bias" error rates by race.

Mapping (see the policy's header): fairsel's positive class is the favorable outcome (did not
reoffend) and its favorable decision is "low risk" (decile 1–4). ProPublica's positive class is
"reoffended" / "higher risk". So

* ProPublica's false positive rate, P(higher risk | did not reoffend), is fairsel's per-group
  **fnr** = FN / (TP + FN): favorable outcome, unfavorable decision;
* ProPublica's false negative rate, P(lower risk | reoffended), is fairsel's per-group **fpr**
  = FP / (FP + TN): unfavorable outcome, favorable decision.

The expected values are computed here from the raw CSV with the standard library only (no
fairsel, no pandas), and also compared with the figures ProPublica published.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.test_existing_models import run_here

COMPAS = ROOT / "data_samples" / "compas.csv"
POLICY = ROOT / "policies" / "recidivism.yaml"

#: ProPublica's methodology notebook (compas-analysis), "False positive rate" / "False negative
#: rate" for black and white defendants, in percent; the "Machine Bias" article rounds them to
#: 44.9 / 28.0 and 23.5 / 47.7 ("Labeled Higher Risk, But Didn't Re-Offend" / "Labeled Lower
#: Risk, Yet Did Re-Offend").
PUBLISHED = {"African-American": {"higher_risk_no_reoffence": 44.85, "lower_risk_reoffended": 27.99},
             "Caucasian": {"higher_risk_no_reoffence": 23.45, "lower_risk_reoffended": 47.72}}


def propublica_rates(screening_filter: bool) -> dict[str, dict[str, float]]:
    """Per race: ProPublica's FPR and FNR (high risk = decile ≥ 5), from the raw file."""
    cells: dict[str, Counter] = {}
    with open(COMPAS, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["score_text"] in ("", "N/A") or row["c_charge_degree"] == "O":
                continue
            if screening_filter:
                days = row["days_b_screening_arrest"]
                if days == "" or not -30 <= float(days) <= 30:
                    continue
            high = int(row["decile_score"]) >= 5
            reoffended = row["two_year_recid"] == "1"
            cells.setdefault(row["race"], Counter())[(high, reoffended)] += 1
    out = {}
    for race, c in cells.items():
        out[race] = {
            "n": sum(c.values()),
            "fpr": c[(True, False)] / (c[(True, False)] + c[(False, False)]),
            "fnr": c[(False, True)] / (c[(False, True)] + c[(True, True)]),
        }
    return out


def race_rates(results: Path) -> dict[str, dict]:
    res = json.loads(results.read_text())
    variant = res["variants"][0]
    attr = next(a for a in variant["attributes"] if a["attribute"] == "race")
    return res, {g["group"]: g for g in attr["groups"]}


@pytest.fixture(scope="module")
def audit_default(tmp_path_factory):
    out = tmp_path_factory.mktemp("recidivism")
    r = run_here("audit", "--policy", str(POLICY), "--output", str(out), "--quiet")
    return r, out


def test_recidivism_audit_reports_propublicas_error_rates(audit_default):
    r, out = audit_default
    assert r.exit_code == 1, r.stderr  # the error-rate gaps fail the 10-point gates
    res, groups = race_rates(out / "results.json")
    expected = propublica_rates(screening_filter=False)
    assert res["data"]["rows_used"] == 7214
    for race, exp in expected.items():
        g = groups[race]
        assert g["n"] == exp["n"]
        # ProPublica's FPR is fairsel's fnr; ProPublica's FNR is fairsel's fpr
        assert g["rates"]["fnr"]["value"] == pytest.approx(exp["fpr"], abs=1e-12), race
        assert g["rates"]["fpr"]["value"] == pytest.approx(exp["fnr"], abs=1e-12), race
    for race, pub in PUBLISHED.items():
        assert 100 * groups[race]["rates"]["fnr"]["value"] == pytest.approx(
            pub["higher_risk_no_reoffence"], abs=0.005)
        assert 100 * groups[race]["rates"]["fpr"]["value"] == pytest.approx(
            pub["lower_risk_reoffended"], abs=0.005)


def test_recidivism_rates_agree_with_fairlearn(audit_default):
    """The same per-race rates from fairlearn's MetricFrame on fairsel's own decisions."""
    import pandas as pd
    from fairlearn.metrics import MetricFrame, false_negative_rate, false_positive_rate

    _, out = audit_default
    preds = pd.read_parquet(out / "predictions.parquet")
    data = pd.read_csv(COMPAS)
    merged = preds.merge(data, left_on="row_id", right_on="id")
    assert (merged["y_pred"] == (merged["decile_score"] <= 4)).all()
    assert (merged["y_true"] == (merged["two_year_recid"] == 0)).all()
    mf = MetricFrame(metrics={"fpr": false_positive_rate, "fnr": false_negative_rate},
                     y_true=merged["y_true"], y_pred=merged["y_pred"],
                     sensitive_features=merged["race"])
    _, groups = race_rates(out / "results.json")
    for race, row in mf.by_group.iterrows():
        assert groups[race]["rates"]["fpr"]["value"] == pytest.approx(row["fpr"], abs=1e-12)
        assert groups[race]["rates"]["fnr"]["value"] == pytest.approx(row["fnr"], abs=1e-12)


def test_exclusion_steps_are_counted_in_the_report(audit_default):
    _, out = audit_default
    res = json.loads((out / "results.json").read_text())
    excluded = {e["reason"]: e["count"] for e in res["data"]["excluded"]}
    assert excluded == {
        "no valid COMPAS score (score_text missing) — ProPublica's score_valid filter": 0,
        "ordinary traffic offence (c_charge_degree 'O') — ProPublica's charge filter": 0,
    }
    summary = (out / "summary.md").read_text()
    assert "Rows used: 7214 of 7214" in summary


def test_screening_date_filter_counts_its_exclusions(tmp_path):
    """ProPublica's ±30-day filter (its regression population), enabled as the header says."""
    text = POLICY.read_text(encoding="utf-8")
    enabled = re.sub(r"(?m)^    # (- reason: \"COMPAS screening)", r"    \1", text)
    enabled = re.sub(r"(?m)^    #   (column: days_b_screening_arrest|missing: true|outside)",
                     r"      \1", enabled)
    assert enabled.count("column: days_b_screening_arrest") == 2 and enabled != text
    policy = tmp_path / "recidivism.yaml"
    policy.write_text(enabled.replace("../data_samples/", f"{ROOT / 'data_samples'}/"),
                      encoding="utf-8")
    r = run_here("audit", "--policy", str(policy), "--output", str(tmp_path / "out"), "--quiet")
    assert r.exit_code == 1, r.stderr
    res, groups = race_rates(tmp_path / "out" / "results.json")
    excluded = {e["reason"]: e["count"] for e in res["data"]["excluded"]}
    assert excluded["COMPAS screening date unknown (days_b_screening_arrest missing)"] == 307
    assert excluded["COMPAS screening more than 30 days from the arrest"] == 735
    assert res["data"]["rows_used"] == 6172
    expected = propublica_rates(screening_filter=True)
    for race, exp in expected.items():
        assert groups[race]["n"] == exp["n"]
        assert groups[race]["rates"]["fnr"]["value"] == pytest.approx(exp["fpr"], abs=1e-12)
        assert groups[race]["rates"]["fpr"]["value"] == pytest.approx(exp["fnr"], abs=1e-12)


def _eligible_gap(groups: list[dict], reference: str | None, rate: str, min_size: int) -> float:
    """A difference recomputed from the counts in results.json, with only the groups whose
    rate rests on at least ``min_size`` people (issue 9: eligibility by denominator)."""
    num = {"fnr": lambda g: g["fn"], "fpr": lambda g: g["fp"]}[rate]
    den = {"fnr": lambda g: g["tp"] + g["fn"], "fpr": lambda g: g["fp"] + g["tn"]}[rate]
    vals = {g["group"]: num(g) / den(g) for g in groups if den(g) >= min_size}
    if reference is None:
        return max(vals.values()) - min(vals.values())
    return max(abs(v - vals[reference]) for k, v in vals.items() if k != reference)


def test_no_figure_or_headline_rests_on_fewer_than_min_group_size_people(audit_default):
    """Today's headline was the FNR of 'Asian × Male': 2 of 22 people (min_group_size 30)."""
    _, out = audit_default
    res = json.loads((out / "results.json").read_text())
    v = res["variants"][0]
    m = res["min_group_size"]
    by_attr = {a["attribute"]: a for a in v["attributes"]}
    asian_male = next(g for g in by_attr["race × sex"]["groups"] if g["group"] == "Asian × Male")
    assert asian_male["fractions"]["fnr"] == [2, 22] and "fnr" in asian_male["small_rates"]
    assert asian_male["rates"]["fnr"]["value"] == pytest.approx(2 / 22)  # still reported
    for metric, rate in (("false_negative_rate_difference", "fnr"),
                         ("false_positive_rate_difference", "fpr")):
        for name, a in by_attr.items():
            assert a["fairness"][metric]["value"] == pytest.approx(
                _eligible_gap(a["groups"], a["reference"], rate, m), abs=1e-12), (metric, name)
    head = v["fairness"]["false_negative_rate_difference"]
    assert head["value"] == pytest.approx(max(a["fairness"]["false_negative_rate_difference"]
                                              ["value"] for a in by_attr.values()))
    html = (out / "report.html").read_text(encoding="utf-8")
    finding = re.search(r"the widest gap is on [^<]*", html).group(0)
    assert "Asian × Male" not in finding
    assert "(7/70)" in finding  # the rate is told with its fraction
    assert "‡ 20/22" in html  # its TPR in the group table, flagged with its fraction


def test_decile_scores_get_no_brier_or_calibration_number(audit_default, tmp_path):
    """COMPAS deciles are scores, not probabilities: no Brier score or calibration error
    anywhere, and the reason in results.json and the report."""
    _, out = audit_default
    res = json.loads((out / "results.json").read_text())
    v = res["variants"][0]
    assert v["score_type"] == "score"
    for metric in ("brier_score", "calibration_error"):
        assert v["performance"][metric] == {"value": None, "ci": None}
        assert "not probabilities" in v["unavailable"][metric]
        assert all(f["performance"][metric] is None for f in v["folds"])
        assert all(g["rates"][metric]["value"] is None
                   for a in v["attributes"] for g in a["groups"])
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Calibration not assessed" in html
    # a policy that asks for them in the leaderboard still gets no number
    text = POLICY.read_text(encoding="utf-8").replace(
        "performance: [roc_auc, accuracy, balanced_accuracy, fpr, fnr]",
        "performance: [roc_auc, brier_score, calibration_error]")
    text = text.replace("path: ../data_samples/compas.csv", f"path: {COMPAS}")
    policy = tmp_path / "recidivism.yaml"
    policy.write_text(text, encoding="utf-8")
    r = run_here("audit", "--policy", str(policy), "--output", str(tmp_path / "o"),
                 "--format", "json,markdown,html", "--quiet")
    assert r.exit_code == 1, r.stderr
    with open(tmp_path / "o" / "leaderboard.csv", newline="", encoding="utf-8") as fh:
        row = next(csv.DictReader(fh))
    assert row["brier_score"] == "" and row["calibration_error"] == ""
    assert row["roc_auc"] != ""
    summary = (tmp_path / "o" / "summary.md").read_text(encoding="utf-8")
    line = next(x for x in summary.splitlines() if "compas" in x and x.startswith("|"))
    assert line.split("|")[5].strip() == "—" and line.split("|")[6].strip() == "—"
    html = (tmp_path / "o" / "report.html").read_text(encoding="utf-8")
    assert "not computed ¶" in html
