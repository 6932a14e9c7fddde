"""Page 1 and the method are decision-grade (issue 12): the key figures on the cover, the
model-card fields of the policy, and each candidate's decision threshold in the method — on
every shipped example (the golden results.json, rendered without retraining)."""

from __future__ import annotations

import re

import pytest

from fairsel.gates import gate_summary
from fairsel.policy.loader import parse_policy
from fairsel.report.context import report_id
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
    assert (f"Report id {report_id(result)} (audit {name}), generated 2026-01-01 00:00:01 UTC "
            f"by fairsel {result.provenance.fairsel_version}; policy sha256 "
            f"{result.provenance.policy_sha256[:16]}…, data sha256 "
            f"{result.provenance.data_sha256[:16]}… (in full under Document control)") \
        in re.sub(r" ([,)])", r"\1", cover)  # where a tag ends before a comma
    focus = _focus(result)
    if result.ranking.selected:
        assert (f"Key figures: the selected variant '{focus.name}' ({focus.status}, rank "
                f"{focus.rank})") in kf
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
            assert f"{g.status}: {gate_summary(g)}." in kf
        thr = next((t for t in (g.min, g.max) if t is not None), None)
        item = (f"G{g.gate + 1} {g.metric}" + (f" on {g.attribute}" if g.attribute else "")
                + f": [{g.ci[0]:.4f}, {g.ci[1]:.4f}] contains {thr:g}") if g.ci else None
        if g.ci and g.ci[0] < thr < g.ci[1]:
            assert item in kf.split("◆ Uncertain (the 95% interval contains the threshold; "
                                    "gates are judged on the point estimate): ")[1]
        elif item:
            assert item not in kf


@pytest.mark.parametrize("name", EXAMPLES)
def test_key_figures_show_the_worst_disparity_of_every_attribute(name: str):
    result = _golden(name)
    kf = _part(render_html(result, with_charts=False), '<div class="keyfigures"', "</div>\n")
    focus = _focus(result)
    metric = next(g["metric"] for g in result.policy["gates"]
                  if g["metric"] in focus.fairness)
    head = focus.fairness[metric]
    assert len(head.by_attribute) >= 2
    row = kf.split(f"Disparity per attribute {metric} on ")[1].split("Gate Metric")[0]
    for attribute, e in head.by_attribute.items():
        assert f"{attribute} {e.value:.3f} [{e.ci[0]:.3f}, {e.ci[1]:.3f}]" in row
    worst = head.by_attribute[head.attribute]
    assert f"{head.attribute} {worst.value:.3f} [{worst.ci[0]:.3f}, {worst.ci[1]:.3f}] (the worst)" \
        in row and row.count("(the worst)") == 1
    # The headline (worst over attributes) has its own interval, over every attribute's pairs.
    assert f"worst over attributes {head.value:.3f} [{head.ci[0]:.3f}, {head.ci[1]:.3f}]" in row


def test_fairer_variants_passed_over_are_named_with_the_real_reason():
    kf = _part(render_html(_golden("mitigation"), with_charts=False), '<div class="keyfigures"',
               "</div>\n")
    lead = "Fairer by disparate_impact than 'gbm+reweighing' (0.598) but passed over: "
    assert (lead + "'logreg+threshold[equalized_odds]' (0.918), 'gbm+threshold[equalized_odds]' "
            "(0.913), 'logreg+threshold[demographic_parity]' (0.895), "
            "'gbm+threshold[demographic_parity]' (0.876), "
            "'logreg+postprocessing[reject_option]' (0.648) — because each decides using the "
            "protected attribute, which the policy forbids") in kf
    assert ("allow_group_specific_decisions: false); 'logreg+reductions[demographic_parity]' "
            "(0.699) — because its roc_auc (0.6843) is more than 0.02 from the best roc_auc of a "
            "selectable variant ('logreg+reweighing', 0.7234).") in kf
    assert kf.count("Fairer by") == 1
    # a less fair variant passed over is not listed as fairer
    assert "'logreg+reweighing' (" not in kf and "'gbm' (" not in kf
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
    policy = dict(result.policy)
    bare = {k: v for k, v in (policy.get("report") or {}).items() if k not in CARD}
    result = result.model_copy(update={"policy": {**policy, "report": bare}})
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


def test_shipped_lending_and_hiring_examples_fill_the_model_card():
    for name in ("lending", "hiring"):
        cover = _cover(render_html(_golden(name), with_charts=False))
        for label in ("Intended use", "Out of scope", "Model owner", "Data period"):
            assert label in cover, (name, label)


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
    fairer = keyfigures_view(odd)["fairer"]
    assert "ghost" not in str(fairer)
    assert fairer[0]["variants"].startswith("'logreg+threshold[equalized_odds]' (0.918), ")


def test_summary_uncertain_finding_uses_the_key_figures_check():
    """The summary's "uncertain" finding names every gate the key figures mark ◆ — a gate
    whose interval straddles its max (not only its min), and more than the first one."""
    from fairsel.report.facts import straddles
    from fairsel.report.keyfigures_view import keyfigures_view
    from fairsel.report.summary_view import _findings
    from tests.unit.report.factory import make_result

    base = make_result(n_variants=2)
    focus = base.ranking.selected or base.ranking.order[0]
    gates, k = [], 0
    for g in base.gates:
        if g.variant == focus and k == 0:  # straddles its max only (min far below)
            g = g.model_copy(update={"min": 0.2, "max": 0.9, "observed": 0.88,
                                     "ci": (0.85, 0.95)})
            k += 1
        elif g.variant == focus and k == 1:  # straddles its min
            g = g.model_copy(update={"min": 0.8, "max": None, "observed": 0.81,
                                     "ci": (0.75, 0.86)})
            k += 1
        elif g.variant == focus:  # clear of its thresholds
            g = g.model_copy(update={"ci": None})
        gates.append(g)
    result = base.model_copy(update={"gates": gates})
    mine = [g for g in result.gates if g.variant == focus]
    marked = [f"G{g.gate + 1}" for g in mine if straddles(g) is not None]
    assert len(marked) == 2
    kf = keyfigures_view(result)
    assert [r["label"] for r in kf["gates"] if r["straddles"]] == marked
    text = " ".join(_findings(result, result.variant(focus)))
    assert "intervals of 2 gates" in text
    for label in marked:
        assert f"{label} " in text
    assert "threshold 0.9" in text and "threshold 0.8" in text
