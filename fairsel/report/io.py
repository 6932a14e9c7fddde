"""Output folders written as one unit: staged, locked, committed with a journal, recoverable.

How one run's files replace the previous run's (the design, also in README "Outputs"):

- **Lock.** A run holds an advisory lock (``fcntl.flock``) on ``.fairsel.lock`` in the output
  folder from before training until its files are in place; the file holds the holder's pid.
  A second run on the same folder waits up to :data:`LOCK_WAIT_SECONDS`, then stops with a
  usage error (exit 2) naming the folder and that pid. The kernel releases the lock when the
  holder dies, even by SIGKILL.
- **Staging.** Every file is written into ``.fairsel-tmp-*`` inside the folder (a
  ``tempfile.mkdtemp``: a fresh name, never an existing path or symlink).
- **Manifest.** ``.fairsel-manifest.json`` names the files of the last run (and the run, by
  the start time and sha256 sums in its results.json). A new run's commit removes the files the
  previous manifest names that this run does not write, so a run with fewer formats leaves no
  stale ``summary.md`` beside a newer ``results.json``. A ``render`` of the *same* run adds its
  files to the set instead. Files no manifest names (a user's own, ``comparison.md`` from
  ``fairsel compare``) are never touched, and only plain names of files fairsel writes are
  ever removed, whatever a manifest says.
- **Commit.** A journal (``.commit`` in the staging folder, written and fsynced first) lists
  every rename; each previous file (and each stale one) is moved aside into
  ``.fairsel-tmp-*/.previous`` before the new one is renamed over its name. A rename replaces
  a symlink at the target name, it never writes through it. Removing the journal is the
  commit point. A failure during the renames moves every previous file back.
- **Recovery.** A run killed mid-commit (SIGKILL, power loss) leaves its staging folder with
  the journal; the next run on the folder, once it holds the lock, rolls that commit back from
  ``.previous`` (the previous run's files, whole) and removes every staging folder left by
  killed runs. If a rollback step fails, the staging folder is renamed
  ``.fairsel-previous-*`` and kept, so that no previous file is lost with it.
- **Errors.** Disk full, file-size limit, permission or read-only file system while writing
  become :class:`~fairsel.errors.OutputError` (exit 74) naming the path; the previous report
  stays as it was.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from fairsel.errors import OutputError, UsageError

#: The lock file, the manifest and the prefixes of staging folders inside an output folder.
LOCK_NAME = ".fairsel.lock"
MANIFEST_NAME = ".fairsel-manifest.json"
STAGING_PREFIX = ".fairsel-tmp-"
KEPT_PREFIX = ".fairsel-previous-"
_JOURNAL = ".commit"
_BACKUP = ".previous"

#: How long a run waits for another run to release the output folder.
LOCK_WAIT_SECONDS = 10.0

#: errno values only a write gives: the file system will not take more (not a bug): exit 74.
FULL_ERRNOS = frozenset(getattr(errno, n) for n in ("ENOSPC", "EFBIG", "EDQUOT", "EROFS")
                        if hasattr(errno, n))
#: ... and those that are a write failure when the path is in the output folder.
WRITE_ERRNOS = FULL_ERRNOS | {errno.EACCES, errno.EPERM, errno.EIO, errno.ENAMETOOLONG}

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def output_error(exc: OSError, path: Path | str | None, *, staging: Path | None = None,
                 out_dir: Path | None = None) -> OutputError:
    """An :class:`OutputError` naming the file that could not be written.

    A path inside the staging folder is shown as the output file it was to become.
    """
    where = Path(exc.filename) if getattr(exc, "filename", None) else (
        Path(path) if path is not None else None)
    if where is not None and staging is not None and out_dir is not None:
        with contextlib.suppress(ValueError):
            where = out_dir / where.relative_to(staging)
    reason = exc.strerror or str(exc)
    remedy = {errno.ENOSPC: "free some space", errno.EFBIG: "raise the file-size limit (ulimit -f)",
              errno.EROFS: "use a writable file system"}.get(exc.errno or 0,
                                                            "check the folder's permissions")
    return OutputError(f"{where if where is not None else 'the output folder'}: cannot write the "
                       f"output ({reason}); the previous report is left intact. To fix: {remedy}, "
                       "or choose another folder with --output or report → output")


def is_write_failure(exc: BaseException, folder: Path | None = None) -> bool:
    """An OSError that says the file system refused a write (not a bug in fairsel).

    Disk full, file-size limit, quota and read-only file system are write failures wherever
    they happen; permission and I/O errors only on a path inside ``folder`` (a data file that
    cannot be read is not an output error).
    """
    if not isinstance(exc, OSError):
        return False
    code = with_errno(exc).errno
    if code in FULL_ERRNOS:
        return True
    if code not in WRITE_ERRNOS or folder is None or not exc.filename:
        return False
    try:
        Path(os.path.abspath(exc.filename)).relative_to(os.path.abspath(folder))
    except ValueError:
        return False
    return True


def with_errno(exc: OSError, path: Path | str | None = None) -> OSError:
    """``exc`` with its errno (read from the message where a library gave none, as pyarrow
    does) and its file name (``path`` where it has none)."""
    code = exc.errno
    if code is None:
        code = next((e for e in WRITE_ERRNOS if os.strerror(e) in str(exc)), None)
    filename = exc.filename or (str(path) if path is not None else None)
    if code == exc.errno and filename == exc.filename:
        return exc
    return OSError(code, os.strerror(code) if code else str(exc), filename)


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
    """An OSError raised while writing ``path`` names it (a failed ``write()`` on an open file,
    or pyarrow's errors, carry no file name), with its errno read from the message."""
    try:
        yield
    except OSError as exc:
        named = with_errno(exc, path)
        if named is exc or not is_write_failure(named, path.parent):
            raise
        raise named from exc


def check_output_path(out_dir: Path) -> None:
    """Refuse an output path that exists and is not a folder (nothing is created)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: the output path exists and is not a folder; "
                         "choose another with --output or report → output")


def ensure_writable(out_dir: Path) -> None:
    """Create ``out_dir`` if needed; a clear error if it cannot be written.

    The probe is a ``tempfile`` (``O_CREAT | O_EXCL``, a fresh random name), never a
    predictable path that a planted symlink could redirect.
    """
    check_output_path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno in WRITE_ERRNOS - {errno.ENAMETOOLONG}:
            raise output_error(exc, out_dir) from None
        raise UsageError(f"{out_dir}: cannot create the output folder ({exc.strerror}); "
                         "choose another with --output or report → output") from None
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir}: the output path exists and is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".fairsel-write-test-", dir=out_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"{out_dir}: the output folder is not writable ({exc.strerror}); "
                          "choose another with --output or report → output") from None


# ---------------------------------------------------------------- the lock


def _pid_of(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 32).decode("ascii", "replace").strip() or "?"
    return "?"


def _open_lock(path: Path) -> int:
    flags = os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC
    try:
        return os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise output_error(exc, path) from None
    os.unlink(path)  # a planted symlink: remove the link, never open its target
    return os.open(path, flags, 0o644)


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.lstat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


@contextlib.contextmanager
def folder_lock(out_dir: Path, wait: float | None = None) -> Iterator[None]:
    """Hold the output folder's advisory lock; wait up to ``wait`` seconds for another run.

    The lock file is removed when the lock is released (by its holder, still holding it); a
    waiter that then gets the lock on the removed file sees that its file is no longer the
    one at the path and opens the new one, so two runs never both hold the folder.

    Raises
    ------
    UsageError
        Another fairsel process still holds the folder after the wait (named, with its pid).
    """
    import fcntl

    wait = LOCK_WAIT_SECONDS if wait is None else wait
    path = out_dir / LOCK_NAME
    deadline = time.monotonic() + wait
    while True:
        fd = _open_lock(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _pid_of(fd)
            os.close(fd)
            if time.monotonic() >= deadline:
                raise UsageError(
                    f"{out_dir}: another fairsel run (pid {holder}) is writing to this output "
                    f"folder; waited {wait:g} s. Let it finish, or choose another folder with "
                    "--output or report → output") from None
            time.sleep(0.1)
            continue
        if _same_file(fd, path):
            break
        os.close(fd)  # the holder removed this file as it finished: lock the new one
    try:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            if _same_file(fd, path):
                os.unlink(path)
        os.close(fd)  # releases the lock


# ---------------------------------------------------------------- the manifest


def _known_names() -> frozenset[str]:
    from fairsel.report import output_names  # the formats registry knows every file name

    return frozenset(output_names())


def _read_json(path: Path) -> dict | None:
    """A small JSON object read without following a symlink (``None``: absent or unreadable)."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            data = json.loads(fh.read(1 << 20).decode("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read_manifest(out_dir: Path) -> dict:
    """The manifest of the folder's last run (``{}`` when none, or unreadable)."""
    data = _read_json(out_dir / MANIFEST_NAME)
    if data is None or not isinstance(data.get("files"), list):
        return {}
    known = _known_names()
    # only plain names of files fairsel writes: a planted manifest cannot aim anywhere else
    data["files"] = [f for f in data["files"] if isinstance(f, str) and f in known]
    return data


def _run_identity(staging: Path) -> str | None:
    """Which audit the staged results.json belongs to (start time and input hashes)."""
    try:
        with open(staging / "results.json", encoding="utf-8") as fh:
            prov = json.load(fh).get("provenance") or {}
    except (OSError, ValueError, AttributeError):
        return None
    parts = [prov.get(k) for k in ("started", "policy_sha256", "data_sha256")]
    return "|".join(str(p) for p in parts) if all(parts) else None


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---------------------------------------------------------------- staging and commit


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def recover(out_dir: Path, *, keep: Path | None = None) -> None:
    """Undo the half-done commits of killed runs and remove their staging folders.

    Call with the folder's lock held (so every other staging folder belongs to a dead run).
    """
    for leftover in sorted(out_dir.glob(STAGING_PREFIX + "*")):
        if leftover == keep or not _is_real_dir(leftover):
            continue
        journal = _read_json(leftover / _JOURNAL)
        if journal is not None:
            journal = _ours_only(journal)
        if journal is not None and not _rollback(leftover, out_dir, journal):
            leftover.rename(out_dir / leftover.name.replace(STAGING_PREFIX, KEPT_PREFIX, 1))
            continue
        shutil.rmtree(leftover, ignore_errors=True)


def _ours_only(journal: dict) -> dict:
    """A leftover journal cut to the names of files fairsel writes: one planted in a staging
    folder (an unpacked artifact) cannot make recovery remove or replace a user's own file,
    as a planted manifest cannot either."""
    ours = _known_names() | {MANIFEST_NAME}
    moves = journal.get("moves")
    stale = journal.get("stale")
    return {"moves": [m for m in moves if isinstance(m, list) and len(m) == 2
                      and isinstance(m[0], str) and m[0] in ours]
            if isinstance(moves, list) else [],
            "stale": [n for n in stale if isinstance(n, str) and n in ours]
            if isinstance(stale, list) else []}


@contextlib.contextmanager
def staged(out_dir: Path, *, wait: float | None = None) -> Iterator[Path]:
    """Yield a staging folder inside ``out_dir``; on success replace the folder's set of files.

    The folder is locked for the whole run (see the module docstring). If the body raises (or
    the run is interrupted), nothing in ``out_dir`` changes, so the previous report stays
    intact. If moving the files into place fails part-way, the previous ones are restored.

    Raises
    ------
    OutputError
        The file system refused a write (disk full, file-size limit, permission); exit 74.
    UsageError
        Another run holds the folder (exit 2).
    """
    ensure_writable(out_dir)
    with folder_lock(out_dir, wait):
        tmp = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out_dir))
        try:
            recover(out_dir, keep=tmp)
            try:
                yield tmp
                _commit(tmp, out_dir)
            except OSError as exc:
                if is_write_failure(exc, out_dir):
                    raise output_error(with_errno(exc), out_dir, staging=tmp,
                                       out_dir=out_dir) from exc
                raise
        finally:
            if _is_real_dir(tmp):
                shutil.rmtree(tmp, ignore_errors=True)


