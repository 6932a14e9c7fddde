"""Every key of the policy file and of results.json is described in its JSON Schema, and the
reference pages in docs/ are exactly what the schemas generate (the CI check)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fairsel.cli import main

ROOT = Path(__file__).resolve().parents[2]


def undescribed(schema: dict) -> list[str]:
    """The paths of every property (through $defs, anyOf, items, additionalProperties, ...)
    whose schema has no non-empty description."""
    missing: list[str] = []

    def walk(node, where: str) -> None:
        if isinstance(node, dict):
            for key, prop in (node.get("properties") or {}).items():
                desc = prop.get("description") if isinstance(prop, dict) else None
                if not (isinstance(desc, str) and desc.strip()):
                    missing.append(f"{where}.{key}")
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(schema, "#")
    return missing


def _printed_schema(what: str) -> dict:
    res = CliRunner().invoke(main, ["schema", what])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.mark.parametrize("what", ["policy", "results"])
def test_every_key_of_the_schema_is_described(what):
    schema = _printed_schema(what)
    missing = undescribed(schema)
    assert not missing, (f"`fairsel schema {what}` has keys without a description (give each "
                         "Field(description=...): meaning, default, unit or allowed values): "
                         + ", ".join(missing))


def test_the_walk_finds_an_undescribed_key_anywhere():
    """The check itself: a key without a description is found in $defs, under anyOf and items."""
    nested = {"type": "object", "properties": {"a": {"description": "fine"}},
              "$defs": {"X": {"properties": {"deep": {"type": "string"},
                                             "ok": {"description": "yes"}}}},
              "anyOf": [{"items": {"properties": {"inner": {"description": "  "}}}}]}
    assert undescribed(nested) == ["#/$defs/X.deep", "#/anyOf[0]/items.inner"]


# ---------------------------------------------------------------- docs/policy.md, docs/results.md

def test_the_checked_in_reference_pages_match_the_schemas():
    """The CI check: docs/policy.md and docs/results.md are what the schemas generate."""
    from fairsel.docs import stale_pages

    stale = stale_pages(ROOT / "docs")
    assert not stale, (f"{', '.join(p.name for p in stale)} differ from `fairsel schema`: run "
                       "`python -m fairsel.docs` and commit the result")


def test_the_check_fails_on_a_stale_page_and_passes_once_regenerated(tmp_path, capsys):
    from fairsel.docs import main

    assert main(["--docs", str(tmp_path)]) == 0
    assert main(["--check", "--docs", str(tmp_path)]) == 0
    page = tmp_path / "policy.md"
    page.write_text(page.read_text(encoding="utf-8").replace("(default 30)", "(default 20)"),
                    encoding="utf-8")
    capsys.readouterr()
    assert main(["--check", "--docs", str(tmp_path)]) == 1
    assert f"{page}: differs from the schema" in capsys.readouterr().out
    (tmp_path / "results.md").unlink()
    main(["--docs", str(tmp_path)])
    assert main(["--check", "--docs", str(tmp_path)]) == 0


@pytest.mark.parametrize("what", ["policy", "results"])
def test_the_printed_schema_is_the_documented_one(what):
    from fairsel.docs import json_schema

    assert _printed_schema(what) == json_schema(what)


def test_the_policy_schema_states_every_default():
    """Defaults made by a factory (lists, nested sections) are in the schema and the page too."""
    from fairsel.docs import reference_markdown
    from fairsel.policy.schema import MetricsSpec

    schema = _printed_schema("policy")
    metrics = schema["$defs"]["MetricsSpec"]["properties"]
    assert metrics["performance"]["default"] == MetricsSpec().performance
    assert schema["properties"]["metrics"]["default"]["confidence"]["resamples"] == 1000
    page = reference_markdown("policy")
    assert ('| `metrics.performance` | list of string | `["roc_auc", "balanced_accuracy", '
            '"f1", "brier_score"]` |') in page
    row = next(ln for ln in page.splitlines()
               if ln.startswith("| `candidates[].higher_is_favorable` |"))
    assert "| boolean | `true` |" in row and "score &lt; threshold, strictly below" in row


@pytest.mark.parametrize("what", ["policy", "results"])
def test_the_page_has_a_row_for_every_key(what):
    from fairsel.docs import reference_markdown

    schema = _printed_schema(what)
    rows = [ln for ln in reference_markdown(what).splitlines() if ln.startswith("| `")]
    keys = {ln.split("`")[1].rsplit(".", 1)[-1] for ln in rows}
    for model in [schema, *schema["$defs"].values()]:
        for name, prop in model.get("properties", {}).items():
            assert name in keys, f"{what}: key '{name}' has no row"
            assert any(ln.split("`")[1].endswith(name) and
                       " ".join(prop["description"].replace("``", "`").split())[:40]
                       .replace("<", "&lt;").replace("|", "\\|") in ln for ln in rows), name
