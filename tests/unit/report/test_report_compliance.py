"""The compliance section (policy key ``compliance``), from tiny audits: its figures agree with
the engine's group counts, and the report renders them from results.json alone."""

from __future__ import annotations

from markupsafe import escape

import pytest

from fairsel.audit import run_audit
from fairsel.policy import load_policy
from fairsel.report.compliance_view import NOT_STATED, compliance_view
from fairsel.report.context import report_sections
from fairsel.report.html import render_html
from fairsel.results import AuditResult
from tests.unit.test_registries import tiny_policy, write_tiny_data


def _audit(folder, extra: str, candidates: str | None = None):
    write_tiny_data(folder)
    kw = {"candidates": candidates} if candidates else {}
    path = tiny_policy(folder, extra="proxies: false\n" + extra, **kw)
    return run_audit(load_policy(path)).result


@pytest.fixture(scope="module")
def hiring(tmp_path_factory):
    return _audit(tmp_path_factory.mktemp("hiring"), (
        "compliance: hiring_ll144\n"
        "compliance_info: {audit_date: '2026-01-31', data_kind: test, "
        "test_data_reason: no history yet}\n"))


@pytest.fixture(scope="module")
def lending(tmp_path_factory):
    return _audit(tmp_path_factory.mktemp("lending"), (
        "compliance: lending\nmitigation: [{kind: reweighing}]\n"
        "ranking: {objective: roc_auc, tolerance: 0.2}\n"),
        candidates="  - {name: logreg, kind: sklearn, estimator: logistic_regression}\n"
                   "  - {name: tree, kind: sklearn, estimator: decision_tree, "
                   "params: {max_depth: 2}}")


@pytest.fixture(scope="module")
def generic(tmp_path_factory):
    return _audit(tmp_path_factory.mktemp("generic"), "compliance: generic\n")


def test_ll144_selection_counts_are_the_engines_group_counts(hiring):
    s = hiring.compliance.ll144
    v = hiring.variant(s.variant)
    assert [t.attribute for t in s.selection] == [a.attribute for a in v.attributes]
    for table, attr in zip(s.selection, v.attributes):
        assert [(r.group, r.n, r.selected) for r in table.rows] == \
            [(g.group, g.n, g.tp + g.fp) for g in attr.groups]
        compared = [r for r in table.rows if r.impact_ratio is not None]
        top = max(r.rate for r in compared)
        assert table.rows[[r.group for r in table.rows].index(table.most_selected)].rate == top
        for r in compared:
            assert r.impact_ratio == pytest.approx(r.rate / top)
    # a trained model scores: the scoring-rate tables exist, one per attribute
    assert len(s.scoring) == len(s.selection) and s.median_score is not None
    assert sum(r.n for r in s.scoring[0].rows) == s.rows == 400


def test_ll144_section_renders_with_the_stated_facts(hiring):
    view = compliance_view(hiring)
    info = dict(view["info"])
    # a stated date other than the run's is labelled as the policy's (review8)
    assert info["Audit date"] == ("2026-01-31 (as the policy states it; this audit ran on "
                                  f"{hiring.provenance.started[:10]})")
    assert info["Historical or test data"] == "test data: no history yet"
    assert info["Data period"] == NOT_STATED and info["Distribution date"] == NOT_STATED
    assert [g["metric"] for g in view["gates"]] == ["disparate_impact"]
    sections = [sid for sid, _ in report_sections(hiring)]
    assert sections[sections.index("summary") + 1] == "compliance"
    html = render_html(hiring, with_charts=False)
    assert '<section id="compliance"' in html
    assert "Bias audit summary (NYC Local Law 144)" in html
    assert "Selection rates by sex" in html and "Scoring rates by sex" in html
    assert "unlawful in US employment testing" in html


def test_the_section_is_a_function_of_results_json(hiring):
    again = AuditResult.model_validate_json(hiring.model_dump_json())
    assert compliance_view(again) == compliance_view(hiring)


def test_audit_date_defaults_to_the_run_and_says_so(generic):
    info = dict(compliance_view(generic)["info"])
    assert info["Audit date"] == f"{generic.provenance.started[:10]} (the date the audit ran)"
    assert info["Data source"] == NOT_STATED


def test_lending_air_and_alternatives(lending):
    review = lending.compliance.lending
    assert review.variant == lending.ranking.selected
    v = lending.variant(review.variant)
    for table, attr in zip(review.tables, v.attributes):
        rates = {g.group: g.rates["selection_rate"].value for g in attr.groups}
        for r in table.rows:
            if r.air is not None:
                assert r.air == pytest.approx(rates[r.group] / rates[table.reference])
                assert r.below_four_fifths == (r.air < 0.8)
    chosen = [a for a in review.alternatives if a.selected]
    assert [a.variant for a in chosen] == [lending.ranking.selected]
    assert chosen[0].why == "; ".join(lending.ranking.reasons)
    for a in review.alternatives:
        if not a.selected:
            assert a.why == lending.ranking.passed_over[a.variant].text
    html = render_html(lending, with_charts=False)
    assert "Less discriminatory alternatives" in html and "Adverse impact ratios" in html
    assert str(escape(chosen[0].why)) in html


