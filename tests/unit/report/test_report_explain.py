"""The "Why the model decides as it does" section and summary.md's explanation line,
rendered from results alone."""

from __future__ import annotations

from html import escape

import pytest

from fairsel.audit import run_audit
from fairsel.policy import load_policy
from fairsel.report.context import report_sections
from fairsel.report.explain_view import (
    EXPLAIN_SECTION,
    comparable,
    explain_view,
    summary_line,
)
from fairsel.report.html import render_html
from fairsel.report.machine import summary_markdown
from fairsel.results import Analysis
from tests.unit.test_registries import tiny_policy, write_tiny_data


@pytest.fixture(scope="module")
def explained(tmp_path_factory):
    """A tiny audit with LightGBM and logistic regression explained, purpose a declared
    proxy and sex a feature (so reasons can be flagged)."""
    folder = tmp_path_factory.mktemp("explain")
    write_tiny_data(folder)
    cands = ("  - {name: gbm, kind: lightgbm, params: {n_estimators: 30, num_leaves: 7}}\n"
             "  - {name: logreg, kind: sklearn, estimator: logistic_regression}")
    path = tiny_policy(folder, candidates=cands, extra="proxies: false",
                       features="[income, age_years, housing, purpose, sex]")
    path.write_text(path.read_text().replace("features: [income, age_years, housing, purpose, "
                                             "sex]}", "features: [income, age_years, housing, "
                                             "purpose, sex], proxies: [purpose]}"))
    return run_audit(load_policy(path)).result


def test_section_shows_every_explained_variant_with_its_figures(explained):
    e = explained.analysis.explanations
    view = explain_view(explained)
    assert [v["variant"] for v in view["explained"]] == [x.variant for x in e.explained]
    first, x = view["explained"][0], e.explained[0]
    assert [r["feature"] for r in first["importance"]] == list(x.importance)[:10]
    assert first["importance_chart"] is not None and first["group_charts"]
    # one waterfall per attribute (not per intersection), for its widest gap
    assert [g["title"].rsplit("(", 1)[1] for g in first["gaps"]] == ["region)", "sex)"]
    html = render_html(explained, with_charts=True)
    assert '<section id="explain"' in html and html.count('aria-label="Disparity attribution') \
        == sum(len(v["gaps"]) for v in view["explained"])
    for v in view["explained"]:
        assert f"<h3>{escape(v['variant'])}</h3>" in html
    assert EXPLAIN_SECTION in report_sections(explained)


def test_protected_and_proxy_reasons_are_flagged(explained):
    x = explained.analysis.explanations.explained[0]
    flags = {c.feature: c.flag for r in x.reasons for c in r.reasons if c.flag}
    assert flags.get("sex") == "protected"  # sex drives the tiny data's outcome
    assert set(flags) <= {"sex", "purpose"} and set(flags.values()) <= {"protected", "proxy"}
    rows = explain_view(explained)["explained"][0]["reasons"]
    assert any(r["has_flag"] and "sex (protected" in r["flagged"] for r in rows)


def test_summary_names_the_widest_gap(explained):
    line = summary_line(explained)
    x = explained.analysis.explanations.explained[0]
    shown = {a.attribute for a in explained.data.attributes if a.kind == "attribute"}
    d = max(comparable(x, shown, explained.min_group_size), key=lambda d: abs(d.gap))
    assert line.startswith(f"{x.variant}: the widest gap") and d.group in line
    assert next(iter(d.contributions)) in line
    assert any(ln.startswith("Explanations: ") for ln in summary_markdown(explained).splitlines())


def test_gaps_between_groups_explained_on_few_rows_are_never_shown(explained):
    """A group explained on fewer than min_group_size rows gives no headline gap (reviewer:
    hiring's summary named a gap between groups of 9 and 1 rows)."""
    e = explained.analysis.explanations
    x = e.explained[0]
    d = max((d for d in x.disparities if d.attribute in ("sex", "region")),
            key=lambda d: abs(d.gap))
    # make that gap's group tiny and its gap the widest of all
    groups = [a.model_copy(update={"groups": [
        g.model_copy(update={"rows": 3}) if (a.attribute, g.group) == (d.attribute, d.group)
        else g for g in a.groups]}) for a in x.groups]
    widest = d.model_copy(update={"gap": 50.0})
    x2 = x.model_copy(update={"groups": groups, "disparities": [
        widest if o is d else o for o in x.disparities]})
    result = explained.model_copy(update={"analysis": explained.analysis.model_copy(update={
        "explanations": e.model_copy(update={"explained": [x2, *e.explained[1:]]})})})
    line = summary_line(result)
    assert line is None or f"{d.group} vs {d.reference}" not in line
    gaps = explain_view(result, with_charts=False)["explained"][0]["gaps"]
    assert not any(g["group"] == d.group and g["reference"] == d.reference for g in gaps)
    assert summary_line(explained) is not None  # the untouched audit still has its line


