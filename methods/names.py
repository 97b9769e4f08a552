"""One name table for everything looked up by name: methods, datasets, protocols, policies, losses, backends.

Lookup ignores case and surrounding spaces and follows aliases; an unknown name raises
:class:`UnknownNameError` with the message ``Unknown <kind> 'x'. Available: a, b, c`` (the style of
lm-evaluation-harness), so every table answers a typo the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

__all__ = ["Registry", "UnknownNameError"]

T = TypeVar("T")


class UnknownNameError(KeyError, ValueError):
    """A name that no table entry or alias matches (a ``KeyError`` and a ``ValueError``, so callers that
    caught either before keep working)."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


class Registry(Generic[T]):
    """An ordered, case-insensitive ``name -> value`` table with aliases.

    Parameters
    ----------
    kind : str
        What the names are (``method``, ``dataset``, ...), used in error messages.
    error : type of UnknownNameError
        The exception raised for an unknown name.
    hint : callable returning str, optional
        Extra text appended to the error message (e.g. modules that failed to import).
    order : callable, optional
        Sort key of the names listed in the error message (default: registration order).
    """

    def __init__(
        self,
        kind: str,
        error: type[UnknownNameError] = UnknownNameError,
        hint: Callable[[], str] | None = None,
        order: Callable[[str], Any] | None = None,
    ) -> None:
        self.kind = kind
        self.error = error
        self.hint = hint
        self.order = order
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    @staticmethod
    def key(name: str) -> str:
        """The normalised form names are stored and looked up under."""
        return name.strip().lower()

    def add(self, name: str, value: T, aliases: tuple[str, ...] = ()) -> None:
        """Add ``name`` (and its ``aliases``); a name or alias already taken raises ``ValueError``."""
        key = self.key(name)
        for taken in (key, *map(self.key, aliases)):
            if taken in self._entries or taken in self._aliases:
                raise ValueError(f"{self.kind} {taken!r} is already registered")
        self._entries[key] = value
        self._aliases.update({self.key(a): key for a in aliases})

    def replace(self, name: str, value: T) -> None:
        """Set the value of an existing ``name`` (or add it without aliases)."""
        self._entries[self.canonical(name) if name in self else self.key(name)] = value

    def canonical(self, name: str) -> str:
        """The registered name ``name`` (or its alias) stands for."""
        key = self.key(name)
        key = self._aliases.get(key, key)
        if key not in self._entries:
            raise self.unknown(name)
        return key

    def unknown(self, name: str) -> UnknownNameError:
        """The error for ``name``, listing the available names."""
        names = sorted(self._entries, key=self.order) if self.order else list(self._entries)
        text = f"Unknown {self.kind} '{name}'. Available: {', '.join(names) or '(none)'}"
        if self._aliases:
            text += f" (aliases: {', '.join(self._aliases)})"
        return self.error(text + (self.hint() if self.hint else ""))

    def __getitem__(self, name: str) -> T:
        return self._entries[self.canonical(name)]

    def get(self, name: str, default: T | None = None) -> T | None:
        """The value of ``name`` (or its alias), else ``default``."""
        key = self.key(name)
        return self._entries.get(self._aliases.get(key, key), default)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = self.key(name)
        return key in self._entries or key in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """``(name, value)`` pairs in registration order."""
        return list(self._entries.items())

    def values(self) -> list[T]:
        """Values in registration order."""
        return list(self._entries.values())

    def copy(self) -> Registry[T]:
        """A shallow copy (same settings, its own tables)."""
        new: Registry[T] = Registry(self.kind, self.error, self.hint, self.order)
        new._entries, new._aliases = dict(self._entries), dict(self._aliases)
        return new

    @property
    def aliases(self) -> dict[str, str]:
        """``alias -> name``."""
        return dict(self._aliases)
