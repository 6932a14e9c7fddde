"""Small file helpers shared by the data loader and the model loaders (no fairsel imports)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in 4 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same existing file (False when either is missing)."""
    try:
        return Path(a).samefile(b)
    except OSError:
        return False
