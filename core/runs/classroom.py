"""The class: who is who, and the teacher's settings, kept in the run store's settings table so they
survive a restart.

Settings (all changed at runtime, by the teacher only: NotAllowed for a student; anyone in
single-user mode):
  - waiting_cap: at most this many waiting requests per person (default 2 in a class, no cap in
    single-user mode; 0 = no cap). One submit is one request; a sweep or a seed group is ONE request,
    however many runs it queues, and its runs then take their turns like the person's other runs.
  - budget_seconds: the most a run may cost, in seconds estimated on this server (core/runs/budget.py);
    a submit over it is refused, naming the limit and how many epochs would fit. None = no limit.
  - time_limit_seconds: a separate wall-clock cap: a run that has been training longer than this is
    stopped through its cancel token and recorded as cancelled ("stopped: over the class's time limit
    of ..."). None = no limit. It is not the budget: the budget judges the estimate before the run,
    the time limit the clock while it runs.
  - paused: while paused nothing new starts (submits still queue); running runs finish.
  - challenge: a pinned challenge (data set, model, epochs, what wins); its results are read from the
    runs, best run per person, and export as CSV for grading.
The teacher's own runs are exempt from the cap, the budget and the time limit; they still take
their turns in the queue.
"""
from __future__ import annotations

import csv
import hmac
import io
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from core.catalog.datasets import DATASETS
from core.catalog.models import MODELS
from core.errors import ConfigError
from core.runs import people
from core.runs.people import NotAllowed, Person
from core.runs.store import RunRecord, RunStore

DEFAULT_WAITING_CAP = 2
# How long a browser stays the teacher's after the key was typed in it: a school day. A reload or a
# run's link keeps the role; "Log out as teacher", a new class key or this much time ends it.
TEACHER_SECONDS = 12 * 3600
MAX_WAITING_CAP = 100
# What wins a challenge: the key stored, and how results name it.
WINS = {
    "val_accuracy": "best validation accuracy",
    "test_accuracy": "test accuracy",
}
SETTING_KEYS = ("waiting_cap", "budget_seconds", "time_limit_seconds", "paused", "challenge")


@dataclass(frozen=True)
class ClassSettings:
    """The class's settings as stored (None: not set)."""

    waiting_cap: int | None = None
    budget_seconds: float | None = None
    time_limit_seconds: float | None = None
    paused: bool = False
    challenge: dict | None = field(default=None, compare=False)

    def cap(self, in_class: bool) -> int | None:
        """The waiting requests allowed per person; None for no cap."""
        if self.waiting_cap is None:
            return DEFAULT_WAITING_CAP if in_class else None
        return self.waiting_cap or None

    @classmethod
    def from_store(cls, values: dict[str, Any]) -> "ClassSettings":
        return cls(**{k: v for k, v in values.items() if k in SETTING_KEYS})


@dataclass(frozen=True)
class ChallengeResult:
    """One person's best run of the pinned challenge."""

    rank: int
    name: str
    owner_id: str
    run_id: int
    accuracy: float
    seconds: float | None


