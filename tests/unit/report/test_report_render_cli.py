"""`fairsel render` rebuilds the audit-time report byte for byte, without retraining."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

POLICY = Path(__file__).parent / "fixtures" / "tiny.yaml"


@pytest.fixture(scope="module")
def audited(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("audit")
    res = run_cli("audit", "--policy", str(POLICY), "--output", str(out), "--quiet")
    assert res.exit_code == 0, res.stderr
    return out


def test_audit_writes_html_and_pdf_when_the_policy_asks(audited):
    for name in ("results.json", "report.html", "report.pdf"):
        assert (audited / name).stat().st_size > 1000, name
    html = (audited / "report.html").read_text(encoding="utf-8")
    assert "Tiny audit &lt;b&gt;for&lt;/b&gt; report tests" in html
    assert "Example Lending Ltd" in html and "Ada Owner" in html
    assert (audited / "report.pdf").read_bytes().startswith(b"%PDF-")


def test_render_equals_the_audit_time_report(audited, tmp_path):
    res = run_cli("render", str(audited / "results.json"), "--format", "html,pdf",
                  "--output", str(tmp_path))
    assert res.exit_code == 0, res.stderr
    assert (tmp_path / "report.html").read_bytes() == (audited / "report.html").read_bytes()
    assert (tmp_path / "report.pdf").read_bytes() == (audited / "report.pdf").read_bytes()
    assert not (tmp_path / "predictions.parquet").exists()  # nothing was retrained
    # each file is named as its writing starts, before the closing line
    lines = res.stderr.splitlines()
    assert lines[:4] == ["fairsel: writing report: results.json",
                         "fairsel: writing report: leaderboard.csv",
                         "fairsel: writing report: report.html",
                         "fairsel: writing report: report.pdf"], res.stderr


def test_render_ignores_a_template_folder_named_by_the_results_file(audited, tmp_path):
    data = json.loads((audited / "results.json").read_text(encoding="utf-8"))
    data["policy"]["report"]["templates"] = "my_templates"
    data["provenance"]["policy_path"] = str(tmp_path / "policy.yaml")
    (tmp_path / "my_templates").mkdir()
    (tmp_path / "my_templates" / "_cover.html.j2").write_text("FROM THE RESULTS FILE",
                                                             encoding="utf-8")
    saved = tmp_path / "results.json"
    saved.write_text(json.dumps(data), encoding="utf-8")
    res = run_cli("render", str(saved), "--format", "html", "--output", str(tmp_path / "out"))
    assert res.exit_code == 0, res.stderr
    assert "'my_templates'); it was ignored" in res.stderr and "--templates DIR" in res.stderr
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "FROM THE RESULTS FILE" not in html
    assert '<p class="cover-kicker">Fairness audit report</p>' in html  # the shipped cover


def test_render_uses_templates_named_on_the_command_line(audited, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "_cover.html.j2").write_text(
        '<section class="cover" id="cover"><h1>MINE: {{ cover.title }}</h1></section>\n',
        encoding="utf-8")
    (folder / "report.css").write_text("body { color: #123456; }\n", encoding="utf-8")
    res = run_cli("render", str(audited / "results.json"), "--format", "html,pdf",
                  "--templates", str(folder), "--output", str(tmp_path / "out"))
    assert res.exit_code == 0, res.stderr
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "MINE: Tiny audit &lt;b&gt;for&lt;/b&gt; report tests" in html
    assert "#123456" in html and 'id="leaderboard"' in html
    assert (tmp_path / "out" / "report.pdf").read_bytes().startswith(b"%PDF-")


def test_render_refuses_a_missing_template_folder(audited, tmp_path):
    res = run_cli("render", str(audited / "results.json"), "--format", "html",
                  "--templates", str(tmp_path / "nope"), "--output", str(tmp_path / "out"))
    assert res.exit_code == 2, res.stderr
    assert f"--templates: '{tmp_path / 'nope'}' does not exist" in res.stderr
    assert "Traceback" not in res.stderr


def test_render_pdf_leaves_stderr_clean(audited, tmp_path):
    """No WeasyPrint or fontTools warning (font subsetting, HarfBuzz) leaks to the terminal:
    stderr holds fairsel's own progress lines only."""
    res = run_cli("render", str(audited / "results.json"), "--format", "pdf", "--output",
                  str(tmp_path))
    assert res.exit_code == 0, res.stderr
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF-")
    stray = [line for line in res.stderr.splitlines()
             if line.strip() and not line.startswith("fairsel:")]
    assert not stray, stray
    assert "warn" not in res.stderr.lower() and "fonttools" not in res.stderr.lower()
