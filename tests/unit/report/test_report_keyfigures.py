"""Page 1 and the method are decision-grade (issue 12): the key figures on the cover, the
model-card fields of the policy, and each candidate's decision threshold in the method — on
every shipped example (the golden results.json, rendered without retraining)."""

from __future__ import annotations

import re

import pytest

from fairsel.gates import gate_summary
from fairsel.policy.loader import parse_policy
from fairsel.report.html import render_html
from tests.unit.report.test_report_statements import _golden, _text

EXAMPLES = ("branches", "champion", "lending", "mitigation", "recidivism")


def _part(html: str, start: str, end: str) -> str:
    """The text of the HTML between the first ``start`` and the next ``end``."""
    i = html.index(start)
    return _text(html[i:html.index(end, i)]).replace("\u200b", "")  # breakable names


def _cover(html: str) -> str:
    return _part(html, '<section class="cover"', "</section>")


def _focus(result):
    """The selected variant, else the first evaluated variant in the ranking's order."""
    name = result.ranking.selected or next(
        n for n in result.ranking.order if result.variant(n).status != "ERROR")
    return result.variant(name)


@pytest.mark.parametrize("name", EXAMPLES)
def test_key_figures_on_page_one_of_every_example(name: str):
    result = _golden(name)
    html = render_html(result, with_charts=False)
    cover = _cover(html)
    kf = _part(html, '<div class="keyfigures"', "</div>\n")
    assert "Key figures" in cover and kf in cover
    focus = _focus(result)
    if result.ranking.selected:
        assert f"Figures of the selected variant '{focus.name}'" in kf
        assert "No variant is selected" not in kf
    else:
        assert (f"No variant is selected. The figures below are those of the best-ranked "
                f"variant, '{focus.name}'") in kf
        assert "not selected and may not be deployed" in kf
    # the headline performance, with its interval
    perf = focus.performance[result.ranking.objective]
    assert f"{result.ranking.objective} {perf.value:.3f} [{perf.ci[0]:.3f}, {perf.ci[1]:.3f}]" in kf
    # every gate of the variant, its value to four decimals
    gates = [g for g in result.gates if g.variant == focus.name]
    assert gates
    for g in gates:
        assert re.search(rf"G{g.gate + 1} {re.escape(g.metric)}.*?{g.observed:.4f}", kf), g
    # every warning and failure, every interval that straddles its threshold
    for g in gates:
        if g.status == "WARN":
            assert f"Warning: {gate_summary(g)}." in kf
        elif g.status != "PASS":
            assert f"Not passing: {gate_summary(g)}: {g.status}." in kf
        thr = next((t for t in (g.min, g.max) if t is not None), None)
        if g.ci and g.ci[0] < thr < g.ci[1]:
            assert (f"Uncertain: G{g.gate + 1} {g.metric}" + (f" on {g.attribute}" if g.attribute
                                                              else "")
                    + f": the 95% interval [{g.ci[0]:.4f}, {g.ci[1]:.4f}] contains the "
                      f"threshold {thr:g}") in kf
        else:
            assert f"Uncertain: G{g.gate + 1} {g.metric}" not in kf


@pytest.mark.parametrize("name", EXAMPLES)
def test_key_figures_show_the_worst_disparity_of_every_attribute(name: str):
    result = _golden(name)
    kf = _part(render_html(result, with_charts=False), '<div class="keyfigures"', "</div>\n")
    focus = _focus(result)
    metric = next(g["metric"] for g in result.policy["gates"]
                  if g["metric"] in focus.fairness)
    head = focus.fairness[metric]
    assert len(head.by_attribute) >= 2
    for attribute, e in head.by_attribute.items():
        assert f"Disparity on {attribute} {metric} {e.value:.3f} [" in kf
    assert f"Disparity on {head.attribute} {metric} {head.value:.3f}" in kf
    assert kf.count("(the worst)") == 1


def test_fairer_variants_passed_over_are_named_with_the_real_reason():
    kf = _part(render_html(_golden("mitigation"), with_charts=False), '<div class="keyfigures"',
               "</div>\n")
    assert ("Fairer but passed over: 'logreg+threshold[equalized_odds]' (disparate_impact "
            "0.918 against 0.598): it decides using the protected attribute, which the policy "
            "forbids") in kf
    assert ("'logreg+reductions[demographic_parity]' (disparate_impact 0.699 against 0.598): "
            "its roc_auc (0.6843) is more than 0.02 from the best") in kf
    # a less fair variant passed over is not listed as fairer
    assert "Fairer but passed over: 'logreg+reweighing'" not in kf
    lending = _part(render_html(_golden("lending"), with_charts=False), '<div class="keyfigures"',
                    "</div>\n")
    assert "No variant fairer by disparate_impact was passed over." in lending
    assert "Warning: gate 5 proxy_all_auc = 0.8004 on age, required ≤ 0.8" in lending


