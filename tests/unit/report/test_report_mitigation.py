"""The report compares each mitigated variant with its base and marks disparate treatment.

The section "Mitigated variants against their base" is in the report (and its contents) only
when the result has a mitigated variant; its differences are the result's own numbers; the
mark ⚑ sits on exactly the variants that decide with the protected attribute; and "reported but
not selectable" is said only when the policy forbids group-specific decisions.
"""

from __future__ import annotations

import io
import re
from html import unescape

import pypdf
import pytest

from fairsel.metrics import FAIRNESS_METRICS, METRICS
from fairsel.report.context import MITIGATED_SECTION, build_context, report_sections
from fairsel.report.html import render_html
from fairsel.report.pdf import render_pdf
from fairsel.results import AuditResult
from tests.unit.report.factory import make_result

TITLE = MITIGATED_SECTION[1]
NOT_SELECTABLE = "reported but not selectable"
REWEIGHED = "logreg+reweighing"
THRESHOLDED = "logreg+threshold[demographic_parity]"

#: fold → group → threshold (None: no favorable decision), as audit.fold_variants records them
THRESHOLDS = {
    "0": {"female × under_25": 0.4126, "male × 25_and_over": 0.5871, "male × under_25": None},
    "1": {"female × under_25": 0.3950, "male × 25_and_over": 0.6012, "male × under_25": 0.5},
}
STATUS = {
    "0": {"female × under_25": "fitted", "male × 25_and_over": "fitted",
          "male × under_25": "pooled"},
    "1": {"female × under_25": "fitted", "male × 25_and_over": "fitted",
          "male × under_25": "default"},
}


def with_mitigations(result: AuditResult, *, allow: bool | None) -> AuditResult:
    """The factory's three candidates turned into logreg and two mitigated variants of it:
    ``logreg+reweighing`` (decides without the attribute) and ``logreg+threshold[...]``
    (decides with it). ``allow`` sets mitigation_policy (None: the key is left out)."""
    rename = {"forest": REWEIGHED, "gbm": THRESHOLDED}
    variants = []
    for v in result.variants:
        if v.name == "forest":
            v = v.model_copy(update={
                "name": REWEIGHED, "candidate": "logreg", "mitigation": "reweighing",
                "base": "logreg", "details": {
                    "groups": {"0": "sex × age", "1": "sex × age"},
                    "weights": {f: {"female × under_25": {"favorable": 1.25, "unfavorable": 0.8},
                                    "male × 25_and_over": {"favorable": 0.9, "unfavorable": 1.1}}
                                for f in ("0", "1")}}})
        elif v.name == "gbm":
            v = v.model_copy(update={
                "name": THRESHOLDED, "candidate": "logreg",
                "mitigation": "threshold[demographic_parity]", "base": "logreg",
                "uses_protected_at_decision": True, "details": {
                    "groups": {"0": "sex × age", "1": "sex × age"},
                    "thresholds": THRESHOLDS, "threshold_status": STATUS,
                    "fit": {"0": {"rows": 1600, "scores": "inner out-of-fold scores",
                                  "disparity": 0.021},
                            "1": {"rows": 1601, "scores": "inner out-of-fold scores",
                                  "disparity": 0.018}}}})
        variants.append(v)
    gates = [g.model_copy(update={"variant": rename.get(g.variant, g.variant)})
             for g in result.gates]
    r = result.ranking
    selected = rename.get(r.selected, r.selected) if r.selected else None
    ranking = r.model_copy(update={"order": [rename.get(n, n) for n in r.order],
                                   "selected": selected})
    verdict = result.verdict.model_copy(update={"selected": selected})
    policy = dict(result.policy)
    if allow is not None:
        policy["mitigation_policy"] = {"allow_group_specific_decisions": allow}
    return result.model_copy(update={"variants": variants, "gates": gates, "ranking": ranking,
                                     "verdict": verdict, "policy": policy})


@pytest.fixture(scope="module")
def forbidden() -> AuditResult:
    return with_mitigations(make_result(seed=4), allow=False)


@pytest.fixture(scope="module")
def allowed() -> AuditResult:
    return with_mitigations(make_result(seed=4), allow=True)


@pytest.fixture(scope="module")
def plain() -> AuditResult:
    return make_result(seed=4)


@pytest.fixture(scope="module")
def forbidden_html(forbidden) -> str:
    return render_html(forbidden, with_charts=False)


@pytest.fixture(scope="module")
def forbidden_pdf_pages(forbidden) -> list[str]:
    reader = pypdf.PdfReader(io.BytesIO(render_pdf(forbidden)))
    return [re.sub(r"\s+", " ", p.extract_text() or "") for p in reader.pages]


def _article(html: str, anchor: str) -> str:
    start = html.index(f'id="{anchor}"')
    return html[start:html.index("</article>", start)]


def _rows(table_html: str) -> dict[str, str]:
    """``<tr data-variant="name">…</tr>`` → {name: the row's HTML}."""
    return {unescape(name): body for name, body in
            re.findall(r'<tr data-variant="([^"]*)"[^>]*>(.*?)</tr>', table_html, flags=re.S)}


