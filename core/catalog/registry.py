"""A named registry: stable name -> factory plus a one-line teaching note (like Keras' `get()`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Iterator, TypeVar

from core.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    factory: T
    note: str
    label: str = ""
    # the RunConfig settings this entry reads (momentum for SGD + momentum, init_std for normal...):
    # which knobs matter for a choice is derived from these, nowhere listed again
    knobs: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return self.label or self.name


class Registry(Generic[T]):
    """Maps names to entries; the UI, the CLI and the docs are all built from one of these."""

    def __init__(self, kind: str, field: str):
        self.kind = kind
        self.field = field
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, factory: T, note: str, label: str = "", knobs: tuple[str, ...] = ()) -> None:
        if name in self._entries:
            raise KeyError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = Entry(name, factory, note, label, tuple(knobs))

    def get(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(self.field, f"must be one of {', '.join(self.names())} (got {name!r})") from None

    def names(self) -> list[str]:
        return list(self._entries)

    def notes(self) -> dict[str, str]:
        return {name: entry.note for name, entry in self._entries.items()}

    def owned_knobs(self) -> set[str]:
        """Every knob some entry of this registry declares: such a knob matters only for the entries
        that declare it."""
        return {knob for entry in self._entries.values() for knob in entry.knobs}

    def __contains__(self, name: Any) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)