CARD = {"intended_use": "Pre-screening <b>by</b> loan officers & analysts",
        "out_of_scope": "Mortgages; final automated decisions",
        "owner": "Credit Risk Analytics", "data_period": "Applications 2023-01 to 2024-06"}


@pytest.mark.parametrize("name", EXAMPLES)
def test_model_card_fields_on_the_cover_only_when_set_and_escaped(name: str):
    result = _golden(name)
    plain = _cover(render_html(result, with_charts=False))
    for label in ("Intended use", "Out of scope", "Model owner", "Data period"):
        assert label not in plain
    policy = dict(result.policy)
    policy["report"] = {**(policy.get("report") or {}), **CARD, "owner": "  "}
    html = render_html(result.model_copy(update={"policy": policy}), with_charts=False)
    raw = html[html.index('<section class="cover"'):html.index("</section>")]
    assert "Pre-screening &lt;b&gt;by&lt;/b&gt; loan officers &amp; analysts" in raw
    assert "<b>by</b>" not in raw
    cover = _cover(html)
    assert "Intended use Pre-screening <b>by</b> loan officers & analysts" in cover
    assert "Out of scope Mortgages; final automated decisions" in cover
    assert "Data period Applications 2023-01 to 2024-06" in cover
    assert "Model owner" not in cover  # blank: not shown


def test_model_card_fields_are_policy_keys():
    text = ("version: 1\nname: p\ndata: {path: d.csv, target: y, favorable: 1}\n"
            "protected: [{column: sex}]\ncandidates: [{name: m, kind: sklearn, "
            "estimator: logistic_regression}]\nreport:\n"
            + "".join(f"  {k}: \"{v}\"\n" for k, v in CARD.items()))
    report = parse_policy(text, "p.yaml").report
    assert (report.intended_use, report.out_of_scope, report.owner, report.data_period) == (
        CARD["intended_use"], CARD["out_of_scope"], CARD["owner"], CARD["data_period"])
    plain = parse_policy(text.split("report:")[0], "p.yaml").report
    assert (plain.intended_use, plain.out_of_scope, plain.owner, plain.data_period) == (
        None, None, None, None)


@pytest.mark.parametrize("name", EXAMPLES)
def test_method_states_each_candidates_decision_threshold(name: str):
    result = _golden(name)
    method = _part(render_html(result, with_charts=False), '<section id="method"', "</section>")
    assert "Decision threshold" in method
    for c in result.policy["candidates"]:
        if c["kind"] == "predictions" and c["higher_is_favorable"] is False:
            rule = f"'{c['name']}': favorable decision when {c['score_column']} < {c['threshold']:g}"
        elif c["kind"] == "predictions":
            rule = f"'{c['name']}': favorable decision when {c['score_column']} ≥ {c['threshold']:g}"
        else:
            rule = f"'{c['name']}': favorable decision when "
            assert f"≥ {c['threshold']:g}" in method[method.index(rule):][:120]
        assert rule in method


def test_decision_thresholds_of_the_examples_in_words():
    recid = _part(render_html(_golden("recidivism"), with_charts=False),
                  '<section id="method"', "</section>")
    assert ("'compas_decile': favorable decision when decile_score < 5 (strictly: a score of 5 "
            "is unfavorable") in recid
    lending = _part(render_html(_golden("lending"), with_charts=False),
                    '<section id="method"', "</section>")
    assert ("'logreg': favorable decision when the predicted probability of the favorable "
            "outcome ≥ 0.5") in lending
    mit = _part(render_html(_golden("mitigation"), with_charts=False),
                '<section id="method"', "</section>")
    assert "Variants made by a post-processing mitigation ('logreg+threshold[demographic_parity]'" \
        in mit and "'gbm+reweighing'" not in mit.split("Decision threshold")[1][:2000]


def test_key_figures_when_no_variant_could_be_evaluated():
    from fairsel.report.keyfigures_view import keyfigures_view

    result = _golden("branches")
    broken = result.model_copy(update={
        "variants": [v.model_copy(update={"status": "ERROR"}) for v in result.variants]})
    view = keyfigures_view(broken)
    assert view["present"] is False
    assert view["note"] == "No variant could be evaluated: there are no figures to show."
    kf = _part(render_html(broken, with_charts=False), '<div class="keyfigures"', "</div>\n")
    assert "No variant could be evaluated" in kf and "Performance" not in kf


def test_a_passed_over_name_without_its_variant_is_left_out():
    from fairsel.report.keyfigures_view import keyfigures_view

    result = _golden("mitigation")
    passed = dict(result.ranking.passed_over)
    passed["ghost"] = passed["logreg+threshold[equalized_odds]"]
    odd = result.model_copy(update={"ranking": result.ranking.model_copy(
        update={"passed_over": passed})})
    names = [f["name"] for f in keyfigures_view(odd)["fairer"]]
    assert "ghost" not in names and names[0] == "logreg+threshold[equalized_odds]"