def _table(html: str, cls: str) -> str:
    start = html.index(f'<table class="grid {cls}')
    return html[start:html.index("</table>", start)]


def _signed(x: float, digits: int = 3) -> str:
    text = f"{x:+.{digits}f}"
    zero = f"{0:.{digits}f}"
    return zero if text in ("+" + zero, "-" + zero) else text.replace("-", "−")


# --- presence ----------------------------------------------------------------------------------


def test_the_section_follows_the_leaderboard_only_with_mitigated_variants(forbidden, plain):
    ids = [s for s, _ in report_sections(forbidden)]
    assert ids[ids.index("leaderboard") + 1] == "mitigated"
    assert "mitigated" not in [s for s, _ in report_sections(plain)]


def test_the_section_is_in_the_html_and_its_contents(forbidden_html):
    assert f">{TITLE}</h2>" in forbidden_html
    assert '<a href="#mitigated">' in forbidden_html  # the contents link to it
    assert forbidden_html.index('id="leaderboard"') < forbidden_html.index('id="mitigated"') \
        < forbidden_html.index('id="candidates"')


def test_the_section_is_absent_without_mitigated_variants(plain):
    html = render_html(plain, with_charts=False)
    assert TITLE not in html and 'id="mitigated"' not in html and "#mitigated" not in html
    assert "The result holds no mitigated variant" in html  # the Method section says so
    reader = pypdf.PdfReader(io.BytesIO(render_pdf(plain)))
    text = " ".join(re.sub(r"\s+", " ", p.extract_text() or "") for p in reader.pages)
    assert TITLE not in text and "Leaderboard" in text


def test_the_pdf_holds_the_section_where_its_contents_say(forbidden_pdf_pages):
    pages = forbidden_pdf_pages
    contents = next(i for i, t in enumerate(pages) if "Contents" in t[:200])
    m = re.search(re.escape(TITLE) + r"[ .]*?(\d+)\b", pages[contents])
    assert m, "the section is not in the contents"
    assert TITLE in pages[int(m.group(1)) - 1]
    assert f"{THRESHOLDED} against logreg" in " ".join(pages)


# --- the numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [REWEIGHED, THRESHOLDED])
def test_differences_are_the_results_own_numbers(forbidden, forbidden_html, name):
    ctx = build_context(forbidden, with_charts=False)["mitigated"]
    comp = next(c for c in ctx["comparisons"] if c["name"] == name)
    variant, base = forbidden.variant(name), forbidden.variant("logreg")
    metrics = list(forbidden.metrics["performance"]) + list(forbidden.metrics["fairness"])
    shown = {r["metric"]: r for r in comp["metrics"]}
    assert set(metrics) <= set(shown)
    article = _article(forbidden_html, comp["anchor"])
    for m in metrics:
        if m in FAIRNESS_METRICS:
            b, x = base.fairness[m].value, variant.fairness[m].value
            better = "fairer" if FAIRNESS_METRICS[m].higher_is_fairer == (x > b) else "less fair"
        else:
            b, x = base.performance[m].value, variant.performance[m].value
            better = "better" if METRICS.get(m).higher_is_better == (x > b) else "worse"
        row = shown[m]
        assert (row["base"], row["variant"], row["change"]) == \
            (f"{b:.3f}", f"{x:.3f}", _signed(x - b)), m
        assert row["effect"] == ("unchanged" if _signed(x - b) == "0.000" else better), m
        assert re.search(re.escape(m.replace("_", "_\u200b")) + r".*?" + re.escape(f"{b:.3f}")
                         + r".*?" + re.escape(f"{x:.3f}") + r".*?" + re.escape(_signed(x - b)),
                         article, flags=re.S), m
    # every gate, with both statuses and the change of the observed figure
    gates = {g.gate: g for g in forbidden.gates if g.variant == "logreg"}
    for row in comp["gates"]:
        idx = int(row["label"][1:]) - 1
        gb = gates[idx]
        gv = next(g for g in forbidden.gates if g.variant == name and g.gate == idx)
        assert (row["base_status"], row["variant_status"]) == (gb.status, gv.status)
        assert (row["base"], row["variant"]) == (f"{gb.observed:.4f}", f"{gv.observed:.4f}")
        assert row["change"] == _signed(gv.observed - gb.observed, 4)
    assert len(comp["gates"]) == len(gates)
    # the overview row holds the change in the objective and in each fairness metric
    overview = _rows(_table(forbidden_html, "mitigated-overview"))[name]
    cells = re.findall(r'<td class="num">([^<]*)</td>', overview)
    obj = forbidden.ranking.objective
    expected = [_signed(variant.performance[obj].value - base.performance[obj].value)] + \
        [_signed(variant.fairness[m].value - base.fairness[m].value)
         for m in forbidden.metrics["fairness"]]
    assert cells[1:] == expected  # the first numeric cell is the rank


