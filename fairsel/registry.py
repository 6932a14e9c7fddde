"""Named extension points (metrics, estimators, mitigations, report formats)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from fairsel.errors import did_you_mean

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered name: a one-line meaning and a loader that builds the object lazily."""

    name: str
    summary: str
    loader: Callable[[], T]


class Registry(Generic[T]):
    """A mapping from names to lazily loaded objects, with "did you mean" on a miss.

    Entries may be registered as objects, as zero-argument loaders, or as
    ``"module:attribute"`` strings so that heavy libraries are imported only when used.
    """

    def __init__(self, kind: str, list_command: str) -> None:
        self.kind = kind
        self.list_command = list_command
        self._entries: dict[str, Entry[T]] = {}
        self._cache: dict[str, T] = {}

    def register(self, name: str, obj: T | str | None = None, *, summary: str = "",
                 lazy: bool = False) -> Callable[[T], T] | None:
        """Register ``obj`` under ``name``; with no object, act as a decorator."""
        if obj is None:
            def deco(o: T) -> T:
                self.register(name, o, summary=summary)
                return o
            return deco  # type: ignore[return-value]
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        if isinstance(obj, str) and ":" in obj and not lazy:
            module, attr = obj.split(":", 1)
            loader: Callable[[], T] = lambda: getattr(importlib.import_module(module), attr)  # noqa: E731
        elif lazy:
            loader = obj  # type: ignore[assignment]
        else:
            value = obj
            loader = lambda: value  # noqa: E731
        self._entries[name] = Entry(name, summary, loader)
        return None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> list[Entry[T]]:
        return list(self._entries.values())

    def summary(self, name: str) -> str:
        return self._entries[name].summary

    def unknown_message(self, name: str) -> str:
        """The message for a name that is not registered."""
        return (f"unknown {self.kind} '{name}'{did_you_mean(name, self.names())} "
                f"({self.list_command})")

    def get(self, name: str) -> T:
        """Return the object registered as ``name``; ``KeyError`` with a helpful message if none."""
        if name not in self._entries:
            raise KeyError(self.unknown_message(name))
        if name not in self._cache:
            self._cache[name] = self._entries[name].loader()
        return self._cache[name]
