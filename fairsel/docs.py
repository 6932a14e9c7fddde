"""The JSON Schemas of the policy file and of results.json, and the reference pages made from them.

``fairsel schema policy|results`` prints :func:`json_schema`; ``docs/policy.md`` and
``docs/results.md`` are :func:`reference_markdown` of the same schemas, so a key's meaning,
type and default are written once, in its ``Field(description=...)``. Regenerate the pages
after changing a schema::

    python -m fairsel.docs            # rewrite docs/policy.md and docs/results.md
    python -m fairsel.docs --check    # exit 1, naming the stale files, when they differ

(``tests/unit/test_schema_docs.py`` runs the check with the test suite.)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, NoDefault

#: What each schema documents: the page it is written to, its title and its introduction.
PAGES: dict[str, tuple[str, str, str]] = {
    "policy": ("policy.md", "Policy file reference (version 1)", (
        "Every key of a fairsel policy file: its path, type, default and meaning. Paths are "
        "relative to the policy file; a key a policy omits takes its default; an unknown key "
        "is an error with \"did you mean\". `fairsel validate --policy FILE` checks a policy "
        "without training; `fairsel schema policy` prints the same definitions as a JSON "
        "Schema. The metric names a policy may use are listed by `fairsel list metrics`, "
        "the estimators by `fairsel list estimators`, the mitigations by `fairsel list "
        "mitigations` and the output formats by `fairsel list formats`.")),
    "results": ("results.md", "results.json reference", (
        "Every field of the `results.json` that `fairsel audit` writes into its output "
        "folder: its path, type, default and meaning. `fairsel schema results` prints the same "
        "definitions as a JSON Schema; `fairsel render` and `fairsel compare` refuse a file "
        "that does not match it. Fields marked volatile change from run to run with identical "
        "inputs (`fairsel.results.VOLATILE_FIELDS`); everything else is the same for the same "
        "policy, data and seed.")),
}


class _WithFactoryDefaults(GenerateJsonSchema):
    """Pydantic's JSON Schema, with the defaults of ``default_factory`` fields too (a list of
    metrics, a nested section's defaults), so the schema states every default."""

    def get_default_value(self, schema) -> Any:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            return factory()
        return super().get_default_value(schema)


def json_schema(what: str) -> dict[str, Any]:
    """The JSON Schema of ``policy`` (the policy file) or ``results`` (results.json)."""
    if what == "policy":
        from fairsel.policy.schema import Policy as model
    elif what == "results":
        from fairsel.results import AuditResult as model
    else:
        raise ValueError(f"expected 'policy' or 'results', found {what!r}")
    return model.model_json_schema(schema_generator=_WithFactoryDefaults)


# -- the reference pages -------------------------------------------------------------------

def _cell(text: str) -> str:
    """Text for one Markdown table cell (``<name>`` outside code spans is escaped, or a
    Markdown viewer would read it as an HTML tag)."""
    parts = " ".join(str(text).replace("``", "`").split()).split("`")
    parts = [p if i % 2 else p.replace("<", "&lt;") for i, p in enumerate(parts)]
    return "`".join(parts).replace("|", "\\|")


