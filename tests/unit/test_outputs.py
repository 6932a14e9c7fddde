"""Machine outputs: atomic staging, junit.xml, summary.md (and its escaping), leaderboard.csv."""

from __future__ import annotations

import csv
import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fairsel.audit import run_audit
from fairsel.errors import OutputError
from fairsel.policy import load_policy
from fairsel.report import render
from fairsel.report.io import MANIFEST_NAME, staged
from fairsel.report.machine import summary_markdown, write_junit, write_leaderboard
from fairsel.results import AuditResult, GateResult, Ranking
from tests.unit.test_gates import variant
from tests.unit.test_registries import tiny_policy, write_tiny_data

# ---------------------------------------------------------------- atomic staging


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def previous(tmp_path) -> Path:
    """An output folder holding an earlier report."""
    out = tmp_path / "out"
    out.mkdir()
    for name in ("results.json", "summary.md", "junit.xml"):
        (out / name).write_text(f"previous {name}\n", encoding="utf-8")
    return out


@pytest.mark.parametrize("exc", [RuntimeError("writer failed"), KeyboardInterrupt()])
def test_exception_inside_staged_leaves_the_folder_unchanged(previous, exc):
    before = _snapshot(previous)
    with pytest.raises(type(exc)):
        with staged(previous) as tmp:
            assert tmp.parent == previous and tmp.name.startswith(".fairsel-tmp-")
            (tmp / "results.json").write_text("new\n")
            (tmp / "summary.md").write_text("new\n")
            (tmp / "report.html").write_text("new\n")
            raise exc
    assert _snapshot(previous) == before  # no tmp folder left, no file changed or added


def test_staged_moves_every_file_into_place(previous):
    with staged(previous) as tmp:
        (tmp / "results.json").write_text("new results\n")
        (tmp / "leaderboard.csv").write_text("new board\n")
    after = _snapshot(previous)
    manifest = json.loads(after.pop(MANIFEST_NAME))
    # files no earlier manifest names (written by someone else, or by an older fairsel) stay
    assert after == {"results.json": b"new results\n", "leaderboard.csv": b"new board\n",
                     "summary.md": b"previous summary.md\n", "junit.xml": b"previous junit.xml\n"}
    assert manifest["files"] == ["leaderboard.csv", "results.json"]


def test_failure_while_moving_into_place_restores_the_previous_files(previous, monkeypatch):
    before = _snapshot(previous)
    real_replace = os.replace
    landed: list[str] = []

    def flaky_replace(src, dst):
        src, dst = Path(src), Path(dst)
        # the staged summary.md cannot land (moving the previous one aside still works)
        if src.parent.name.startswith(".fairsel-tmp-") and src.name == "summary.md":
            raise OSError(28, "No space left on device")
        real_replace(src, dst)
        if dst.parent == previous:
            landed.append(dst.name)

    monkeypatch.setattr(os, "replace", flaky_replace)
    with pytest.raises(OutputError, match="No space"):  # exit 74, not a bug
        with staged(previous) as tmp:
            for name in ("junit.xml", "results.json", "summary.md", "new.csv"):
                (tmp / name).write_text(f"new {name}\n")
    monkeypatch.setattr(os, "replace", real_replace)
    assert "junit.xml" in landed and "results.json" in landed  # moved before the failure ...
    assert _snapshot(previous) == before  # ... and taken back


def test_render_failure_in_one_format_keeps_the_previous_report(previous, monkeypatch):
    import fairsel.report.machine as machine

    before = _snapshot(previous)

    def boom(result, out):
        (out / "junit.xml").write_text("half")
        raise RuntimeError("junit writer crashed")

    monkeypatch.setattr(machine, "write_junit", boom)
    result = _tiny_result()
    with pytest.raises(RuntimeError, match="junit writer crashed"):
        render(result, ["json", "markdown", "junit"], previous)
    assert _snapshot(previous) == before


# ---------------------------------------------------------------- a small real result

_CACHE: dict[str, AuditResult] = {}


