"""Fuzzing: damaged LightGBM models and damaged policies end with a contract exit code.

(a) The shipped LightGBM text model (data_samples/models/challenger.lgb.txt), mutated — bytes
    changed, lines deleted or repeated, the file cut short, numbers replaced by huge, negative,
    NaN or infinite ones, with tree_sizes left alone or rewritten to fit (so the mutation reaches
    the checks inside the trees) — goes through fairsel's loader (``kind: saved_model``) and is
    scored: either the model is valid and gives finite scores, or the result is a ModelError.
    LightGBM's native parser crashes or hangs on such bytes, so a crash here ends the test run
    (as it would end an audit). A few mutations go through the real command line in a fresh
    process: the exit code is one of the contract's (0–5), never a signal, never 70, in time.
(b) The valid policy tests/fixtures/bad_data/base_policy.yaml (with its small.csv), mutated —
    keys deleted, values swapped for other values or types, random unicode inserted, deep
    nesting, huge numbers, NaN and infinities, anchors and aliases — goes through ``validate``:
    the exit code is one of the contract's, never 70, never a traceback.

Runtime is bounded (about a minute on a busy two-core machine): few examples, no deadline per
example, and ``derandomize=True`` so every run (and CI) tries the same inputs. For a deeper run
by hand, ``FAIRSEL_FUZZ_SCALE=20`` multiplies the number of examples.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairsel.candidates.saved import make_saved
from fairsel.errors import ModelError
from tests.conftest import ROOT, SAMPLES, run_cli_or_kill

CONTRACT_CODES = {0, 1, 2, 3, 4, 5}
MODEL = (SAMPLES / "models" / "challenger.lgb.txt").read_bytes()
FEATURES = ["region", "age", "income", "loan_amount", "debt_to_income", "credit_history_years",
            "prior_defaults", "employment", "purpose"]
BAD_DATA = ROOT / "tests" / "fixtures" / "bad_data"
CLI_TIMEOUT = 60

SCALE = float(os.environ.get("FAIRSEL_FUZZ_SCALE", "1"))  # e.g. 20 for a deeper run by hand


def _examples(n: int) -> int:
    return max(1, round(n * SCALE))


FAST = settings(max_examples=_examples(80), deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FEW = settings(FAST, max_examples=_examples(10))


def _run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``python -m fairsel ARGS`` in a fresh process running this checkout's fairsel."""
    env = {**os.environ, "CI": "true"}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return run_cli_or_kill(args, cwd, env, CLI_TIMEOUT, " ".join(args))


def _assert_contract(code: int, err: str, what: str) -> None:
    assert code >= 0, f"{what}: killed by signal {-code}\n{err}"
    assert code != 70, f"{what}: internal error\n{err}"
    assert code in CONTRACT_CODES, f"{what}: exit {code}\n{err}"
    assert "Traceback" not in err, f"{what}\n{err}"


# -- (a) LightGBM text models -----------------------------------------------------------------

NUMBERS = ["nan", "inf", "-inf", "NaN", "1e308", "-1e308", "1e999", "-1", "0", "-0.0", "0.5",
           "2147483647", "2147483648", "-2147483649", "99999999999999999999", "1e-400", "14",
           "15", "-15", "-16", "8", "9"]
_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
_POS = st.integers(min_value=0, max_value=2**31)
MODEL_OPS = st.one_of(
    st.tuples(st.just("flip"), _POS, st.integers(0, 255)),
    st.tuples(st.just("delete_line"), _POS),
    st.tuples(st.just("duplicate_line"), _POS),
    st.tuples(st.just("truncate"), _POS),
    st.tuples(st.just("number"), _POS, st.sampled_from(NUMBERS)),
)
MODEL_MUTATIONS = st.tuples(st.lists(MODEL_OPS, min_size=1, max_size=3), st.booleans())


def _refit_tree_sizes(data: bytes) -> bytes:
    """tree_sizes rewritten to the Tree= blocks' sizes, when the file still has them."""
    try:
        text = data.decode("utf-8")
        start = text.index("\nTree=0\n") + 1
        end = text.index("end of trees\n", start)
    except (UnicodeDecodeError, ValueError):
        return data
    blocks = [b for b in re.split(r"(?=^Tree=\d+\n)", text[start:end], flags=re.M) if b]
    sizes = " ".join(str(len(b.encode())) for b in blocks)
    return re.sub(r"^tree_sizes=.*$", lambda _: f"tree_sizes={sizes}", text, count=1,
                  flags=re.M).encode()


def mutate_model(data: bytes, ops: list[tuple], refit_sizes: bool) -> bytes:
    for op in ops:
        kind, pos = op[0], op[1]
        if kind == "flip" and data:
            i = pos % len(data)
            data = data[:i] + bytes([op[2]]) + data[i + 1:]
        elif kind in ("delete_line", "duplicate_line"):
            lines = data.split(b"\n")
            i = pos % len(lines)
            lines[i:i + 1] = [] if kind == "delete_line" else [lines[i], lines[i]]
            data = b"\n".join(lines)
        elif kind == "truncate":
            data = data[:pos % (len(data) + 1)]
        elif kind == "number":
            found = list(_NUMBER.finditer(data))
            if found:
                m = found[pos % len(found)]
                data = data[:m.start()] + op[2].encode() + data[m.end():]
    return _refit_tree_sizes(data) if refit_sizes else data