def test_the_fitted_thresholds_are_shown_per_group_and_fold(forbidden, forbidden_html):
    ctx = build_context(forbidden, with_charts=False)["mitigated"]
    comp = next(c for c in ctx["comparisons"] if c["name"] == THRESHOLDED)
    table = comp["fitted"]["table"]
    assert comp["fitted"]["folds"] == [1, 2] and comp["fitted"]["groups"] == "sex × age"
    rows = {r["group"]: [c["text"] + (" " + c["mark"] if c["mark"] else "") for c in r["cells"]]
            for r in table["rows"]}
    assert rows == {"female × under_25": ["0.413", "0.395"],
                    "male × 25_and_over": ["0.587", "0.601"],
                    "male × under_25": ["none (pooled)", "0.500 (default)"]}
    assert [r["range"] for r in table["rows"]] == ["0.018", "0.014", "—"]
    article = _article(forbidden_html, comp["anchor"])
    flat = re.sub(r"\s+", " ", article)
    assert "none: no favorable decision" in flat and "(pooled): the group was too small" in flat
    assert "(default): the candidate's own threshold" in flat
    # † and ‡ keep their one meaning (a small group, a figure on few people): not used here
    assert "†" not in article.split("fitted in each fold")[1] and "‡" not in article
    assert re.search(r"male × 25_and_over</td><td class=\"num\">0.587</td>"
                     r"<td class=\"num\">0.601</td>", article)
    settings = {s["label"]: s["cells"] for s in comp["fitted"]["settings"]["rows"]}
    assert settings["rows fitted on"] == ["1,600", "1,601"]
    assert {"label": "scores fitted on", "value": "inner out-of-fold scores"} in \
        comp["fitted"]["settings"]["constants"]
    # reweighing shows the range of its weights, not a threshold table
    rew = next(c for c in ctx["comparisons"] if c["name"] == REWEIGHED)["fitted"]
    assert rew["table"] is None
    assert rew["settings"]["rows"][0]["cells"] == ["0.800 – 1.250", "0.800 – 1.250"]


# --- disparate treatment -----------------------------------------------------------------------


def test_the_mark_sits_on_exactly_the_variants_deciding_with_the_attribute(forbidden,
                                                                           forbidden_html):
    flagged = {v.name for v in forbidden.variants if v.uses_protected_at_decision}
    assert flagged == {THRESHOLDED}
    board = _rows(_table(forbidden_html, "leaderboard"))
    assert set(board) == {v.name for v in forbidden.variants}
    assert {n for n, body in board.items() if 'class="dt-mark"' in body} == flagged
    overview = _rows(_table(forbidden_html, "mitigated-overview"))
    assert set(overview) == {REWEIGHED, THRESHOLDED}
    assert {n for n, body in overview.items() if 'class="dt-mark"' in body} == flagged
    # the candidate and comparison headings carry it too, and only those
    headings = re.findall(r'<h3 class="candidate-title">(.*?)</h3>', forbidden_html, flags=re.S)
    marked = [h for h in headings if 'class="dt-mark"' in h]
    assert len(marked) == 2 and all(THRESHOLDED in unescape(h) for h in marked)
    # a legend says what the mark means
    assert "marks a variant that decides with the protected attribute" in \
        re.sub(r"\s+", " ", forbidden_html)


def test_the_method_says_which_mitigations_need_the_attribute(forbidden):
    kinds = {k["kind"]: k for k in build_context(forbidden, with_charts=False)["mitigated"]["kinds"]}
    assert set(kinds) == {"reweighing", "threshold"}
    assert kinds["reweighing"]["uses_protected"] is False
    assert kinds["reweighing"]["needs"].startswith("No")
    assert kinds["threshold"]["uses_protected"] is True
    assert kinds["threshold"]["needs"].startswith("Yes")
    assert kinds["threshold"]["variants"] == [THRESHOLDED]


def test_not_selectable_only_when_the_policy_forbids_it(forbidden, allowed, forbidden_html,
                                                        forbidden_pdf_pages):
    assert forbidden_html.count(NOT_SELECTABLE) >= 3  # leaderboard, section, candidate
    assert "allow_group_specific_decisions: false" in forbidden_html
    assert NOT_SELECTABLE in " ".join(forbidden_pdf_pages)
    board = _rows(_table(forbidden_html, "leaderboard"))
    assert [n for n, body in board.items() if "not selectable" in body] == [THRESHOLDED]

    html = render_html(allowed, with_charts=False)
    assert "not selectable" not in html
    assert "allow_group_specific_decisions: true" in html
    # without the key, the schema's default applies: forbidden (issue 9 item 6)
    default = with_mitigations(make_result(seed=4), allow=None)
    assert "not selectable" in render_html(default, with_charts=False)


def test_rendering_twice_gives_identical_html_with_variants(forbidden):
    again = AuditResult.model_validate_json(forbidden.model_dump_json())
    assert render_html(forbidden) == render_html(again)