class _Page:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.defs: dict[str, Any] = schema.get("$defs", {})
        self.sections: list[str] = []

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        return self.defs[ref.rsplit("/", 1)[-1]] if ref else node

    def type_of(self, node: dict[str, Any]) -> str:
        """A short type: ``integer ≥ 2``, ``list of string``, ``map: name → number``."""
        if "anyOf" in node:
            return " or ".join(dict.fromkeys(self.type_of(n) for n in node["anyOf"]))
        if "$ref" in node:
            return "object"
        if "enum" in node:
            return "one of " + ", ".join(f"`{json.dumps(v)}`" if not isinstance(v, str)
                                         else f"`{v}`" for v in node["enum"])
        if "const" in node:
            return f"`{json.dumps(node['const'])}`"
        kind = node.get("type", "any")
        if kind == "array":
            if "prefixItems" in node:
                return "[" + ", ".join(self.type_of(n) for n in node["prefixItems"]) + "]"
            item = self.type_of(node.get("items", {}))
            out = "list of " + (f"({item})" if " or " in item else item)
            if "minItems" in node or "maxItems" in node:
                lo, hi = node.get("minItems"), node.get("maxItems")
                out += (f" ({lo} items)" if lo == hi else
                        f" (≥ {lo} items)" if hi is None else f" (≤ {hi} items)" if lo is None
                        else f" ({lo}–{hi} items)")
            return out
        if kind == "object":
            extra = node.get("additionalProperties")
            if isinstance(extra, dict):
                return "map: name → " + self.type_of(extra)
            return "mapping"
        bounds = [f"{sym} {node[key]:,}" if isinstance(node[key], int) else f"{sym} {node[key]}"
                  for key, sym in (("minimum", "≥"), ("exclusiveMinimum", ">"),
                                   ("maximum", "≤"), ("exclusiveMaximum", "<")) if key in node]
        if "pattern" in node:
            bounds.append(f"matching `{node['pattern']}`")
        return " ".join([kind, ", ".join(bounds)]).strip()

    def default_of(self, name: str, prop: dict[str, Any], required: set[str]) -> str:
        if name in required:
            return "required"
        if "default" not in prop:
            return ""
        value = prop["default"]
        if isinstance(value, dict) and "$ref" in prop:
            return "each key's default"
        return f"`{json.dumps(value, ensure_ascii=False)}`"

    def children(self, node: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
        """The objects with properties inside a property's schema, with their key paths."""
        if "anyOf" in node:
            return [c for n in node["anyOf"] for c in self.children(n, path)]
        if "$ref" in node:
            return [(path, self.resolve(node))]
        if node.get("type") == "array" and isinstance(node.get("items"), dict):
            return self.children(node["items"], f"{path}[]")
        if node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict):
            return self.children(node["additionalProperties"], f"{path}.<name>")
        return []

    def section(self, node: dict[str, Any], path: str) -> None:
        """One table for an object's keys, then one for each object inside it."""
        required = set(node.get("required", ()))
        lines = [f"## `{path}`" if path else "## Top level", ""]
        if node.get("description"):
            lines += [_cell(node["description"]), ""]
        lines += ["| key | type | default | description |", "| --- | --- | --- | --- |"]
        nested: list[tuple[str, dict[str, Any]]] = []
        for name, prop in node.get("properties", {}).items():
            key = f"{path}.{name}" if path else name
            lines.append(f"| `{key}` | {_cell(self.type_of(prop))} | "
                         f"{_cell(self.default_of(name, prop, required))} | "
                         f"{_cell(prop.get('description', ''))} |")
            nested += self.children(prop, key)
        self.sections.append("\n".join(lines))
        for key, child in nested:
            self.section(child, key)


def reference_markdown(what: str) -> str:
    """The reference page of one schema (``docs/policy.md`` or ``docs/results.md``)."""
    _, title, intro = PAGES[what]
    schema = json_schema(what)
    page = _Page(schema)
    page.section(schema, "")
    head = (f"# {title}\n\n<!-- Generated by `python -m fairsel.docs` from `fairsel schema "
            f"{what}`; do not edit by hand: change the Field descriptions in the code and "
            "regenerate. A test fails when this file and the schema disagree. -->\n\n"
            f"{intro}\n")
    return head + "\n\n" + "\n\n".join(page.sections) + "\n"


def stale_pages(folder: Path) -> list[Path]:
    """The reference pages in ``folder`` that differ from what the schemas generate."""
    out = []
    for what, (name, _, _) in PAGES.items():
        path = folder / name
        try:
            current = path.read_text(encoding="utf-8")
        except OSError:
            current = None
        if current != reference_markdown(what):
            out.append(path)
    return out


def write_pages(folder: Path) -> list[Path]:
    """Write every reference page into ``folder``; the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for what, (name, _, _) in PAGES.items():
        path = folder / name
        path.write_text(reference_markdown(what), encoding="utf-8", newline="\n")
        out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m fairsel.docs", description=(
        "Write docs/policy.md and docs/results.md from the JSON Schemas (--check: only "
        "compare, exit 1 when they differ)."))
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--docs", type=Path, default=Path(__file__).resolve().parents[1] / "docs",
                        help="the docs folder (default: the checkout's docs/)")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_pages(args.docs)
        for path in stale:
            print(f"{path}: differs from the schema; run python -m fairsel.docs")
        return 1 if stale else 0
    for path in write_pages(args.docs):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
