"""Read a policy file safely and turn every problem into a message that names the key."""

from __future__ import annotations

import hashlib
import math
import re
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from fairsel.errors import PolicyError, did_you_mean
from fairsel.policy.compliance import apply_compliance, refusals
from fairsel.policy.limits import MAX_ALIASES, MAX_BIN_EDGES, MAX_DEPTH, MAX_EXPANDED_SIZE
from fairsel.policy.schema import CANDIDATE_KEYS, Policy


class _LimitExceeded(Exception):
    """The policy exceeds one of :mod:`fairsel.policy.limits` (line is 1-based)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last).

    It also counts while it composes, before any Python object is built: aliases, nesting
    depth, and the size the document would have with every alias expanded (an alias costs
    the full size of the node it names), so an alias chain of a few hundred bytes that would
    expand to gigabytes is refused at the alias that crosses the limit.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._path: list[Any] = []  # key path of the node being composed (None: a key)
        self._expanded = 0
        self._sizes: dict[int, int] = {}  # id(node) → expanded size, once the node is complete

    def _where(self) -> str:
        parts = [p for p in self._path if p is not None]
        if len(parts) > 8:  # a path as deep as the nesting limit says little past its start
            return f"{format_path(parts[:8])} …: "
        return f"{format_path(parts)}: " if parts else ""

    def _grow(self, size: int, mark: yaml.Mark, alias: str | None) -> None:
        self._expanded += size
        if self._expanded <= MAX_EXPANDED_SIZE:
            return
        if self._aliases:
            what = (f"with its aliases expanded (here *{alias}), the policy is more than "
                    if alias else "with its aliases expanded, the policy is more than ")
            fix = "a YAML alias repeats the whole block it names: remove the chain of aliases"
        else:
            what, fix = "the policy is more than ", "no policy needs that much: shorten it"
        raise _LimitExceeded(mark.line + 1, (
            f"{self._where()}{what}{MAX_EXPANDED_SIZE:,} characters long (the limit on a "
            f"policy's expanded size is {MAX_EXPANDED_SIZE:,}); {fix}"))

    def compose_node(self, parent, index):  # noqa: ANN001 — PyYAML's signature
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(parent, yaml.SequenceNode):
            part = index
            if index >= MAX_BIN_EDGES and _is_bins(self._path):
                raise _LimitExceeded(line, f"{self._where()}{_too_many_bins('more')}")
        else:
            part = index.value if isinstance(index, yaml.ScalarNode) else None
        self._path.append(part)
        try:
            if isinstance(event, yaml.AliasEvent):
                self._aliases += 1
                if self._aliases > MAX_ALIASES:
                    raise _LimitExceeded(line, (
                        f"{self._where()}more than {MAX_ALIASES} YAML aliases (*{event.anchor}) "
                        f"(the limit on aliases in a policy is {MAX_ALIASES}); write the values "
                        "out instead"))
                target = self.anchors.get(event.anchor)
                if target is not None:
                    size = self._sizes.get(id(target))
                    if size is None:  # the alias sits inside the very node it names
                        raise _LimitExceeded(line, (
                            f"{self._where()}the alias *{event.anchor} refers to a block that "
                            "contains it, so it would expand forever; write the values out"))
                    self._grow(size, event.start_mark, event.anchor)
                return super().compose_node(parent, index)
            if len(self._path) > MAX_DEPTH:
                raise _LimitExceeded(line, (
                    f"{self._where()}lists and mappings nest more than {MAX_DEPTH} levels deep (the limit on "
                    f"nesting in a policy is {MAX_DEPTH})"))
            start = self._expanded
            value = getattr(event, "value", None)
            self._grow(1 + (len(value) if isinstance(value, str) else 0), event.start_mark, None)
            node = super().compose_node(parent, index)
            self._sizes[id(node)] = self._expanded - start
            return node
        finally:
            self._path.pop()


def _is_bins(path: list[Any]) -> bool:
    """Whether ``path`` is ``protected[i] → bins``."""
    path = [p for p in path if p is not None]
    return (len(path) == 3 and path[0] == "protected" and isinstance(path[1], int)
            and path[2] == "bins")


def _too_many_bins(found: str) -> str:
    return (f"expected at most {MAX_BIN_EDGES} edges (the limit on bins per attribute is "
            f"{MAX_BIN_EDGES} edges, {MAX_BIN_EDGES - 1} groups), found {found}; use fewer, "
            "wider bins")


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key_node, yaml.ScalarNode):  # "? [1, 2]": a list as a key
            raise yaml.MarkedYAMLError(
                problem="a key must be a single name, found a "
                        + ("list" if isinstance(key_node, yaml.SequenceNode) else "mapping")
                        + "; write the key as text",
                problem_mark=key_node.start_mark)
        if key in seen:
            raise yaml.MarkedYAMLError(
                problem=f"duplicate key '{key}' (first on line {seen[key]}); keep only one",
                problem_mark=key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _construct_int(loader: _UniqueKeyLoader, node: yaml.ScalarNode):
    try:
        return yaml.SafeLoader.construct_yaml_int(loader, node)
    except ValueError:  # Python refuses to convert more than 4,300 digits
        raise yaml.MarkedYAMLError(
            problem=f"a number of {len(str(node.value))} characters is too long to read; "
                    "write a number of a reasonable size",
            problem_mark=node.start_mark) from None


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def format_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("gates", 0, "metric")`` → ``gates[0] → metric``."""
    out: list[str] = []
    for part in loc:
        if isinstance(part, int) and out:
            out[-1] += f"[{part}]"
        else:
            out.append(str(part))
    return " → ".join(out)


