"""Atomic output: every file is written to a temporary folder, then renamed into place."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from fairsel.errors import UsageError


def ensure_writable(out_dir: Path) -> None:
    """Create ``out_dir`` if needed; a clear error if it cannot be written."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: the output path exists and is not a folder; "
                         "choose another with --output or report → output")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out_dir}: cannot create the output folder ({exc.strerror}); "
                         "choose another with --output or report → output") from None
    if not out_dir.is_dir():
        raise UsageError(f"{out_dir}: the output path exists and is not a folder")
    probe = out_dir / f".fairsel-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"{out_dir}: the output folder is not writable ({exc.strerror}); "
                         "choose another with --output or report → output") from None


@contextlib.contextmanager
def staged(out_dir: Path) -> Iterator[Path]:
    """Yield a temporary folder inside ``out_dir``; on success move its files into place.

    If the body raises (or the run is interrupted), nothing in ``out_dir`` changes, so the
    previous report stays intact. If moving the files into place fails part-way, the files
    already moved are taken back and the previous ones restored.
    """
    ensure_writable(out_dir)
    tmp = Path(tempfile.mkdtemp(prefix=".fairsel-tmp-", dir=out_dir))
    try:
        yield tmp
        _commit(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _commit(tmp: Path, out_dir: Path) -> None:
    """Move the staged files of ``tmp`` into ``out_dir``, all or none.

    Each previous file is first moved aside into ``tmp/.previous`` (a rename in the same
    folder), so that a failure on the third file can put the first two back; the error is then
    re-raised. Should a rollback step itself fail, ``tmp`` is renamed ``.fairsel-previous-*``
    and left on disk, so that no previous file is deleted with it.
    """
    backup = tmp / ".previous"
    backup.mkdir()
    staged_items = sorted(p for p in tmp.iterdir() if p != backup)
    moved: list[tuple[str, bool]] = []  # (name, a previous file was moved aside)
    try:
        for item in staged_items:
            target = out_dir / item.name
            had = os.path.lexists(target)
            if had:
                os.replace(target, backup / item.name)
            moved.append((item.name, had))
            os.replace(item, target)
    except BaseException:
        intact = True
        for name, had in reversed(moved):
            target = out_dir / name
            try:
                if had:
                    os.replace(backup / name, target)
                elif target.is_dir() and not target.is_symlink():
                    shutil.rmtree(target)
                elif os.path.lexists(target):
                    os.unlink(target)
            except OSError:
                intact = False
        if not intact:
            tmp.rename(tmp.with_name(tmp.name.replace(".fairsel-tmp-", ".fairsel-previous-")))
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write one file atomically (temp file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
