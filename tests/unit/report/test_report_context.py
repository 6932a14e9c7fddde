"""The report's view model (findings, closest variant, formulas, Pareto frontier) and charts."""

from __future__ import annotations

import math
import re

import pytest

from fairsel.metrics import FAIRNESS_METRICS, METRICS
from fairsel.report import charts
from fairsel.report.context import build_context, ci_text, num, pareto_front, report_id
from fairsel.results import AuditResult
from tests.unit.report.factory import make_result


@pytest.fixture(scope="module")
def passing() -> AuditResult:
    return make_result(seed=2)


@pytest.fixture(scope="module")
def failing() -> AuditResult:
    return make_result(seed=11, passing=False)


def test_number_formatting():
    assert num(0.12345) == "0.123" and num(0.12345, 4) == "0.1235"
    assert num(None) == num(float("nan")) == num(float("inf")) == "—"
    assert ci_text((0.1, 0.25)) == "[0.100, 0.250]"
    assert ci_text(None) == ci_text((None, 0.2)) == ""


def test_report_id_is_a_digest_of_the_result(passing):
    same = AuditResult.model_validate_json(passing.model_dump_json())
    assert report_id(same) == report_id(passing)
    assert re.fullmatch(r"FS-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}", report_id(passing))
    changed = passing.model_copy(update={"title": passing.title + "!"})
    assert report_id(changed) != report_id(passing)


@pytest.mark.parametrize("x, y, xh, yh, front", [
    ([1, 2, 3], [3, 2, 1], True, True, [0, 1, 2]),          # a clean trade-off
    ([1, 2, 3], [1, 2, 3], True, True, [2]),                # one dominates all
    ([1, 2, 3], [1, 2, 3], False, True, [0, 1, 2]),         # x: lower is better
    ([1, 1, 2], [2, 2, 1], True, True, [0, 1, 2]),          # ties do not dominate
    ([1, None, 2, math.nan], [1, 5, 0.5, 9], True, True, [0, 2]),  # undefined points are left out
    ([0.8, 0.9], [0.7, 0.6], True, False, [1]),             # y: lower is better
])
def test_pareto_front(x, y, xh, yh, front):
    assert pareto_front(x, y, x_higher=xh, y_higher=yh) == front


def test_summary_of_a_passing_audit(passing):
    ctx = build_context(passing, with_charts=False)
    s = ctx["summary"]
    assert s["selected"] == passing.ranking.selected and not s["no_pass"]
    assert s["closest"] is None
    assert 1 <= len(s["findings"]) <= 3
    sel = passing.variant(passing.ranking.selected)
    worst = sel.fairness["disparate_impact"].attribute
    assert s["findings"][0].startswith(f"Under '{sel.name}', the widest gap is on {worst}")
    assert ctx["cover"]["verdict"].startswith(f"PASS: '{sel.name}' is selected")


def test_summary_when_no_model_passes(failing):
    ctx = build_context(failing, with_charts=False)
    s = ctx["summary"]
    assert s["no_pass"] and s["selected"] is None
    closest = s["closest"]
    assert closest["name"] == failing.ranking.order[0]
    expected = [g for g in failing.gates if g.variant == closest["name"]
                and g.severity == "error" and g.status != "PASS"]
    assert [r["metric"] for r in closest["rows"]] == [g.metric for g in expected]
    assert [r["gap"] for r in closest["rows"]] == [f"{g.gap:.4f}" for g in expected]
    blocking = s["findings"][0]
    assert blocking.startswith("Variants fail or cannot pass")
    # every error gate some variant misses is named, not only the most frequent one
    missed = {g.gate for g in failing.gates if g.severity == "error"
              and g.status in ("FAIL", "INSUFFICIENT")}
    assert missed and all(f"G{i + 1} " in blocking for i in missed)
    assert ctx["cover"]["verdict"].startswith("FAIL: no model can be selected")


def test_every_leaderboard_metric_has_its_formula(passing):
    ctx = build_context(passing, with_charts=False)
    names = {r["name"]: r for r in ctx["method"]["metrics"]}
    shown = [c["name"] for c in ctx["leaderboard"]["perf"] + ctx["leaderboard"]["fair"]]
    assert shown and set(shown) <= set(names)
    for name in shown:
        row = names[name]
        if name in FAIRNESS_METRICS:
            assert FAIRNESS_METRICS[name].summary in row["formula"]
            assert "Headline:" in row["formula"]
        else:
            assert row["formula"] == METRICS.get(name).formula


def test_limitations_name_small_groups_and_missing_values():
    result = make_result(attributes={"race": ["white", "black", "unknown"],
                                     "sex": ["female", "male"]}, small_group=True)
    # the factory marks the last group of each attribute small; flag one as unknown
    data = result.data.model_copy(update={"attributes": [
        a.model_copy(update={"groups": [g.model_copy(update={"flags": g.flags + ["unknown"]})
                                        if g.group == "unknown" else g for g in a.groups]})
        for a in result.data.attributes]})
    result = result.model_copy(update={"data": data})
    items = {i["title"]: i["text"] for i in build_context(result, with_charts=False)["limitations"]}
    assert "'unknown' (n = 12)" in items["Small groups"]
    assert "have no recorded race" in items["Missing protected values"]
    assert "What the audit cannot see" in items


