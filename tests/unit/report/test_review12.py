"""Statements a compliance reviewer found untrue or incomplete in the shipped examples' reports
(review12), each checked on every example it can appear in."""

from __future__ import annotations

import re
from html import unescape

import pytest

from fairsel.metrics import METRICS
from fairsel.report.facts import allows_group_specific_decisions
from fairsel.report.tables import leaderboard_columns
from tests.unit.report.test_pdf_layout import golden_html, golden_result

EXAMPLES = ["lending", "mitigation", "branches", "champion", "hiring", "recidivism"]


def _text(name: str, target: str = "html") -> str:
    """The words of the golden report of ``name``: inline markup (code, spans) dropped, block
    ends a space."""
    html = golden_html(name, target)
    html = re.sub(r"</?(code|span|strong|em|b|i)\b[^>]*>", "", html)
    return unescape(" ".join(re.sub(r"<[^>]+>", " ", html).split()))


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_slices_section_names_the_variants_it_searched(name):
    """Mitigation p.66: "The other variants' slices by … are in results.json" — only 3 of its
    11 variants were searched (slices → variants: 3), and the section did not say so."""
    result = golden_result(name)
    a = result.analysis.slices
    if a is None:
        pytest.skip("no slice search")
    text = _text(name)
    searched = [v.variant for v in a.variants]
    scope = re.search(r"Searched: the (\d+) variants? ranked first of (\d+) \(policy slices → "
                      r"variants\); the other (\d+) (?:were|was) not searched\.", text)
    if len(searched) < len(result.variants):
        assert scope, "the section does not say that some variants were not searched"
        done, total, other = map(int, scope.groups())
        assert (done, total, other) == (len(searched), len(result.variants),
                                        len(result.variants) - len(searched))
        order = result.ranking.order
        assert searched == order[:len(searched)] or searched[0] == result.ranking.selected
    else:
        assert scope is None and "Searched:" not in text
    more = re.search(r"The slices of (.+?) by [^.]+ are in results\.json", text)
    if len(searched) > 1 and len(a.metrics) > 1:
        assert more
        named = more.group(1)
        for v in searched[1:]:
            assert v in named, v
        others = [v.name for v in result.variants if v.name not in searched]
        assert not any(re.search(rf"(?<![\w+\[]){re.escape(o)}(?![\w+\[])", named)
                       for o in others), named
    assert "The other variants' slices" not in text


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_explanations_say_which_variants_and_what_each_gets(name):
    """Mitigation p.54: "Per variant: …, each group's mean contribution per feature" — the
    groups' chart is drawn for the first variant only, and 3 of 11 variants were explained
    without a word on the other 8."""
    result = golden_result(name)
    e = result.analysis.explanations
    if e is None:
        pytest.skip("no explanations")
    text = _text(name)
    done = [x.variant for x in e.explained] + [s.variant for s in e.skipped]
    scope = re.search(r"Explained: the (\d+) variants? ranked first of (\d+) \(policy explain → "
                      r"variants\); the other (\d+) (?:were|was) not explained\.", text)
    if len(done) < len(result.variants):
        assert scope and tuple(map(int, scope.groups())) == (
            len(done), len(result.variants), len(result.variants) - len(done))
    else:
        assert scope is None
    if not e.explained:
        assert "No variant could be explained" in text and "Per variant:" not in text
        return
    intro = text[text.index("Per variant:"):]
    intro = intro[:intro.index("(policy key explain)")]
    assert "Per variant: the features that move the scores most" in intro
    html = golden_html(name)
    charts = html.count('aria-label="Mean SHAP value per feature for each group of')
    assert "each group's mean contribution per feature, the gap" not in intro
    if charts:
        assert f"for {e.explained[0].variant}, also each group's mean contribution" in intro
    else:
        assert "each group's mean contribution" not in intro
    first = html.index(f"<h3>{e.explained[0].variant}</h3>")
    second = (html.index(f"<h3>{e.explained[1].variant}</h3>") if len(e.explained) > 1
              else len(html))
    # every group chart is the first variant's
    assert html[first:second].count('aria-label="Mean SHAP value per feature for each group '
                                    'of') == charts


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_method_states_the_ranking_the_leaderboard_has(name):
    """Mitigation p.9 against p.11: "variants passing every error-severity gate come first,
    ordered by roc_auc" — logreg+reductions (0.684) ranked 3rd ahead of five passing variants
    at 0.730-0.736, which decide with the protected attribute and may not be selected. The
    stated rule, checked against the leaderboard's order."""
    result = golden_result(name)
    text = _text(name)
    rule = text[text.index("Ranking: "):]
    rule = rule[:rule.index("ordered by how far they are from passing.")]
    blocked = {v.name for v in result.variants if v.status in ("PASS", "WARN")
               and v.uses_protected_at_decision
               and not allows_group_specific_decisions(result)}
    assert ("may not be selected under this policy" in rule) == bool(blocked)
    by_name = {v.name: v for v in result.variants}
    order = [by_name[n] for n in result.ranking.order]
    kinds = ["selectable" if v.status in ("PASS", "WARN") and v.name not in blocked else
             "blocked" if v.name in blocked else "failing" for v in order]
    # selectable first, then the passing ones that may not be selected, then the rest
    rank_of = {"selectable": 0, "blocked": 1, "failing": 2}
    assert [rank_of[k] for k in kinds] == sorted(rank_of[k] for k in kinds), kinds
    obj = result.ranking.objective
    sel = [v for v, k in zip(order, kinds) if k == "selectable"]
    if sel and result.ranking.selected:
        assert sel[0].name == result.ranking.selected  # "is selected and ranked first"
        rest = [v.performance[obj].value for v in sel[1:]]
        higher = METRICS.get(obj).higher_is_better
        assert rest == sorted(rest, reverse=higher), rest  # then by the objective


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_calibration_limitation_says_blank_only_where_there_is_a_column(name):
    """Recidivism p.20: "(null in results.json, blank in the leaderboard)" — its leaderboard
    has no Brier or calibration column."""
    result = golden_result(name)
    text = _text(name)
    missing = {m for v in result.variants for m in v.unavailable}
    if not missing:
        assert "Calibration not assessed" not in text
        return
    perf, _ = leaderboard_columns(result)
    said = "blank in the leaderboard" in text
    assert said == bool(missing & set(perf)), (missing, perf)
    assert "null in results.json" in text