def _node_at(root: yaml.Node | None, loc: tuple[Any, ...]) -> tuple[yaml.Node | None, int | None]:
    """The node at ``loc`` in the composed YAML tree (or ``None``) and its line (1-based).

    A key the file does not spell gets its nearest spelt parent's line, or none.
    """
    node = root
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if k.value == str(part):
                    nxt = v
                    line = k.start_mark.line + 1
                    break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return None, line
        if node is None:
            break
    return node, line


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Line (1-based) of the node at ``loc`` in the composed YAML tree, as deep as it exists."""
    return _node_at(root, loc)[1]


#: Words YAML 1.1 (PyYAML) reads as booleans although they look like text.
_BOOL_WORDS = {"yes", "no", "on", "off"}


def _bool_word(root: yaml.Node | None, loc: tuple[Any, ...]) -> str | None:
    """The word at ``loc`` when it is an unquoted yes/no/on/off that YAML read as a boolean."""
    node, _ = _node_at(root, loc)
    if (isinstance(node, yaml.ScalarNode) and node.style is None
            and node.tag == "tag:yaml.org,2002:bool" and node.value.lower() in _BOOL_WORDS):
        return node.value
    return None


def _bool_hint(word: str, *, boolean_column: bool = False) -> str:
    """What YAML made of an unquoted yes/no/on/off, and how to say what was meant."""
    as_bool = str(word.lower() in ("yes", "on")).lower()
    hint = f"YAML reads the unquoted {word} as the boolean {as_bool}: quote it ('{word}') to " \
           "mean the text"
    return f"{hint}, or write {as_bool} for a true/false column" if boolean_column else hint


def _unwrap(tp: Any) -> list[type[BaseModel]]:
    """The pydantic models inside an annotation (through Optional, list, Union)."""
    origin = typing.get_origin(tp)
    if origin is None:
        return [tp] if isinstance(tp, type) and issubclass(tp, BaseModel) else []
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(tp):
        out.extend(_unwrap(arg))
    return out


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Policy
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        models = _unwrap(field.annotation)
        model = models[0] if models else None
    return model


_EXPECTED = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false",
    "bool_parsing": "true or false", "string_type": "a string", "list_type": "a list",
    "tuple_type": "a list", "dict_type": "a mapping", "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):  # as YAML spells it, not Python's True
        return f"{str(value).lower()} (bool)"
    return f"{value!r} ({type(value).__name__})"


def _is_member_tag(part: Any) -> bool:
    """A union member's name that pydantic puts in an error's loc (``str``, ``list[str]``, a
    spec class such as ``ProxiesSpec`` in ``proxies: ProxiesSpec | bool``, ...)."""
    return isinstance(part, str) and (
        part in {"str", "bool", "int", "float", "none"}
        or part.startswith(("list[", "tuple[", "literal[", "function-", "dict[", "union["))
        or (part.endswith("Spec") and part[:1].isupper()))  # policy keys are lower case


def _strip_tags(loc: tuple[Any, ...] | list[Any]) -> tuple[Any, ...]:
    return tuple(p for p in loc if not _is_member_tag(p))


def _message(err: dict[str, Any], raw: Any) -> tuple[tuple[Any, ...], str]:
    loc = _strip_tags(err["loc"])
    etype = err["type"]
    ctx = err.get("ctx") or {}
    found = _describe(err.get("input"))
    if etype == "missing":
        return loc[:-1] or ("(top level)",), f"required key '{loc[-1]}' is missing"
    if etype == "extra_forbidden":
        model = _model_at(loc[:-1])
        hint = did_you_mean(str(loc[-1]), list(model.model_fields)) if model else ""
        return loc, f"unknown key '{loc[-1]}'{hint}"
    if etype == "union_type":
        return loc, f"expected {ctx['expected']}, found {found}"
    if etype == "literal_error":
        return loc, f"expected one of {ctx.get('expected')}, found {found}"
    if etype in _EXPECTED:
        return loc, f"expected {_EXPECTED[etype]}, found {found}"
    bounds = {"greater_than_equal": ("≥", "ge"), "greater_than": (">", "gt"),
              "less_than_equal": ("≤", "le"), "less_than": ("<", "lt")}
    if etype in bounds:
        sym, key = bounds[etype]
        return loc, f"expected a value {sym} {ctx.get(key)}, found {found}"
    if etype == "too_short":
        return loc, f"expected at least {ctx.get('min_length')} item(s), found {ctx.get('actual_length')}"
    if etype == "too_long":
        return loc, f"expected at most {ctx.get('max_length')} item(s), found {ctx.get('actual_length')}"
    if etype == "string_pattern_mismatch":
        return loc, (f"expected letters, digits, '_', '-' or '.' (it names files), found {found}")
    return loc, f"{err['msg'][0].lower()}{err['msg'][1:]}, found {found}"


class _Located:
    """Builds ``file:line: path: message`` for a location in the policy."""

    def __init__(self, path: Path, root: yaml.Node | None) -> None:
        self.path = path
        self.root = root

    def __call__(self, loc: tuple[Any, ...], message: str) -> str:
        line = _line_of(self.root, loc) if loc and loc[0] != "(top level)" else None
        where = f"{self.path}:{line}" if line else str(self.path)
        return f"{where}: {format_path(loc)}: {message}"


def _expected_of(err: dict[str, Any]) -> str | None:
    """What one union member expected, in words (``None`` if the error is not about the type)."""
    if err["type"] == "literal_error":
        return str((err.get("ctx") or {}).get("expected"))
    return _EXPECTED.get(err["type"])


def _pick_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Turn pydantic's one-error-per-union-member into one error per location.

    A member whose error lies deeper than the member itself (``features[0]`` of a list)
    matched the input's shape, so only its errors are kept. Members that all refused the
    input's type become one error listing every type the key accepts.
    """
    def deeper_member_exists(err: dict[str, Any]) -> bool:
        loc = err["loc"]
        for i, part in enumerate(loc):
            if _is_member_tag(part) and i == len(loc) - 1:
                return any(o["loc"][:i] == loc[:i] and len(o["loc"]) > i + 1
                           and _is_member_tag(o["loc"][i]) and o["loc"][i] != part
                           for o in errors)
        return False

    kept = [e for e in errors if not deeper_member_exists(e)]
    out: list[dict[str, Any]] = []
    by_loc: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for err in kept:
        loc = _strip_tags(err["loc"])
        if loc not in by_loc:
            by_loc[loc] = []
            out.append(err)
        by_loc[loc].append(err)
    for i, err in enumerate(out):
        group = by_loc[_strip_tags(err["loc"])]
        wanted = [w for w in (_expected_of(e) for e in group) if w]
        if len(group) > 1 and len(wanted) == len(group):
            if {"a string", "a number", "true or false"} <= set(wanted):
                words = "a single value (text, a number, or true or false)"
                if "a list" in wanted:
                    words += " or a list of them"
            else:
                words = " or ".join(dict.fromkeys(wanted))
            out[i] = {**err, "type": "union_type", "ctx": {"expected": words}}
    return out


