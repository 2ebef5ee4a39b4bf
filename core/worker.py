"""The worker: one per device for the whole server process. A FIFO queue shared by every browser
session, cancel by run id, crash isolation (a failing run is recorded as failed and the worker goes
on), clean shutdown. It writes to the run store and never calls Streamlit.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import traceback
from collections import deque
from typing import Callable

import torch

from core.config import RunConfig
from core.errors import ConfigError, UserError
from core.store import RunStore
from core.train import PROBE_BUDGET, ProbeFactory, resolve_device, train

log = logging.getLogger("tunelab.worker")

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
        make_probe: ProbeFactory | None = None,
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
        self.report_every = report_every
        self.make_probe = make_probe
        self.probe_every = probe_every
        self.probe_budget = probe_budget
        self.data_dir = data_dir
        self._trainer = trainer
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
            record = self.store.get(run_id)
            if record is None:  # deleted while it waited
                return
            self.store.mark_running(run_id, str(self.device))
            result = self._trainer(
                record.config, self.device, cancel=cancel, emit=lambda event: self.store.record(run_id, event),
                report_every=self.report_every, data_dir=self.data_dir,
                make_probe=self.make_probe, probe_every=self.probe_every, probe_budget=self.probe_budget,
            )
            save_diagnosis(self.store, run_id, record.config)
            self.store.finish(
                run_id, result.status, result.message, images_per_second=result.images_per_second,
                first_report_seconds=result.first_report_seconds, best_epoch=result.best_epoch,
                test_loss=result.test_loss, test_accuracy=result.test_accuracy,
            )
        except UserError as exc:
            self._fail(run_id, str(exc))
        except Exception as exc:  # crash isolation: record it, log it, keep serving the queue
            log.error("run %s failed:\n%s", run_id, traceback.format_exc())
            self._fail(run_id, f"{type(exc).__name__}: {exc}")
        finally:
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def _fail(self, run_id: int, error: str) -> None:
        try:
            self.store.finish(run_id, "failed", "the run stopped with an error", error=error)
        except Exception:
            log.exception("could not record the failure of run %s", run_id)


def save_diagnosis(store: RunStore, run_id: int, config: RunConfig) -> list[dict]:
    """Keep the Curve Doctor's verdict on a finished run with it (the runs list and exports read it),
    and return it ([] if it could not be made). Used by the worker and by `python -m core train`."""
    from core.datasets import DATASETS
    from core.diagnose import diagnose

    try:
        classes = DATASETS.get(config.dataset).factory.classes
        hints = diagnose(store.history(run_id), store.steps(run_id), store.probes(run_id),
                         classes, config.to_dict(), config.epochs)
        saved = [hint.to_dict() for hint in hints]
        store.save_hints(run_id, saved)
        return saved
    except Exception:  # a diagnosis is a bonus: never let it cost the run its result
        log.exception("could not diagnose run %s", run_id)
        return []
