"""Hostile and broken input through the real command line, one case per folder of tests/hostile.

Each folder ``tests/hostile/<case>/`` holds a ``case.yaml`` and the files the case needs
(policies, data, templates, model or results files; symlinks are kept as symlinks). The folder
is copied to a temporary directory, ``@ROOT@`` in every text file of the copy is replaced with
the repository's root (so a case can name ``@ROOT@/data_samples/german_credit.csv``), and
``python -m fairsel ARGS`` runs there in a fresh process, as an attacker or a careless user
would run it. Adding a case is adding a folder; see tests/hostile/README.md for the keys.

Whatever the case, fairsel must end by itself within the time limit, with the exit code the
case expects, never by a signal, never with a traceback on stderr, and never with exit 70.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, run_cli_or_kill

CASES_DIR = ROOT / "tests" / "hostile"
CASES = sorted(p.parent for p in CASES_DIR.glob("*/case.yaml"))
KEYS = {"issue", "description", "command", "exit", "stderr", "stderr_absent", "timeout",
        "files_absent", "files_present", "unchanged", "file_contains", "file_absent_text",
        "env"}
TEXT_SUFFIXES = {".yaml", ".yml", ".json", ".csv", ".j2", ".html", ".css", ".txt", ".md"}


def _copy_case(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, symlinks=True)
    for path in dst.rglob("*"):
        if path.is_symlink() or not path.is_file() or path.suffix not in TEXT_SUFFIXES:
            continue
        data = path.read_bytes()
        if b"@ROOT@" in data:
            path.write_bytes(data.replace(b"@ROOT@", str(ROOT).encode()))


def _snapshot(work: Path, names: list[str]) -> dict[str, bytes | None]:
    return {n: ((work / n).read_bytes() if (work / n).is_file() else None) for n in names}


def test_the_corpus_is_not_empty():
    assert len(CASES) >= 1, "tests/hostile has no case folders"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_case(case: Path, tmp_path: Path):
    spec = yaml.safe_load((case / "case.yaml").read_text(encoding="utf-8"))
    unknown = set(spec) - KEYS
    assert not unknown, f"{case.name}/case.yaml: unknown keys {sorted(unknown)}"
    work = tmp_path / "case"
    _copy_case(case, work)
    (work / "case.yaml").unlink()
    before = _snapshot(work, list(spec.get("unchanged", [])))
    env = {**os.environ, "CI": "true", **{k: str(v) for k, v in (spec.get("env") or {}).items()}}
    # the process runs in the copy, not at ROOT: make it import this checkout's fairsel (not
    # whichever one the environment has installed, e.g. another worktree's editable install)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.pop("GITHUB_STEP_SUMMARY", None)
    env.pop("GITHUB_ACTIONS", None)
    args = [str(a).replace("@ROOT@", str(ROOT)) for a in spec["command"]]
    timeout = float(spec.get("timeout", 120))
    proc = run_cli_or_kill(args, work, env, timeout, case.name)
    out, err = proc.stdout, proc.stderr
    where = f"{case.name}: exit {proc.returncode}\nstderr:\n{err}"
    assert proc.returncode >= 0, f"{case.name}: killed by signal {-proc.returncode}\n{err}"
    assert proc.returncode != 70, where
    assert proc.returncode == int(spec["exit"]), where
    assert "Traceback" not in err, where
    for text in spec.get("stderr", []):
        assert text.replace("@ROOT@", str(ROOT)) in err, f"{where}\nexpected: {text!r}"
    for text in spec.get("stderr_absent", []):
        assert text not in err and text not in out, f"{where}\nmust not show: {text!r}"
    for name in spec.get("files_absent", []):
        assert not os.path.lexists(work / name), f"{case.name}: {name} should not exist"
    for name in spec.get("files_present", []):
        assert (work / name).exists(), f"{case.name}: {name} should exist"
    after = _snapshot(work, list(before))
    for name, data in before.items():
        assert after[name] == data, f"{case.name}: {name} was changed"
    for name, texts in (spec.get("file_contains") or {}).items():
        body = (work / name).read_text(encoding="utf-8", errors="replace")
        for text in texts:
            assert text in body, f"{case.name}: {name} lacks {text!r}"
    for name, texts in (spec.get("file_absent_text") or {}).items():
        path = work / name
        if not path.exists():
            continue
        body = path.read_text(encoding="utf-8", errors="replace")
        for text in texts:
            assert text not in body, f"{case.name}: {name} contains {text!r}"
    # nothing of the run is left behind: no staging folder, no crash log
    leftovers = [p.name for p in work.rglob(".fairsel-tmp-*")] + \
        [p.name for p in work.rglob("fairsel-error.log")]
    assert not leftovers, f"{case.name}: left behind {leftovers}"
