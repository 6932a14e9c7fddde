"""What CI sees: junit.xml (valid JUnit), summary.md and the step summary, the ::error /
::warning annotations, --fail-on warn, and the contract's exit codes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.conftest import ROOT, run_cli
from tests.e2e.test_existing_models import make_data, run_here

XSD = ROOT / "tests" / "fixtures" / "junit" / "junit.xsd"
XS = "{http://www.w3.org/2001/XMLSchema}"

GATES = [
    {"metric": "roc_auc", "min": 0.99},                          # fails for every variant
    {"metric": "balanced_accuracy", "min": 0.99},                # fails
    {"metric": "disparate_impact", "min": 0.999},                # fails
    {"metric": "equal_opportunity_difference", "max": 0.0001},   # fails
    {"metric": "roc_auc", "min": 0.5, "severity": "warn"},       # passes
]


def ci_policy(folder: Path, *, gates=None, n_variants: int = 3, min_group_size: int = 30,
              formats=("json", "junit", "markdown")) -> Path:
    frame = make_data(folder, n=600, seed=4)
    rng = np.random.default_rng(9)
    cols = {"id": frame["id"]}
    for k in range(n_variants):
        cols[f"s{k}"] = np.clip(frame["vendor_score"] + rng.normal(scale=0.1 * (k + 1),
                                                                   size=len(frame)), 0, 1)
    pd.DataFrame(cols).to_csv(folder / "scores.csv", index=False)
    policy = {
        "version": 1, "name": "ci", "seed": 1,
        "data": {"path": "data.csv", "target": "label", "favorable": "good", "id": "id",
                 "features": ["x1"]},
        "protected": [{"column": "sex"}],
        "min_group_size": min_group_size,
        "validation": {"scheme": "stratified_kfold", "folds": 3},
        "candidates": [{"name": f"v{k}", "kind": "predictions", "path": "scores.csv",
                        "score_column": f"s{k}"} for k in range(n_variants)],
        "metrics": {"performance": ["roc_auc", "balanced_accuracy"],
                    "fairness": ["disparate_impact", "equal_opportunity_difference"],
                    "confidence": {"method": "bootstrap", "level": 0.95, "resamples": 100}},
        "gates": gates if gates is not None else GATES,
        "report": {"output": "out", "formats": list(formats)},
        "proxies": False,  # these tests count the policy's own gates
    }
    path = folder / "policy.yaml"
    path.write_text(yaml.safe_dump(policy, sort_keys=False), encoding="utf-8")
    return path


# -- a small validator for the XSD in tests/fixtures/junit (used when xmlschema is absent) --------

def _schema_rules(xsd: Path) -> dict[str, dict]:
    """Per element: allowed and required attributes (with their types) and allowed children."""
    root = ET.parse(xsd).getroot()
    named_types = {t.get("name"): t for t in root.findall(f"{XS}complexType")}
    rules: dict[str, dict] = {}
    for el in root.findall(f"{XS}element"):
        ctype = el.find(f"{XS}complexType")
        if ctype is None and el.get("type") in named_types:
            ctype = named_types[el.get("type")]
        attrs, required, children = {}, set(), set()
        if ctype is not None:
            for a in ctype.iter(f"{XS}attribute"):
                attrs[a.get("name")] = a.get("type")
                if a.get("use") == "required":
                    required.add(a.get("name"))
            children = {c.get("ref") for c in ctype.iter(f"{XS}element")}
        rules[el.get("name")] = {"attrs": attrs, "required": required, "children": children,
                                 "text": ctype is None or ctype.get("mixed") == "true"}
    return rules


def _check_value(kind: str | None, value: str) -> bool:
    if kind == "count":
        return re.fullmatch(r"\d+", value) is not None
    if kind == "seconds":
        return re.fullmatch(r"\d+(\.\d+)?", value) is not None
    return True


def validate_junit(path: Path, engine: str = "auto") -> list[str]:
    """Problems of ``path`` against tests/fixtures/junit/junit.xsd (empty when valid).

    ``engine``: ``"xmlschema"`` (a full XSD validator, a test-only dependency), ``"builtin"``
    (the small checker above: elements, attributes, required attributes, counts), or
    ``"auto"``: xmlschema when installed.
    """
    xmlschema = None
    if engine in ("auto", "xmlschema"):
        try:
            import xmlschema
        except ImportError:
            if engine == "xmlschema":
                pytest.skip("xmlschema is not installed (a test-only dependency)")
    if xmlschema is not None:
        schema = xmlschema.XMLSchema(str(XSD))
        return [str(e.reason) for e in schema.iter_errors(str(path))]
    rules = _schema_rules(XSD)
    problems = []
    root = ET.parse(path).getroot()
    if root.tag != "testsuites":
        problems.append(f"root is <{root.tag}>, expected <testsuites>")

    def walk(el: ET.Element) -> None:
        rule = rules.get(el.tag)
        if rule is None:
            problems.append(f"<{el.tag}> is not a JUnit element")
            return
        for name, value in el.attrib.items():
            if name not in rule["attrs"]:
                problems.append(f"<{el.tag}> has attribute '{name}' the schema does not allow")
            elif not _check_value(rule["attrs"][name], value):
                problems.append(f"<{el.tag} {name}='{value}'> is not a {rule['attrs'][name]}")
        for name in rule["required"] - set(el.attrib):
            problems.append(f"<{el.tag}> lacks required attribute '{name}'")
        for child in el:
            if child.tag not in rule["children"]:
                problems.append(f"<{child.tag}> may not appear inside <{el.tag}>")
            walk(child)
    walk(root)
    return problems


@pytest.mark.parametrize("engine", ["builtin", "xmlschema"])
def test_the_validator_rejects_what_the_schema_forbids(tmp_path, engine):
    bad = tmp_path / "bad.xml"
    bad.write_text('<testsuites skipped="1"><testsuite name="s"><testcase classname="c">'
                   '<oops/></testcase></testsuite></testsuites>')
    problems = " | ".join(validate_junit(bad, engine))
    assert "skipped" in problems  # not an attribute of <testsuites>
    assert "tests" in problems  # <testsuite> needs it
    assert "name" in problems  # <testcase> needs it
    assert "oops" in problems


# -- junit.xml, summary.md, step summary ------------------------------------------------------------

@pytest.fixture(scope="module")
def failing_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ci")
    policy = ci_policy(folder)
    summary = folder / "step_summary.md"
    summary.write_text("## an earlier step\n")
    r = run_cli("audit", "--policy", str(policy), "--quiet",
                env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    return r, folder


def test_failing_gates_exit_1(failing_run):
    r, _ = failing_run
    assert r.exit_code == 1, r.stderr


@pytest.mark.parametrize("engine", ["builtin", "xmlschema"])
def test_junit_is_valid_against_the_junit_schema(failing_run, engine):
    _, folder = failing_run
    assert validate_junit(folder / "out" / "junit.xml", engine) == []


def test_junit_has_one_case_per_gate_and_variant(failing_run):
    _, folder = failing_run
    root = ET.parse(folder / "out" / "junit.xml").getroot()
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == 3 * len(GATES)
    names = {(c.get("classname"), c.get("name")) for c in cases}
    assert ("fairsel.ci.v1", "gate[0] roc_auc") in names
    assert root.get("tests") == str(3 * len(GATES))
    assert root.get("failures") == str(3 * 4)
    for suite in root.findall("testsuite"):
        assert suite.get("tests") == str(len(GATES)) and suite.get("failures") == "4"


def test_junit_failures_carry_observed_threshold_and_interval(failing_run):
    _, folder = failing_run
    root = ET.parse(folder / "out" / "junit.xml").getroot()
    from fairsel.results import load_results

    result = load_results(folder / "out" / "results.json")
    case = next(c for c in root.iter("testcase")
                if c.get("classname") == "fairsel.ci.v0" and c.get("name") == "gate[0] roc_auc")
    failure = case.find("failure")
    gate = next(g for g in result.gates if g.variant == "v0" and g.gate == 0)
    assert failure.get("type") == "GateFailed"
    assert failure.get("message") == gate.message
    text = failure.text
    assert f"observed {gate.observed:.4f}" in text
    assert "threshold min 0.99" in text
    assert f"[{gate.ci[0]:.3f}, {gate.ci[1]:.3f}]" in text
    passing = next(c for c in root.iter("testcase")
                   if c.get("classname") == "fairsel.ci.v0" and c.get("name") == "gate[4] roc_auc")
    assert passing.find("failure") is None and passing.find("system-out").text.startswith("PASS")


def test_summary_is_written_and_appended_to_the_step_summary(failing_run):
    _, folder = failing_run
    summary = (folder / "out" / "summary.md").read_text()
    assert summary.startswith("## fairsel audit: ci")
    assert "**Verdict: FAIL**" in summary
    step = (folder / "step_summary.md").read_text()
    assert step.startswith("## an earlier step\n")
    assert summary in step


def test_at_most_ten_annotations(failing_run):
    r, _ = failing_run
    lines = [line for line in r.stderr.splitlines() if line.startswith("::")]
    assert len(lines) == 10  # 12 failed gates, capped
    assert all(re.match(r"::(error|warning) title=fairsel gate [a-z_]+ \(v\d\)::", line)
               for line in lines)


def test_no_annotations_outside_github_actions(tmp_path):
    policy = ci_policy(tmp_path)
    summary = tmp_path / "step.md"
    r = run_here("audit", "--policy", str(policy), "--quiet")
    assert r.exit_code == 1
    assert not [line for line in r.stderr.splitlines() if line.startswith("::")]
    assert not summary.exists()


# -- --fail-on warn and the other exit codes --------------------------------------------------------

def test_fail_on_warn(tmp_path):
    policy = ci_policy(tmp_path, gates=[{"metric": "roc_auc", "min": 0.5},
                                        {"metric": "roc_auc", "min": 0.99, "severity": "warn"}])
    r = run_here("audit", "--policy", str(policy), "--quiet")
    assert r.exit_code == 0, r.stderr
    r = run_here("audit", "--policy", str(policy), "--quiet", "--fail-on", "warn")
    assert r.exit_code == 1, r.stderr
    r = run_here("audit", "--policy", str(policy), "--quiet",
                 env={"GITHUB_ACTIONS": "true"})
    warnings = [line for line in r.stderr.splitlines() if line.startswith("::warning ")]
    assert len(warnings) == 3 and not any(line.startswith("::error") for line in r.stderr.splitlines())
    root = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    assert root.get("failures") == "0"  # a warning is not a failed test case


def test_insufficient_evidence_exits_5(tmp_path):
    policy = ci_policy(tmp_path, gates=[{"metric": "disparate_impact", "min": 0.8}],
                       min_group_size=5000)
    r = run_here("audit", "--policy", str(policy), "--quiet")
    assert r.exit_code == 5, r.stderr
    root = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    assert root.findall(".//skipped")
    assert validate_junit(tmp_path / "out" / "junit.xml") == []


def test_passing_audit_exits_0_with_a_passing_junit(tmp_path):
    policy = ci_policy(tmp_path, gates=[{"metric": "roc_auc", "min": 0.5}])
    r = run_here("audit", "--policy", str(policy), "--quiet")
    assert r.exit_code == 0, r.stderr
    root = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    assert root.get("failures") == "0" and root.get("tests") == "3"
    assert validate_junit(tmp_path / "out" / "junit.xml") == []


def test_failures_are_annotated_before_warnings(tmp_path):
    warn = [{"metric": m, "min": 0.99, "severity": "warn"}
            for m in ("roc_auc", "balanced_accuracy", "disparate_impact", "roc_auc")]
    policy = ci_policy(tmp_path, gates=warn + [{"metric": "roc_auc", "min": 0.99}])
    r = run_here("audit", "--policy", str(policy), "--quiet", env={"GITHUB_ACTIONS": "true"})
    assert r.exit_code == 1, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("::")]
    assert len(lines) == 10  # 3 failures and 12 warnings, capped
    assert [line.split(" ")[0] for line in lines] == ["::error"] * 3 + ["::warning"] * 7