@pytest.mark.parametrize("name", EXAMPLES)
def test_a_list_never_ends_in_and_1_more(name):
    """Hiring p.19: "'male × unknown' and 1 more" — one more name takes no more room than
    saying there is one: lists name it."""
    text = _text(name, target="pdf")
    assert not re.search(r"\band 1 more\b", text)


def test_shown_names_up_to_the_limit_and_never_leaves_one():
    from fairsel.report.fmt import named_and_left

    assert named_and_left(list("abcdef"), 6) == (list("abcdef"), 0)
    assert named_and_left(list("abcdefg"), 6) == (list("abcdefg"), 0)
    assert named_and_left(list("abcdefgh"), 6) == (list("abcdef"), 2)
    assert named_and_left([], 4) == ([], 0)


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_verbatim_policy_is_verbatim_and_a_wrapped_line_continues_indented(name):
    """Lending p.37, branches p.38: a long YAML line of Appendix A wrapped to the left edge
    (" equalized_odds_difference]"), which read as malformed YAML. Each line is a block whose
    continuation is indented past the line's own indentation; the lines are the file's."""
    from tests.unit.report.test_pdf_layout import golden_laid_out

    result = golden_result(name)
    html, document = golden_laid_out(name)
    pre = re.search(r'<pre class="policy">(.*?)</pre>', html, flags=re.S).group(1)
    lines = [unescape(x) for x in re.findall(r'<span class="line"[^>]*>(.*?)</span>', pre)]
    assert "\n".join(x.replace("\u00a0", "") for x in lines) == result.policy_text
    char = 7.5 * 0.6  # DejaVu Sans Mono at 7.5 pt: 0.6 em a character
    wrapped = 0
    for page in document.pages:
        for box in _descendants(page._page_box):
            if box.element_tag == "span" and "line" in (box.element.get("class") or "") \
                    and type(box).__name__ == "BlockBox":
                line_boxes = [c for c in box.children if type(c).__name__ == "LineBox"]
                text = "".join(t.text for t in _descendants(box) if hasattr(t, "text")
                               and type(t).__name__ == "TextBox")
                indent = len(text) - len(text.lstrip(" "))
                starts = [min(t.position_x for t in _descendants(lb)
                              if type(t).__name__ == "TextBox") for lb in line_boxes]
                for x in starts[1:]:  # the line's own start: its first line, column 0
                    wrapped += 1
                    assert x - starts[0] >= (indent + 3.5) * char, text
    if name in ("lending", "branches"):
        assert wrapped, "no policy line wrapped: the check saw nothing"


def _descendants(box):
    yield box
    for child in getattr(box, "children", None) or []:
        yield from _descendants(child)
