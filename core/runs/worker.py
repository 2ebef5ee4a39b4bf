"""The worker: one per device for the whole server process. One queue shared by every browser
session, served in fair turns (round-robin by owner, core/runs/fair_queue.py), cancel and delete by
run id for the run's owner or the teacher, the class's limits (waiting requests per person, a time
budget per run, a wall-clock time limit, pause), crash isolation (a failing run is recorded as
failed and the worker goes on), clean shutdown. It writes to the run store and never calls Streamlit.

With no class key (single-user mode) and no person given, everything is as before classes: one
owner, so first come first served, no cap, and anyone may cancel anything.
"""
from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from core.config import RunConfig
from core.errors import ConfigError, UserError
from core.runs.budget import Estimate, StepTimer, check_budget, format_seconds
from core.runs.classroom import Classroom, ClassSettings
from core.runs.fair_queue import FairQueue
from core.runs.lifecycle import Training, execute
from core.runs.people import Person
from core.runs.store import RunStore
from core.training.device import resolve_device
from core.training.loop import train
from core.training.probes import PROBE_BUDGET, ProbeFactory, make_probe

log = logging.getLogger("tunelab.worker")

SLOTS_ENV = "TUNELAB_SLOTS"
MAX_SLOTS = 8
TIME_LIMIT_BY = "the class's time limit"  # cancelled_by of a run the time limit stopped
RECHECK_SECONDS = 1.0  # how often idle slots and the time-limit watch re-read the class settings


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


class QueueFull(UserError):
    """A person already has as many waiting requests as the class allows."""


class StillRunning(UserError):
    """A run that is training cannot be deleted (cancel it first)."""


class StopToken(threading.Event):
    """A run's cancel token that also says who (or what) stopped it. The first stop counts."""

    def __init__(self) -> None:
        super().__init__()
        self.cancelled_by = ""  # a name, "the teacher", or TIME_LIMIT_BY
        self.message = ""  # the whole message, when it replaces the trainer's
        self.interrupted = False  # stopped by the server going down, not by a person

    def stop(self, cancelled_by: str = "", message: str = "") -> None:
        if not self.is_set():
            self.cancelled_by, self.message = cancelled_by, message
            self.set()

    def interrupt(self) -> None:
        """The server is stopping: the run ends `interrupted`, as after a crash, but cleanly."""
        if not self.is_set():
            self.interrupted = True
            self.set()

    def reword(self, message: str) -> str:
        """The trainer's "cancelled during epoch 3" as "cancelled by Ana during epoch 3"."""
        if self.message:
            return self.message
        if not self.cancelled_by:
            return message
        return _cancelled_by(message, self.cancelled_by)


def _cancelled_by(message: str, who: str) -> str:
    if message.startswith("cancelled"):
        return f"cancelled by {who}{message[len('cancelled'):]}"
    return f"cancelled by {who}: {message}" if message else f"cancelled by {who}"


def _who(person: Person | None) -> str:
    """How a cancel names the person: "the teacher", their name, or "" (nobody named: the old message)."""
    if person is None:
        return ""
    return "the teacher" if person.is_teacher else person.name


class _Finishing:
    """The store as the lifecycle of one run sees it: a run that ends cancelled is finished with who
    stopped it, in the same write (no reader sees the bare message first)."""

    def __init__(self, store: RunStore, token: StopToken):
        self._store, self._token = store, token

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def finish(self, run_id: int, status: str, message: str = "", error: str = "", **numbers: Any) -> None:
        if status == "cancelled" and self._token.interrupted:
            status = "interrupted"
            message = message.replace("cancelled", "the server stopped", 1) if message else "the server stopped"
        elif status == "cancelled" and self._token.cancelled_by:
            message = self._token.reword(message)
            numbers["cancelled_by"] = self._token.cancelled_by
        self._store.finish(run_id, status, message, error, **numbers)


@dataclass
class _Entry:
    """What the worker knows of a run it holds (waiting or training)."""

    owner_id: str
    owner_name: str
    exempt: bool  # the teacher's: no cap, budget or time limit
    request: int  # one submit or one group: what the waiting cap counts
    grouped: bool
    started: float | None = None  # time.monotonic() when a slot took it