def _write_journal(tmp: Path, journal: dict) -> None:
    fd = os.open(tmp / _JOURNAL, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC,
                 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(journal, fh)
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_dir(tmp)


def _safe_name(name: object) -> bool:
    return isinstance(name, str) and name not in ("", ".", "..") and "/" not in name \
        and os.sep not in name


def _commit(tmp: Path, out_dir: Path) -> None:
    """Replace the files of the previous run in ``out_dir`` with those staged in ``tmp``.

    Writes the manifest and the journal, moves each previous (and each stale) file aside into
    ``tmp/.previous``, renames each staged file into place, then removes the journal (the
    commit point). On failure every previous file is moved back and the error re-raised; if a
    rollback step itself fails, ``tmp`` is renamed ``.fairsel-previous-*`` and left on disk.
    """
    backup = tmp / _BACKUP
    new_names = sorted(p.name for p in tmp.iterdir() if p.name not in (_BACKUP, _JOURNAL))
    for name in [*new_names, MANIFEST_NAME]:
        if _is_real_dir(out_dir / name):  # moved aside, it went with the staging folder
            raise UsageError(f"{out_dir / name}: is a folder, where fairsel writes the file "
                             f"{name}; nothing was written. Move or rename the folder, or "
                             "choose another output folder with --output or report → output")
    backup.mkdir()
    old = _read_manifest(out_dir)
    run = _run_identity(tmp)
    same_run = run is not None and old.get("run") == run
    # files of the previous run this one does not write (a folder by that name is not ours)
    kept = [n for n in old.get("files", []) if n not in new_names
            and os.path.lexists(out_dir / n) and not _is_real_dir(out_dir / n)]
    stale = [] if same_run else kept
    files = sorted(set(new_names) | (set(kept) if same_run else set()))
    manifest = {"fairsel_manifest": 1, "run": run, "files": files}
    with open(tmp / MANIFEST_NAME, "x", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")
    moves = [[n, os.path.lexists(out_dir / n)] for n in [*new_names, MANIFEST_NAME]]
    journal = {"stale": stale, "moves": moves}
    _write_journal(tmp, journal)
    try:
        for name in stale:
            os.replace(out_dir / name, backup / name)
        for name, had in moves:
            target = out_dir / name
            if had:
                os.replace(target, backup / name)  # a symlink is moved aside, not followed
            os.replace(tmp / name, target)
        _fsync_dir(out_dir)
        os.unlink(tmp / _JOURNAL)  # the commit point
    except BaseException:
        if not _rollback(tmp, out_dir, journal):
            tmp.rename(out_dir / tmp.name.replace(STAGING_PREFIX, KEPT_PREFIX, 1))
        raise


def _rollback(tmp: Path, out_dir: Path, journal: dict) -> bool:
    """Put back every previous file a commit had moved aside; ``False`` if a step failed."""
    backup = tmp / _BACKUP
    intact = True
    moves = [m for m in journal.get("moves", [])
             if isinstance(m, list) and len(m) == 2 and _safe_name(m[0])]
    stale = [n for n in journal.get("stale", []) if _safe_name(n)]
    for name, had in reversed(moves):
        target = out_dir / name
        try:
            if os.path.lexists(backup / name):
                os.replace(backup / name, target)
            elif not had and os.path.lexists(target) and not _is_real_dir(target):
                os.unlink(target)  # the new file landed where there was none before
        except OSError:
            intact = False
    for name in stale:
        try:
            if os.path.lexists(backup / name):
                os.replace(backup / name, out_dir / name)
        except OSError:
            intact = False
    if intact:
        with contextlib.suppress(OSError):
            os.unlink(tmp / _JOURNAL)
    return intact


# ---------------------------------------------------------------- inputs and single files


def refuse_inputs_as_outputs(out_dir: Path, names: Iterable[str],
                             inputs: Iterable[tuple[str, Path]]) -> None:
    """Refuse to run when an output file would be one of the run's inputs.

    Compares resolved paths (symlinks followed) and, where both exist, device and inode
    (``samefile``: hard links too).

    Raises
    ------
    UsageError
        An input is a file the audit would write or remove (both named).
    """
    base = out_dir.resolve()
    outputs = [base / n for n in names]
    for what, path in inputs:
        real = path.resolve()
        for out in outputs:
            same = real == out
            if not same and out.exists() and path.exists():
                with contextlib.suppress(OSError):
                    same = os.path.samefile(path, out)
            if same:
                raise UsageError(
                    f"{what}: {path} is {out_dir / out.name}, a file the audit writes in its "
                    f"output folder {out_dir}: the audit would destroy its own input. Move the "
                    "input, or choose another output folder with --output or report → output")


def refuse_policy_inputs(policy, out_dir: Path) -> None:
    """:func:`refuse_inputs_as_outputs` for an audit: the policy file, its data file and every
    file a candidate reads, against every file fairsel may write (or remove as stale) in
    ``out_dir``."""
    from fairsel.report import output_names

    where = policy.path
    inputs: list[tuple[str, Path]] = [("the policy file", Path(where)),
                                      (f"{where}: data → path", policy.resolve(policy.data.path))]
    for i, cand in enumerate(policy.candidates):
        if cand.path:
            inputs.append((f"{where}: candidates[{i}] ({cand.name}) → path",
                           policy.resolve(cand.path)))
    refuse_inputs_as_outputs(out_dir, [*output_names(), MANIFEST_NAME, LOCK_NAME], inputs)


def atomic_write_text(path: Path, text: str) -> None:
    """Write one file atomically (temp file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # a fresh random name created exclusively, never a symlink; unlike mkstemp (0600) the
    # file gets the umask's mode, as every other output
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