def _tiny_result() -> AuditResult:
    """A tiny audit: logreg selected with a warning, my_tree failing a gate, broken erroring."""
    if "r" not in _CACHE:
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="fairsel-outputs-"))
        write_tiny_data(folder)
        policy = tiny_policy(
            folder, name="outputs",
            candidates="  - {name: logreg, kind: sklearn, estimator: logistic_regression}\n"
                       "  - {name: my_tree, kind: sklearn, estimator: decision_tree}\n"
                       # fails at fit (num_leaves: 1 is now refused before any training)
                       "  - {name: broken, kind: sklearn, estimator: gaussian_nb, "
                       "params: {priors: [0.2, 0.2]}}",
            gates="  - {metric: roc_auc, min: 0.55}\n"
                  "  - {metric: disparate_impact, min: 0.3}\n"
                  "  - {metric: roc_auc, min: 0.99, severity: warn}\n"
                  # logreg (AUC ≈ 0.93) passes this one, the tree (≈ 0.86) does not
                  "  - {metric: roc_auc, min: 0.9}")
        _CACHE["r"] = run_audit(load_policy(policy)).result
    return _CACHE["r"]


@pytest.fixture(scope="module")
def result() -> AuditResult:
    return _tiny_result()


def _with_gates(result: AuditResult, gates: list[GateResult]) -> AuditResult:
    return result.model_copy(update={"gates": gates})


# ---------------------------------------------------------------- junit.xml

def test_junit_one_testcase_per_gate_and_variant(result, tmp_path):
    write_junit(result, tmp_path)
    root = ET.parse(tmp_path / "junit.xml").getroot()
    assert root.tag == "testsuites" and root.get("name") == "fairsel outputs"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [f"fairsel.outputs.{n}" for n in result.ranking.order]
    cases = root.findall("testsuite/testcase")
    # 4 gates of the policy and the proxy screen's 2 (on by default), for each of 3 variants
    assert len(cases) == len(result.gates) == 3 * (4 + 2)
    seen = {(c.get("classname"), c.get("name")) for c in cases}
    assert seen == {(f"fairsel.outputs.{g.variant}", f"gate[{g.gate}] {g.metric}")
                    for g in result.gates}
    for suite in suites:
        sc = suite.findall("testcase")
        assert int(suite.get("tests")) == len(sc)
        assert int(suite.get("failures")) == sum(c.find("failure") is not None for c in sc)
        assert int(suite.get("errors")) == sum(c.find("error") is not None for c in sc)
        assert int(suite.get("skipped")) == sum(c.find("skipped") is not None for c in sc)
    assert int(root.get("tests")) == len(cases)
    assert int(root.get("failures")) == sum(g.status == "FAIL" for g in result.gates)
    assert int(root.get("errors")) == sum(g.status == "ERROR" for g in result.gates)
    # the broken candidate: every gate is an <error>
    broken = root.find("testsuite[@name='fairsel.outputs.broken']")
    assert len(broken.findall("testcase/error")) == 4 + 2


def test_junit_failure_carries_observed_value_threshold_and_interval(result, tmp_path):
    base = result.gates[0]
    gates = [
        base.model_copy(update=dict(gate=0, metric="disparate_impact", min=0.8, max=None,
                                    status="FAIL", observed=0.7123, ci=(0.6512, 0.7734), gap=0.0877,
                                    attribute="sex", message="disparate_impact = 0.7123 on sex")),
        base.model_copy(update=dict(gate=1, metric="equal_opportunity_difference", min=None,
                                    max=0.1, status="PASS", observed=0.05, ci=(0.01, 0.09), gap=0.0,
                                    attribute="region", message="ok")),
        base.model_copy(update=dict(gate=2, metric="roc_auc", min=0.9, max=None, severity="warn",
                                    status="WARN", observed=0.8, ci=None, gap=0.1,
                                    attribute=None, message="roc_auc = 0.8; required ≥ 0.9")),
        base.model_copy(update=dict(gate=3, metric="disparate_impact", min=0.8, max=None,
                                    status="INSUFFICIENT", observed=None, ci=None, gap=None,
                                    attribute=None, message="groups too small")),
    ]
    r = _with_gates(result, [g.model_copy(update={"variant": "logreg"}) for g in gates])
    write_junit(r, tmp_path)
    suite = ET.parse(tmp_path / "junit.xml").getroot().find(
        "testsuite[@name='fairsel.outputs.logreg']")
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    fail = cases["gate[0] disparate_impact"].find("failure")
    assert fail is not None and fail.get("message") == "disparate_impact = 0.7123 on sex"
    assert "observed 0.7123" in fail.text
    assert "[0.651, 0.773]" in fail.text  # the interval
    assert "min 0.8" in fail.text and "severity error" in fail.text and "attribute sex" in fail.text
    passed = cases["gate[1] equal_opportunity_difference"]
    assert passed.find("failure") is None and passed.find("error") is None
    assert cases["gate[2] roc_auc"].find("failure") is None  # a warning does not fail CI
    assert "WARN" in cases["gate[2] roc_auc"].find("system-out").text
    skipped = cases["gate[3] disparate_impact"].find("skipped")
    assert skipped is not None and "insufficient evidence" in skipped.get("message")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "1", "1")