class Classroom:
    """The class around one run store: identifies people, keeps the teacher's settings, and checks
    rights. Made once per server (the pages pass a class key read from Streamlit's secrets; else
    $TUNELAB_CLASS_KEY; neither: single-user mode)."""

    def __init__(self, store: RunStore, class_key: str | None = None):
        self.store = store
        self._key = people.class_key(class_key)
        self._listeners: list[Callable[[], None]] = []

    # ---- who is who ---------------------------------------------------------------------------
    @property
    def in_class(self) -> bool:
        """classroom_mode(): False in single-user mode, where everyone may do everything."""
        return self._key is not None

    def identify(self, token: str, name: str, key: str = "") -> Person:
        """The person holding this browser's secret `token`, with the name they typed and their role:
        teacher when `key` is the class key (a wrong key is refused), and then for TEACHER_SECONDS
        more on this browser without the key (a reload, a run's link) until end_teacher(). Records
        them in the people table (only the token's SHA-256 is stored, and never the key)."""
        role = people.role_for(key, self._key)
        person_id = people.person_id(token)
        left = self._grant_left(person_id)
        if role == people.TEACHER and left < TEACHER_SECONDS - 60:  # (renewed at most once a minute)
            self.store.grant_teacher(person_id, people.teacher_seal(person_id, self._key),
                                     time.time() + TEACHER_SECONDS)
        elif role != people.TEACHER and left > 0:
            role = people.TEACHER
        shown = people.clean_name(name)
        if self.in_class and not shown and role != people.TEACHER:
            raise ConfigError("name", f"type the name the class will see (1 to {people.MAX_NAME} characters)")
        person = Person(person_id, shown, role)
        self.store.touch_person(person.id, person.name)
        return person

    def _grant_left(self, person_id: str) -> float:
        """Seconds left of this person's teacher grant under today's class key (0: none, run out, or made
        under another key)."""
        grant = self.store.teacher_grant(person_id) if self._key is not None else None
        if grant is None or not hmac.compare_digest(grant[0], people.teacher_seal(person_id, self._key)):
            return 0.0
        return max(0.0, grant[1] - time.time())

    def remembers_teacher(self, token: str) -> bool:
        """Whether this browser's holder is the teacher without typing the key again."""
        return self._grant_left(people.person_id(token)) > 0

    def end_teacher(self, token: str) -> None:
        """"Log out as teacher": this browser is a student again until the key is typed again."""
        self.store.end_teacher(people.person_id(token))

    def may_manage(self, person: Person | None, run: RunRecord) -> bool:
        """Whether `person` may cancel or delete the run (its owner or the teacher; anyone alone)."""
        return people.may_manage(person, run.owner_id, self.in_class)

    def check_may_manage(self, person: Person | None, run_id: int, owner_id: str, owner_name: str,
                         action: str) -> None:
        people.check_may_manage(person, run_id, owner_id, owner_name, action, self.in_class)

    def check_teacher(self, person: Person | None, action: str) -> None:
        people.check_teacher(person, action, self.in_class)

    # ---- settings -----------------------------------------------------------------------------
    def settings(self) -> ClassSettings:
        return ClassSettings.from_store(self.store.settings())

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call `callback` after every change of the settings (the worker wakes its slots)."""
        self._listeners.append(callback)

    def _put(self, **values: Any) -> None:
        self.store.put_settings(values)
        for callback in self._listeners:
            callback()

    def set_waiting_cap(self, by: Person | None, cap: int | None) -> None:
        """At most `cap` waiting requests per person (a sweep or seed group is one); 0 = no cap;
        None = the default (2 in a class)."""
        self.check_teacher(by, "change how many runs a person may have waiting")
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= MAX_WAITING_CAP):
            raise ConfigError("waiting_cap", f"must be a whole number from 0 (no cap) to {MAX_WAITING_CAP} (got {cap!r})")
        self._put(waiting_cap=cap)

    def set_budget(self, by: Person | None, seconds: float | None) -> None:
        """The most a run may cost in estimated seconds on this server; None = no limit."""
        self.check_teacher(by, "change the time budget per run")
        self._put(budget_seconds=_seconds("budget_seconds", seconds))

    def set_time_limit(self, by: Person | None, seconds: float | None) -> None:
        """The wall-clock cap on a running run; None = no limit. Applies at once to runs already training."""
        self.check_teacher(by, "change the time limit per run")
        self._put(time_limit_seconds=_seconds("time_limit_seconds", seconds))

    def pause(self, by: Person | None) -> None:
        """Nothing new starts until resume(); running runs finish; submits still queue."""
        self.check_teacher(by, "pause the queue")
        self._put(paused=True)

    def resume(self, by: Person | None) -> None:
        self.check_teacher(by, "resume the queue")
        self._put(paused=False)

    # ---- the challenge ------------------------------------------------------------------------
    def pin_challenge(self, by: Person | None, dataset: str, model: str, epochs: int, wins: str = "val_accuracy",
                      title: str = "") -> dict:
        """Pin a challenge: runs of this data set and model with this many epochs, finished after now,
        compete; `wins` says what wins (a key of WINS). Replaces any pinned one. Returns it."""
        self.check_teacher(by, "pin a challenge")
        if dataset not in DATASETS:
            raise ConfigError("dataset", f"must be one of {', '.join(DATASETS.names())} (got {dataset!r})")
        if model not in MODELS:
            raise ConfigError("model", f"must be one of {', '.join(MODELS.names())} (got {model!r})")
        if isinstance(epochs, bool) or not isinstance(epochs, int) or not 1 <= epochs <= 1000:
            raise ConfigError("epochs", f"must be a whole number from 1 to 1000 (got {epochs!r})")
        if wins not in WINS:
            raise ConfigError("wins", f"must be one of {', '.join(WINS)} (got {wins!r})")
        challenge = {"dataset": dataset, "model": model, "epochs": epochs, "wins": wins,
                     "title": " ".join(title.split()), "pinned_at": time.time()}
        self._put(challenge=challenge)
        return challenge

    def unpin_challenge(self, by: Person | None) -> None:
        self.check_teacher(by, "unpin the challenge")
        self._put(challenge=None)

    def challenge_results(self) -> list[ChallengeResult]:
        """The pinned challenge's standings: each person's best completed run of it (most accurate;
        on a tie the faster, then the earlier), best first. [] when no challenge is pinned."""
        challenge = self.settings().challenge
        if not challenge:
            return []
        runs = [r for r in self.store.runs(status="completed", limit=1_000_000)
                if r.created_at >= challenge["pinned_at"] and r.config.dataset == challenge["dataset"]
                and r.config.model == challenge["model"] and r.config.epochs == challenge["epochs"]]
        if challenge["wins"] == "val_accuracy":
            overview = self.store.overview([r.id for r in runs])
            score = {r.id: overview[r.id]["best_val_accuracy"] for r in runs}
        else:
            score = {r.id: r.test_accuracy for r in runs}
        best: dict[str, tuple] = {}
        for run in runs:
            accuracy = score[run.id]
            if accuracy is None or not math.isfinite(accuracy):
                continue
            seconds = run.finished_at - run.started_at if run.finished_at and run.started_at else None
            rank_key = (-accuracy, seconds if seconds is not None else math.inf, run.id)
            if run.owner_id not in best or rank_key < best[run.owner_id][0]:
                best[run.owner_id] = (rank_key, run, accuracy, seconds)
        ordered = sorted(best.values(), key=lambda item: item[0])
        return [ChallengeResult(i, run.owner_name, run.owner_id, run.id, accuracy, seconds)
                for i, (_, run, accuracy, seconds) in enumerate(ordered, 1)]

    def challenge_csv(self) -> str:
        """The standings as CSV for grading: rank, name, run_id, accuracy, seconds."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["rank", "name", "run_id", "accuracy", "seconds"])
        for row in self.challenge_results():
            writer.writerow([row.rank, row.name, row.run_id, f"{row.accuracy:.6g}",
                             "" if row.seconds is None else f"{row.seconds:.3f}"])
        return out.getvalue()

    # ---- the end of term ----------------------------------------------------------------------
    def reset(self, by: Person | None, people_too: bool = False, settings_too: bool = False) -> int:
        """End-of-term reset: every run goes (with its epochs, steps, probes and hints); the people too
        when asked; the settings (cap, budget, time limit, pause, challenge) are KEPT unless
        settings_too. Refused while runs wait or train. Returns how many runs were removed."""
        self.check_teacher(by, "reset the class")
        removed = self.store.reset(people=people_too, settings=settings_too)
        for callback in self._listeners:
            callback()
        return removed


def _seconds(name: str, seconds: float | None) -> float | None:
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(name, f"must be a number of seconds greater than 0, or None for no limit (got {seconds!r})")
    return float(seconds)


__all__ = ["ChallengeResult", "ClassSettings", "Classroom", "NotAllowed", "DEFAULT_WAITING_CAP", "WINS"]
