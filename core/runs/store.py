"""The run store: SQLite in WAL mode, one writer (the worker or the CLI) and many readers (pages).

Tables: runs (config JSON, status, device, timings, error, owner), epochs (per-epoch metrics), steps
(per-step losses), probes (per-layer statistics), hints (diagnoses), people (who has been seen:
the SHA-256 of their token and their name), settings (the class's settings, JSON per key) and meta
(a store-wide change counter, moved on by triggers, so thirty browsers polling can share one
snapshot per change).
"""
from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from core import paths
from core.config import RunConfig
from core.errors import UserError
from core.jsonsafe import json_safe
from core.training.events import HISTORY_COLUMNS, EpochEnd, Event, ProbeReport, RunStarted, StepReport

STATUSES = ("queued", "running", "completed", "diverged", "cancelled", "failed", "interrupted")
FINISHED = ("completed", "diverged", "cancelled", "failed", "interrupted")

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL DEFAULT '',
    tag TEXT NOT NULL DEFAULT '',
    group_id TEXT,
    session TEXT NOT NULL DEFAULT '',
    owner_pid INTEGER,
    owner_started TEXT,
    config TEXT NOT NULL,
    status TEXT NOT NULL,
    device TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    message TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    train_images INTEGER,
    steps_per_epoch INTEGER,
    parameters INTEGER,
    images_per_second REAL,
    first_report_seconds REAL,
    best_epoch INTEGER,
    test_loss REAL,
    test_accuracy REAL,
    step_settings TEXT NOT NULL DEFAULT '{}',
    owner_id TEXT NOT NULL DEFAULT '',
    owner_name TEXT NOT NULL DEFAULT '',
    cancelled_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_status ON runs(status);