# ---------------------------------------------------------------- summary.md

def test_summary_content(result):
    text = summary_markdown(result)
    assert text.startswith("## fairsel audit: outputs\n")
    assert f"**Verdict: {result.verdict.status}**" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + len(result.variants)
    assert (result.ranking.selected, result.verdict.status) == ("logreg", "WARN")
    assert "**logreg** (selected)" in text
    assert "- FAIL **my\\_tree** roc\\_auc = " in text and "- ERROR **broken**" in text
    assert "- 1 of 3 variant(s) pass every error-severity gate\n" in text
    assert "- 'logreg' has the best roc\\_auc among them (0." in text
    assert "Gates not passed:" in text and "Failures:" in text
    assert "**broken** at fit (fold 0)" in text
    assert f"Rows used: {result.data.rows_used} of {result.data.rows_read}" in text
    assert result.provenance.policy_sha256[:12] in text
    # an underscore in a name is escaped in text, never shown as "my\_tree" inside a code span
    assert "`my\\_tree`" not in text


def _unescaped_pipes(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line))


def test_summary_escapes_markdown_and_html_in_names(result):
    evil_variant = "ev|l<script>alert(1)</script>_x"
    # rename everywhere in results.json (none of these characters needs escaping in JSON)
    text = (result.model_dump_json().replace("logreg", evil_variant)
            .replace("region", "re|gion<b> & *co*"))
    r = AuditResult.model_validate_json(text)
    assert any(v.name == evil_variant for v in r.variants)
    # show a fairness gate's message (it names the attribute) among the gates not passed
    r = _with_gates(r, [g.model_copy(update={"status": "FAIL"})
                        if g.metric == "disparate_impact" else g for g in r.gates])
    assert any("re|gion<b> & *co*" in g.message for g in r.gates
               if g.metric == "disparate_impact")
    md = summary_markdown(r)
    assert "<script>" not in md and "<b>" not in md and "</script>" not in md
    assert "ev\\|l\\<script\\>alert(1)\\</script\\>\\_x" in md
    # every table row has as many cell separators as the header
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert len(table) >= 3
    assert {_unescaped_pipes(line) for line in table} == {_unescaped_pipes(table[0])}
    # no other line has an unescaped pipe either (a list item with one would not break, but
    # the name must read the same everywhere)
    assert all(_unescaped_pipes(line) == 0 for line in md.splitlines() if not line.startswith("|"))
    # the attribute name shows up escaped in the gate messages
    assert "re\\|gion\\<b\\> \\& \\*co\\*" in md


# ---------------------------------------------------------------- leaderboard.csv

