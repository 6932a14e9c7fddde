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
    previous report stays intact.
    """
    ensure_writable(out_dir)
    tmp = Path(tempfile.mkdtemp(prefix=".fairsel-tmp-", dir=out_dir))
    try:
        yield tmp
        for item in sorted(tmp.iterdir()):
            os.replace(item, out_dir / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
