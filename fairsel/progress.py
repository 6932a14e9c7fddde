"""The small protocol through which the library reports progress (drawn only by the CLI)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def stage(self, name: str, total: int | None = None) -> None:
        """A new stage starts (optionally with a known number of steps)."""

    def advance(self, steps: int = 1) -> None:
        """Some steps of the current stage are done."""

    def note(self, message: str) -> None:
        """A line worth telling the user (a skipped candidate, a small group)."""


class NullProgress:
    """Progress that shows nothing (the default in library use, CI and tests)."""

    def stage(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, steps: int = 1) -> None:
        pass

    def note(self, message: str) -> None:
        pass
