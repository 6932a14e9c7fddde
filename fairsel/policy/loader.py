"""Read a policy file safely and turn every problem into a message that names the key."""

from __future__ import annotations

import hashlib
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from fairsel.errors import PolicyError, did_you_mean
from fairsel.policy.schema import CANDIDATE_KEYS, Policy


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML silently keeps the last)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.MarkedYAMLError(
                problem=f"duplicate key '{key}' (first on line {seen[key]}); keep only one",
                problem_mark=key_node.start_mark)
        seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def format_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """``("gates", 0, "metric")`` → ``gates[0] → metric``."""
    out: list[str] = []
    for part in loc:
        if isinstance(part, int) and out:
            out[-1] += f"[{part}]"
        else:
            out.append(str(part))
    return " → ".join(out)


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """Line (1-based) of the node at ``loc`` in the composed YAML tree, as deep as it exists."""
    node = root
    line = None  # a key the file does not spell gets its nearest spelt parent's line, or none
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
            break
        if node is None:
            break
    return line


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
    """A union member's name that pydantic puts in an error's loc (``str``, ``list[str]``, ...)."""
    return isinstance(part, str) and (
        part in {"str", "bool", "int", "float", "none"}
        or part.startswith(("list[", "tuple[", "literal[", "function-", "dict[", "union[")))


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
            if len(prot.bins) < 2 or any(b >= c for b, c in zip(prot.bins, prot.bins[1:])):
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
    "cannot start any token": "indent with spaces (YAML does not allow tabs)",
}


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    """PyYAML's problem, with where the unfinished construct began and a likely fix."""
    problem = exc.problem or str(exc)
    ctx, ctx_mark, mark = exc.context, exc.context_mark, exc.problem_mark
    if ctx and ctx_mark is not None and (mark is None or ctx_mark.line != mark.line):
        problem += f" ({ctx} that starts on line {ctx_mark.line + 1})"
    for cue, hint in _YAML_HINTS.items():
        if cue in problem:
            problem += f"; {hint}"
            break
    return problem


def parse_policy(text: str, path: str | Path = "policy.yaml") -> Policy:
    """Validate policy ``text`` (as read from ``path``) into a frozen :class:`Policy`."""
    path = Path(path)
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 — a SafeLoader subclass
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise PolicyError(f"{path}{line}: YAML error: {_yaml_problem(exc)}") from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path}: YAML error: {exc}") from None
    located = _Located(path, root)
    if not isinstance(raw, dict):
        raise PolicyError(f"{path}: expected a mapping of policy keys (version, name, data, ...), "
                          f"found {_describe(raw)}")
    if "version" in raw and raw["version"] != 1:
        raise PolicyError(located(("version",), f"this fairsel reads policy version 1, found "
                                  f"{_describe(raw['version'])}"))
    try:
        policy = Policy.model_validate(raw)
    except ValidationError as exc:
        msgs = [located(*_message(e, raw)) for e in _drop_misspelt_missing(_pick_errors(exc.errors()))]
        raise PolicyError("\n".join(msgs)) from None
    problems = _cross_checks(policy, located)
    if problems:
        raise PolicyError("\n".join(problems))
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


