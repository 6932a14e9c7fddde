"""The output folder as one unit (issue 13, items 2, 7, 8): no write through a symlink, a
manifest of the last run's files, the folder lock, journaled commits rolled back after a kill,
and write failures reported as exit 74 naming the file."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from fairsel.errors import OutputError, UsageError
from fairsel.report import io as rio
from fairsel.report.io import LOCK_NAME, MANIFEST_NAME, ensure_writable, folder_lock, staged
from tests.conftest import ROOT

VICTIM = b"the user's own bytes\n"


def _results(run: str) -> str:
    """A staged results.json whose provenance names run ``run``."""
    return json.dumps({"provenance": {"started": run, "policy_sha256": "p" * 64,
                                      "data_sha256": "d" * 64}})


def _write_run(out: Path, files: dict[str, str], run: str = "run-1") -> None:
    with staged(out) as tmp:
        (tmp / "results.json").write_text(_results(run))
        for name, text in files.items():
            (tmp / name).write_text(text)


def _visible(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if not p.is_dir()}


@pytest.fixture
def victim(tmp_path) -> Path:
    v = tmp_path / "victim.txt"
    v.write_bytes(VICTIM)
    return v


# ---------------------------------------------------------------- item 2: symlinks


def test_the_write_probe_never_follows_a_planted_symlink(tmp_path, victim, monkeypatch):
    """The old probe was `.fairsel-write-test-<pid>`: a link planted there truncated its
    target. The probe is now a fresh `tempfile` name, created with O_EXCL."""
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(os, "getpid", lambda: 4242)
    (out / ".fairsel-write-test-4242").symlink_to(victim)
    ensure_writable(out)
    assert victim.read_bytes() == VICTIM
    assert sorted(p.name for p in out.iterdir()) == [".fairsel-write-test-4242"]


def test_staged_files_replace_symlinks_at_their_names_never_write_through(tmp_path, victim):
    out = tmp_path / "out"
    out.mkdir()
    for name in ("summary.md", LOCK_NAME, MANIFEST_NAME):
        (out / name).symlink_to(victim)
    _write_run(out, {"summary.md": "new summary\n"})
    assert victim.read_bytes() == VICTIM
    assert not (out / "summary.md").is_symlink()
    assert (out / "summary.md").read_text() == "new summary\n"
    assert not (out / MANIFEST_NAME).is_symlink()
    assert not os.path.lexists(out / LOCK_NAME)  # the planted link was removed, not followed


# ---------------------------------------------------------------- item 7: one unit


def test_a_run_with_fewer_files_removes_the_previous_runs_stale_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")  # a user's file
    (out / "comparison.md").write_text("from fairsel compare\n")
    _write_run(out, {"summary.md": "PASS\n", "junit.xml": "<ok/>", "report.html": "PASS"})
    _write_run(out, {"leaderboard.csv": "FAIL\n"}, run="run-2")
    files = _visible(out)
    manifest = json.loads(files.pop(MANIFEST_NAME))
    assert files == {"comparison.md": b"from fairsel compare\n", "notes.txt": b"mine\n",
                     "leaderboard.csv": b"FAIL\n", "results.json": _results("run-2").encode()}
    assert manifest["files"] == ["leaderboard.csv", "results.json"]


def test_a_render_of_the_same_run_adds_to_its_files(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    _write_run(out, {"summary.md": "PASS\n", "predictions.parquet": "rows"})
    _write_run(out, {"report.html": "<html>"})  # the same run's results.json: a render
    files = _visible(out)
    assert json.loads(files.pop(MANIFEST_NAME))["files"] == [
        "predictions.parquet", "report.html", "results.json", "summary.md"]
    assert set(files) == {"predictions.parquet", "report.html", "results.json", "summary.md"}


def test_a_planted_manifest_removes_nothing_fairsel_did_not_write(tmp_path, victim):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    (out / "report.html").mkdir()  # a folder by an output's name is not fairsel's
    (out / "report.html" / "index.html").write_text("mine\n")
    (out / MANIFEST_NAME).write_text(json.dumps(
        {"run": "x", "files": ["notes.txt", "../victim.txt", str(victim), LOCK_NAME, "..",
                               "report.html"]}))
    _write_run(out, {})
    assert (out / "notes.txt").read_text() == "mine\n"
    assert (out / "report.html" / "index.html").read_text() == "mine\n"
    assert victim.read_bytes() == VICTIM


def test_a_second_run_on_the_folder_waits_a_bounded_time_then_names_the_holder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with staged(out):
        t0 = time.monotonic()
        with pytest.raises(UsageError) as err, staged(out, wait=0.5):
            pass
        assert 0.4 < time.monotonic() - t0 < 5
    assert str(err.value).startswith(f"{out}: another fairsel run (pid {os.getpid()}) is "
                                     "writing to this output folder; waited 0.5 s")


def test_a_waiting_run_commits_after_the_first_and_never_interleaves(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    names = ["summary.md", "junit.xml", "leaderboard.csv"]
    entered = threading.Event()
    errors: list[BaseException] = []

    def first():
        try:
            with staged(out) as tmp:
                entered.set()
                for n in names:
                    (tmp / n).write_text("first\n")
                    time.sleep(0.2)
                (tmp / "results.json").write_text(_results("first"))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    assert entered.wait(10)
    # the second run gets the folder only once the first has committed, and sees its files
    with staged(out, wait=10) as tmp:
        seen = _visible(out)
        for n in names:
            (tmp / n).write_text("second\n")
        (tmp / "results.json").write_text(_results("second"))
    thread.join()
    assert not errors
    assert {n: seen[n] for n in names} == {n: b"first\n" for n in names}
    after = _visible(out)
    assert {n: after[n] for n in names} == {n: b"second\n" for n in names}


KILLER = textwrap.dedent("""\
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, {root!r})
    from fairsel.report.io import staged
    out = Path(sys.argv[1])
    real, landed = os.replace, []
    def replace(src, dst):
        real(src, dst)
        if Path(dst).parent == out:
            landed.append(dst)
            if len(landed) == 2:  # two new files in place, the others not: die here
                os.kill(os.getpid(), signal.SIGKILL)
    os.replace = replace
    with staged(out) as tmp:
        (tmp / "results.json").write_text("new results")
        (tmp / "junit.xml").write_text("new junit")
        (tmp / "report.html").write_text("new html")
        (tmp / "summary.md").write_text("new summary")