class Worker:
    """Runs queued configs on one device, `slots` at a time (each slot is a thread, and on CUDA a
    stream of its own, so one run's kernels can fill the gaps of another's), every slot fed by the
    one fair queue."""

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
        classroom: Classroom | None = None,
        timer: StepTimer | None = None,
    ):
        if not 1 <= slots <= MAX_SLOTS:
            raise ConfigError("slots", f"must be from 1 to {MAX_SLOTS} (got {slots})")
        self.store = store
        self.slots = slots
        self.device: torch.device = resolve_device(device)
        self.training = Training(self.device, report_every, data_dir, make_probe, probe_every, probe_budget, trainer)
        self.classroom = classroom if classroom is not None else Classroom(store)
        self.timer = timer if timer is not None else StepTimer(self.device, data_dir)
        self._queue = FairQueue()
        self._running: set[int] = set()
        self._entries: dict[int, _Entry] = {}
        self._cancels: dict[int, StopToken] = {}
        self._requests = itertools.count(1)
        self._cond = threading.Condition()
        self._stopping = False
        self.interrupted = store.mark_interrupted()
        self.classroom.on_change(self._wake)
        self._threads = [
            threading.Thread(target=self._loop, name=f"tunelab-worker-{self.device}-{i}", daemon=True)
            for i in range(slots)
        ]
        self._threads.append(threading.Thread(target=self._watch_time, name="tunelab-time-limit", daemon=True))
        for thread in self._threads:
            thread.start()

    # ---- called from any thread (pages, CLI, tests) -----------------------------------------
    def submit(self, config: RunConfig, name: str = "", tag: str = "", group_id: str | None = None,
               session: str = "", by: Person | None = None) -> int:
        """Queue a run for `by` (None: nobody in particular, as before classes); returns its id at once.
        The run is stored as queued before this returns. One submit is one request against the
        class's waiting cap; over the cap (QueueFull) or the budget (OverBudget) nothing is stored."""
        return self._submit([(config, name)], tag, group_id, session, by, grouped=False)[0]

    def submit_group(self, runs: Sequence[tuple[RunConfig, str]], tag: str = "", group_id: str | None = None,
                     session: str = "", by: Person | None = None) -> list[int]:
        """Queue (config, name) pairs as ONE request (a sweep, a seed group): the cap counts it once
        while any of its runs waits, and the budget is checked for every run before any is stored.
        Its runs then take their turns like the person's other runs. Returns their ids, in order."""
        if not runs:
            raise ConfigError("values", "needs at least one run")
        return self._submit(list(runs), tag, group_id, session, by, grouped=True)

    def _submit(self, runs: list[tuple[RunConfig, str]], tag: str, group_id: str | None, session: str,
                by: Person | None, grouped: bool) -> list[int]:
        settings = self.classroom.settings()
        exempt = by is not None and by.is_teacher
        if not exempt and settings.budget_seconds is not None:
            for config, name in runs:
                estimate = self.estimate(config)
                if estimate is not None:
                    check_budget(estimate, settings.budget_seconds, name if len(runs) > 1 else "")
        owner_id, owner_name = (by.id, by.name) if by is not None else ("", "")
        with self._cond:
            if self._stopping:
                raise RuntimeError("the worker is shut down")
            if not exempt:
                self._check_cap(owner_id, settings)
            request = next(self._requests)
            ids = []
            for config, name in runs:
                run_id = self.store.create_run(config, name=name, tag=tag, group_id=group_id, session=session,
                                               owner_id=owner_id, owner_name=owner_name)
                self._queue.push(run_id, owner_id)
                self._entries[run_id] = _Entry(owner_id, owner_name, exempt, request, grouped)
                self._cancels[run_id] = StopToken()
                ids.append(run_id)
            self._cond.notify_all()  # wait_idle() callers wait on the same condition as the threads
        return ids

    def _check_cap(self, owner_id: str, settings: ClassSettings) -> None:
        cap = settings.cap(self.classroom.in_class)
        if cap is None:
            return
        waiting = [self._entries[i] for i in self._queue.waiting_of(owner_id)]
        requests = {e.request for e in waiting}
        if len(requests) >= cap:
            counted = " (a sweep or a seed group counts as one)" if any(e.grouped for e in waiting) else ""
            have = len(requests)
            raise QueueFull(f"you have {have} run{'s' if have != 1 else ''} waiting{counted}, the class allows "
                            f"{cap}; wait for one to start or cancel one")

    def estimate(self, config: RunConfig) -> Estimate | None:
        """The run's estimated time on this server (calibrated once per model and data set); None when
        it cannot be estimated (the data set is not here: the run then fails with the real message)."""
        try:
            return self.timer.estimate(config)
        except UserError:
            return None
        except Exception:  # an estimate is a judgement call: never let it break a submit
            log.exception("could not estimate the time of a %s run on %s", config.model, config.dataset)
            return None

    def cancel(self, run_id: int, by: Person | None = None) -> bool:
        """Cancel a queued run (at once) or a running one (within a few steps); False if neither. In a
        class only the run's owner or the teacher may (NotAllowed names the owner); the run's message
        and its cancelled_by then say who cancelled it."""
        with self._cond:
            entry = self._entries.get(run_id)
            if entry is None or (run_id not in self._queue and run_id not in self._running):
                return False
            self.classroom.check_may_manage(by, run_id, entry.owner_id, entry.owner_name, "cancel")
            who = _who(by)
            if run_id in self._queue:
                self._queue.remove(run_id)
                self._forget(run_id)
                message = _cancelled_by("cancelled before it started", who) if who else "cancelled before it started"
                self.store.finish(run_id, "cancelled", message, cancelled_by=who)
                self._cond.notify_all()
                return True
            self._cancels[run_id].stop(who)
            return True

    def delete(self, run_id: int, by: Person | None = None) -> bool:
        """Delete a run with everything it logged; False if there is no such run. In a class only its
        owner or the teacher may (NotAllowed). A run still training is refused (StillRunning): cancel
        it first. A waiting run leaves the queue."""
        with self._cond:
            record = self.store.get(run_id)
            if record is None:
                return False
            self.classroom.check_may_manage(by, run_id, record.owner_id, record.owner_name, "delete")
            if run_id in self._running or record.status == "running":
                raise StillRunning(f"run #{run_id} is still training: cancel it first, then delete it")
            if self._queue.remove(run_id):
                self._forget(run_id)
                self._cond.notify_all()
            self.store.delete(run_id)
            return True

    def position(self, run_id: int) -> int | None:
        """0 while running; n when n - 1 runs will start before it under the fair turns; None when not here."""
        with self._cond:
            if run_id in self._running:
                return 0
            return self._queue.position(run_id)

    def queued(self) -> list[int]:
        """The waiting runs, in the order they will start."""
        with self._cond:
            return self._queue.order()

    def running(self) -> list[int]:
        with self._cond:
            return sorted(self._running)

    def busy(self) -> bool:
        with self._cond:
            return bool(self._queue or self._running)

    def paused(self) -> bool:
        return self.classroom.settings().paused

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until the queue is empty and nothing runs (for tests and scripts)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._running, timeout)

    def shutdown(self, timeout: float = 30.0, interrupt: bool = False) -> None:
        """Stop what runs, mark what waits, and stop the threads. With `interrupt` (the server is going
        down) the running runs end `interrupted` with every epoch they logged and the waiting ones
        `interrupted` too, as a restart would leave them; else both end `cancelled`."""
        atexit.unregister(self._at_exit)  # (a worker shut down by hand needs no exit hook)
        self._shutdown(timeout, interrupt)

    def _shutdown(self, timeout: float, interrupt: bool) -> None:
        with self._cond:
            self._stopping = True
            for run_id in self._queue.order():
                if interrupt:
                    self.store.finish(run_id, "interrupted", "the server stopped while this run was queued")
                else:
                    self.store.finish(run_id, "cancelled", "the server shut down before it started")
                self._queue.remove(run_id)
                self._forget(run_id)
            for run_id in self._running:
                if interrupt:
                    self._cancels[run_id].interrupt()
                else:
                    self._cancels[run_id].set()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def stop_at_exit(self, timeout: float = 8.0) -> None:
        """Shut down (interrupting what runs) when the process exits: Streamlit stops its server on
        SIGTERM and Ctrl+C and the interpreter then exits; without this, the training threads would
        still be inside torch when it does (an abort, "terminate called without an active
        exception") and their runs would stay `running` until the next start."""
        self._exit_timeout = timeout
        atexit.register(self._at_exit)

    def _at_exit(self) -> None:
        self._shutdown(self._exit_timeout, interrupt=True)  # (not shutdown(): no unregistering from a hook)

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def _forget(self, run_id: int) -> None:
        self._entries.pop(run_id, None)
        self._cancels.pop(run_id, None)

    # ---- the worker threads -----------------------------------------------------------------
    def _loop(self) -> None:
        stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" and self.slots > 1 else None
        with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
            self._serve()

    def _ready(self) -> bool:
        return self._stopping or (bool(self._queue) and not self.paused())

    def _serve(self) -> None:
        while True:
            with self._cond:
                # (a timeout too: settings changed by another process wake nobody)
                while not self._cond.wait_for(self._ready, RECHECK_SECONDS):
                    pass
                if self._stopping:
                    return
                run_id = self._queue.pop()
                self._running.add(run_id)
                self._entries[run_id].started = time.monotonic()
                cancel = self._cancels[run_id]
                self._cond.notify_all()  # the time-limit watch learns of the new run
            try:
                self._run(run_id, cancel)
            finally:
                with self._cond:
                    self._running.discard(run_id)
                    self._forget(run_id)
                    self._cond.notify_all()

    def _run(self, run_id: int, cancel: StopToken) -> None:
        try:
            execute(_Finishing(self.store, cancel), run_id, self.training, cancel=cancel, isolate=True)
        finally:
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def _watch_time(self) -> None:
        """Stop, through its cancel token, every student's run that has trained longer than the
        class's time limit; sleeps until the next run would reach it (or a change wakes it)."""
        with self._cond:
            while not self._stopping:
                self._cond.wait(self._stop_overruns())

    def _stop_overruns(self) -> float:
        """Stop the runs over the time limit; the seconds until the next check. Called with the lock held."""
        limit = self.classroom.settings().time_limit_seconds
        if limit is None:
            return RECHECK_SECONDS
        now, next_check = time.monotonic(), RECHECK_SECONDS
        for run_id in self._running:
            entry, token = self._entries[run_id], self._cancels[run_id]
            if entry.exempt or entry.started is None or token.is_set():
                continue
            left = entry.started + limit - now
            if left <= 0:
                token.stop(TIME_LIMIT_BY, f"stopped: over the class's time limit of {format_seconds(limit)}")
            else:
                next_check = min(next_check, left)
        return next_check