def test_no_section_without_explanations(explained):
    bare = explained.model_copy(update={"analysis": Analysis(proxies=None, explanations=None)})
    assert explain_view(bare) is None and summary_line(bare) is None
    assert EXPLAIN_SECTION not in report_sections(bare)
    assert '<section id="explain"' not in render_html(bare, with_charts=False)


def test_feature_names_from_the_data_are_text_in_tables_and_charts(explained):
    """A column named like markup or TeX is shown as text, never run or typeset."""
    import json

    hostile = "<script>alert(1)</script>$x^2$"
    data = json.loads(explained.model_dump_json())
    text = json.dumps(data["analysis"]["explanations"]).replace('"income"', json.dumps(hostile))
    data["analysis"]["explanations"] = json.loads(text)
    result = type(explained).model_validate(data)
    x = result.analysis.explanations.explained[0]
    assert hostile in x.importance
    html = render_html(result, with_charts=True)
    assert "<script>alert(1)" not in html
    assert escape(hostile, quote=False) in html or "&lt;script&gt;alert(1)" in html



def test_the_fold_sentence_names_saved_models_only_when_one_is_explained():
    """champion explains two saved models (one model for every row, trained elsewhere): the
    report must not claim their rows were explained by models that never saw them."""
    from fairsel.report.html import render_html
    from tests.unit.report.test_report_statements import _golden

    for name, saved in (("champion", True), ("lending", False)):
        html = render_html(_golden(name), with_charts=False)
        assert "Why the model decides as it does" in html, name
        assert ("a saved model (trained elsewhere) explains every sampled row" in
                " ".join(html.split())) is saved, name
        text = " ".join(html.split())
        # a saved model's rows are not split by fold: no "per fold" count (reviewer: champion
        # read "per fold: 365, 376, …" next to "there are no folds"), and its note is a sentence
        assert ("rows explained by the one model" in text) is saved, name
        if saved:
            assert "(per fold:" not in text and " a model trained elsewhere" not in text


def test_a_saved_model_is_recognised_by_its_kind_not_by_the_wording_of_its_note():
    """review5: explain_view told a saved model by the phrase 'trained elsewhere' in the
    explanation's note. It reads results.json's structured field instead: the kind of the
    variant whose model is explained (``explained[].model`` → ``variants[].kind``)."""
    from fairsel.report.explain_view import explain_view
    from tests.unit.report.test_report_statements import _golden

    champion = _golden("champion")
    e = champion.analysis.explanations
    kinds = {v.name: v.kind for v in champion.variants}
    assert any(kinds[x.model] == "saved_model" for x in e.explained)
    # the same result with every note reworded: the saved models are still told apart
    reworded = champion.model_copy(update={"analysis": champion.analysis.model_copy(update={
        "explanations": e.model_copy(update={"explained": [
            x.model_copy(update={"note": "one loaded model explains every sampled row"
                                 if x.note else None}) for x in e.explained]})})})
    view = explain_view(reworded, with_charts=False)
    assert [v["saved"] for v in view["explained"]] == \
        [kinds[x.model] == "saved_model" for x in e.explained]
    assert view["any_saved"]
    # and a note that happens to say 'trained elsewhere' does not make a trained model saved
    lending = _golden("lending")
    le = lending.analysis.explanations
    odd = lending.model_copy(update={"analysis": lending.analysis.model_copy(update={
        "explanations": le.model_copy(update={"explained": [
            x.model_copy(update={"note": "the vendor says it was trained elsewhere"})
            for x in le.explained]})})})
    view = explain_view(odd, with_charts=False)
    assert not view["any_saved"] and not any(v["saved"] for v in view["explained"])