CREATE INDEX IF NOT EXISTS runs_group ON runs(group_id);
CREATE TABLE IF NOT EXISTS epochs (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    loss REAL, accuracy REAL, val_loss REAL, val_accuracy REAL, lr REAL,
    seconds REAL, images_per_s REAL,
    PRIMARY KEY (run_id, epoch)
);
CREATE TABLE IF NOT EXISTS steps (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    loss REAL,
    lr REAL,
    grad_norm REAL,
    PRIMARY KEY (run_id, step)
);
CREATE TABLE IF NOT EXISTS probes (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    layer INTEGER NOT NULL,
    stats TEXT NOT NULL,
    PRIMARY KEY (run_id, step, layer)
);
CREATE TABLE IF NOT EXISTS hints (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    hint_id TEXT NOT NULL,
    epoch INTEGER,
    body TEXT NOT NULL,
    rules TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, hint_id)
);
CREATE TABLE IF NOT EXISTS people (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""
# Columns added after the first stores were made: (table, column, declaration). A store made before
# gets them on open, with their defaults; nothing stored is lost.
MIGRATIONS = (
    ("runs", "owner_started", "TEXT"),
    ("runs", "step_settings", "TEXT NOT NULL DEFAULT '{}'"),
    ("hints", "rules", "TEXT NOT NULL DEFAULT ''"),
    ("runs", "owner_id", "TEXT NOT NULL DEFAULT ''"),
    ("runs", "owner_name", "TEXT NOT NULL DEFAULT ''"),
    ("runs", "cancelled_by", "TEXT NOT NULL DEFAULT ''"),
    ("people", "teacher_until", "REAL"),
    ("people", "teacher_seal", "TEXT NOT NULL DEFAULT ''"),
)
# What needs the migrated columns: run after MIGRATIONS. Every write a page shows moves the change
# counter on (people are left out: their last_seen changes on every visit and no page draws it); the
# epoch counter leaves out the per-step losses and probes too, which arrive several times a second
# while a run trains and which per-epoch views (the Wall) never draw.
COUNTED = {"runs": ("INSERT", "UPDATE", "DELETE"), "epochs": ("INSERT", "UPDATE"), "steps": ("INSERT", "UPDATE"),
           "probes": ("INSERT", "UPDATE"), "hints": ("INSERT", "UPDATE"), "settings": ("INSERT", "UPDATE", "DELETE")}
PER_STEP = ("steps", "probes")
AFTER_MIGRATIONS = "\n".join([
    "CREATE INDEX IF NOT EXISTS runs_owner ON runs(owner_id);",
    "INSERT OR IGNORE INTO meta (key, value) VALUES ('changes', 0);",
    "INSERT OR IGNORE INTO meta (key, value) VALUES ('epoch_changes', 0);",
    *(f"CREATE TRIGGER IF NOT EXISTS count_{table}_{op.lower()} AFTER {op} ON {table} "
      f"BEGIN UPDATE meta SET value = value + 1 WHERE key = 'changes'; END;"
      for table, ops in COUNTED.items() for op in ops),
    *(f"CREATE TRIGGER IF NOT EXISTS count_epoch_{table}_{op.lower()} AFTER {op} ON {table} "
      f"BEGIN UPDATE meta SET value = value + 1 WHERE key = 'epoch_changes'; END;"
      for table, ops in COUNTED.items() if table not in PER_STEP for op in ops),
])
ACTIVE = ("queued", "running")


@dataclass(frozen=True)
class RunRecord:
    id: int
    name: str
    tag: str
    group_id: str | None
    session: str
    owner_pid: int | None
    owner_started: str | None
    config: RunConfig
    status: str
    device: str
    created_at: float
    started_at: float | None
    finished_at: float | None
    message: str
    error: str
    train_images: int | None
    steps_per_epoch: int | None
    parameters: int | None
    images_per_second: float | None
    first_report_seconds: float | None
    best_epoch: int | None
    test_loss: float | None
    test_accuracy: float | None
    step_settings: dict = field(compare=False)  # (a dict: left out of equality and the hash)
    owner_id: str = ""  # the Person id of whoever queued it ('' for runs from before classes, or the CLI)
    owner_name: str = ""  # their name when they queued it
    cancelled_by: str = ""  # who cancelled it (a name, "the teacher" or "the class's time limit")

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def label(self) -> str:
        return f"#{self.id} {self.name}".strip()


def _finite_or_none(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return value


class ActiveRuns(UserError):
    """The end-of-term reset was asked for while runs still wait or train."""


@dataclass(frozen=True)
class ClassRow:
    """One run on the class's wall: the run, its owner's name, epochs done, best validation accuracy
    and the title and family (healthy, divergence, ...) of its first hint."""

    run: RunRecord
    epochs_done: int
    best_val_accuracy: float | None
    diagnosis: str
    family: str = ""

    @property
    def owner_name(self) -> str:
        return self.run.owner_name

    @property
    def status(self) -> str:
        return self.run.status


class RunStore:
    """Thread-safe access to one SQLite file: a connection per thread, writes serialized by a lock."""

    def __init__(self, path: str | Path | None = None):
        self.path = paths.db_path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._counter: sqlite3.Connection | None = None
        self._counter_lock = threading.Lock()
        with self._write_lock:
            conn = self._conn().raw
            conn.executescript(SCHEMA)
            for table, column, declaration in MIGRATIONS:
                if column not in {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            conn.executescript(AFTER_MIGRATIONS)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = _Transactions(conn)
        return self._local.conn

    def _write(self, sql: str, args: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._write_lock, self._conn() as conn:
            return conn.execute(sql, tuple(args))

    def _read(self, sql: str, args: Iterable[Any] | dict = ()) -> list[sqlite3.Row]:
        return self._conn().raw.execute(sql, args if isinstance(args, dict) else tuple(args)).fetchall()

    # ---- runs -------------------------------------------------------------------------------
    def create_run(self, config: RunConfig, name: str = "", tag: str = "", group_id: str | None = None,
                   session: str = "", owner_id: str = "", owner_name: str = "") -> int:
        cur = self._write(
            "INSERT INTO runs (name, tag, group_id, session, owner_pid, owner_started, config, status, created_at, "
            "owner_id, owner_name) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (name, tag, group_id, session, os.getpid(), _process_identity(os.getpid()), config.to_json(), "queued",
             time.time(), owner_id, owner_name),
        )
        return int(cur.lastrowid)

    def mark_running(self, run_id: int, device: str) -> None:
        self._write("UPDATE runs SET status='running', device=?, started_at=? WHERE id=?", (device, time.time(), run_id))

    def finish(self, run_id: int, status: str, message: str = "", error: str = "", **numbers: Any) -> None:
        """Record how the run ended; `numbers` may set the result columns and cancelled_by."""
        if status not in FINISHED:
            raise ValueError(f"not a final status: {status}")
        allowed = {"images_per_second", "first_report_seconds", "best_epoch", "test_loss", "test_accuracy",
                   "cancelled_by"}
        extra = {k: _finite_or_none(v) if isinstance(v, float) else v for k, v in numbers.items() if k in allowed}
        sets = "".join(f", {k}=?" for k in extra)
        self._write(
            f"UPDATE runs SET status=?, message=?, error=?, finished_at=?{sets} WHERE id=?",
            (status, message, error, time.time(), *extra.values(), run_id),
        )

    def record(self, run_id: int, event: Event) -> None:
        """Store one trainer event (the worker's and the CLI's event sink)."""
        if isinstance(event, StepReport):
            first = event.step - len(event.losses) + 1
            rows = [
                (run_id, first + i, event.epoch, _finite_or_none(loss), event.lr,
                 _finite_or_none(event.grad_norm) if first + i == event.step else None)
                for i, loss in enumerate(event.losses)
            ]
            with self._write_lock, self._conn() as conn:
                conn.executemany("INSERT OR REPLACE INTO steps VALUES (?,?,?,?,?,?)", rows)
        elif isinstance(event, EpochEnd):
            self._write(
                "INSERT OR REPLACE INTO epochs VALUES (?,?,?,?,?,?,?,?,?)",
                (run_id, event.epoch, *(_finite_or_none(v) for v in (
                    event.loss, event.accuracy, event.val_loss, event.val_accuracy, event.lr, event.seconds,
                    event.images_per_s))),
            )
        elif isinstance(event, ProbeReport):
            rows = [(run_id, event.step, i, json.dumps(json_safe(layer))) for i, layer in enumerate(event.layers)]
            with self._write_lock, self._conn() as conn:
                conn.executemany("INSERT OR REPLACE INTO probes VALUES (?,?,?,?)", rows)
        elif isinstance(event, RunStarted):
            self._write(
                "UPDATE runs SET device=?, train_images=?, steps_per_epoch=?, parameters=?, step_settings=? WHERE id=?",
                (event.device, event.train_images, event.steps_per_epoch, event.parameters,
                 json.dumps(event.settings), run_id),
            )

    def mark_interrupted(self) -> list[int]:
        """After a restart: runs left running or queued by a process that no longer exists become
        interrupted, keeping every epoch they logged. Returns their ids."""
        with self._write_lock, self._conn() as conn:
            rows = conn.execute(
                "SELECT id, owner_pid, owner_started FROM runs WHERE status IN ('running', 'queued')").fetchall()
            ids = [r[0] for r in rows if not _alive(r[1], r[2])]
            conn.executemany(
                "UPDATE runs SET status='interrupted', finished_at=?, "
                "message='the server stopped while this run was ' || status WHERE id=?",
                [(time.time(), run_id) for run_id in ids],
            )
        return ids

    def set_name(self, run_id: int, name: str, tag: str | None = None) -> None:
        if tag is None:
            self._write("UPDATE runs SET name=? WHERE id=?", (name, run_id))
        else:
            self._write("UPDATE runs SET name=?, tag=? WHERE id=?", (name, tag, run_id))

    def save_hints(self, run_id: int, hints: list[dict], rules: str = "") -> None:
        """The run's diagnosis (Hint.to_dict() rows) made by the given version of the rules, replacing
        what was stored before. A diagnosis that found nothing is kept as a row with hint_id '' (so a
        stored "nothing to say" is told apart from "never diagnosed")."""
        rows = [(run_id, h["id"], h.get("epoch"), json.dumps(json_safe(h)), rules) for h in hints]
        with self._write_lock, self._conn() as conn:
            conn.execute("DELETE FROM hints WHERE run_id=?", (run_id,))
            conn.executemany("INSERT OR REPLACE INTO hints VALUES (?,?,?,?,?)",
                             rows or [(run_id, "", None, "null", rules)])

    def hints(self, run_id: int) -> list[dict]:
        """The stored diagnosis, in the order it was given (most severe and certain first)."""
        return self.diagnosis(run_id)[0]

    def diagnosis(self, run_id: int) -> tuple[list[dict], str | None]:
        """(the stored hints, the version of the rules that made them); ([], None) when the run was
        never diagnosed."""
        rows = self._read("SELECT hint_id, body, rules FROM hints WHERE run_id=? ORDER BY rowid", (run_id,))
        if not rows:
            return [], None
        return [json.loads(r["body"]) for r in rows if r["hint_id"]], rows[0]["rules"]

    def set_group(self, run_id: int, group_id: str) -> None:
        self._write("UPDATE runs SET group_id=? WHERE id=?", (group_id, run_id))

    def group(self, group_id: str) -> list["RunRecord"]:
        """The runs of a group, oldest first."""
        return [_record(r) for r in self._read("SELECT * FROM runs WHERE group_id=? ORDER BY id", (group_id,))]

    def delete(self, run_id: int) -> None:
        self._write("DELETE FROM runs WHERE id=?", (run_id,))

    # ---- reading ----------------------------------------------------------------------------
    def get(self, run_id: int) -> RunRecord | None:
        rows = self._read("SELECT * FROM runs WHERE id=?", (run_id,))
        return _record(rows[0]) if rows else None

    def runs(self, status: str | None = None, session: str | None = None, limit: int = 500,
             owner: Any = None) -> list[RunRecord]:
        """Newest first. `owner`: a person's id (or a Person) for "my runs"."""
        where, args = [], []
        if status:
            where.append("status=?")
            args.append(status)
        if session is not None:
            where.append("session=?")
            args.append(session)
        if owner is not None:
            where.append("owner_id=?")
            args.append(getattr(owner, "id", owner))
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?"
        return [_record(r) for r in self._read(sql, (*args, limit))]

    def version(self, run_id: int) -> tuple | None:
        """Changes whenever anything about the run changes: its status, epochs, newest step or probe.
        One cheap query, so pages polling many times a second can skip redrawing what is the same."""
        rows = self._read(
            "SELECT status, finished_at, (SELECT COUNT(*) FROM epochs WHERE run_id=:id), "
            "(SELECT MAX(step) FROM steps WHERE run_id=:id), (SELECT MAX(step) FROM probes WHERE run_id=:id) "
            "FROM runs WHERE id=:id", {"id": run_id})
        return tuple(rows[0]) if rows else None

    def history(self, run_id: int) -> list[dict]:
        rows = self._read("SELECT * FROM epochs WHERE run_id=? ORDER BY epoch", (run_id,))
        return [{k: r[k] for k in r.keys() if k != "run_id"} for r in rows]

    def steps(self, run_id: int, after: int = 0) -> list[dict]:
        rows = self._read("SELECT step, epoch, loss, lr, grad_norm FROM steps WHERE run_id=? AND step>? ORDER BY step",
                          (run_id, after))
        return [dict(r) for r in rows]

    def probes(self, run_id: int, step: int | None = None) -> dict[int, list[dict]]:
        """step -> per-layer statistics (in layer order), oldest step first; only `step` when given."""
        out: dict[int, list[dict]] = {}
        only = "" if step is None else " AND step=?"
        args = (run_id,) if step is None else (run_id, step)
        for r in self._read(f"SELECT step, stats FROM probes WHERE run_id=?{only} ORDER BY step, layer", args):
            out.setdefault(r["step"], []).append(json.loads(r["stats"]))
        return out

    def overview(self, run_ids: list[int]) -> dict[int, dict]:
        """Per run, in one query: epochs logged, best validation accuracy and the first stored hint's
        title (what a list of many runs shows)."""
        if not run_ids:
            return {}
        marks = ",".join("?" * len(run_ids))
        rows = self._read(
            f"SELECT r.id, (SELECT COUNT(*) FROM epochs e WHERE e.run_id=r.id) AS epochs, "
            f"(SELECT MAX(val_accuracy) FROM epochs e WHERE e.run_id=r.id) AS best_val_accuracy, "
            f"(SELECT body FROM hints h WHERE h.run_id=r.id AND h.hint_id != '' ORDER BY h.rowid LIMIT 1) AS hint "
            f"FROM runs r WHERE r.id IN ({marks})", run_ids)
        return {r["id"]: {"epochs": r["epochs"], "best_val_accuracy": r["best_val_accuracy"],
                          "diagnosis": json.loads(r["hint"]).get("title", "") if r["hint"] else ""} for r in rows}

    def class_overview(self, limit: int = 60) -> list[ClassRow]:
        """The class's wall, in one query: every running run and the `limit` newest runs (any status),
        newest first, each with its owner's name, epochs done, best validation accuracy and the title of
        its first stored hint."""
        rows = self._read(
            "SELECT r.*, (SELECT COUNT(*) FROM epochs e WHERE e.run_id=r.id) AS wall_epochs, "
            "(SELECT MAX(val_accuracy) FROM epochs e WHERE e.run_id=r.id) AS wall_best, "
            "(SELECT body FROM hints h WHERE h.run_id=r.id AND h.hint_id != '' ORDER BY h.rowid LIMIT 1) AS wall_hint "
            "FROM runs r WHERE r.status='running' OR r.id IN (SELECT id FROM runs ORDER BY id DESC LIMIT ?) "
            "ORDER BY r.id DESC", (limit,))
        out = []
        for row in rows:
            data = dict(row)
            epochs, best, hint = data.pop("wall_epochs"), data.pop("wall_best"), data.pop("wall_hint")
            body = json.loads(hint) if hint else {}
            out.append(ClassRow(_record(data), epochs, best, body.get("title", ""),
                                body.get("family") or body.get("id", "")))
        return out

    # ---- the class: change counter, people, settings, reset -----------------------------------
    def changes(self, per_step: bool = True) -> int:
        """A counter that every write pages show moves on (runs, epochs, steps, probes, hints, settings;
        from any process): pages can redraw a shared snapshot only when it moved. per_step=False: one
        that per-step losses and probes leave alone, for views of whole epochs. One tiny query on one
        connection kept for it (a poll runs on a new thread each time: a new connection costs 200x)."""
        key = "changes" if per_step else "epoch_changes"
        with self._counter_lock:
            if self._counter is None:
                self._counter = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                                                check_same_thread=False)
            return int(self._counter.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()[0])

    def touch_person(self, person_id: str, name: str, every: float = 60.0) -> None:
        """Record that a person was seen (first_seen once, last_seen at most once per `every` seconds,
        the name whenever it changed): a page that calls this on each rerun writes rarely."""
        now = time.time()
        rows = self._read("SELECT name, last_seen FROM people WHERE id=?", (person_id,))
        if rows and rows[0]["name"] == name and now - rows[0]["last_seen"] < every:
            return
        self._write(
            "INSERT INTO people (id, name, first_seen, last_seen) VALUES (?,?,?,?) "
            "ON CONFLICT(id) DO UPDATE SET name=excluded.name, last_seen=excluded.last_seen",
            (person_id, name, now, now))

    def person_name(self, person_id: str) -> str:
        """The name a person last typed ("" for someone never seen)."""
        rows = self._read("SELECT name FROM people WHERE id=?", (person_id,))
        return rows[0]["name"] if rows else ""

    def grant_teacher(self, person_id: str, seal: str, until: float) -> None:
        """Remember that this person gave the class key, until `until` (a time.time()); `seal` ties the
        grant to the key given (core/runs/people.py), so a new key ends it. The key itself is not kept."""
        now = time.time()
        self._write(
            "INSERT INTO people (id, name, first_seen, last_seen, teacher_until, teacher_seal) "
            "VALUES (?, '', ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET teacher_until=excluded.teacher_until, teacher_seal=excluded.teacher_seal",
            (person_id, now, now, until, seal))

    def teacher_grant(self, person_id: str) -> tuple[str, float] | None:
        """(seal, until) of a person's teacher grant, or None when they have none."""
        rows = self._read("SELECT teacher_seal, teacher_until FROM people WHERE id=?", (person_id,))
        if not rows or rows[0]["teacher_until"] is None:
            return None
        return rows[0]["teacher_seal"], rows[0]["teacher_until"]

    def end_teacher(self, person_id: str) -> None:
        """Forget a person's teacher grant ("Log out as teacher")."""
        self._write("UPDATE people SET teacher_until=NULL, teacher_seal='' WHERE id=?", (person_id,))

    def people(self) -> list[dict]:
        """Everyone seen, most recently seen first: id, name, first_seen, last_seen."""
        return [dict(r) for r in self._read("SELECT * FROM people ORDER BY last_seen DESC, id")]

    def settings(self) -> dict[str, Any]:
        """The stored class settings, key -> value (JSON-decoded)."""
        return {r["key"]: json.loads(r["value"]) for r in self._read("SELECT key, value FROM settings")}

    def put_settings(self, values: dict[str, Any]) -> None:
        """Store class settings (JSON values), in one transaction."""
        rows = [(key, json.dumps(json_safe(value))) for key, value in values.items()]
        with self._write_lock, self._conn() as conn:
            conn.executemany("INSERT INTO settings (key, value) VALUES (?,?) "
                             "ON CONFLICT(key) DO UPDATE SET value=excluded.value", rows)

    def reset(self, people: bool = False, settings: bool = False) -> int:
        """The end-of-term reset: remove every run with all its rows; the people too if asked; the
        settings too if asked (else they are kept). Refused (ActiveRuns) while a run waits or trains.
        Run ids are not reused: the next run gets the next number. Returns how many runs went."""
        with self._write_lock, self._conn() as conn:
            active = conn.execute("SELECT COUNT(*) FROM runs WHERE status IN ('queued', 'running')").fetchone()[0]
            if active:
                raise ActiveRuns(f"{active} run{'s are' if active != 1 else ' is'} still waiting or running: cancel "
                                 f"{'them' if active != 1 else 'it'} or let {'them' if active != 1 else 'it'} "
                                 "finish before the end-of-term reset")
            for table in ("steps", "probes", "epochs", "hints"):  # (faster than one cascade per run)
                conn.execute(f"DELETE FROM {table}")
            removed = conn.execute("DELETE FROM runs").rowcount
            if people:
                conn.execute("DELETE FROM people")
            if settings:
                conn.execute("DELETE FROM settings")
        return removed

    def history_csv(self, run_id: int) -> str:
        """The run's per-epoch history with Keras CSVLogger's column names (empty cells for NaN)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HISTORY_COLUMNS)
        for row in self.history(run_id):
            writer.writerow(["" if row[c] is None else row[c] for c in HISTORY_COLUMNS])
        return out.getvalue()


class _Transactions:
    """A connection used as a context manager gives one BEGIN IMMEDIATE ... COMMIT transaction."""

    def __init__(self, raw: sqlite3.Connection):
        self.raw = raw

    def __enter__(self) -> sqlite3.Connection:
        self.raw.execute("BEGIN IMMEDIATE")
        return self.raw

    def __exit__(self, exc_type, exc, tb) -> None:
        self.raw.execute("ROLLBACK" if exc_type else "COMMIT")


def _process_identity(pid: int) -> str | None:
    """The boot and the start time of process `pid` (Linux), so a new process that happens to get a
    dead server's pid (PID 1 in every container start) is not taken for it. None where unknown."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the fields after the parenthesised command name; field 22 of the line is the start time
    return f"{boot}:{stat.rsplit(')', 1)[1].split()[19]}"


def _alive(pid: int | None, started: str | None = None) -> bool:
    """Whether the process that owns a run still runs: its pid exists and, where both are known, it
    started when the owner did."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if started is None:
        return True
    now = _process_identity(pid)
    return now is None or now == started


@functools.lru_cache(maxsize=4096)
def _config(text: str) -> RunConfig:
    """A stored config, parsed and checked once per distinct text (RunConfig is frozen: sharing is safe)."""
    return RunConfig.from_json(text, strict=False)


def _record(row: sqlite3.Row) -> RunRecord:
    data = dict(row)
    data["config"] = _config(data["config"])
    data["step_settings"] = json.loads(data.get("step_settings") or "{}")
    return RunRecord(**data)
