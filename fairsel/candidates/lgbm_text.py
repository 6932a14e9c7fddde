"""Check a LightGBM text model's structure before LightGBM's native parser sees a byte of it.

LightGBM's loader (``GBDT::LoadModelFromString`` and ``Tree::Tree(const char*, size_t*)`` in
its C++ sources) trusts the file: it scans for ``=`` past the end of a line that has none, jumps
to the byte offsets ``tree_sizes`` gives without checking them against the file, reads as many
numbers as ``num_leaves`` says whatever the line holds, never checks a child index, a split
feature or a category index, and loops forever on a NUL byte. A cut-short or tampered model file
therefore crashes the process (segmentation fault, abort from inside OpenMP) or hangs it beyond
the reach of Ctrl-C — and a tree whose child indices form a cycle would hang every prediction.

:func:`read_model` reads the file (bounded), checks everything LightGBM's parser and predictor
rely on, and only then hands the *same bytes* (as a string, never the path: no second read) to
LightGBM. Any defect is a :class:`~fairsel.errors.ModelError` (exit 4) naming the file, the line
and tree, what was expected and what was found. What is checked:

* the file: not empty, at most :data:`MAX_FILE_BYTES`, UTF-8, no NUL or other control character
  but the tab (``\\r`` included: ``tree_sizes`` counts the bytes of ``\\n``-ended lines);
* the header: first line ``tree``; known keys, each once, as ``key=value``; ``version``,
  ``num_class`` and ``num_tree_per_iteration`` (equal: LightGBM writes one output per class
  and sums that many trees into it), ``label_index``, ``max_feature_idx``,
  ``feature_names`` and ``feature_infos`` (one per feature), ``tree_sizes``; ``objective``
  (and ``monotone_constraints``) when present;
* the trees: as many ``Tree=N`` blocks, numbered in order, as ``tree_sizes`` lists, each exactly
  as many bytes as it says (LightGBM seeks to those offsets), a multiple of
  ``num_tree_per_iteration``, at most :data:`MAX_TREES`; then the ``end of trees`` marker;
* each tree: ``num_leaves`` (1 to :data:`MAX_LEAVES`) and ``num_cat``; the length of every
  array (``split_feature``, ``split_gain``, ``threshold``, ``decision_type``, ``left_child``,
  ``right_child``, ``internal_value``, ``internal_weight``, ``internal_count``: one per internal
  node; ``leaf_value``, ``leaf_weight``, ``leaf_count``: one per leaf; ``cat_boundaries`` and
  ``cat_threshold`` when ``num_cat > 0``; ``leaf_const``, ``num_features``, ``leaf_features``,
  ``leaf_coeff`` when ``is_linear=1``); every number parseable, integers within 32 bits, and
  finite where LightGBM computes with it (thresholds, leaf values, linear coefficients,
  shrinkage); child indices in range (internal nodes ``1 ≤ i < num_leaves - 1``, leaves as
  ``~i`` with ``i < num_leaves``) and forming one tree from node 0 (every node reached once, so
  no cycle); ``split_feature`` and linear features ``≤ max_feature_idx``; decision types
  LightGBM knows; a categorical split's threshold a category-set index ``< num_cat``;
  ``cat_boundaries`` rising from 0 to the length of ``cat_threshold``;
* what follows the trees: ``feature_importances:``, ``parameters:`` … ``end of parameters``
  (each line ``[name: value]``, the shape LightGBM's ``GetLoadedParam`` indexes without a
  check), ``parser:`` … ``end of parser``, and a last ``pandas_categorical:`` line holding JSON
  ``null`` or a list of lists of distinct category values.

Why a complete structural check rather than loading in a child process with a time limit: the
dangerous reads happen at prediction time as well as at load time (a child index out of range or
a cycle faults or hangs ``Booster.predict`` in *this* process), so a probe in a child process
would still leave scoring unprotected unless every prediction ran there too — at the cost of a
LightGBM import and a copy of the data per candidate. The structural check covers every index
and count LightGBM dereferences, so it is made complete instead, and LightGBM only ever sees
bytes that passed it. Errors LightGBM still raises on checked bytes are Python exceptions
(``LightGBMError``), which the caller turns into a ModelError.

Models written by LightGBM 2.1 or later (all write ``tree_sizes``) pass; the tests check models
trained with several objectives, categorical features and linear trees.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fairsel.errors import ModelError

MAX_FILE_BYTES = 256 * 1024 * 1024  #: larger files are refused before they are read
MAX_TREES = 100_000  #: trees in one model
MAX_LEAVES = 131_072  #: leaves in one tree (LightGBM's own limit on num_leaves)
MAX_FEATURES = 1_000_000  #: max_feature_idx + 1
INT32 = (-(2**31), 2**31 - 1)
UINT32 = (0, 2**32 - 1)

FIX = ("The file is damaged, cut short or was not written by LightGBM's Booster.save_model; "
       "save the model again with Booster.save_model and audit the new file")

HEADER_KEYS = ("version", "num_class", "num_tree_per_iteration", "label_index",
               "max_feature_idx", "objective", "average_output", "feature_names",
               "monotone_constraints", "feature_infos", "tree_sizes")
REQUIRED_HEADER = ("version", "num_class", "num_tree_per_iteration", "label_index",
                   "max_feature_idx", "feature_names", "feature_infos", "tree_sizes")
TREE_KEYS = ("num_leaves", "num_cat", "split_feature", "split_gain", "threshold",
             "decision_type", "left_child", "right_child", "leaf_value", "leaf_weight",
             "leaf_count", "internal_value", "internal_weight", "internal_count",
             "cat_boundaries", "cat_threshold", "is_linear", "leaf_const", "num_features",
             "leaf_features", "leaf_coeff", "shrinkage")
LINEAR_KEYS = ("leaf_const", "num_features", "leaf_features", "leaf_coeff")

_INT = r"-?\d{1,10}"
_NUM = r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_NUM_OR_SPECIAL = rf"(?:{_NUM}|-?(?:inf|nan))"
_INTS = re.compile(rf" *(?:{_INT}(?: +{_INT})*)? *")
_NUMS = re.compile(rf" *(?:{_NUM_OR_SPECIAL}(?: +{_NUM_OR_SPECIAL})*)? *")
_ONE_INT = re.compile(_INT)
_ONE_NUM = re.compile(_NUM_OR_SPECIAL)
# tabs are allowed (LightGBM keeps them in feature names); elsewhere the checks of each
# line refuse them
_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")
_FEATURE_INFO = re.compile(rf"none|\[{_NUM_OR_SPECIAL}:{_NUM_OR_SPECIAL}\]|{_INT}(?::{_INT})*")
_PARAM_LINE = re.compile(r"\[[A-Za-z0-9_]+: [^\n]*\]")
_OBJECTIVE_NAME = re.compile(r"[a-z][a-z0-9_]*")
_OBJECTIVE_ARG = re.compile(r"[a-z][a-z0-9_]*(?::[^ :]+)?")


@dataclass(frozen=True)
class CheckedModel:
    """A LightGBM text model that passed :func:`check_model_text`: its text and what it says."""

    text: str
    sha256: str  # of the bytes checked (the bytes LightGBM parses)
    num_class: int
    objective: str | None
    num_trees: int
    feature_names: tuple[str, ...]
    pandas_categorical: list | None


def _show(text: str | bytes, limit: int = 60) -> str:
    """A short, printable quote of what was found (never a whole line of an unknown file)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    cut = text[:limit]
    return ascii(cut) + ("…" if len(text) > limit else "")


