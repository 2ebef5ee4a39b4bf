"""The worker: one per device for the whole server process. A FIFO queue shared by every browser
session, cancel by run id, crash isolation (a failing run is recorded as failed and the worker goes
on), clean shutdown. It writes to the run store and never calls Streamlit.
"""
from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from typing import Callable

import torch

from core.config import RunConfig
from core.errors import ConfigError
from core.runs.lifecycle import Training, execute
from core.runs.store import RunStore
from core.training.device import resolve_device
from core.training.loop import train
from core.training.probes import PROBE_BUDGET, ProbeFactory, make_probe

SLOTS_ENV = "TUNELAB_SLOTS"
MAX_SLOTS = 8


def slots_from_env(environ=os.environ) -> int:
    """How many runs the server trains at once: $TUNELAB_SLOTS, 1 when unset. Small runs that leave a
    GPU mostly idle drain a class's queue faster two to four at a time (`python -m core bench`
    prints the queue both ways); on a CPU one at a time keeps every run's curve fastest."""
    raw = environ.get(SLOTS_ENV, "").strip()
    if not raw:
        return 1
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_SLOTS:
        raise ConfigError(SLOTS_ENV, f"must be a whole number from 1 to {MAX_SLOTS} (got {raw!r})")
    return int(raw)


class Worker:
    """Runs queued configs one after another on one device (or `slots` at a time on it: each slot is a
    thread, and on CUDA a stream of its own, so one run's kernels can fill the gaps of another's)."""

    def __init__(
        self,
        store: RunStore,
        device: str = "auto",
        slots: int = 1,
        report_every: int = 10,
        make_probe: ProbeFactory | None = make_probe,
        probe_every: int = 50,
        probe_budget: float | None = PROBE_BUDGET,
        data_dir=None,
        trainer: Callable = train,
    ):
        if not 1 <= slots <= MAX_SLOTS:
            raise ConfigError("slots", f"must be from 1 to {MAX_SLOTS} (got {slots})")
        self.store = store
        self.slots = slots
        self.device: torch.device = resolve_device(device)
        self.training = Training(self.device, report_every, data_dir, make_probe, probe_every, probe_budget, trainer)
        self._queue: deque[int] = deque()
        self._running: set[int] = set()
        self._cancels: dict[int, threading.Event] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self.interrupted = store.mark_interrupted()
        self._threads = [
            threading.Thread(target=self._loop, name=f"tunelab-worker-{self.device}-{i}", daemon=True)
            for i in range(slots)
        ]
        for thread in self._threads:
            thread.start()

    # ---- called from any thread (pages, CLI, tests) -----------------------------------------
    def submit(self, config: RunConfig, name: str = "", tag: str = "", group_id: str | None = None,
               session: str = "") -> int:
        """Queue a run; returns its id at once. The run is stored as queued before this returns."""
        with self._cond:
            if self._stopping:
                raise RuntimeError("the worker is shut down")
            run_id = self.store.create_run(config, name=name, tag=tag, group_id=group_id, session=session)
            self._queue.append(run_id)
            self._cancels[run_id] = threading.Event()
            self._cond.notify_all()  # wait_idle() callers wait on the same condition as the threads
        return run_id

    def cancel(self, run_id: int) -> bool:
        """Cancel a queued run (at once) or a running one (within a few steps). False if neither."""
        with self._cond:
            if run_id in self._queue:
                self._queue.remove(run_id)
                self._cancels.pop(run_id, None)
                self.store.finish(run_id, "cancelled", "cancelled before it started")
                return True
            if run_id in self._running:
                self._cancels[run_id].set()
                return True
        return False

    def position(self, run_id: int) -> int | None:
        """0 while running, n when n-1 runs are ahead of it in the queue, None when not here."""
        with self._cond:
            if run_id in self._running:
                return 0
            try:
                return self._queue.index(run_id) + 1
            except ValueError:
                return None

    def queued(self) -> list[int]:
        with self._cond:
            return list(self._queue)

    def running(self) -> list[int]:
        with self._cond:
            return sorted(self._running)

    def busy(self) -> bool:
        with self._cond:
            return bool(self._queue or self._running)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until the queue is empty and nothing runs (for tests and scripts)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._running, timeout)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Cancel what runs, mark what waits as cancelled, and stop the threads."""
        with self._cond:
            self._stopping = True
            for run_id in list(self._queue):
                self.store.finish(run_id, "cancelled", "the server shut down before it started")
            self._queue.clear()
            for run_id in self._running:
                self._cancels[run_id].set()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    # ---- the worker threads -----------------------------------------------------------------
    def _loop(self) -> None:
        stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" and self.slots > 1 else None
        with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
            self._serve()

    def _serve(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._stopping)
                if self._stopping:
                    return
                run_id = self._queue.popleft()
                self._running.add(run_id)
                cancel = self._cancels[run_id]
            try:
                self._run(run_id, cancel)
            finally:
                with self._cond:
                    self._running.discard(run_id)
                    self._cancels.pop(run_id, None)
                    self._cond.notify_all()

    def _run(self, run_id: int, cancel: threading.Event) -> None:
        try:
            execute(self.store, run_id, self.training, cancel=cancel, isolate=True)
        finally:
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
