"""The structural check of LightGBM text models (fairsel.candidates.lgbm_text).

Genuine models (the shipped challenger, and models trained here with several objectives,
categorical features, missing values, linear trees, one-leaf trees) must pass and load; every
structural defect must be a ModelError naming the line (and tree), what was expected and what
was found — before LightGBM's native parser, which crashes or hangs on such bytes, sees them.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from fairsel.candidates.lgbm_text import (
    MAX_FILE_BYTES,
    MAX_LEAVES,
    check_model_text,
    load_booster,
    read_model,
)
from fairsel.candidates.saved import make_saved
from fairsel.errors import ExitCode, ModelError
from tests.conftest import SAMPLES

CHALLENGER = SAMPLES / "models" / "challenger.lgb.txt"
WHERE = "m.txt: candidate 'gbm'"


def refused(data: bytes | str, *fragments: str) -> str:
    """Assert the check refuses ``data`` with a message holding every fragment; return it."""
    if isinstance(data, str):
        data = data.encode()
    with pytest.raises(ModelError) as info:
        check_model_text(data, WHERE)
    msg = str(info.value)
    assert info.value.exit_code == ExitCode.MODEL
    assert msg.startswith(WHERE + ": "), msg
    for f in fragments:
        assert f in msg, f"{f!r} not in: {msg}"
    return msg


def with_sizes(text: str) -> str:
    """Rewrite tree_sizes to the byte sizes of the Tree= blocks (after an edit inside one)."""
    start = text.index("\nTree=0\n") + 1
    end = text.index("end of trees\n")
    blocks = re.split(r"(?=^Tree=\d+\n)", text[start:end], flags=re.M)
    sizes = " ".join(str(len(b.encode())) for b in blocks if b)
    return re.sub(r"^tree_sizes=.*$", f"tree_sizes={sizes}", text, count=1, flags=re.M)


def edit_tree(text: str, k: int, key: str, value: str | None) -> str:
    """Set (or, with None, delete) ``key`` in Tree=k, keeping tree_sizes right."""
    start = text.index(f"\nTree={k}\n") + 1
    end = text.index("\n\n", start)
    block = text[start:end]
    pattern = re.compile(rf"^{key}=.*\n?", re.M)
    assert pattern.search(block), f"Tree={k} has no {key}"
    block = pattern.sub("" if value is None else f"{key}={value}\n", block, count=1)
    return with_sizes(text[:start] + block.rstrip("\n") + text[end:])


def tree_value(text: str, k: int, key: str) -> str:
    start = text.index(f"\nTree={k}\n")
    return re.search(rf"^{key}=(.*)$", text[start:], re.M).group(1)


def set_value(text: str, k: int, key: str, index: int, value: str) -> str:
    """Set the value at ``index`` of the array ``key`` in Tree=k (tree_sizes kept right)."""
    values = tree_value(text, k, key).split()
    values[index] = value
    return edit_tree(text, k, key, " ".join(values))


def line_of(text: str, needle: str, after: str = "") -> int:
    return text[:text.index(needle, text.index(after) if after else 0)].count("\n") + 1


@pytest.fixture(scope="module")
def challenger() -> str:
    return CHALLENGER.read_text(encoding="utf-8")


# -- genuine models pass and load -------------------------------------------------------------

def _frame(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n),
                      "kind": pd.Categorical(rng.choice(list("pqrstu"), size=n))})
    X.loc[:30, "a"] = np.nan  # missing values: decision types with a missing-value type
    y = ((X["a"].fillna(0) + X["b"] + X["kind"].isin(["p", "q"]) + rng.normal(size=n)) > 0)
    return X, y.astype(int).to_numpy()


def _train(params: dict, X, y, rounds: int = 8):
    import lightgbm as lgb

    base = {"verbose": -1, "num_threads": 1, "num_leaves": 7, "min_data_in_leaf": 10,
            "seed": 1}
    return lgb.train({**base, **params}, lgb.Dataset(X, y), rounds)


GENUINE = {
    "binary": ({"objective": "binary"}, False),
    "binary_categorical": ({"objective": "binary", "max_cat_to_onehot": 2,
                            "min_data_per_group": 5, "cat_smooth": 1}, True),
    "cross_entropy": ({"objective": "cross_entropy"}, True),
    "linear_tree": ({"objective": "binary", "linear_tree": True}, False),
    "one_leaf_trees": ({"objective": "binary", "min_data_in_leaf": 1000}, True),
    "monotone": ({"objective": "binary", "monotone_constraints": [1, -1]}, False),
    "sigmoid_and_dart": ({"objective": "binary", "sigmoid": 0.5, "boosting": "dart"}, False),
}


@pytest.mark.parametrize("case", sorted(GENUINE))
def test_genuine_models_pass_and_predict_as_lightgbm_does(case, tmp_path):
    import lightgbm as lgb

    params, with_category = GENUINE[case]
    X, y = _frame()
    X = X if with_category else X[["a", "b"]]
    booster = _train(params, X, y)
    path = tmp_path / "m.txt"
    booster.save_model(str(path))
    text = path.read_text()
    if case == "binary_categorical":
        assert re.search(r"^num_cat=[1-9]", text, re.M)  # categorical splits were made
    if case == "linear_tree":
        assert "is_linear=1" in text and "leaf_coeff=" in text
    if case == "one_leaf_trees":
        assert "num_leaves=1\n" in text
    checked = read_model(path, WHERE)
    assert checked.num_trees == booster.num_trees()
    assert checked.feature_names == tuple(X.columns)
    loaded = load_booster(checked, WHERE)
    np.testing.assert_allclose(loaded.predict(X), lgb.Booster(model_file=str(path)).predict(X))


def test_a_model_without_pandas_categories_or_parameters_passes(tmp_path):
    X, y = _frame()
    text = _train({"objective": "binary"}, X[["a", "b"]].to_numpy(), y).model_to_string()
    assert "pandas_categorical:null" in text
    assert check_model_text(text.encode(), WHERE).pandas_categorical is None
    bare = text[:text.index("end of trees\n") + len("end of trees\n")]
    assert check_model_text(bare.encode(), WHERE).num_trees == 8


def test_feature_names_lightgbm_accepts_pass(tmp_path):
    # a tab, non-ASCII letters and '=' in feature names: LightGBM trains and saves them as is
    X, y = _frame()
    X = X[["a", "b"]].rename(columns={"a": "a\tb", "b": "âge=x"})
    text = _train({"objective": "binary"}, X, y).model_to_string()
    assert "feature_names=a\tb âge=x\n" in text
    checked = check_model_text(text.encode(), WHERE)
    assert checked.feature_names == ("a\tb", "âge=x")
    refused(text.replace("num_leaves=7", "num_leaves=\t7", 1), "num_leaves: expected an integer")


def test_the_shipped_challenger_passes(challenger):
    checked = check_model_text(challenger.encode(), WHERE)
    assert checked.num_trees == 80
    assert checked.objective == "binary sigmoid:1"
    assert checked.feature_names[:3] == ("region", "age", "income")
    assert checked.pandas_categorical[0] == ["central", "east", "north", "south", "west"]


def test_the_helpers_keep_a_model_valid(challenger):
    # the defect tests below edit one value and rewrite tree_sizes; unedited, that is a no-op
    assert with_sizes(challenger) == challenger
    same = edit_tree(challenger, 5, "shrinkage", tree_value(challenger, 5, "shrinkage"))
    assert same == challenger


# -- defects of the file as a whole -----------------------------------------------------------

def test_an_empty_file_is_refused():
    refused(b"", "the file is empty")
    refused(b"\n\n  \n", "the file is empty")


def test_binary_garbage_is_refused():
    rng = np.random.default_rng(3)
    refused(b"tree\n" + rng.bytes(300), "line ")
    refused(bytes(range(256)), "line 1")


def test_tree_then_garbage_is_refused():
    refused("tree\nhello world garbage\n", "line 2", "unknown header line 'hello world garbage'")
    refused("tree\n" + "x" * 5000, "line 2", "…")  # what was found is quoted, cut short


def test_a_nul_byte_is_refused_with_its_line(challenger):
    data = challenger.encode()
    i = data.index(b"Tree=7")
    refused(data[:i] + b"\x00" + data[i + 1:], f"line {line_of(challenger, 'Tree=7')}",
            "NUL byte")


def test_windows_line_ends_are_refused(challenger):
    refused(challenger.replace("\n", "\r\n"), "line 1", "carriage return")


def test_text_that_is_not_utf8_is_refused(challenger):
    data = challenger.encode().replace(b"feature_names=region", b"feature_names=r\xe9gion")
    refused(data, "line 8", "not UTF-8")


def test_a_file_that_does_not_start_with_tree_is_refused(challenger):
    refused("trees\n" + challenger[5:], "line 1", "expected the first line 'tree'")


def test_too_large_files_are_refused_before_reading(tmp_path, monkeypatch):
    import fairsel.candidates.lgbm_text as lt

    monkeypatch.setattr(lt, "MAX_FILE_BYTES", 1000)
    path = tmp_path / "m.txt"
    path.write_bytes(CHALLENGER.read_bytes())
    with pytest.raises(ModelError, match=r"143096 bytes; fairsel reads at most 1000 bytes"):
        lt.read_model(path, WHERE)
    assert MAX_FILE_BYTES >= 64 * 1024 * 1024  # genuine large models still pass


def test_an_unreadable_file_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="cannot read the model file|not a regular file"):
        read_model(tmp_path, WHERE)  # a folder
    with pytest.raises(ModelError, match="cannot read the model file"):
        read_model(tmp_path / "missing.txt", WHERE)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need POSIX")
def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "m.txt"
    os.mkfifo(fifo)
    with pytest.raises(ModelError, match="is not a regular file"):
        read_model(fifo, WHERE)
    with pytest.raises(ModelError, match="candidate 'gbm': is not a regular file"):
        make_saved(_spec("m.txt"), _ctx(tmp_path))


# -- truncation -------------------------------------------------------------------------------

def test_truncated_at_many_points_is_refused_or_still_whole(challenger):
    data = challenger.encode()
    marker = data.index(b"end of trees\n") + len(b"end of trees\n")
    cuts = sorted({*range(0, 2000, 97), *range(2000, len(data), 4093), marker - 2, marker + 5,
                   len(data) - 40, len(data) - 1})
    full = None
    for cut in cuts:
        if cut < marker - 1:  # a tree or the end marker is cut: always refused
            with pytest.raises(ModelError):
                check_model_text(data[:cut], WHERE)
            continue
        try:  # cut among the trailing sections: refused, or the very same trees
            checked = check_model_text(data[:cut], WHERE)
        except ModelError:
            continue
        booster = load_booster(checked, WHERE)
        if full is None:
            full = load_booster(check_model_text(data, WHERE), WHERE)
        assert booster.model_to_string().split("end of trees")[0] \
            == full.model_to_string().split("end of trees")[0]


def test_a_model_cut_inside_a_tree_names_the_tree(challenger):
    cut = challenger.index("Tree=2") + 700
    refused(challenger[:cut], "Tree=2", f"line {line_of(challenger, 'Tree=2')}",
            "the file is cut short")


def test_a_model_cut_inside_the_parameters_is_refused(challenger):
    cut = challenger.index("[max_bin: 255]")
    refused(challenger[:cut], "parameters: section has no 'end of parameters' line")


# -- the header -------------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["version", "num_class", "num_tree_per_iteration",
                                 "label_index", "max_feature_idx", "feature_names",
                                 "feature_infos", "tree_sizes"])
def test_each_required_header_key_is_required(challenger, key):
    text = re.sub(rf"^{key}=.*\n", "", challenger, count=1, flags=re.M)
    refused(text, f"lacks {key}=")


@pytest.mark.parametrize("line, fragments", [
    ("num_tree_per_iteration=0", ["num_tree_per_iteration: value 1 is 0"]),
    ("num_class=-3", ["num_class: value 1 is -3"]),
    ("max_feature_idx=99999999999", ["max_feature_idx: expected an integer"]),
    ("max_feature_idx=9", ["line 8: feature_names: expected 10 names"]),  # names don't fit
    ("objective=", ["objective: expected a name"]),
    ("objective=binary sigmoid:nan", ["binary needs one sigmoid:<positive number>"]),
    ("objective=binary sigmoid:-1", ["binary needs one sigmoid"]),
    ("version=4", ["version: expected v followed by a number"]),
    ("label_index=x", ["label_index: expected an integer as value 1; found 'x'"]),
])
def test_bad_header_values_are_refused(challenger, line, fragments):
    key = line.split("=")[0]
    text = re.sub(rf"^{key}=.*$", line, challenger, count=1, flags=re.M)
    if not fragments[0].startswith("line "):
        fragments = [f"line {line_of(text, line)}: ", *fragments]
    refused(text, *fragments)


def test_feature_names_and_infos_must_match_max_feature_idx(challenger):
    text = challenger.replace("feature_names=region age", "feature_names=region  age")
    refused(text, "line 8", "separated by single spaces", "with empty names")
    text = challenger.replace("feature_infos=-1:3:1:2:4:0 ", "feature_infos=")
    refused(text, "line 9", "feature_infos: expected 9 entries", "found 8")
    text = challenger.replace("[18:80]", "[18:eighty]")
    refused(text, "line 9", "entry 2 is '[18:eighty]'")


def test_unknown_duplicate_and_misshapen_header_lines_are_refused(challenger):
    refused(challenger.replace("label_index=0\n", "label_index=0\nlabel_index=0\n"),
            "line 6", "label_index appears twice (first on line 5)")
    refused(challenger.replace("label_index=0\n", "label_index=0\nbonus=1\n"),
            "line 6", "unknown header line 'bonus=1'")
    refused(challenger.replace("label_index=0\n", "label_index=0=1\n"),
            "line 5", "expected one '='")
    refused(challenger.replace("label_index=0\n", "label_index\n"),
            "line 5", "expected label_index=value")


# -- the tree count, tree_sizes and the end marker ---------------------------------------------

def test_wrong_tree_sizes_are_refused(challenger):
    sizes = re.search(r"^tree_sizes=(.*)$", challenger, re.M).group(1).split()
    def resized(new: list[str]) -> str:
        return challenger.replace("tree_sizes=" + " ".join(sizes), "tree_sizes=" + " ".join(new))

    # one byte short: Tree=0 still ends with a blank line, Tree=1 starts one byte early
    refused(resized([str(int(sizes[0]) - 1)] + sizes[1:]), "Tree=1",
            "expected the line 'Tree=1', found ''", "tree_sizes does not match")
    refused(resized([str(int(sizes[0]) + 3)] + sizes[1:]), "Tree=0",
            "does not end with a blank line")
    refused(resized(sizes[:-1]), "expected 'end of trees' after Tree=78", "found 'Tree=79'",
            "more trees than tree_sizes lists")
    refused(resized(sizes + ["1700"]), "Tree=80", "expected the line 'Tree=80', found 'end of "
            "trees'")
    refused(resized(sizes[:-1] + ["99999"]), "Tree=79", "the file is cut short")
    refused(challenger.replace("tree_sizes=1705", "tree_sizes=-1705"), "line 10",
            "tree_sizes: value 1 is -1705")


def test_a_tree_block_must_end_with_a_blank_line(challenger):
    # a block that runs into the next without a blank line: LightGBM's parser would read on
    text = challenger.replace("shrinkage=1\n\n\nTree=1", "shrinkage=1\nTree=1")
    refused(with_sizes(text), "Tree=0", "does not end with a blank line")


def test_tree_numbers_must_run_in_order(challenger):
    refused(with_sizes(challenger.replace("Tree=4\n", "Tree=5\n", 1)), "Tree=4",
            "expected the line 'Tree=4', found 'Tree=5'")


def test_a_missing_end_marker_is_refused(challenger):
    refused(challenger.replace("end of trees\n", ""), "expected 'end of trees' after Tree=79",
            f"line {line_of(challenger, 'end of trees')}", "found 'feature_importances:'")


def test_a_model_without_trees_is_refused(challenger):
    head = challenger[:challenger.index("Tree=0")]
    refused(head + challenger[challenger.index("end of trees"):], "the model has no trees")
    refused(head, "the file ends before its first tree")


def test_the_tree_count_must_be_a_multiple_of_trees_per_iteration(challenger):
    text = challenger.replace("num_tree_per_iteration=1", "num_tree_per_iteration=3")
    refused(text.replace("num_class=1", "num_class=3"),
            "80 trees; expected a multiple of num_tree_per_iteration (3)")


def test_trees_per_iteration_must_equal_the_classes(challenger):
    # 8 trees summed into one output: LightGBM wrote past its prediction buffer (heap abort)
    refused(challenger.replace("num_tree_per_iteration=1", "num_tree_per_iteration=8"),
            "line 4", "num_tree_per_iteration is 8; expected num_class (1)")


# -- inside a tree ------------------------------------------------------------------------------

ARRAYS = {  # key: length in Tree=1 of the challenger (15 leaves, 14 internal nodes, 2 cat sets)
    "split_feature": 14, "split_gain": 14, "threshold": 14, "decision_type": 14,
    "left_child": 14, "right_child": 14, "leaf_value": 15, "leaf_weight": 15, "leaf_count": 15,
    "internal_value": 14, "internal_weight": 14, "internal_count": 14, "cat_boundaries": 3,
    "shrinkage": 1,
}


@pytest.mark.parametrize("key", sorted(ARRAYS))
@pytest.mark.parametrize("change", ["drop_last", "add_one"])
def test_wrong_array_lengths_are_refused(challenger, key, change):
    values = tree_value(challenger, 1, key).split()
    values = values[:-1] if change == "drop_last" else values + [values[-1]]
    text = edit_tree(challenger, 1, key, " ".join(values))
    refused(text, "Tree=1", f"line {line_of(text, key + '=', 'Tree=1')}",
            f"{key} has {len(values)} value(s); expected {ARRAYS[key]}")


def test_cat_threshold_length_must_match_cat_boundaries(challenger):
    refused(edit_tree(challenger, 1, "cat_threshold", "2 2 2"), "Tree=1",
            "cat_boundaries: expected rising offsets from 0 to the length of cat_threshold (3)")


@pytest.mark.parametrize("key", ["num_leaves", "num_cat", "leaf_value", "left_child",
                                 "right_child", "split_feature", "threshold"])
def test_keys_lightgbm_requires_are_required(challenger, key):
    refused(edit_tree(challenger, 6, key, None), "Tree=6", f"the tree lacks {key}=")


def test_cat_keys_are_required_when_num_cat_is_positive(challenger):
    refused(edit_tree(challenger, 1, "cat_threshold", None), "Tree=1",
            "the tree lacks cat_threshold=")
    text = edit_tree(challenger, 1, "num_cat", "0")
    refused(text, "Tree=1", "cat_boundaries is given but num_cat is 0")


@pytest.mark.parametrize("child, fragments", [
    ("14", ["points to internal node 14", "expected an internal node from 1 to 13"]),
    ("-16", ["points to leaf 15", "a leaf ~i with i from 0 to 14"]),
    ("0", ["points to internal node 0"]),
    ("2147483647", ["points to internal node 2147483647"]),
])
def test_child_indices_out_of_range_are_refused(challenger, child, fragments):
    text = set_value(challenger, 3, "left_child", 4, child)
    refused(text, "Tree=3", f"line {line_of(text, 'left_child=', 'Tree=3')}",
            "left_child: node 4", *fragments)


def test_children_that_do_not_form_a_tree_are_refused(challenger):
    left = tree_value(challenger, 0, "left_child").split()
    right = tree_value(challenger, 0, "right_child").split()
    # node 1's left child becomes node 2, which the root already has as a child: a node reached
    # twice (a diamond; a cycle is the same defect seen from the other side)
    assert left[0] == "2" and left[1] == "3"
    text = edit_tree(challenger, 0, "left_child", " ".join(["2", "2", *left[2:]]))
    refused(text, "Tree=0", "internal node 2 is a child twice")
    # node 8's right child, leaf 9, becomes node 1, node 8's parent: a cycle 1 → 8 → 1
    j = right.index("-10")
    cyc = right.copy()
    cyc[j] = "1"
    refused(edit_tree(challenger, 0, "right_child", " ".join(cyc)), "Tree=0", "a child twice")


def test_a_cycle_among_unreachable_nodes_is_refused():
    # hand-made 4-leaf tree: root 0 → (leaf 0, leaf 1); nodes 1 and 2 point at each other
    refused(_one_tree(4, left="-1 2 1", right="-2 -3 -4"), "Tree=0",
            "cannot be reached from node 0")


def _one_tree(n: int, *, left: str, right: str, split: str | None = None,
              threshold: str | None = None, decision: str | None = None,
              extra: str = "") -> str:
    m = n - 1
    block = (f"Tree=0\nnum_leaves={n}\nnum_cat=0\nsplit_feature={split or ' '.join(['0'] * m)}\n"
             f"threshold={threshold or ' '.join(['0.5'] * m)}\n"
             f"decision_type={decision or ' '.join(['2'] * m)}\n"
             f"left_child={left}\nright_child={right}\n"
             f"leaf_value={' '.join(['0.1'] * n)}\n{extra}shrinkage=1\n\n\n")
    return ("tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n"
            "max_feature_idx=1\nobjective=binary sigmoid:1\nfeature_names=a b\n"
            f"feature_infos=none none\ntree_sizes={len(block)}\n\n{block}end of trees\n")


def test_the_hand_made_tree_helper_makes_a_valid_model():
    text = _one_tree(3, left="1 -2", right="-1 -3")
    assert check_model_text(text.encode(), WHERE).num_trees == 1
    booster = load_booster(check_model_text(text.encode(), WHERE), WHERE)
    assert booster.predict(np.array([[0.0, 0.0]])).shape == (1,)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999"])
def test_non_finite_thresholds_and_leaf_values_are_refused(challenger, value):
    refused(set_value(challenger, 2, "threshold", 3, value), "Tree=2",
            "threshold: value 4 is", "expected a finite number")
    refused(set_value(challenger, 2, "leaf_value", 0, value), "Tree=2",
            "leaf_value: value 1 is", "expected a finite number")


def test_non_numbers_are_refused(challenger):
    refused(set_value(challenger, 2, "split_gain", 2, "12x"), "Tree=2",
            "split_gain: expected a number as value 3; found '12x'")
    refused(set_value(challenger, 2, "leaf_count", 0, "1.5"), "Tree=2",
            "leaf_count: expected an integer as value 1; found '1.5'")


@pytest.mark.parametrize("value, fragment", [
    ("131073", "num_leaves: value 1 is 131073; expected an integer from 1 to 131072"),
    ("99999999999", "num_leaves: expected an integer as value 1"),
    ("0", "num_leaves: value 1 is 0"),
    ("-5", "num_leaves: value 1 is -5"),
])
def test_huge_or_impossible_num_leaves_are_refused(challenger, value, fragment):
    refused(edit_tree(challenger, 4, "num_leaves", value), "Tree=4", fragment)
    assert MAX_LEAVES == 131_072


def test_num_leaves_must_agree_with_the_arrays(challenger):
    refused(edit_tree(challenger, 4, "num_leaves", "16"), "Tree=4",
            "leaf_value has 15 value(s); expected 16")


def test_split_features_must_exist(challenger):
    refused(set_value(challenger, 0, "split_feature", 0, "9"), "Tree=0",
            "split_feature: value 1 is 9; expected an integer from 0 to 8")


def test_categorical_splits_must_index_a_category_set(challenger):
    node = tree_value(challenger, 1, "decision_type").split().index("1")
    refused(set_value(challenger, 1, "threshold", node, "2"), "Tree=1",
            f"threshold: value {node + 1} is 2.0", "expected an integer from 0 to num_cat - 1 (1)")
    refused(set_value(challenger, 1, "threshold", node, "0.5"), "Tree=1",
            f"threshold: value {node + 1} is 0.5")
    # a categorical decision in a tree without category sets
    refused(set_value(challenger, 0, "decision_type", 0, "1"), "Tree=0",
            "expected an integer from 0 to num_cat - 1 (-1)")


def test_decision_types_lightgbm_does_not_define_are_refused(challenger):
    for bad, fragment in (("16", "value 1 is 16; expected an integer from 0 to 15"),
                          ("14", "missing-value type (bits 2-3) is 3")):
        refused(set_value(challenger, 0, "decision_type", 0, bad), "Tree=0", fragment)


def test_unknown_and_duplicate_tree_keys_are_refused(challenger):
    text = with_sizes(challenger.replace("Tree=5\nnum_leaves=15\n",
                                         "Tree=5\nnum_leaves=15\nnum_leaves=15\n"))
    refused(text, "Tree=5", "num_leaves appears twice")
    text = with_sizes(challenger.replace("Tree=5\nnum_leaves=15\n",
                                         "Tree=5\nnum_leaves=15\nfoo=1\n"))
    refused(text, "Tree=5", "unknown key 'foo'")
    text = with_sizes(challenger.replace("Tree=5\nnum_leaves=15\n",
                                         "Tree=5\nnum_leaves=15\ngarbage\n"))
    refused(text, "Tree=5", f"line {line_of(challenger, 'Tree=5') + 2}",
            "expected key=value; found 'garbage'")


def test_linear_tree_arrays_are_checked():
    base = dict(left="1 -2", right="-1 -3")
    linear = ("is_linear=1\nleaf_const=0.1 0.2 0.3\nnum_features=1 0 2\n"
              "leaf_features=1  0 1 \nleaf_coeff=0.5  0.25 0.125 \n")
    assert check_model_text(_one_tree(3, **base, extra=linear).encode(), WHERE)
    refused(_one_tree(3, **base, extra=linear.replace("leaf_features=1  0 1",
                                                      "leaf_features=1  0 5")),
            "leaf_features: value 3 is 5; expected an integer from 0 to 1")
    refused(_one_tree(3, **base, extra=linear.replace("leaf_coeff=0.5 ", "leaf_coeff=")),
            "leaf_coeff has 2 value(s); expected 3")
    refused(_one_tree(3, **base, extra=linear.replace("0.125", "nan")),
            "leaf_coeff: value 3 is nan")
    refused(_one_tree(3, **base, extra=linear.replace("is_linear=1", "is_linear=0")),
            "leaf_const is given but is_linear is 0")
    refused(_one_tree(3, **base, extra=linear.replace("leaf_const=0.1 0.2 0.3\n", "")),
            "the tree lacks leaf_const=")


# -- after the trees ----------------------------------------------------------------------------

def test_parameter_lines_must_have_lightgbms_shape(challenger):
    # LightGBM's GetLoadedParam indexes the part after ':' without checking it exists
    refused(challenger.replace("[max_bin: 255]", "[max_bin]"),
            f"line {line_of(challenger, '[max_bin: 255]')}", "expected a parameter line")


def test_pandas_categorical_must_be_json_lists(challenger):
    start = challenger.index("pandas_categorical:")
    ln = line_of(challenger, "pandas_categorical:")
    for bad in ("[[", "{\"a\": 1}", "[[\"a\", \"a\"]]", "[[[\"nested\"]]]", "[" * 100000,
                "[[NaN]]"):
        refused(challenger[:start] + "pandas_categorical:" + bad + "\n", f"line {ln}",
                "pandas_categorical: expected JSON null or a list of lists")
    refused(challenger + "more\n", "expected pandas_categorical: to be the last line")


def test_unexpected_lines_after_the_trees_are_refused(challenger):
    text = challenger.replace("end of trees\n", "end of trees\nsurprise\n")
    refused(text, f"line {line_of(challenger, 'end of trees') + 1}",
            "unexpected line after 'end of trees': 'surprise'")


# -- through kind: saved_model ------------------------------------------------------------------

def _spec(path, **kw):
    base = dict(name="gbm", kind="saved_model", path=path, threshold=0.5, trusted=False,
                sha256=None, trusted_types=[])
    return SimpleNamespace(**{**base, **kw})


def _ctx(folder: Path):
    return SimpleNamespace(resolve=lambda p: folder / p, features=[], categorical=[],
                           extra={"favorable": "1"})


def test_make_saved_refuses_a_damaged_model_naming_file_and_candidate(tmp_path, challenger):
    (tmp_path / "m.txt").write_text(edit_tree(challenger, 3, "right_child", "1 2 3"))
    with pytest.raises(ModelError) as info:
        make_saved(_spec("m.txt"), _ctx(tmp_path))
    msg = str(info.value)
    assert msg.startswith(f"{tmp_path / 'm.txt'}: candidate 'gbm': not a valid LightGBM text "
                          "model: line "), msg
    assert "Tree=3" in msg and "right_child has 3 value(s); expected 14" in msg


def test_make_saved_hashes_the_bytes_it_checked(tmp_path):
    import hashlib

    data = CHALLENGER.read_bytes()
    (tmp_path / "m.txt").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    cand = make_saved(_spec("m.txt", sha256=digest.upper()), _ctx(tmp_path))
    assert cand.sha256 == digest and cand.model.num_trees() == 80
    with pytest.raises(ModelError, match="the file has changed since it was pinned"):
        make_saved(_spec("m.txt", sha256="0" * 64), _ctx(tmp_path))


def test_make_saved_refuses_more_than_one_class(tmp_path, challenger):
    text = challenger.replace("num_tree_per_iteration=1", "num_tree_per_iteration=2")
    (tmp_path / "m.txt").write_text(text.replace("num_class=1", "num_class=2"))
    with pytest.raises(ModelError, match="has num_class=2 .one score per class.; fairsel "
                                         "audits binary classifiers with one score"):
        make_saved(_spec("m.txt"), _ctx(tmp_path))


def test_make_saved_still_refuses_other_objectives(tmp_path):
    X, y = _frame()
    _train({"objective": "regression"}, X[["a", "b"]], y).save_model(str(tmp_path / "m.txt"))
    with pytest.raises(ModelError, match="objective is 'regression'; fairsel audits binary"):
        make_saved(_spec("m.txt"), _ctx(tmp_path))