""")


def test_a_commit_killed_between_renames_is_rolled_back_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    _write_run(out, {"summary.md": "old summary", "predictions.parquet": "old rows",
                     "leaderboard.csv": "old board"})
    before = _visible(out)
    script = tmp_path / "killer.py"
    script.write_text(KILLER.format(root=str(ROOT)))
    proc = subprocess.run([sys.executable, str(script), str(out)], capture_output=True,
                          timeout=120)
    assert proc.returncode == -9, proc.stderr
    # the kill left a mix of two runs and a staging folder with the journal
    assert _visible(out) != before
    leftovers = list(out.glob(".fairsel-tmp-*"))
    assert len(leftovers) == 1 and (leftovers[0] / ".commit").exists()
    with staged(out) as tmp:
        inside = _visible(out)
        assert inside.pop(LOCK_NAME) == f"{os.getpid()}\n".encode()  # held by this run now
        assert inside == before  # the next run starts from the previous run, whole
        assert [p for p in out.glob(".fairsel-tmp-*")] == [tmp]
        (tmp / "results.json").write_text(_results("third"))
    assert not list(out.glob(".fairsel-*-*"))
    assert not os.path.lexists(out / LOCK_NAME)


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), OSError(errno.EXDEV, "Invalid link")])
def test_an_interruption_between_renames_puts_the_previous_files_back(tmp_path, monkeypatch,
                                                                      exc):
    out = tmp_path / "out"
    out.mkdir()
    _write_run(out, {"summary.md": "old summary", "leaderboard.csv": "old board"})
    before = _visible(out)
    real, count = os.replace, []

    def replace(src, dst):
        if Path(dst).parent == out:
            count.append(dst)
            if len(count) == 3:
                raise exc
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(type(exc)), staged(out) as tmp:
        for name in ("results.json", "summary.md", "junit.xml", "leaderboard.csv"):
            (tmp / name).write_text("new")
    assert _visible(out) == before
    assert not list(out.glob(".fairsel-*-*"))


def test_leftover_staging_folders_of_killed_runs_are_removed(tmp_path):
    out = tmp_path / "out"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep")
    (out / ".fairsel-tmp-dead1").mkdir(parents=True)
    (out / ".fairsel-tmp-dead1" / "results.json").write_text("half")
    (out / ".fairsel-tmp-link").symlink_to(elsewhere)  # not ours to follow
    _write_run(out, {})
    assert not (out / ".fairsel-tmp-dead1").exists()
    assert (elsewhere / "keep.txt").read_text() == "keep"


# ---------------------------------------------------------------- item 8: write failures


@pytest.mark.parametrize("code,words", [(errno.ENOSPC, "No space left on device"),
                                        (errno.EFBIG, "File too large"),
                                        (errno.EROFS, "Read-only file system"),
                                        (errno.EACCES, "Permission denied")])
def test_a_write_refused_by_the_file_system_is_an_output_error_naming_the_file(
        tmp_path, code, words):
    out = tmp_path / "out"
    out.mkdir()
    _write_run(out, {"summary.md": "old"})
    before = _visible(out)
    with pytest.raises(OutputError) as err, staged(out) as tmp:
        raise OSError(code, os.strerror(code), str(tmp / "report.pdf"))
    assert err.value.exit_code == 74
    assert str(err.value).startswith(f"{out / 'report.pdf'}: cannot write the output ({words}); "
                                     "the previous report is left intact.")
    assert _visible(out) == before
    assert not list(out.glob(".fairsel-tmp-*"))


@pytest.mark.parametrize("exc", [
    FileNotFoundError(errno.ENOENT, "No such file or directory", "x"),
    PermissionError(errno.EACCES, "Permission denied", "/elsewhere/data.csv")])  # an input
def test_an_oserror_that_is_not_a_write_failure_stays_what_it_is(tmp_path, exc):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(type(exc)) as err, staged(out):
        raise exc
    assert err.value is exc


def test_an_unwritable_folder_is_exit_74(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()

    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(rio.tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match="the output folder is not writable"):
        ensure_writable(out)


def test_the_predictions_writer_names_its_file_when_pyarrow_fails(tmp_path, monkeypatch):
    """pyarrow's OSError carries neither errno nor file name; the writer thread's error still
    becomes exit 74 naming predictions.parquet in the output folder."""
    import numpy as np
    import pyarrow.parquet as pq

    from fairsel.report.predictions import PredictionsJob

    def full(*args, **kwargs):
        raise OSError("IOError: error writing bytes to file. Detail: [errno 28] "
                      "No space left on device")

    monkeypatch.setattr(pq, "write_table", full)

    class Run:
        y_true = np.array([0, 1])
        row_ids = np.array([0, 1])
        folds = np.array([0, 1])
        predictions: list = []

    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(OutputError) as err, staged(out) as tmp:
        PredictionsJob(Run(), tmp).wait()
    assert str(err.value).startswith(
        f"{out / 'predictions.parquet'}: cannot write the output (No space left on device)")


def test_the_lock_is_released_when_the_body_fails(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(RuntimeError), folder_lock(out):
        raise RuntimeError("x")
    with folder_lock(out, wait=0):
        pass
    assert not os.path.lexists(out / LOCK_NAME)


# ---------------------------------------------------------------- item 9: inputs


def test_a_saved_model_or_predictions_file_that_is_an_output_is_refused(tmp_path):
    from fairsel.policy import load_policy
    from fairsel.report.io import refuse_policy_inputs
    from tests.unit.test_registries import tiny_policy, write_tiny_data

    write_tiny_data(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text("id,score\n")  # the vendor's scores, saved in out/
    policy = load_policy(tiny_policy(
        tmp_path, candidates="  - {name: logreg, kind: sklearn, estimator: logistic_regression}\n"
                             "  - {name: vendor, kind: predictions, path: out/results.json, "
                             "score_column: score}"))
    with pytest.raises(UsageError) as err:
        refuse_policy_inputs(policy, out)
    assert str(err.value).startswith(
        f"{policy.path}: candidates[1] (vendor) → path: {out / 'results.json'} is "
        f"{out / 'results.json'}, a file the audit writes in its output folder {out}")
    refuse_policy_inputs(policy, tmp_path / "elsewhere")  # another folder: nothing to refuse