def test_the_model_mutations_do_reach_the_trees(scratch):
    # a number replaced inside a tree, tree_sizes rewritten: the check inside the tree refuses
    thresholds = MODEL.index(b"threshold=", MODEL.index(b"Tree=3\n")) + len(b"threshold=")
    index = sum(1 for m in _NUMBER.finditer(MODEL) if m.start() < thresholds)
    data = mutate_model(MODEL, [("number", index, "nan")], True)
    assert data != MODEL and data.count(b"Tree=") == MODEL.count(b"Tree=")
    with pytest.raises(ModelError, match=r"Tree=3: threshold: value 1 is nan"):
        _load_and_score(data, scratch)
    assert mutate_model(MODEL, [("delete_line", 0, 0)], True) == MODEL[5:]


@pytest.fixture(scope="module")
def scoring_rows() -> pd.DataFrame:
    frame = pd.read_csv(SAMPLES / "lending_branches.csv", nrows=200)
    X = frame[FEATURES].copy()
    for c in ("region", "employment", "purpose"):
        X[c] = X[c].astype(object)
    return X


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _load_and_score(data: bytes, folder: Path, X: pd.DataFrame | None = None
                    ) -> np.ndarray | None:
    """fairsel's own path for a saved LightGBM model: make_saved, then score_all."""
    path = folder / "model.lgb.txt"
    path.write_bytes(data)
    spec = SimpleNamespace(name="challenger", kind="saved_model", path=path.name,
                           threshold=0.5, trusted=False, sha256=None, trusted_types=[])
    ctx = SimpleNamespace(resolve=lambda p: folder / p, features=list(FEATURES),
                          categorical=["region", "employment", "purpose"],
                          extra={"favorable": "yes"})
    candidate = make_saved(spec, ctx)
    return None if X is None else candidate.score_all(X)


def test_the_unmutated_model_loads_and_scores(scoring_rows, scratch):
    scores = _load_and_score(MODEL, scratch, scoring_rows)
    assert scores.shape == (200,) and np.isfinite(scores).all()


@FAST
@given(MODEL_MUTATIONS)
def test_a_mutated_model_is_valid_or_a_model_error(scoring_rows, scratch, mutation):
    data = mutate_model(MODEL, *mutation)
    try:
        scores = _load_and_score(data, scratch, scoring_rows)
    except ModelError as exc:
        assert str(exc).startswith(str(scratch / "model.lgb.txt")), str(exc)
        return
    assert scores.shape == (len(scoring_rows),)
    assert np.isfinite(scores).all()


@pytest.fixture(scope="module")
def cli_case(tmp_path_factory) -> Path:
    """A folder with 300 rows of the lending data and a policy auditing model.lgb.txt."""
    folder = tmp_path_factory.mktemp("fuzz-cli")
    pd.read_csv(SAMPLES / "lending_branches.csv", nrows=300).to_csv(folder / "data.csv",
                                                                    index=False)
    policy = {
        "version": 1, "name": "fuzz",
        "data": {"path": "data.csv", "target": "approved", "favorable": "yes",
                 "id": "application_id", "exclude": ["branch", "race"]},
        "protected": [{"column": "sex"}],
        "validation": {"scheme": "stratified_kfold", "folds": 2},
        "candidates": [{"name": "challenger", "kind": "saved_model", "path": "model.lgb.txt"}],
        "metrics": {"confidence": {"resamples": 20}},
        "report": {"output": "out", "formats": ["json"]},
    }
    (folder / "policy.yaml").write_text(yaml.safe_dump(policy, sort_keys=False))
    return folder


@FEW
@given(MODEL_MUTATIONS)
def test_a_mutated_model_through_the_cli_ends_with_a_contract_code(cli_case, mutation):
    (cli_case / "model.lgb.txt").write_bytes(mutate_model(MODEL, *mutation))
    r = _run_cli(["audit", "--policy", "policy.yaml", "--quiet"], cli_case)
    _assert_contract(r.returncode, r.stderr, f"mutation {mutation}")
    leftovers = [p.name for p in cli_case.rglob(".fairsel-tmp-*")]
    assert not leftovers, f"left behind {leftovers}"
    assert not (cli_case / "fairsel-error.log").exists()


# -- (b) policies -----------------------------------------------------------------------------

def _base_policy() -> dict:
    policy = yaml.safe_load((BAD_DATA / "base_policy.yaml").read_text(encoding="utf-8"))
    policy["data"]["path"] = str(BAD_DATA / "small.csv")
    policy["report"]["output"] = "out"
    # gates and a reference group too, so that mutations reach their values
    policy["gates"] = [{"metric": "disparate_impact", "min": 0.8},
                       {"metric": "roc_auc", "min": 0.6, "severity": "warn"}]
    policy["protected"][0]["reference"] = "male"
    return policy