def test_leaderboard_columns_and_rows(result, tmp_path):
    write_leaderboard(result, tmp_path)
    with open(tmp_path / "leaderboard.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        header = reader.fieldnames
    fixed = ["rank", "variant", "candidate", "kind", "mitigation", "status", "selected",
             "uses_protected_at_decision"]
    assert header[:len(fixed)] == fixed
    expected = list(fixed)
    for m in result.metrics["performance"]:
        expected += [m, f"{m}_ci_low", f"{m}_ci_high"]
    for m in result.metrics["fairness"]:
        expected += [m, f"{m}_ci_low", f"{m}_ci_high", f"{m}_worst_attribute"]
    expected += ["p_adjusted_selection_rate", "p_adjusted_tpr", "p_adjusted_fpr"]
    gates = result.policy["gates"]
    for i, g in enumerate(gates):
        expected += [f"gate{i}_{g['metric']}", f"gate{i}_{g['metric']}_gap",
                     f"gate{i}_{g['metric']}_p_adjusted"]
    # then the proxy screen's two gates, numbered after the policy's
    for i, name in enumerate(("proxy_feature_auc", "proxy_all_auc"), start=len(gates)):
        expected += [f"gate{i}_{name}", f"gate{i}_{name}_gap", f"gate{i}_{name}_p_adjusted"]
    assert header == expected
    assert [row["variant"] for row in rows] == result.ranking.order
    for row in rows:
        v = result.variant(row["variant"])
        assert row["status"] == v.status and row["rank"] == str(v.rank)
        assert row["selected"] == str(v.name == result.ranking.selected)
        if v.status == "ERROR":
            assert row["roc_auc"] == "" and row["disparate_impact"] == ""
            continue
        # floats round-trip exactly
        assert float(row["roc_auc"]) == v.performance["roc_auc"].value
        assert float(row["roc_auc_ci_low"]) == v.performance["roc_auc"].ci[0]
        assert float(row["disparate_impact"]) == v.fairness["disparate_impact"].value
        assert row["disparate_impact_worst_attribute"] == v.fairness["disparate_impact"].attribute
        for g in result.gates:
            if g.variant == v.name:
                assert row[f"gate{g.gate}_{g.metric}"] == g.status
                assert float(row[f"gate{g.gate}_{g.metric}_gap"]) == pytest.approx(g.gap)
                p = row[f"gate{g.gate}_{g.metric}_p_adjusted"]
                assert (float(p) if p else None) == g.p_adjusted
        # the smallest adjusted p over every attribute and group, per tested rate
        for rate in ("selection_rate", "tpr", "fpr"):
            ps = [t.p_adjusted for a in v.attributes for grp in a.groups
                  for r, t in grp.significance.items() if r == rate]
            assert ps and float(row[f"p_adjusted_{rate}"]) == min(ps)


def test_leaderboard_of_constructed_variants(result, tmp_path):
    # a variant the policy's metric lists do not cover gets empty cells, not an error
    v = variant("solo", performance={"roc_auc": 0.7}, fairness={"disparate_impact": 0.9})
    r = result.model_copy(update={
        "variants": [v.model_copy(update={"rank": 1})], "gates": [],
        "ranking": Ranking(selected="solo", order=["solo"], objective="roc_auc", tolerance=0.01,
                           fairness_tiebreak="disparate_impact", reasons=[])})
    write_leaderboard(r, tmp_path)
    with open(tmp_path / "leaderboard.csv", newline="", encoding="utf-8") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["variant"] == "solo" and row["roc_auc"] == "0.7" and row["f1"] == ""
    assert row["selected"] == "True" and row["disparate_impact"] == "0.9"


def test_leaderboard_gate_metric_columns_when_the_first_variant_failed(result, tmp_path):
    from fairsel.report.tables import leaderboard_columns

    # a gate on a performance metric the policy's metric list omits, and the failed
    # candidate first among the variants
    broken_first = sorted(result.variants, key=lambda v: v.status != "ERROR")
    assert broken_first[0].status == "ERROR"
    extra = [g.model_copy(update={"gate": 9, "metric": "accuracy"})
             for g in result.gates if g.gate == 0]
    r = result.model_copy(update={"variants": broken_first, "gates": result.gates + extra})
    perf, fair = leaderboard_columns(r)
    assert "accuracy" in perf and "accuracy" not in fair
    write_leaderboard(r, tmp_path)
    with open(tmp_path / "leaderboard.csv", newline="", encoding="utf-8") as fh:
        rows = {row["variant"]: row for row in csv.DictReader(fh)}
    assert float(rows["logreg"]["accuracy"]) == r.variant("logreg").performance["accuracy"].value
    assert rows["broken"]["accuracy"] == ""


def test_summary_marks_variants_that_decide_with_the_protected_attribute():
    from fairsel.report.machine import summary_markdown
    from tests.unit.report.factory import make_result

    result = make_result()
    plain = summary_markdown(result)
    assert "⚑" not in plain
    marked = result.model_copy(update={"variants": [
        v.model_copy(update={"uses_protected_at_decision": i == 0})
        for i, v in enumerate(result.variants)]})
    text = summary_markdown(marked)
    rows = [ln for ln in text.splitlines() if ln.startswith("| ") and "⚑" in ln]
    assert len(rows) == 1
    assert "⚑ marks a variant that decides with the protected attribute (disparate treatment)" \
        in text


def test_atomic_write_text_gives_the_mode_of_any_other_output(tmp_path: Path):
    """comparison.md, comparison.json and init's policy were private (0600, mkstemp's mode)
    while report.html and the others follow the umask."""
    from fairsel.report.io import atomic_write_text

    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "comparison.md", "x\n")
        (tmp_path / "plain.txt").write_text("x\n")
    finally:
        os.umask(umask)
    mode = (tmp_path / "comparison.md").stat().st_mode & 0o777
    assert mode == (tmp_path / "plain.txt").stat().st_mode & 0o777 == 0o644
