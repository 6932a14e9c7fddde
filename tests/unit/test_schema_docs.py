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
