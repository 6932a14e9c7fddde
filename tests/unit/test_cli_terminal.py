"""What the terminal shows during and after an audit: stages with counts, the report files as
they are written, a final table that never cuts names, and a failure that says what fails."""

from __future__ import annotations

import itertools
import re

import pytest

import fairsel.cli as cli
from fairsel.report import render_into
from tests.unit.report.factory import make_result

#: the mitigation example's variant names: two threshold variants, equal opportunity and
#: equalized odds, which a cut at 100 columns made read alike
NAMES = ["gbm+reweighing", "logreg+reweighing", "logreg+reductions[demographic_parity]",
         "logreg+postprocessing[reject_option]", "logreg+threshold[demographic_parity]",
         "logreg+threshold[equalized_odds]", "gbm+threshold[demographic_parity]",
         "gbm+threshold[equalized_odds]", "gbm", "logreg",
         "logreg+postprocessing[calibrated_equalized_odds]"]


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def stage(self, name, total=None):
        self.events.append(("stage", name, total))

    def advance(self, steps=1):
        self.events.append(("advance", steps))

    def note(self, message):
        self.events.append(("note", message))


def _renamed(result, names):
    rename = dict(zip([v.name for v in result.variants], names))
    return result.model_copy(update={
        "variants": [v.model_copy(update={"name": rename[v.name]}) for v in result.variants],
        "gates": [g.model_copy(update={"variant": rename[g.variant]}) for g in result.gates],
        "ranking": result.ranking.model_copy(update={
            "order": [rename[n] for n in result.ranking.order],
            "selected": rename.get(result.ranking.selected)}),
        "verdict": result.verdict.model_copy(update={
            "selected": rename.get(result.verdict.selected)})})


def test_writing_the_report_is_a_stage_naming_each_file(tmp_path):
    rec = Recorder()
    written = render_into(make_result(seed=2), ["html", "markdown", "junit"], tmp_path,
                          progress=rec)
    stages = [e[1] for e in rec.events if e[0] == "stage"]
    assert stages == ["writing report: results.json", "writing report: leaderboard.csv",
                      "writing report: report.html", "writing report: summary.md",
                      "writing report: junit.xml"]
    assert sorted(written) == sorted(s.split(": ")[1] for s in stages)


def test_plain_progress_counts_steps_done_of_total(capsys):
    p = cli._PlainProgress(quiet=False)
    p.stage("cross-validating candidates", total=10)
    for _ in range(10):
        p.advance()
    p.stage("writing report: report.pdf")
    err = capsys.readouterr().err.splitlines()
    assert err == ["fairsel: cross-validating candidates (0/10)",
                   "fairsel: cross-validating candidates: 3/10",
                   "fairsel: cross-validating candidates: 5/10",
                   "fairsel: cross-validating candidates: 8/10",
                   "fairsel: cross-validating candidates: 10/10",
                   "fairsel: writing report: report.pdf"]
    quiet = cli._PlainProgress(quiet=True)
    quiet.stage("x", total=2)
    quiet.advance(2)
    assert capsys.readouterr().err == ""


def test_rich_progress_shows_fits_done_of_total_and_time_left_and_ends_each_stage():
    from rich.progress import MofNCompleteColumn, TimeRemainingColumn

    p = cli._RichProgress()
    assert any(isinstance(c, MofNCompleteColumn) for c in p.bar.columns)
    assert any(isinstance(c, TimeRemainingColumn) for c in p.bar.columns)
    p.stage("reading data")  # no known total: a pulse, until the next stage starts
    p.stage("cross-validating candidates", total=4)
    p.advance(3)
    first, second = p.bar.tasks
    assert first.finished and first.completed == first.total == 1
    assert second.completed == 3 and second.total == 4 and not second.finished


def _variant_lines(out: str) -> list[list[list[str]]]:
    """The variant column of each table printed: per row, the lines of its name (the text
    between the header's "variant" and "status")."""
    tables, lines = [], out.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^\s+#\s+variant\s", line):
            start, end = line.index("variant"), line.index("status")
            names: list[list[str]] = []
            for row in lines[i + 2:]:
                if not row.strip():
                    break
                cell = row[start:end].strip()
                if row[:start].strip():  # a rank: a new row
                    names.append([cell])
                else:
                    names[-1].append(cell)
            tables.append(names)
    return tables


def _variant_cells(out: str) -> list[list[str]]:
    """The variant column of each table printed, one full name per row (wrapped lines
    joined)."""
    return [["".join(parts) for parts in names] for names in _variant_lines(out)]