def test_group_charts_are_split_to_fit_a_page():
    iv = charts.Interval(0.5, 0.4, 0.6)
    big = charts.Panel(title="branch", groups=[f"g{i}" for i in range(100)], n=[50] * 100,
                       selection=[iv] * 100, tpr=[iv] * 100, fpr=[iv] * 100,
                       eligible=[True] * 99 + [False], reference=3, ratio_line=0.8)
    small = charts.Panel(title="sex", groups=["f", "m"], n=[10, 90], selection=[iv, iv],
                         tpr=[iv, iv], fpr=[iv, iv], eligible=[False, True], reference=1,
                         ratio_line=0.8)
    pieces = charts._pack([small, big])
    assert sum(stop - start for fig in pieces for _, start, stop, _ in fig) == 102
    assert len(pieces) >= 3
    made = charts.group_rates("t", [small, big], level=0.95, title="v")
    assert len(made) == len(pieces)
    for chart in made:
        assert chart.height_pt <= charts.MAX_HEIGHT * 72 + 1
        assert chart.svg.startswith("<svg ") and chart.data_uri.startswith("data:image/svg+xml;")
    text = " ".join(str(c.svg) for c in made)
    assert "branch (continued)" in text and "g99  (n=50) †" in text
    assert "line at 0.8 × 0.500 = 0.400" in text
    # 100 groups in pieces of equal size (one row apart at most), each fitting a figure
    sizes = [stop - start for fig in pieces for p, start, stop, _ in fig if p is big]
    cap = int((charts.MAX_HEIGHT - charts._TOP - charts._BOTTOM - charts._GAP)
              / charts._row_height(99))
    assert max(sizes) - min(sizes) <= 1 and max(sizes) <= cap
    assert len(sizes) == -(-100 // cap)


@pytest.mark.parametrize("k, expected", [(24, [12, 12]), (19, [19]), (20, [10, 10]),
                                         (39, [13, 13, 13]), (1, [1]), (0, [0])])
def test_a_long_panel_is_cut_into_equal_pieces_not_a_short_tail(k, expected):
    """The hiring example's 24 intersections were drawn as 19 rows and a "continued" figure of
    5 on the next page; now 12 + 12."""
    iv = charts.Interval(0.5, 0.4, 0.6)
    panel = charts.Panel(title="sex × race", groups=[f"g{i}" for i in range(k)], n=[50] * k,
                         selection=[iv] * k, tpr=[iv] * k, fpr=[iv] * k, eligible=[True] * k,
                         reference=None, ratio_line=0.8)
    pieces = [(start, stop, continued) for fig in charts._pack([panel])
              for _, start, stop, continued in fig]
    assert [stop - start for start, stop, _ in pieces] == expected
    assert [c for *_, c in pieces] == [False] + [True] * (len(expected) - 1)
    assert pieces[0][0] == 0 and pieces[-1][1] == k
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))  # contiguous


def _group(name, tp, fn, fp, tn, small=()):
    from fairsel.results import Estimate, GroupRow

    pos, neg = tp + fn, fp + tn
    return GroupRow(group=name, n=pos + neg, tp=tp, fp=fp, tn=tn, fn=fn,
                    rates={"fnr": Estimate(value=fn / pos), "fpr": Estimate(value=fp / neg),
                           "tpr": Estimate(value=tp / pos)},
                    fractions={"fnr": (fn, pos), "fpr": (fp, neg), "tpr": (tp, pos)},
                    small_rates=list(small))


def _attribute(groups, reference=None):
    from fairsel.results import AttributeMetrics

    return AttributeMetrics(attribute="race × sex", columns=["race", "sex"], kind="intersection",
                            reference=reference,
                            reference_rule="declared" if reference else "fairlearn_min_max",
                            groups=groups, eligible_groups=[g.group for g in groups])


def test_widest_gap_is_told_only_with_eligible_rates():
    """issue 9 item 1: the finding never rests on a rate of fewer than min_group_size people
    (COMPAS: the FNR of 'Asian × Male', 2 of 22)."""
    from fairsel.report.facts import widest_gap as _widest_gap

    groups = [_group("Asian × Male", 20, 2, 1, 7, small=("fnr", "tpr", "fpr")),
              _group("Hispanic × Female", 63, 7, 10, 23),
              _group("African-American × Male", 749, 641, 500, 1154)]
    rate, ((lo_v, lo_g, lo), (hi_v, hi_g, _)) = _widest_gap(_attribute(groups),
                                                           "false_negative_rate_difference")
    assert rate == "fnr" and (lo_g, hi_g) == ("Hispanic × Female", "African-American × Male")
    assert lo_v == pytest.approx(0.1)
    # equalized odds: the rate with the wider gap, each from eligible groups only
    rate, _ = _widest_gap(_attribute(groups), "equalized_odds_difference")
    fnr_gap, fpr_gap = 641 / 1390 - 0.1, 10 / 33 - 500 / 1654
    assert rate == ("tpr" if fnr_gap > fpr_gap else "fpr")
    # with a declared reference: the reference and the group farthest from it
    _, ((_, a, _), (_, b, _)) = _widest_gap(_attribute(groups, "Hispanic × Female"),
                                            "false_negative_rate_difference")
    assert {a, b} == {"Hispanic × Female", "African-American × Male"}
    # fewer than two eligible rates: no sentence
    assert _widest_gap(_attribute(groups[:2]), "false_negative_rate_difference") is None