def test_generic_shows_its_gates_with_their_outcome(generic):
    view = compliance_view(generic)
    assert [g["id"] for g in view["gates"]] == ["G1", "G2", "G3", "G4"]
    assert view["gates"][3]["metric"] == "balanced_accuracy ÷ overall"
    by_gate = {g.gate: g.status for g in generic.gates if g.variant == view["variant"]}
    assert [g["status"] for g in view["gates"]] == [by_gate[i] for i in range(4)]
    assert view["ll144"] is None and view["lending"] is None and view["refusal"] == ""
    if generic.ranking.selected is None:  # the generic gates are strict on 400 rows
        assert view["variant"] == generic.ranking.order[0]
        assert view["why_variant"] == "the best-ranked variant (none was selected)"
    assert generic.compliance.template_gates == [0, 1, 2, 3]


def test_no_template_no_section(tmp_path):
    result = _audit(tmp_path, "")
    assert result.compliance is None and compliance_view(result) is None
    assert "compliance" not in [sid for sid, _ in report_sections(result)]
    assert '<section id="compliance"' not in render_html(result, with_charts=False)


def test_ll144_view_states_exclusions_unknowns_and_small_shares():
    import numpy as np

    from fairsel.analysis.ll144 import ll144_summary
    from fairsel.partition import Partition
    from fairsel.report.compliance_view import ll144_view

    part = Partition(name="race", columns=("race",), kind="attribute",
                     labels=("a", "b", "unknown"), atom_to_group=np.arange(3))
    atoms = np.repeat(np.arange(3), [3979, 1, 20])  # b: 1 of 4,000 rows
    pred = (np.arange(4000) % 2).astype(np.int8)
    view = ll144_view(ll144_summary("m", pred.astype(float), pred, [part], atoms,
                                    min_share=0.02, scores=False))
    rows = {r["group"]: r for r in view["selection"][0]["rows"]}
    assert rows["b"]["share"] == "0.03%" and rows["b"]["ratio"] == "—"
    assert rows["b"]["note"] == "under 2%: excluded" and rows["b"]["muted"]
    assert rows["unknown"]["note"] == "unknown: not compared"
    assert rows["a"]["note"] == "most selected" and rows["a"]["ratio"] == "1.000"
    assert view["excluded"] == ["b (race: n = 1, 0.03% of the data)"]
    assert view["unknown"] == ["race: 20"] and view["median"] is None


def test_relative_gate_is_labelled_as_a_ratio_wherever_its_rule_is_printed(generic):
    """G4 of the generic template (balanced_accuracy ≥ 0.95 × overall) judges a ratio; the
    leaderboard legend, the method's gate table, the gates section, each candidate's gate
    table and the key figures name it as one, never as the metric alone."""
    import re

    from fairsel.report.candidates_view import candidates_view
    from fairsel.report.facts import gate_columns
    from fairsel.report.fmt import gate_rule
    from fairsel.report.gates_view import gates_view
    from fairsel.report.keyfigures_view import keyfigures_view
    from fairsel.report.method_view import method_view

    assert gate_rule("balanced_accuracy", 0.95, None, True) == "balanced_accuracy ÷ overall ≥ 0.95"
    assert gate_rule("disparate_impact", 0.8, None) == "disparate_impact ≥ 0.8"
    ratio = "balanced_accuracy ÷ overall"
    assert gate_columns(generic)[3]["rule"] == ratio + " ≥ 0.95"
    assert all("÷" not in c["rule"] for c in gate_columns(generic)[:3])
    assert [g["metric"] for g in method_view(generic)["gates"]][3] == ratio
    assert [g for g in gates_view(generic) if g["index"] == 3][0]["rule"] == ratio + " ≥ 0.95"
    for c in candidates_view(generic, with_charts=False):
        metrics = [g["metric"] for g in c["gates"]]
        assert ratio in metrics and "balanced_accuracy" not in metrics
    kf = keyfigures_view(generic)
    assert kf["gates"][3]["metric"] == ratio
    html = re.sub(r"<[^>]+>|\u200b", "", render_html(generic, with_charts=False))
    assert f"G4 = {ratio} ≥ 0.95" in html  # the leaderboard's legend
    assert f"G4: {ratio} ≥ 0.95" in html   # the gates section's caption
    assert "G4 = balanced_accuracy ≥" not in html and "G4: balanced_accuracy ≥" not in html