def _paths(node, prefix=()) -> list[tuple]:
    """Every key path in a YAML tree (mapping keys and list indexes)."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


BASE_PATHS = _paths(_base_policy())


def _nest(depth: int):
    node: object = "x"
    for i in range(depth):
        node = [node] if i % 2 else {"k": node}
    return node


HOSTILE_VALUES = st.one_of(
    st.sampled_from([None, True, False, 0, -1, 2**31, 10**30, -(10**30), 1e308, -1e308,
                     math.nan, math.inf, -math.inf, 0.5, "", "yes", "no", "null", "~", ".nan",
                     "x" * 2000, [], {}, [[]], {"": None}]),
    st.text(max_size=20),
    st.integers(min_value=1, max_value=200).map(_nest),
    st.lists(st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=5)),
             max_size=4),
)
POLICY_OPS = st.one_of(
    st.tuples(st.just("delete"), _POS),
    st.tuples(st.just("set"), _POS, HOSTILE_VALUES),
    st.tuples(st.just("swap"), _POS, _POS),
    st.tuples(st.just("alias"), _POS, _POS),  # the same object twice: YAML anchor and alias
    st.tuples(st.just("add_key"), _POS, st.text(min_size=1, max_size=10), HOSTILE_VALUES),
)
TEXT_OPS = st.lists(st.tuples(_POS, st.text(st.characters(exclude_categories=("Cs",)),
                                             min_size=1, max_size=8)), max_size=1)
POLICY_MUTATIONS = st.tuples(st.lists(POLICY_OPS, min_size=1, max_size=3), TEXT_OPS)


def _get(tree, path):
    for key in path:
        tree = tree[key]
    return tree


def mutate_policy(ops: list[tuple], text_ops: list[tuple]) -> str:
    policy = _base_policy()
    for op in ops:
        kind, path = op[0], BASE_PATHS[op[1] % len(BASE_PATHS)]
        try:
            parent = _get(policy, path[:-1])
            key = path[-1]
            if kind == "delete":
                del parent[key]
            elif kind == "set":
                parent[key] = op[2]
            elif kind in ("swap", "alias"):
                other_path = BASE_PATHS[op[2] % len(BASE_PATHS)]
                other_parent = _get(policy, other_path[:-1])
                other = other_parent[other_path[-1]]
                if kind == "swap":
                    other_parent[other_path[-1]] = parent[key]
                parent[key] = other
            elif kind == "add_key":
                target = parent[key]
                if isinstance(target, dict):
                    target[op[2]] = op[3]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier operation removed or reshaped this path
    text = yaml.safe_dump(policy, sort_keys=False, allow_unicode=True)
    for pos, insert in text_ops:
        i = pos % (len(text) + 1)
        text = text[:i] + insert + text[i:]
    return text


def test_the_policy_mutations_keep_yaml_aliases_and_reach_validate(tmp_path):
    text = mutate_policy([("alias", BASE_PATHS.index(("protected",)),
                           BASE_PATHS.index(("candidates",)))], [])
    assert "&id001" in text and "*id001" in text
    assert "&" not in mutate_policy([("delete", 0)], [])
    code, err = _validate_in_process(mutate_policy([("delete", 0)], []), tmp_path)
    assert code == 2 and "version" in err, err


@contextlib.contextmanager
def _inside(folder: Path):
    old = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def _validate_in_process(text: str, folder: Path) -> tuple[int, str]:
    from click.testing import CliRunner

    from fairsel.cli import main

    path = folder / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    env = {"CI": "true", "GITHUB_STEP_SUMMARY": None, "GITHUB_ACTIONS": None}
    with _inside(folder):  # an internal error's log would land here, not in the checkout
        res = CliRunner().invoke(main, ["validate", "--policy", str(path)], env=env)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise res.exception
    assert not (folder / "fairsel-error.log").exists(), res.stderr
    return res.exit_code, res.stderr


def test_the_base_policy_is_valid(tmp_path):
    code, err = _validate_in_process(mutate_policy([], []), tmp_path)
    assert code == 0, err


@settings(FAST, max_examples=_examples(100))
@given(POLICY_MUTATIONS)
def test_a_mutated_policy_validates_with_a_contract_code(scratch, mutation):
    code, err = _validate_in_process(mutate_policy(*mutation), scratch)
    _assert_contract(code, err, f"mutation {mutation}")


@settings(FEW, max_examples=_examples(2))
@given(POLICY_MUTATIONS)
def test_a_mutated_policy_through_the_cli_ends_with_a_contract_code(tmp_path_factory,
                                                                    mutation):
    folder = tmp_path_factory.mktemp("fuzz-policy-cli")
    (folder / "policy.yaml").write_text(mutate_policy(*mutation), encoding="utf-8")
    r = _run_cli(["validate", "--policy", "policy.yaml"], folder)
    _assert_contract(r.returncode, r.stderr, f"mutation {mutation}")
    assert not (folder / "fairsel-error.log").exists()