def _drop_misspelt_missing(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop "required key 'x' is missing" when an unknown key beside it is 'x' misspelt.

    The unknown key's "did you mean 'x'?" already says what to fix; both messages would
    send the reader looking for two problems where there is one.
    """
    import difflib

    suggested: set[tuple[Any, ...]] = set()
    for err in errors:
        if err["type"] == "extra_forbidden":
            loc = _strip_tags(err["loc"])
            model = _model_at(loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields) if model else [],
                                              n=1, cutoff=0.6)
            if close:
                suggested.add((*loc[:-1], close[0]))
    return [e for e in errors
            if not (e["type"] == "missing" and _strip_tags(e["loc"]) in suggested)]


def _cross_checks(policy: Policy, loc_msg: _Located) -> list[str]:
    problems: list[str] = []
    for i, cand in enumerate(policy.candidates):
        allowed = CANDIDATE_KEYS[cand.kind]
        for key in sorted(cand.model_fields_set - {"name", "kind"} - allowed):
            problems.append(loc_msg(("candidates", i, key),
                                    f"key '{key}' does not apply to kind '{cand.kind}' "
                                    f"(it takes: {', '.join(sorted(allowed))})"))
        if cand.kind == "sklearn" and not cand.estimator:
            problems.append(loc_msg(("candidates", i), "kind 'sklearn' needs 'estimator' "
                                    "(fairsel list estimators)"))
        if cand.kind in ("saved_model", "predictions", "mlflow") and not cand.path:
            problems.append(loc_msg(("candidates", i), f"kind '{cand.kind}' needs 'path'"))
        if cand.kind == "predictions":
            if not (cand.score_column or cand.decision_column):
                problems.append(loc_msg(("candidates", i), "kind 'predictions' needs "
                                        "'score_column' or 'decision_column'"))
            if cand.score_column and cand.decision_column:
                problems.append(loc_msg(("candidates", i), "kind 'predictions' takes "
                                        "'score_column' or 'decision_column', not both"))
            if cand.decision_column and "threshold" in cand.model_fields_set:
                problems.append(loc_msg(("candidates", i, "threshold"), "a threshold does not "
                                        "apply to hard decisions ('decision_column'); remove it"))
            if policy.data.id is None:
                problems.append(loc_msg(("candidates", i), "kind 'predictions' is joined on "
                                        "the row id: set data → id to the id column"))
    names = [c.name for c in policy.candidates]
    for i, name in enumerate(names):
        if name in names[:i]:
            problems.append(loc_msg(("candidates", i, "name"),
                                    f"candidate name '{name}' is used twice"))
    for i, gate in enumerate(policy.gates):
        if gate.min is None and gate.max is None:
            problems.append(loc_msg(("gates", i), "a gate needs 'min' or 'max' (or both); found neither"))
        elif gate.min is not None and gate.max is not None and gate.min > gate.max:
            problems.append(loc_msg(("gates", i), f"'min' ({gate.min}) is above 'max' ({gate.max})"))
    cols = [p.column for p in policy.protected]
    for i, prot in enumerate(policy.protected):
        if prot.column in cols[:i]:
            problems.append(loc_msg(("protected", i, "column"),
                                    f"column '{prot.column}' is listed twice"))
        if prot.labels is not None and prot.bins is None:
            problems.append(loc_msg(("protected", i, "labels"), "'labels' needs 'bins'"))
        if prot.bins is not None:
            if len(prot.bins) > MAX_BIN_EDGES:
                problems.append(loc_msg(("protected", i, "bins"),
                                        _too_many_bins(f"{len(prot.bins):,}")))
            elif len(prot.bins) < 2 or any(b >= c for b, c in zip(prot.bins, prot.bins[1:])):
                problems.append(loc_msg(("protected", i, "bins"),
                                        f"expected at least two increasing edges, found {prot.bins}"))
            elif prot.labels is not None and len(prot.labels) != len(prot.bins) - 1:
                problems.append(loc_msg(("protected", i, "labels"),
                                        f"expected {len(prot.bins) - 1} labels (one per bin), "
                                        f"found {len(prot.labels)}"))
    for i, f in enumerate(policy.data.exclude_rows):
        conds = [k for k in ("equals", "outside", "below", "above", "missing")
                 if getattr(f, k) is not None]
        if len(conds) != 1:
            problems.append(loc_msg(("data", "exclude_rows", i),
                                    "expected exactly one of equals, outside, below, above, "
                                    f"missing; found {conds or 'none'}"))
        elif f.outside is not None and f.outside[0] > f.outside[1]:
            problems.append(loc_msg(("data", "exclude_rows", i, "outside"),
                                    f"expected [low, high] with low ≤ high, found {f.outside}"))
    if not isinstance(policy.intersections, bool) and policy.intersections < 2:
        problems.append(loc_msg(("intersections",),
                                "expected true, false or the most attributes an intersection "
                                f"combines (2 or more), found {policy.intersections}; use false "
                                "to audit each attribute alone"))
    if policy.validation.scheme == "stratified_kfold" and policy.validation.groups:
        problems.append(loc_msg(("validation", "scheme"),
                                "scheme 'stratified_kfold' splits rows without regard to "
                                f"validation → groups ('{policy.validation.groups}'), so a cluster "
                                "would sit on both sides of a split; use stratified_group_kfold, "
                                "or remove validation → groups"))
    if policy.validation.scheme in ("group_kfold", "leave_one_group_out") and not policy.validation.groups:
        problems.append(loc_msg(("validation", "scheme"),
                                f"scheme '{policy.validation.scheme}' needs validation → groups "
                                "(the cluster column)"))
    return problems


#: PyYAML's terse problems, with what usually causes them.
_YAML_HINTS = {
    "mapping values are not allowed here": "check the indentation of this line, or quote a value "
                                            "that contains ': '",
    "could not find expected ':'": "a key needs ': ' after it; check this line and the one above",
    "found character '\\t' that cannot start any token": "indent with spaces (YAML does not "
                                                          "allow tabs)",
}

#: Characters that start something else than text in YAML when a value begins with them.
_INDICATORS = {">": "a folded block", "|": "a literal block", "*": "an alias", "&": "an anchor",
               "!": "a tag", "@": "a reserved character", "`": "a reserved character",
               "%": "a directive"}


def _quote_hint(text: str, mark: yaml.Mark | None) -> str:
    """``... ({problem}): quote the value: favorable: '>50K'`` for a value that starts with an
    indicator on the line of ``mark`` (a template for ``str.format``), or ``""``."""
    if mark is None:
        return ""
    lines = text.splitlines()
    if mark.line >= len(lines):
        return ""
    m = re.match(r"^(\s*(?:-\s+)?(?:[^\s:#'\"][^:#]*:\s+)?)(\S.*?)\s*$", lines[mark.line])
    if not m or m.group(2)[0] not in _INDICATORS:
        return ""
    value = m.group(2)
    prefix = m.group(1).strip()
    quoted = "'" + value.replace("'", "''") + "'"
    fixed = f"{prefix} {quoted}" if prefix else quoted
    return (f"a value that starts with '{value[0]}' is read as {_INDICATORS[value[0]]} "
            "({problem}): quote the value: " + fixed.replace("{", "{{").replace("}", "}}"))


def _yaml_problem(exc: yaml.MarkedYAMLError, text: str = "") -> str:
    """PyYAML's problem, with where the unfinished construct began and a likely fix."""
    problem = exc.problem or str(exc)
    ctx, ctx_mark, mark = exc.context, exc.context_mark, exc.problem_mark
    if ctx and ctx_mark is not None and (mark is None or ctx_mark.line != mark.line):
        problem += f" ({ctx} that starts on line {ctx_mark.line + 1})"
    quote = _quote_hint(text, mark if ctx_mark is None or not ctx else ctx_mark)
    if quote:
        return quote.format(problem=problem)
    for cue, hint in _YAML_HINTS.items():
        if cue in problem:
            problem += f"; {hint}"
            break
    return problem


def _compose(text: str) -> tuple[Any, yaml.Node | None]:
    """(Python value, composed tree) of ``text``, checked against the limits before building."""
    loader = _UniqueKeyLoader(text)
    try:
        root = loader.get_single_node()
        raw = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return raw, root


def _non_finite(raw: Any, loc: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], float]]:
    """Every NaN or infinity in the policy's values, with its key path."""
    if isinstance(raw, float) and not math.isfinite(raw):
        return [(loc, raw)]
    if isinstance(raw, dict):
        return [hit for k, v in raw.items() for hit in _non_finite(v, (*loc, k))]
    if isinstance(raw, list):
        return [hit for i, v in enumerate(raw) for hit in _non_finite(v, (*loc, i))]
    return []