@pytest.mark.parametrize("columns", ["100", "72"])
def test_the_final_table_never_cuts_names_on_a_narrow_terminal(monkeypatch, capsys, columns):
    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.setattr(cli, "_use_rich", lambda: True)
    result = _renamed(make_result(n_variants=len(NAMES), seed=3), NAMES)
    cli._print_leaderboard(result)
    out = capsys.readouterr().err
    assert "…" not in out
    tables = _variant_cells(out)
    assert tables
    for names in tables:
        assert sorted(n.removeprefix("★").strip() for n in names) == sorted(NAMES)
    assert "DI = disparate_impact" in out and "EO diff. = equal_opportunity_difference" in out
    assert all(len(line) <= int(columns) for line in out.splitlines())


@pytest.mark.parametrize("columns", ["100", "72"])
def test_the_final_table_wraps_names_where_their_parts_meet(monkeypatch, capsys, columns):
    """At 100 columns "logreg+threshold[equalized_odds]" read "logreg+threshold[equalized_od"
    over "ds]": a name wraps after "+", before "[" or after "_", never inside a word."""
    from fairsel.report.fmt import name_parts

    monkeypatch.setenv("COLUMNS", columns)
    monkeypatch.setattr(cli, "_use_rich", lambda: True)
    cli._print_leaderboard(_renamed(make_result(n_variants=len(NAMES), seed=3), NAMES))
    tables = _variant_lines(capsys.readouterr().err)
    assert tables
    wrapped = 0
    for names in tables:
        for lines in names:
            name = "".join(lines).removeprefix("★").strip()
            cuts = set(itertools.accumulate(len(part) for part in name_parts(name)))
            at = 0
            for line in lines[:-1]:
                at += len(line.removeprefix("★").strip()) if at == 0 else len(line)
                assert at in cuts, (name, lines)
            wrapped += len(lines) > 1
    assert wrapped  # some names are too long for the column


@pytest.mark.parametrize("rich", [False, True])
def test_a_failed_run_names_the_failing_gates_once(monkeypatch, capsys, rich):
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(cli, "_use_rich", lambda: rich)
    result = make_result(seed=11, passing=False)
    cli._print_leaderboard(result)
    out = re.sub(r"\s+", " ", capsys.readouterr().err)
    assert out.count("no variant passes every error-severity gate") == 1
    failing = [g for g in result.gates if g.status == "FAIL" and g.severity == "error"]
    assert failing
    for g in failing:
        assert f"{g.variant}: " in out
        assert f"gate {g.gate + 1} {g.metric} = " in out
    assert "misses by" in out and " on " in out


def test_an_audit_shows_its_stages_with_counts_and_each_report_file(tmp_path):
    from pathlib import Path

    from tests.conftest import run_cli

    policy = Path(__file__).parent / "report" / "fixtures" / "tiny.yaml"
    res = run_cli("audit", "--policy", str(policy), "--output", str(tmp_path),
                  "--format", "json,markdown")
    assert res.exit_code == 0, res.stderr
    lines = res.stderr.splitlines()
    cv = [line for line in lines if line.startswith("fairsel: cross-validating candidates")]
    total = re.fullmatch(r"fairsel: cross-validating candidates \(0/(\d+)\)", cv[0]).group(1)
    assert cv[-1] == f"fairsel: cross-validating candidates: {total}/{total}"
    writing = [line for line in lines if line.startswith("fairsel: writing report: ")]
    assert writing[:3] == ["fairsel: writing report: results.json",
                           "fairsel: writing report: leaderboard.csv",
                           "fairsel: writing report: summary.md"]


def test_one_quantity_under_two_names_is_shown_with_the_same_digits(monkeypatch, capsys):
    """Generic template (demographic_parity_ratio ≥ 0.8 gated, disparate_impact not): the
    terminal showed logreg's disparate_impact "0.800" beside its demographic_parity_ratio
    "0.7999", the same figure."""
    from fairsel.report.tables import gate_thresholds

    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setattr(cli, "_use_rich", lambda: False)
    result = make_result(seed=3)
    v = result.variants[0]
    di = v.fairness["disparate_impact"].model_copy(update={"value": 0.7999})
    fairness = {**v.fairness, "disparate_impact": di, "demographic_parity_ratio": di}
    variants = [v.model_copy(update={"fairness": fairness}), *result.variants[1:]]
    gates = [g.model_copy(update={"metric": "demographic_parity_ratio"})
             if g.metric == "disparate_impact" else g for g in result.gates]
    assert any(g.metric == "demographic_parity_ratio" and g.min == 0.8 for g in gates)
    metrics = {**result.metrics,
               "fairness": [*result.metrics["fairness"], "demographic_parity_ratio"]}
    result = result.model_copy(update={"variants": variants, "gates": gates, "metrics": metrics})
    cli._print_leaderboard(result)
    row = next(line for line in capsys.readouterr().err.splitlines()
               if re.match(rf"^{v.rank}\s+\S*{re.escape(v.name)}\s", line))
    assert row.count("0.7999") == 2, row  # disparate_impact and demographic_parity_ratio
    assert 0.8 in gate_thresholds(result).get("disparate_impact", ())