class _Checker:
    """One pass over the file's bytes; :meth:`fail` raises the ModelError."""

    def __init__(self, data: bytes, where: str) -> None:
        self.data = data
        self.where = where
        self.max_feature = 0

    def fail(self, line: int | None, msg: str, tree: int | None = None) -> None:
        at = []
        if line is not None:
            at.append(f"line {line}")
        if tree is not None:
            at.append(f"Tree={tree}")
        place = (", ".join(at) + ": ") if at else ""
        raise ModelError(f"{self.where}: not a valid LightGBM text model: {place}{msg}. {FIX}")

    # -- numbers ----------------------------------------------------------------------------

    def ints(self, value: str, n: int | None, key: str, line: int, tree: int | None = None,
             lo: int = INT32[0], hi: int = INT32[1]) -> list[int]:
        """``n`` integers in [lo, hi] separated by spaces (any count when ``n`` is None)."""
        if not _INTS.fullmatch(value):
            self._bad_token(value, _ONE_INT, "an integer", key, line, tree)
        vals = [int(t) for t in value.split()]
        self._count(vals, n, key, line, tree)
        if vals and lo <= min(vals) and max(vals) <= hi:
            return vals
        for i, v in enumerate(vals):
            if not lo <= v <= hi:
                self.fail(line, f"{key}: value {i + 1} is {v}; expected an integer from {lo} "
                                f"to {hi}", tree)
        return vals

    def floats(self, value: str, n: int | None, key: str, line: int, tree: int | None = None,
               *, finite: bool) -> list[float]:
        """``n`` numbers separated by spaces; ``finite``: no inf or nan (LightGBM computes
        with them)."""
        if not _NUMS.fullmatch(value):
            self._bad_token(value, _ONE_NUM, "a number", key, line, tree)
        vals = [float(t) for t in value.split()]
        self._count(vals, n, key, line, tree)
        if finite and not all(map(math.isfinite, vals)):
            for i, v in enumerate(vals):
                if not math.isfinite(v):
                    self.fail(line, f"{key}: value {i + 1} is {v}; expected a finite number",
                              tree)
        return vals

    def one_int(self, value: str, key: str, line: int, tree: int | None = None,
                lo: int = INT32[0], hi: int = INT32[1]) -> int:
        return self.ints(value, 1, key, line, tree, lo, hi)[0]

    def _bad_token(self, value: str, token: re.Pattern, what: str, key: str, line: int,
                   tree: int | None) -> None:
        for i, t in enumerate(value.split(" ")):
            if t and not token.fullmatch(t):
                self.fail(line, f"{key}: expected {what} as value {i + 1}; found {_show(t)}",
                          tree)
        self.fail(line, f"{key}: expected numbers separated by spaces; found {_show(value)}",
                  tree)

    def _count(self, vals: list, n: int | None, key: str, line: int, tree: int | None) -> None:
        if n is not None and len(vals) != n:
            self.fail(line, f"{key} has {len(vals)} value(s); expected {n}", tree)

    # -- the file ---------------------------------------------------------------------------

    def line_of(self, offset: int) -> int:
        return self.data.count(b"\n", 0, offset) + 1

    def check(self) -> CheckedModel:
        data = self.data
        if not data.strip():
            self.fail(None, "the file is empty; expected a model starting with the line 'tree'")
        bad = _CONTROL.search(data)
        if bad is not None:
            char = data[bad.start()]
            what = {0: "a NUL byte", 13: "a carriage return (Windows line ends; LightGBM's "
                    "tree_sizes count the bytes of \\n-ended lines)"}.get(
                        char, f"the control character 0x{char:02x}")
            self.fail(self.line_of(bad.start()), f"found {what}; a LightGBM text model is "
                      "printable text")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.fail(self.line_of(exc.start), f"byte 0x{data[exc.start]:02x} at offset "
                      f"{exc.start} is not UTF-8 text; expected a text file")
        lines = data.split(b"\n")
        if lines[0] != b"tree":
            self.fail(1, f"expected the first line 'tree'; found {_show(lines[0])}")
        header, first_tree, offset = self.header(lines)
        self.max_feature = header["max_feature_idx"]
        sizes = header["tree_sizes"]
        line = first_tree
        for k, size in enumerate(sizes):
            block = data[offset:offset + size]
            line = self.tree(k, block, line, size, len(data) - offset, len(sizes))
            offset += size
        rest = data[offset:]
        if not (rest.startswith(b"end of trees\n") or rest == b"end of trees"):
            found = next((x for x in rest.split(b"\n") if x.strip()), b"")
            more = " (the file has more trees than tree_sizes lists)" \
                if found.startswith(b"Tree=") else ""
            self.fail(line, f"expected 'end of trees' after Tree={len(sizes) - 1}, the last of "
                      f"the {len(sizes)} trees tree_sizes lists; found "
                      f"{_show(found) if found else 'the end of the file'}{more}")
        cats = self.trailer(rest.split(b"\n")[1:], line + 1)
        return CheckedModel(text=data.decode("utf-8"), sha256=hashlib.sha256(data).hexdigest(),
                            num_class=header["num_class"], objective=header.get("objective"),
                            num_trees=len(sizes), feature_names=tuple(header["feature_names"]),
                            pandas_categorical=cats)

    # -- header -----------------------------------------------------------------------------

    def header(self, lines: list[bytes]) -> tuple[dict[str, Any], int, int]:
        """The header's values, the line number of ``Tree=0`` and its byte offset."""
        raw: dict[str, tuple[str, int]] = {}
        offset = len(lines[0]) + 1
        for i in range(1, len(lines)):
            line = lines[i].decode("utf-8")
            if line.startswith("Tree="):
                break
            offset += len(lines[i]) + 1
            if not line:
                continue
            if line == "end of trees":
                self.fail(i + 1, "the model has no trees (expected at least one Tree= block)")
            key, sep, value = line.partition("=")
            if key not in HEADER_KEYS:
                self.fail(i + 1, f"unknown header line {_show(line)}; expected one of "
                          + ", ".join(HEADER_KEYS) + " before the first Tree= block")
            if key in raw:
                self.fail(i + 1, f"the key {key} appears twice (first on line {raw[key][1]})")
            if key == "average_output":
                if sep:
                    self.fail(i + 1, f"expected 'average_output' alone; found {_show(line)}")
            elif not sep:
                self.fail(i + 1, f"expected {key}=value; found {_show(line)}")
            elif "=" in value and key not in ("feature_names", "monotone_constraints"):
                self.fail(i + 1, f"{key}: expected one '='; found {_show(line)}")
            raw[key] = (value, i + 1)
        else:
            self.fail(len(lines), "the file ends before its first tree; expected a Tree=0 "
                      "block after the header")
        first_tree = i + 1
        for key in REQUIRED_HEADER:
            if key not in raw:
                self.fail(None, f"the header (lines 1 to {first_tree - 1}) lacks {key}=; "
                          f"expected the keys {', '.join(REQUIRED_HEADER)}")
        h: dict[str, Any] = {}
        value, ln = raw["version"]
        if not re.fullmatch(r"v\d{1,3}", value):
            self.fail(ln, f"version: expected v followed by a number (v4); found {_show(value)}")
        value, ln = raw["num_class"]
        h["num_class"] = self.one_int(value, "num_class", ln, lo=1, hi=MAX_TREES)
        value, ln = raw["num_tree_per_iteration"]
        h["per_iteration"] = self.one_int(value, "num_tree_per_iteration", ln, lo=1,
                                          hi=MAX_TREES)
        if h["per_iteration"] != h["num_class"]:
            # LightGBM sums num_tree_per_iteration trees into an output of num_class values:
            # more trees than classes write past the end of the prediction buffer
            self.fail(ln, f"num_tree_per_iteration is {h['per_iteration']}; expected num_class "
                      f"({h['num_class']}), one tree per class and iteration")
        value, ln = raw["label_index"]
        self.one_int(value, "label_index", ln, lo=0)
        value, ln = raw["max_feature_idx"]
        h["max_feature_idx"] = n = self.one_int(value, "max_feature_idx", ln, lo=0,
                                                hi=MAX_FEATURES - 1)
        value, ln = raw["feature_names"]
        names = value.split(" ")
        if "" in names or len(names) != n + 1:
            self.fail(ln, f"feature_names: expected {n + 1} names (max_feature_idx + 1) "
                      f"separated by single spaces; found {len([x for x in names if x])} "
                      + ("with empty names" if "" in names else "names"))
        h["feature_names"] = names
        value, ln = raw["feature_infos"]
        infos = value.split(" ")
        if len(infos) != n + 1:
            self.fail(ln, f"feature_infos: expected {n + 1} entries (max_feature_idx + 1); "
                      f"found {len(infos)}")
        for j, info in enumerate(infos):
            if not _FEATURE_INFO.fullmatch(info):
                self.fail(ln, f"feature_infos: entry {j + 1} is {_show(info)}; expected none, "
                          "[min:max] or category values joined by ':'")
        if "monotone_constraints" in raw:
            value, ln = raw["monotone_constraints"]
            self.ints(value, n + 1, "monotone_constraints", ln, lo=-1, hi=1)
        if "objective" in raw:
            value, ln = raw["objective"]
            h["objective"] = self.objective(value, ln)
        value, ln = raw["tree_sizes"]
        sizes = self.ints(value, None, "tree_sizes", ln, lo=1, hi=MAX_FILE_BYTES)
        if not sizes:
            self.fail(ln, "tree_sizes lists no tree; expected at least one")
        if len(sizes) > MAX_TREES:
            self.fail(ln, f"tree_sizes lists {len(sizes)} trees; at most {MAX_TREES} are read")
        if len(sizes) % h["per_iteration"]:
            self.fail(ln, f"tree_sizes lists {len(sizes)} trees; expected a multiple of "
                      f"num_tree_per_iteration ({h['per_iteration']})")
        h["tree_sizes"] = sizes
        return h, first_tree, offset

    def objective(self, value: str, line: int) -> str:
        parts = value.split(" ")
        if not _OBJECTIVE_NAME.fullmatch(parts[0]) or not all(
                _OBJECTIVE_ARG.fullmatch(p) for p in parts[1:]):
            self.fail(line, "objective: expected a name and name:value settings separated by "
                      f"single spaces (binary sigmoid:1); found {_show(value)}")
        if parts[0] == "binary":
            sigmoid = [p.split(":", 1)[1] for p in parts[1:] if p.startswith("sigmoid:")]
            ok = len(sigmoid) == 1 and _ONE_NUM.fullmatch(sigmoid[0]) is not None \
                and math.isfinite(float(sigmoid[0])) and float(sigmoid[0]) > 0
            if not ok:
                self.fail(line, "objective: binary needs one sigmoid:<positive number>; found "
                          f"{_show(value)}")
        return value

    # -- trees ------------------------------------------------------------------------------

    def tree(self, k: int, block: bytes, line: int, size: int, left: int, n_trees: int) -> int:
        """Check ``Tree=k``'s block (``line``: its first line); return the line after it."""
        if size > left:
            self.fail(line, f"tree_sizes says Tree={k} is {size} bytes, but the file ends "
                      f"{left} bytes after its start (the file is cut short)", k)
        head = f"Tree={k}".encode()
        if not block.startswith(head + b"\n"):
            found = block.split(b"\n", 1)[0]
            self.fail(line, f"tree_sizes puts Tree={k} here; expected the line "
                      f"'Tree={k}', found {_show(found)} (tree_sizes does not match the tree "
                      f"blocks, or the file has lost lines)", k)
        if not block.endswith(b"\n\n"):
            self.fail(line, f"Tree={k}: tree_sizes says the block is {size} bytes, but it does "
                      "not end with a blank line there (tree_sizes does not match the tree "
                      "blocks)", k)
        body = block[:-1].split(b"\n")[1:]
        kv: dict[str, tuple[str, int]] = {}
        blank = False
        for j, raw in enumerate(body):
            ln = line + 1 + j
            if not raw:
                blank = True
                continue
            if blank:
                self.fail(ln, f"expected only blank lines to the end of Tree={k} (tree_sizes "
                          f"says {size} bytes); found {_show(raw)}", k)
            key, sep, value = raw.decode("utf-8").partition("=")
            if not sep:
                self.fail(ln, f"expected key=value; found {_show(raw)}", k)
            if key not in TREE_KEYS:
                self.fail(ln, f"unknown key {_show(key)}; expected one of "
                          + ", ".join(TREE_KEYS), k)
            if key in kv:
                self.fail(ln, f"the key {key} appears twice (first on line {kv[key][1]})", k)
            kv[key] = (value, ln)
        self.tree_values(k, kv, line)
        return line + block.count(b"\n")

    def tree_values(self, k: int, kv: dict[str, tuple[str, int]], line: int) -> None:
        def need(key: str) -> tuple[str, int]:
            if key not in kv:
                self.fail(line, f"the tree lacks {key}=", k)
            return kv[key]

        value, ln = need("num_leaves")
        n = self.one_int(value, "num_leaves", ln, k, lo=1, hi=MAX_LEAVES)
        value, ln = need("num_cat")
        num_cat = self.one_int(value, "num_cat", ln, k, lo=0, hi=n - 1)
        linear = 0
        if "is_linear" in kv:
            value, ln = kv["is_linear"]
            linear = self.one_int(value, "is_linear", ln, k, lo=0, hi=1)
        value, ln = need("leaf_value")
        self.floats(value, n, "leaf_value", ln, k, finite=True)
        if "shrinkage" in kv:
            value, ln = kv["shrinkage"]
            self.floats(value, 1, "shrinkage", ln, k, finite=True)
        m = n - 1
        # a one-leaf tree: LightGBM reads only the keys above (and leaf_count); the arrays it
        # skips may be written empty (leaf_weight is)
        simple = n == 1 and not linear

        def arr(key: str, length: int, kind: str, **kw: Any) -> list | None:
            if key not in kv:
                return None
            value, ln = kv[key]
            if simple and not value.strip():
                return []
            if kind == "int":
                return self.ints(value, length, key, ln, k, **kw)
            return self.floats(value, length, key, ln, k, **kw)

        arr("leaf_count", n, "int")
        arr("leaf_weight", n, "float", finite=False)
        arr("split_gain", m, "float", finite=False)
        arr("internal_value", m, "float", finite=False)
        arr("internal_weight", m, "float", finite=False)
        arr("internal_count", m, "int")
        decision = arr("decision_type", m, "int", lo=0, hi=15)
        if n > 1 or linear:
            for key in ("left_child", "right_child", "split_feature", "threshold"):
                need(key)
        left = arr("left_child", m, "int") or []
        right = arr("right_child", m, "int") or []
        arr("split_feature", m, "int", lo=0, hi=self.max_feature)
        threshold = arr("threshold", m, "float", finite=True) or []
        if n > 1:
            self.structure(k, n, left, right, kv["left_child"][1], kv["right_child"][1])
        cat_keys = [c for c in ("cat_boundaries", "cat_threshold") if c in kv]
        if num_cat > 0:
            value, ln = need("cat_boundaries")
            bounds = self.ints(value, num_cat + 1, "cat_boundaries", ln, k, lo=0)
            value, ln2 = need("cat_threshold")
            words = self.ints(value, None, "cat_threshold", ln2, k, *UINT32)
            if bounds[0] != 0 or any(b > a for a, b in zip(bounds[1:], bounds)) \
                    or bounds[-1] != len(words):
                self.fail(ln, f"cat_boundaries: expected rising offsets from 0 to the length "
                          f"of cat_threshold ({len(words)}); found {_show(value)}", k)
        elif cat_keys:
            self.fail(kv[cat_keys[0]][1], f"{cat_keys[0]} is given but num_cat is 0", k)
        for node, d in enumerate(decision or []):
            if (d >> 2) & 3 == 3:
                self.fail(kv["decision_type"][1], f"decision_type: value {node + 1} is {d}; "
                          "its missing-value type (bits 2-3) is 3, which LightGBM does not "
                          "define", k)
            if d & 1:  # categorical split: the threshold indexes cat_boundaries
                t = threshold[node]
                if t != int(t) or not 0 <= t < num_cat:
                    self.fail(kv["threshold"][1], f"threshold: value {node + 1} is {t}, the "
                              f"category-set index of a categorical split; expected an integer "
                              f"from 0 to num_cat - 1 ({num_cat - 1})", k)
        if linear:
            value, ln = need("leaf_const")
            self.floats(value, n, "leaf_const", ln, k, finite=True)
            value, ln = need("num_features")
            counts = self.ints(value, n, "num_features", ln, k, lo=0, hi=self.max_feature + 1)
            value, ln = need("leaf_features")
            self.ints(value, sum(counts), "leaf_features", ln, k, lo=0, hi=self.max_feature)
            value, ln = need("leaf_coeff")
            self.floats(value, sum(counts), "leaf_coeff", ln, k, finite=True)
        else:
            for key in LINEAR_KEYS:
                if key in kv:
                    self.fail(kv[key][1], f"{key} is given but is_linear is 0", k)

    def structure(self, k: int, n: int, left: list[int], right: list[int], ln_left: int,
                  ln_right: int) -> None:
        """Children in range and one tree from node 0: each node and leaf reached once."""
        m = n - 1
        for name, children, ln in (("left_child", left, ln_left),
                                   ("right_child", right, ln_right)):
            for node, c in enumerate(children):
                if not -n <= c <= m - 1 or c == 0:
                    what = (f"leaf {~c}" if c < 0 else f"internal node {c}")
                    self.fail(ln, f"{name}: node {node} points to {what}; expected an internal "
                              f"node from 1 to {m - 1} or a leaf ~i with i from 0 to {n - 1} "
                              f"(the tree has {m} internal nodes and {n} leaves)", k)
        seen_node = bytearray(m)
        seen_leaf = bytearray(n)
        seen_node[0] = 1
        stack = [0]
        while stack:
            node = stack.pop()
            for c, name, ln in ((left[node], "left_child", ln_left),
                                (right[node], "right_child", ln_right)):
                if c >= 0:
                    if seen_node[c]:
                        self.fail(ln, f"{name}: internal node {c} is a child twice (of node "
                                  f"{node} and another); expected a tree", k)
                    seen_node[c] = 1
                    stack.append(c)
                else:
                    if seen_leaf[~c]:
                        self.fail(ln, f"{name}: leaf {~c} is a child twice (of node {node} and "
                                  "another); expected a tree", k)
                    seen_leaf[~c] = 1
        if not all(seen_node):
            self.fail(ln_left, f"internal node {seen_node.index(0)} cannot be reached from node "
                      "0 (left_child and right_child do not form one tree)", k)
        if not all(seen_leaf):
            self.fail(ln_left, f"leaf {seen_leaf.index(0)} cannot be reached from node 0 "
                      "(left_child and right_child do not form one tree)", k)

    # -- after the trees --------------------------------------------------------------------

    def trailer(self, lines: list[bytes], first: int) -> list | None:
        """Check what follows ``end of trees``; return pandas_categorical."""
        section = None  # None | "importances" | "parameters" | "parser"
        cats: list | None = None
        seen: set[str] = set()
        last = len(lines) - 1
        while last >= 0 and not lines[last]:
            last -= 1
        for j in range(last + 1):
            ln = first + j
            line = lines[j].decode("utf-8")
            if section == "parameters":
                if line == "end of parameters":
                    section = None
                elif line and not _PARAM_LINE.fullmatch(line):
                    self.fail(ln, f"expected a parameter line [name: value] or 'end of "
                              f"parameters'; found {_show(line)}")
                continue
            if section == "parser":
                if line == "end of parser":
                    section = None
                continue
            if not line:
                section = None
                continue
            if line.startswith("pandas_categorical:"):
                if j != last:
                    self.fail(ln, "expected pandas_categorical: to be the last line; found "
                              f"{_show(lines[j + 1] or lines[last])} after it")
                cats = self.pandas_categorical(line[len("pandas_categorical:"):], ln)
                continue
            if line in ("feature_importances:", "parameters:", "parser:"):
                name = line[:-1]
                if name in seen:
                    self.fail(ln, f"the section {line} appears twice")
                seen.add(name)
                section = {"feature_importances": "importances"}.get(name, name)
                continue
            if section == "importances":
                name, sep, count = line.rpartition("=")
                if not sep or not count.isdigit():
                    self.fail(ln, f"expected feature_name=count in feature_importances; found "
                              f"{_show(line)}")
                continue
            self.fail(ln, f"unexpected line after 'end of trees': {_show(line)}; expected "
                      "feature_importances:, parameters:, parser: or pandas_categorical:")
        if section in ("parameters", "parser"):
            self.fail(first + last, f"the {section}: section has no 'end of {section}' line "
                      "(the file is cut short)")
        return cats

    def pandas_categorical(self, text: str, ln: int) -> list | None:
        expected = "JSON null or a list of lists of distinct category values"
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            self.fail(ln, f"pandas_categorical: expected {expected}; found {_show(text)}")
        if value is None:
            return None
        ok = isinstance(value, list) and all(
            isinstance(levels, list) and all(
                isinstance(v, (str, int, bool)) or (isinstance(v, float) and math.isfinite(v))
                for v in levels) and len({(type(v), v) for v in levels}) == len(levels)
            for levels in value)
        if not ok:
            self.fail(ln, f"pandas_categorical: expected {expected}; found {_show(text)}")
        return value