def _text_value_locs(raw: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Keys whose value may be text, a number or a boolean: an unquoted yes/no there is a trap."""
    def items(d: Any, key: str) -> list[Any]:
        return d.get(key) if isinstance(d, dict) and isinstance(d.get(key), list) else []

    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    locs: list[tuple[Any, ...]] = [("data", "favorable")]
    locs += [("protected", i, "reference") for i, _ in enumerate(items(raw, "protected"))]
    for i, f in enumerate(items(data, "exclude_rows")):
        locs.append(("data", "exclude_rows", i, "equals"))
        locs += [("data", "exclude_rows", i, "equals", j) for j, _ in enumerate(items(f, "equals"))]
    return locs


def _early_checks(raw: dict[str, Any], located: _Located) -> list[str]:
    """Problems pydantic would let through: non-finite numbers, yes/no read as booleans."""
    problems = []
    for loc, value in _non_finite(raw):
        spelt = ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
        fix = ("use an edge beyond every value for an open-ended bin" if "bins" in loc
               else "write a finite number, or leave the key out")
        problems.append(located(loc, f"expected a finite number, found {spelt}; a policy takes "
                                     f"no NaN or infinity: {fix}"))
    for loc in _text_value_locs(raw):
        word = _bool_word(located.root, loc)
        if word is not None:
            problems.append(located(loc, _bool_hint(word, boolean_column=True)))
    return problems


def parse_policy(text: str, path: str | Path = "policy.yaml") -> Policy:
    """Validate policy ``text`` (as read from ``path``) into a frozen :class:`Policy`."""
    path = Path(path)
    try:
        raw, root = _compose(text)
    except _LimitExceeded as exc:
        raise PolicyError(f"{path}:{exc.line}: {exc.message}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise PolicyError(f"{path}{line}: YAML error: {_yaml_problem(exc, text)}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: YAML error: {exc}") from None
    located = _Located(path, root)
    if not isinstance(raw, dict):
        raise PolicyError(f"{path}: expected a mapping of policy keys (version, name, data, ...), "
                          f"found {_describe(raw)}")
    if "version" in raw and raw["version"] != 1:
        raise PolicyError(located(("version",), f"this fairsel reads policy version 1, found "
                                  f"{_describe(raw['version'])}"))
    problems = _early_checks(raw, located)
    if problems:
        raise PolicyError("\n".join(problems))
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        msgs = []
        for e in _drop_misspelt_missing(_pick_errors(exc.errors())):
            loc, msg = _message(e, raw)
            word = _bool_word(root, loc) if e["type"] == "string_type" else None
            msgs.append(located(loc, f"{msg}; {_bool_hint(word)}" if word else msg))
        raise PolicyError("\n".join(msgs)) from None
    problems = _cross_checks(policy, located)
    problems += [located(loc, msg) for loc, msg in refusals(policy)]
    if problems:
        raise PolicyError("\n".join(problems))
    policy = apply_compliance(policy)
    policy._path = path
    policy._text = text
    policy._sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return policy


def load_policy(path: str | Path) -> Policy:
    """Read and validate the policy file at ``path``.

    Raises
    ------
    PolicyError
        The file is missing or unreadable, is not valid YAML (duplicate keys included), or
        breaks the schema; the message names the file, line, key path, expected and found.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PolicyError(f"{path}: policy file not found (check the path given to --policy)") from None
    except IsADirectoryError:
        raise PolicyError(f"{path}: is a folder, expected a policy file (.yaml)") from None
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read the policy file: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise PolicyError(f"{path}:{line}: expected UTF-8 text, found byte "
                          f"0x{raw[exc.start]:02x}, which is not UTF-8; save the file as UTF-8"
                          ) from None
    policy = parse_policy(text, path)
    policy._sha256 = hashlib.sha256(raw).hexdigest()
    return policy


def locate(policy: Policy, loc: tuple[Any, ...], message: str) -> str:
    """A message about ``loc`` in a loaded policy, in the loader's format (for later checks)."""
    try:
        root = yaml.compose(policy.text, Loader=yaml.SafeLoader) if policy.text else None
    except yaml.YAMLError:
        root = None
    return _Located(policy.path, root)(loc, message)