def test_a_group_chart_names_the_groups_it_leaves_out():
    """Hiring p.21 (review10): the chart of mean SHAP values per race/ethnicity group drew the
    six groups with the most explained rows and left out two (one of them the reference of the
    race disparate impact) without a word."""
    import re

    from fairsel.report.explain_view import GROUPS_DRAWN
    from tests.unit.report.test_pdf_layout import golden_html, golden_result

    result = golden_result("hiring")
    first = result.analysis.explanations.explained[0]
    race = next(a for a in first.groups if a.attribute == "race/ethnicity")
    ranked = sorted([g for g in race.groups if g.rows], key=lambda g: -g.rows)
    assert len(ranked) > GROUPS_DRAWN
    html = golden_html("hiring")
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    for g in ranked[GROUPS_DRAWN:]:
        assert re.search(r"not drawn: [^.]*" + re.escape(g.group), text), g.group


def test_an_attribution_to_a_group_of_missing_values_says_it_is_missing_data():
    """Hiring p.22 (review10): "unknown − male (sex): the mean margin of unknown is −0.145
    log-odds from that of male" — the report said elsewhere that 'unknown' is missing data,
    not here. Since review12 such a gap is explained only when no pair of groups of people
    is comparable: hiring's sex attributions are cut down to the 'unknown' ones here."""
    import re
    from html import unescape

    from tests.unit.report.test_pdf_layout import golden_result

    result = golden_result("hiring")
    e = result.analysis.explanations
    first = e.explained[0]
    kept = [d for d in first.disparities if d.attribute != "sex" or "unknown" in
            (d.group, d.reference)]
    assert len(kept) < len(first.disparities)
    first = first.model_copy(update={"disparities": kept})
    result = result.model_copy(update={"analysis": result.analysis.model_copy(update={
        "explanations": e.model_copy(update={"explained": [first, *e.explained[1:]]})})})
    text = unescape(" ".join(re.sub(r"<[^>]+>", " ", render_html(result, target="html"))
                             .split()))
    said = [m.start() for m in re.finditer(r"unknown − \w+ \(sex\): the mean margin", text)]
    assert said, "hiring explains the gap between 'unknown' and another sex"
    for at in said:
        sentence = text[at:text.index("not a demographic group", at)]
        assert len(sentence) < 250, sentence  # the note ends the same paragraph
        assert "'unknown' here is missing data (sex not recorded)" in sentence, sentence


@pytest.mark.parametrize("name", ["lending", "mitigation", "branches", "champion", "hiring",
                                  "recidivism"])
def test_the_gap_explained_is_between_groups_of_people_when_one_is_comparable(name):
    """Hiring (review12): the sex attribution shown was 'unknown' (missing sex) against male
    while female − male, the gap behind sex's disparate impact, was comparable too. Every
    example, every explained variant: an attribution with a missing-value group is shown only
    when no pair of groups of people of that attribute is comparable; summary.md's line too."""
    import re
    from html import unescape

    from fairsel.report.explain_view import comparable, summary_line
    from fairsel.report.facts import missing_note
    from tests.unit.report.test_pdf_layout import golden_html, golden_result

    result = golden_result(name)
    e = result.analysis.explanations
    if e is None:
        pytest.skip(f"{name} has no explanations")
    attributes = {a.attribute for a in result.data.attributes if a.kind == "attribute"}
    text = unescape(" ".join(re.sub(r"<[^>]+>", " ", golden_html(name))
                             .split()))
    for x in e.explained:
        ds = comparable(x, attributes, result.min_group_size)
        for a in {d.attribute for d in ds}:
            people = [d for d in ds if d.attribute == a
                      and not (missing_note(a, d.group) or missing_note(a, d.reference))]
            if not people:
                continue
            widest = max(people, key=lambda d: abs(d.gap))
            assert f"{widest.group} − {widest.reference} ({a}): the mean margin" in text, \
                (x.variant, a)
            for d in ds:
                if d.attribute == a and d not in people:
                    assert f"{d.group} − {d.reference} ({a}): the mean margin" not in text
    line = summary_line(result)
    if line is not None:
        assert "unknown vs" not in line and "vs unknown" not in line, line
    if name == "hiring":
        assert "female − male (sex): the mean margin" in text