def check_model_text(data: bytes, where: str) -> CheckedModel:
    """Check a LightGBM text model's bytes (see the module docstring).

    ``where`` starts every message (``"models/m.txt: candidate 'gbm'"``).

    Raises
    ------
    ModelError
        The first structural defect: the line (and tree), what was expected, what was found.
    """
    if len(data) > MAX_FILE_BYTES:
        raise ModelError(f"{where}: the LightGBM text model is {len(data)} bytes; fairsel reads "
                         f"at most {MAX_FILE_BYTES} bytes")
    return _Checker(data, where).check()


def read_model(path: Path, where: str) -> CheckedModel:
    """Read ``path`` (at most :data:`MAX_FILE_BYTES`) and check it with
    :func:`check_model_text`.

    Raises
    ------
    ModelError
        The file cannot be read, is too large, or is not a well-formed LightGBM text model.
    """
    try:
        # O_NONBLOCK: opening a named pipe must not wait for a writer (a hang)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ModelError(f"{where}: is not a regular file (a pipe, device or socket); "
                                 "expected a LightGBM text model file")
            size = info.st_size
            if size > MAX_FILE_BYTES:
                raise ModelError(f"{where}: the LightGBM text model is {size} bytes; fairsel "
                                 f"reads at most {MAX_FILE_BYTES} bytes")
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ModelError(f"{where}: cannot read the model file: {exc.strerror or exc}") from None
    return check_model_text(data, where)


def load_booster(model: CheckedModel, where: str) -> Any:
    """A ``lightgbm.Booster`` from checked text (never from the path: no second read).

    Raises
    ------
    ModelError
        LightGBM refused the text (an error it raises as a Python exception).
    """
    import lightgbm

    try:
        return lightgbm.Booster(model_str=model.text)
    except Exception as exc:  # noqa: BLE001 — LightGBM's words, with ours around them
        text = str(exc).strip().splitlines()
        raise ModelError(f"{where}: LightGBM could not load the model: "
                         f"{text[0] if text else type(exc).__name__}") from None
