"""A named registry: stable name -> factory plus a one-line teaching note (like Keras' `get()`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, TypeVar

from core.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    factory: T
    note: str
    label: str = ""

    @property
    def title(self) -> str:
        return self.label or self.name


class Registry(Generic[T]):
    """Maps names to entries; the UI, the CLI and the docs are all built from one of these."""

    def __init__(self, kind: str, field: str):
        self.kind = kind
        self.field = field
        self._entries: dict[str, Entry[T]] = {}

    def add(self, name: str, note: str, label: str = "") -> Callable[[T], T]:
        def register(factory: T) -> T:
            self.register(name, factory, note, label)
            return factory

        return register

    def register(self, name: str, factory: T, note: str, label: str = "") -> None:
        if name in self._entries:
            raise KeyError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = Entry(name, factory, note, label)

    def get(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(self.field, f"must be one of {', '.join(self.names())} (got {name!r})") from None

    def names(self) -> list[str]:
        return list(self._entries)

    def notes(self) -> dict[str, str]:
        return {name: entry.note for name, entry in self._entries.items()}

    def __contains__(self, name: Any) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)
