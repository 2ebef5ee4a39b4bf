"""The one life of a run, whoever starts it (the dashboard's worker, `python -m core train`, a sweep,
a seed group): stored as queued, marked running, trained with per-layer probes, diagnosed, finished.
A run that fails is recorded as failed with its message; nothing it logged is lost."""
from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from core.catalog.datasets import classes_of
from core.doctor.diagnose import RULES_VERSION, diagnose
from core.errors import UserError
from core.runs.store import RunRecord, RunStore
from core.training.events import Event, RunResult
from core.training.loop import train
from core.training.probes import PROBE_BUDGET, ProbeFactory, make_probe

log = logging.getLogger("tunelab.runs")

Trainer = Callable[..., RunResult]


@dataclass
class Outcome:
    """How a run ended: its final status and message, the trainer's result (None when it failed) and
    the diagnosis that was stored with it."""

    run_id: int
    status: str
    message: str
    result: RunResult | None = None
    hints: list[dict] = field(default_factory=list)
    error: str = ""


@dataclass
class Training:
    """How runs are trained: the same for every entry point, so a run from the CLI opens on the Train
    page exactly like a dashboard run (probes, diagnosis, timings)."""

    device: torch.device
    report_every: int = 10
    data_dir: Any = None
    make_probe: ProbeFactory | None = make_probe
    probe_every: int = 50
    probe_budget: float | None = PROBE_BUDGET
    trainer: Trainer = train


def execute(store: RunStore, run_id: int, how: Training, cancel=None,
            on_event: Callable[[int, Event], None] | None = None, isolate: bool = True) -> Outcome:
    """Train a stored run and record everything about it. A user error (a data set that is not there)
    and, with isolate (the worker), any other exception become a failed run; without isolate (the CLI)
    an internal error is raised after it is recorded. Ctrl-C marks the run cancelled and is raised."""
    record = store.get(run_id)
    if record is None:  # deleted while it waited
        return Outcome(run_id, "deleted", "the run was deleted before it started")
    store.mark_running(run_id, str(how.device))

    def emit(event: Event) -> None:
        store.record(run_id, event)
        if on_event is not None:
            on_event(run_id, event)

    try:
        result = how.trainer(
            record.config, how.device, cancel=cancel, emit=emit, report_every=how.report_every,
            data_dir=how.data_dir, make_probe=how.make_probe, probe_every=how.probe_every,
            probe_budget=how.probe_budget,
        )
    except KeyboardInterrupt:
        store.finish(run_id, "cancelled", "cancelled from the keyboard")
        raise
    except UserError as exc:
        return _failed(store, run_id, str(exc))
    except Exception as exc:  # crash isolation: record it, log it, and keep serving (or raise: CLI)
        log.error("run %s failed:\n%s", run_id, traceback.format_exc())
        outcome = _failed(store, run_id, f"{type(exc).__name__}: {exc}")
        if not isolate:
            raise
        return outcome
    hints = diagnose_and_keep(store, store.get(run_id) or record)
    store.finish(
        run_id, result.status, result.message, images_per_second=result.images_per_second,
        first_report_seconds=result.first_report_seconds, best_epoch=result.best_epoch,
        test_loss=result.test_loss, test_accuracy=result.test_accuracy,
    )
    return Outcome(run_id, result.status, result.message, result, hints)


def _failed(store: RunStore, run_id: int, error: str) -> Outcome:
    try:
        store.finish(run_id, "failed", "the run stopped with an error", error=error)
    except Exception:
        log.exception("could not record the failure of run %s", run_id)
    return Outcome(run_id, "failed", "the run stopped with an error", error=error)


# ---- the diagnosis kept with a run ---------------------------------------------------------------
def diagnose_record(store: RunStore, run: RunRecord) -> list[dict]:
    """The Curve Doctor's hints for a stored run, from everything the store has of it."""
    hints = diagnose(store.history(run.id), store.steps(run.id), store.probes(run.id),
                     classes_of(run.config.dataset), run.config.to_dict(), run.config.epochs)
    return [hint.to_dict() for hint in hints]


def diagnose_and_keep(store: RunStore, run: RunRecord) -> list[dict]:
    """Diagnose a run and store the hints with the version of the rules that made them; [] (and a
    log line) if it could not be made: a diagnosis is a bonus and never costs a run its result."""
    try:
        hints = diagnose_record(store, run)
        store.save_hints(run.id, hints, RULES_VERSION)
        return hints
    except Exception:
        log.exception("could not diagnose run %s", run.id)
        return []


def stored_diagnosis(store: RunStore, run: RunRecord) -> list[dict]:
    """A finished run's diagnosis as stored; diagnosed again (and stored) when it was made by other
    rules than today's or never made. A run still training is diagnosed live and nothing is stored."""
    if not run.finished:
        return diagnose_record(store, run)
    hints, rules = store.diagnosis(run.id)
    if rules == RULES_VERSION:
        return hints
    return diagnose_and_keep(store, run)
