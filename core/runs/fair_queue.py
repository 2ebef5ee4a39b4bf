"""Fair turns on one device: the waiting runs served round-robin by owner, not first come first served.

When a slot frees, the next run is the oldest waiting run of the person who was served least recently
(a person never served yet comes before everyone served; among those, whoever has waited longest).
A person's own runs keep their order. Serving a person makes them the most recently served, so with
k people waiting nobody waits for more than k - 1 other starts before their own: no one starves, and
thirty people with three runs each get every first run started before any second one.

Not thread-safe: the worker guards it with its lock. Runs without an owner (single-user mode, the
command line) all share the owner "" and so keep first-come-first-served order among themselves.
"""
from __future__ import annotations

import itertools
from collections import deque


class FairQueue:
    """Waiting run ids, per owner in arrival order, taken out round-robin by owner."""

    def __init__(self) -> None:
        self._waiting: dict[str, deque[int]] = {}
        self._owner: dict[int, str] = {}
        self._arrival: dict[int, int] = {}
        self._served: dict[str, int] = {}  # owner -> the tick of their last start (never served: absent)
        self._ticks = itertools.count(1)
        self._arrivals = itertools.count()

    def __len__(self) -> int:
        return len(self._owner)

    def __bool__(self) -> bool:
        return bool(self._owner)

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._owner

    def push(self, run_id: int, owner: str = "") -> None:
        self._waiting.setdefault(owner, deque()).append(run_id)
        self._owner[run_id] = owner
        self._arrival[run_id] = next(self._arrivals)

    def remove(self, run_id: int) -> bool:
        """Take a waiting run out (cancelled or deleted); False if it is not waiting."""
        owner = self._owner.pop(run_id, None)
        if owner is None:
            return False
        self._arrival.pop(run_id)
        runs = self._waiting[owner]
        runs.remove(run_id)
        if not runs:
            del self._waiting[owner]
        return True

    def pop(self) -> int:
        """The next run to start (IndexError when none waits); its owner becomes the most recently served."""
        owner = self._next_owner(self._waiting, self._served)
        run_id = self._waiting[owner].popleft()
        if not self._waiting[owner]:
            del self._waiting[owner]
        del self._owner[run_id], self._arrival[run_id]
        self._served[owner] = next(self._ticks)
        return run_id

    def owner_of(self, run_id: int) -> str | None:
        return self._owner.get(run_id)

    def waiting_of(self, owner: str) -> list[int]:
        """One owner's waiting runs, in their order."""
        return list(self._waiting.get(owner, ()))

    def order(self) -> list[int]:
        """Every waiting run in the order they will start if nothing changes (nothing is taken out)."""
        waiting = {owner: deque(runs) for owner, runs in self._waiting.items()}
        served = dict(self._served)
        tick = max(served.values(), default=0)
        out = []
        while waiting:
            owner = self._next_owner(waiting, served)
            out.append(waiting[owner].popleft())
            if not waiting[owner]:
                del waiting[owner]
            tick += 1
            served[owner] = tick
        return out

    def position(self, run_id: int) -> int | None:
        """1 for the next run to start, n when n - 1 runs start before it; None when it is not waiting."""
        if run_id not in self._owner:
            return None
        return self.order().index(run_id) + 1

    def _next_owner(self, waiting: dict[str, deque[int]], served: dict[str, int]) -> str:
        if not waiting:
            raise IndexError("no run is waiting")
        return min(waiting, key=lambda owner: (served.get(owner, 0), self._arrival[waiting[owner][0]]))
