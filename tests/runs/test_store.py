"""The SQLite run store for real: runs, events, history/CSV export, listing, deletion, concurrency
under WAL, and marking runs of a dead process as interrupted."""
from __future__ import annotations

import csv
import io
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import threading

from pathlib import Path

import pytest

from core.config import RunConfig
from core.training.events import HISTORY_COLUMNS, EpochEnd, ProbeReport, RunStarted, StepReport
from core.doctor.diagnose import RULES_VERSION
from core.runs.lifecycle import stored_diagnosis
from core.runs.store import FINISHED, SCHEMA, RunStore

TINY = RunConfig(dataset="digits", model="mlp", depth=1, width=16, epochs=2, batch_size=256)


def epoch_event(epoch: int, **changes) -> EpochEnd:
    values = dict(epoch=epoch, loss=2.0 / epoch, accuracy=0.1 * epoch, val_loss=2.5 / epoch,
                  val_accuracy=0.09 * epoch, lr=0.01, seconds=0.5, images_per_s=1000.0 + epoch)
    values.update(changes)
    return EpochEnd(**values)


def count_rows(store: RunStore, table: str, run_id: int) -> int:
    with sqlite3.connect(store.path) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table} WHERE run_id=?", (run_id,)).fetchone()[0]


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs.db")


def test_default_path_is_in_tunelab_home(tunelab_home):
    assert RunStore().path == tunelab_home / "runs.db"
    assert (tunelab_home / "runs.db").exists()


def test_a_run_goes_from_queued_to_running_to_completed(store):
    run_id = store.create_run(TINY, name="first", tag="baseline", group_id="sweep-1", session="s1")
    record = store.get(run_id)
    assert record.status == "queued" and not record.finished
    assert (record.name, record.tag, record.group_id, record.session) == ("first", "baseline", "sweep-1", "s1")
    assert record.owner_pid == os.getpid()
    assert record.started_at is None and record.finished_at is None
    assert record.label == f"#{run_id} first"

    store.mark_running(run_id, "cpu")
    record = store.get(run_id)
    assert record.status == "running" and record.device == "cpu" and record.started_at >= record.created_at

    store.record(run_id, RunStarted("cpu:0", train_images=1438, val_images=359, steps_per_epoch=6, epochs=2,
                                    parameters=1234))
    record = store.get(run_id)
    assert (record.device, record.train_images, record.steps_per_epoch, record.parameters) == ("cpu:0", 1438, 6, 1234)

    store.finish(run_id, "completed", "completed 2 epochs", images_per_second=5000.0, first_report_seconds=0.25,
                 best_epoch=2, test_loss=0.3, test_accuracy=0.9, not_a_column=1)
    record = store.get(run_id)
    assert record.status == "completed" and record.finished
    assert record.message == "completed 2 epochs" and record.error == ""
    assert record.finished_at >= record.started_at
    assert (record.images_per_second, record.first_report_seconds, record.best_epoch) == (5000.0, 0.25, 2)
    assert (record.test_loss, record.test_accuracy) == (0.3, 0.9)


def test_finish_stores_nan_numbers_as_none(store):
    run_id = store.create_run(TINY)
    store.finish(run_id, "diverged", "blew up", test_loss=math.nan, images_per_second=math.inf)
    record = store.get(run_id)
    assert record.status == "diverged"
    assert record.test_loss is None and record.images_per_second is None


@pytest.mark.parametrize("status", ["queued", "running", "done", ""])
def test_finish_with_a_status_that_is_not_final_raises(store, status):
    run_id = store.create_run(TINY)
    with pytest.raises(ValueError, match="not a final status"):
        store.finish(run_id, status)
    assert store.get(run_id).status == "queued"


def test_every_final_status_is_accepted(store):
    for status in FINISHED:
        run_id = store.create_run(TINY)
        store.finish(run_id, status, error="e" if status == "failed" else "")
        assert store.get(run_id).status == status


def test_a_run_config_round_trips_through_the_store(store):
    config = RunConfig(optimizer="momentum", lr=0.037, momentum=0.85, init="he_normal", activation="tanh",
                       dataset="digits", model="mlp", depth=4, width=33, l2=1e-4, dropout=0.25, batch_norm=True,
                       clip_norm=1.5, aug_shift=0.1, schedule="cosine", min_lr=1e-5, early_stopping=True,
                       patience=3, restore_best=False, batch_size=48, epochs=7, seed=2**31 - 1)
    run_id = store.create_run(config)
    back = store.get(run_id).config
    assert back == config
    assert back.differences(config) == {}
    # and from a fresh store on the same file (another process or a restart)
    assert RunStore(store.path).get(run_id).config == config


def test_get_an_unknown_run_is_none(store):
    assert store.get(12345) is None


def test_epochs_make_the_history_in_epoch_order_and_rewrite_replaces(store):
    run_id = store.create_run(TINY)
    other = store.create_run(TINY)
    for epoch in (2, 1, 3):  # stored out of order, read in order
        store.record(run_id, epoch_event(epoch))
    store.record(other, epoch_event(1, loss=9.0))
    store.record(run_id, epoch_event(3, loss=0.123))  # the same epoch again replaces the row

    history = store.history(run_id)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert set(history[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds",
                               "images_per_s"}
    assert history[0] == {"epoch": 1, "loss": 2.0, "accuracy": 0.1, "val_loss": 2.5, "val_accuracy": 0.09,
                          "lr": 0.01, "seconds": 0.5, "images_per_s": 1001.0}
    assert history[2]["loss"] == 0.123
    assert [row["loss"] for row in store.history(other)] == [9.0]
    assert store.history(store.create_run(TINY)) == []


def test_history_csv_has_the_keras_header_and_empty_cells_for_nan(store):
    run_id = store.create_run(TINY)
    store.record(run_id, epoch_event(1))
    store.record(run_id, epoch_event(2, loss=math.inf, val_loss=math.nan, val_accuracy=math.nan))
    text = store.history_csv(run_id)
    lines = text.splitlines()
    assert lines[0] == ",".join(HISTORY_COLUMNS)
    assert lines[0] == "epoch,loss,accuracy,val_loss,val_accuracy,lr"
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 3 and all(len(row) == len(HISTORY_COLUMNS) for row in rows)
    first = dict(zip(rows[0], rows[1]))
    assert first["epoch"] == "1"
    assert float(first["loss"]) == 2.0 and float(first["val_accuracy"]) == 0.09 and float(first["lr"]) == 0.01
    second = dict(zip(rows[0], rows[2]))
    assert second["epoch"] == "2"
    assert second["loss"] == "" and second["val_loss"] == "" and second["val_accuracy"] == ""
    assert float(second["accuracy"]) == 0.2
    # a run without epochs exports the header alone
    assert store.history_csv(store.create_run(TINY)) == ",".join(HISTORY_COLUMNS) + "\n"


def test_step_reports_store_every_loss_and_the_last_grad_norm(store):
    run_id = store.create_run(TINY)
    store.record(run_id, StepReport(step=3, epoch=1, losses=[2.3, 2.2, 2.1], lr=0.01, grad_norm=4.5))
    store.record(run_id, StepReport(step=5, epoch=1, losses=[2.0, math.nan], lr=0.01, grad_norm=math.inf))
    store.record(run_id, StepReport(step=6, epoch=2, losses=[1.9], lr=0.005, grad_norm=3.0))

    steps = store.steps(run_id)
    assert [s["step"] for s in steps] == [1, 2, 3, 4, 5, 6]
    assert [s["epoch"] for s in steps] == [1, 1, 1, 1, 1, 2]
    assert [s["loss"] for s in steps] == [2.3, 2.2, 2.1, 2.0, None, 1.9]
    assert [s["grad_norm"] for s in steps] == [None, None, 4.5, None, None, 3.0]
    assert [s["lr"] for s in steps] == [0.01] * 5 + [0.005]
    assert set(steps[0]) == {"step", "epoch", "loss", "lr", "grad_norm"}

    assert [s["step"] for s in store.steps(run_id, after=3)] == [4, 5, 6]
    assert [s["step"] for s in store.steps(run_id, after=5)] == [6]
    assert store.steps(run_id, after=6) == []
    assert store.steps(store.create_run(TINY)) == []


def test_probes_are_grouped_by_step_in_layer_order(store):
    run_id = store.create_run(TINY)
    layers0 = [{"name": f"layer{i}", "mean": i * 0.1, "hist": [1, 2, i]} for i in range(12)]
    layers10 = [{"name": "a", "std": 0.5}, {"name": "b", "std": math.nan}]
    store.record(run_id, ProbeReport(step=10, epoch=1, layers=layers10))
    store.record(run_id, ProbeReport(step=0, epoch=0, layers=layers0))

    probes = store.probes(run_id)
    assert list(probes) == [0, 10]
    assert probes[0] == layers0  # 12 layers: numeric layer order, not text order
    assert probes[10][0] == {"name": "a", "std": 0.5}
    assert probes[10][1]["name"] == "b" and probes[10][1]["std"] is None  # NaN is stored as JSON null
    assert store.probes(store.create_run(TINY)) == {}


def test_runs_lists_newest_first_and_filters_by_status_and_session(store):
    a = store.create_run(TINY, session="alice")
    b = store.create_run(TINY, session="bob")
    c = store.create_run(TINY, session="alice")
    d = store.create_run(TINY)
    store.mark_running(b, "cpu")
    store.finish(c, "completed")

    assert [r.id for r in store.runs()] == [d, c, b, a]
    assert [r.id for r in store.runs(limit=2)] == [d, c]
    assert [r.id for r in store.runs(status="queued")] == [d, a]
    assert [r.id for r in store.runs(status="running")] == [b]
    assert [r.id for r in store.runs(status="completed")] == [c]
    assert store.runs(status="failed") == []
    assert [r.id for r in store.runs(session="alice")] == [c, a]
    assert [r.id for r in store.runs(session="")] == [d]
    assert [r.id for r in store.runs(status="queued", session="alice")] == [a]
    assert store.runs(status="completed", session="bob") == []


def test_set_name_renames_and_retags(store):
    run_id = store.create_run(TINY, name="old", tag="t0")
    store.set_name(run_id, "new")
    assert (store.get(run_id).name, store.get(run_id).tag) == ("new", "t0")
    store.set_name(run_id, "newer", tag="t1")
    assert (store.get(run_id).name, store.get(run_id).tag) == ("newer", "t1")
    assert store.get(run_id).label == f"#{run_id} newer"


def test_delete_removes_the_run_and_cascades_to_its_rows(store):
    run_id = store.create_run(TINY)
    keep = store.create_run(TINY)
    for rid in (run_id, keep):
        store.record(rid, epoch_event(1))
        store.record(rid, StepReport(step=2, epoch=1, losses=[1.0, 0.9], lr=0.01, grad_norm=1.0))
        store.record(rid, ProbeReport(step=0, epoch=0, layers=[{"mean": 0.0}]))
    with sqlite3.connect(store.path) as conn:
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("INSERT INTO hints (run_id, hint_id, epoch, body) VALUES (?,?,?,?)", (run_id, "healthy", 1, "{}"))
    assert [count_rows(store, t, run_id) for t in ("epochs", "steps", "probes", "hints")] == [1, 2, 1, 1]

    store.delete(run_id)
    assert store.get(run_id) is None
    assert [count_rows(store, t, run_id) for t in ("epochs", "steps", "probes", "hints")] == [0, 0, 0, 0]
    assert store.history(run_id) == [] and store.steps(run_id) == [] and store.probes(run_id) == {}
    # the other run keeps everything
    assert [count_rows(store, t, keep) for t in ("epochs", "steps", "probes")] == [1, 2, 1]
    assert [r.id for r in store.runs()] == [keep]


def test_one_writer_and_four_readers_at_once(store):
    """WAL: readers never block on the writer and always see a consistent prefix of the history."""
    run_id = store.create_run(TINY)
    total = 300
    errors: list[BaseException] = []
    seen: list[list[int]] = [[] for _ in range(4)]
    done = threading.Event()
    start = threading.Barrier(5)

    def writer():
        try:
            start.wait(timeout=10)
            for epoch in range(1, total + 1):
                store.record(run_id, epoch_event(epoch))
                store.record(run_id, StepReport(step=epoch, epoch=epoch, losses=[1.0 / epoch], lr=0.01,
                                                grad_norm=1.0))
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)
        finally:
            done.set()

    def reader(i: int):
        try:
            start.wait(timeout=10)
            while True:
                finished = done.is_set()
                history = store.history(run_id)
                epochs = [row["epoch"] for row in history]
                assert epochs == list(range(1, len(epochs) + 1)), epochs
                assert all(row["loss"] == 2.0 / row["epoch"] for row in history)
                store.steps(run_id, after=len(epochs) // 2)
                store.get(run_id)
                seen[i].append(len(epochs))
                if finished:
                    break
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert len(store.history(run_id)) == total and len(store.steps(run_id)) == total
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    for counts in seen:
        assert counts and counts[-1] == total  # the last read came after the last write
        assert counts == sorted(counts)  # a reader never sees the history shrink
    assert min(min(counts) for counts in seen) < total  # reads did overlap the writes


def test_runs_of_a_process_that_exited_become_interrupted_and_keep_their_epochs(store):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=30)

    running = store.create_run(TINY, name="was running")
    store.mark_running(running, "cpu")
    for epoch in (1, 2):
        store.record(running, epoch_event(epoch))
    store.record(running, StepReport(step=4, epoch=2, losses=[1.0, 0.9, 0.8, 0.7], lr=0.01, grad_norm=1.0))
    queued = store.create_run(TINY, name="was queued")
    mine = store.create_run(TINY, name="mine")  # owned by this (living) process
    store.mark_running(mine, "cpu")
    mine_queued = store.create_run(TINY, name="mine, queued")
    done = store.create_run(TINY, name="done")
    store.finish(done, "completed", "completed 2 epochs")
    done_dead = store.create_run(TINY, name="done by the dead process")
    store.finish(done_dead, "completed", "completed 2 epochs")
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE runs SET owner_pid=? WHERE id IN (?,?,?)", (dead.pid, running, queued, done_dead))
    history_before = store.history(running)

    assert sorted(store.mark_interrupted()) == sorted([running, queued])

    record = store.get(running)
    assert record.status == "interrupted" and record.finished and record.finished_at is not None
    assert record.message == "the server stopped while this run was running"
    assert store.history(running) == history_before and len(history_before) == 2
    assert len(store.steps(running)) == 4
    assert store.get(queued).status == "interrupted"
    assert store.get(queued).message == "the server stopped while this run was queued"
    assert store.get(mine).status == "running"
    assert store.get(mine_queued).status == "queued"
    assert store.get(done).status == "completed" and store.get(done_dead).status == "completed"
    assert store.get(done_dead).message == "completed 2 epochs"
    # a second call finds nothing more to do
    assert store.mark_interrupted() == []


def test_a_run_without_owner_pid_counts_as_dead(store):
    run_id = store.create_run(TINY)
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE runs SET owner_pid=NULL WHERE id=?", (run_id,))
    assert store.mark_interrupted() == [run_id]
    assert store.get(run_id).status == "interrupted"


def test_a_new_process_with_the_dead_servers_pid_does_not_keep_its_runs(store):
    """In a container the server is the same pid (often 1) at every start: the pid alone would make a
    dead server's run look owned for ever. The owner's start time tells them apart."""
    reused = store.create_run(TINY, name="owned by an earlier process with this pid")
    store.mark_running(reused, "cpu")
    mine = store.create_run(TINY, name="really mine")
    store.mark_running(mine, "cpu")
    assert store.get(mine).owner_started  # recorded on Linux
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE runs SET owner_started=? WHERE id=?", ("an-earlier-boot:12345", reused))
    assert store.mark_interrupted() == [reused]
    assert store.get(reused).status == "interrupted" and store.get(mine).status == "running"


def test_a_store_made_before_owner_start_times_still_opens(tmp_path):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA.replace("    owner_started TEXT,\n", ""))
        conn.execute("INSERT INTO runs (config, status, created_at, owner_pid) VALUES (?,?,?,?)",
                     (TINY.to_json(), "running", 0.0, os.getpid()))
    store = RunStore(path)
    assert store.get(1).owner_started is None and store.get(1).status == "running"
    assert store.mark_interrupted() == []  # its pid is alive and nothing says it is another process


def test_version_changes_with_every_change_pages_need_to_redraw(store):
    run_id = store.create_run(TINY)
    seen = [store.version(run_id)]
    for change in (
        lambda: store.mark_running(run_id, "cpu"),
        lambda: store.record(run_id, StepReport(step=2, epoch=1, losses=[1.0, 0.9], lr=0.01, grad_norm=1.0)),
        lambda: store.record(run_id, ProbeReport(step=2, epoch=1, layers=[{"layer": 1}])),
        lambda: store.record(run_id, epoch_event(1)),
        lambda: store.finish(run_id, "completed"),
    ):
        change()
        seen.append(store.version(run_id))
    assert len(set(seen)) == len(seen)  # every change gave a new version
    assert store.version(run_id) == store.version(run_id)  # and reading changes nothing
    assert store.version(999) is None


def test_hints_are_saved_replaced_and_read_back_in_order(store):
    run_id = store.create_run(TINY)
    store.save_hints(run_id, [{"id": "overfitting", "epoch": 5, "evidence": "x"}, {"id": "oscillation", "epoch": 2}])
    assert [h["id"] for h in store.hints(run_id)] == ["overfitting", "oscillation"]
    store.save_hints(run_id, [{"id": "healthy", "epoch": None, "confidence": math.nan}])
    assert store.hints(run_id) == [{"id": "healthy", "epoch": None, "confidence": None}]
    store.delete(run_id)
    assert store.hints(run_id) == []


def test_one_probe_step_and_the_overview_of_many_runs_are_read_in_one_go(store):
    run_id = store.create_run(TINY)
    for step in (0, 50):
        store.record(run_id, ProbeReport(step=step, epoch=1, layers=[{"layer": 1, "s": step}, {"layer": 2}]))
    assert store.probes(run_id, step=50) == {50: [{"layer": 1, "s": 50}, {"layer": 2}]}
    store.record(run_id, epoch_event(1, val_accuracy=0.4))
    store.record(run_id, epoch_event(2, val_accuracy=0.7))
    store.save_hints(run_id, [{"id": "healthy", "title": "Healthy training"}])
    empty = store.create_run(TINY)
    assert store.overview([run_id, empty]) == {
        run_id: {"epochs": 2, "best_val_accuracy": pytest.approx(0.7), "diagnosis": "Healthy training"},
        empty: {"epochs": 0, "best_val_accuracy": None, "diagnosis": ""},
    }
    assert store.overview([]) == {}


# ---- a store made before core/ became packages opens as it is ----------------------------------------
OLD_STORE = Path(__file__).parents[1] / "golden" / "runs_before_restructure.sqlite"


def test_a_store_made_before_the_move_opens_and_shows_its_runs(tmp_path):
    path = tmp_path / "runs.db"
    shutil.copy(OLD_STORE, path)
    store = RunStore(path)
    runs = store.runs()
    assert [(r.id, r.name, r.status) for r in runs] == [
        (3, "lr=0.01", "completed"), (2, "lr=0.001", "completed"), (1, 'old run "quoted"', "completed")]
    assert all(r.step_settings == {} for r in runs)  # the column came with the move; its default fills in
    assert [row["epoch"] for row in store.history(1)] == [1, 2, 3, 4] and store.steps(1) and store.probes(1)
    hints, rules = store.diagnosis(1)
    assert [h["id"] for h in hints] == ["healthy"] and rules == ""  # made by the rules of then
    # shown today, the run is diagnosed again by today's rules, and that is kept
    again = stored_diagnosis(store, store.get(1))
    assert store.diagnosis(1)[1] == RULES_VERSION and [h["id"] for h in again] == [h["id"] for h in store.hints(1)]
    assert store.overview([1, 2, 3])[1]["epochs"] == 4


def test_the_old_store_opens_with_its_runs_owned_by_nobody_and_counts_changes(tmp_path):
    path = tmp_path / "runs.db"
    shutil.copy(OLD_STORE, path)
    store = RunStore(path)
    runs = store.runs()
    assert [r.id for r in runs] == [3, 2, 1]
    assert all((r.owner_id, r.owner_name, r.cancelled_by) == ("", "", "") for r in runs)
    assert [r.id for r in store.runs(owner="")] == [3, 2, 1] and store.runs(owner="someone") == []
    before = store.changes()
    new = store.create_run(TINY, owner_id="a" * 64, owner_name="Ana")
    assert store.changes() > before
    assert [r.id for r in RunStore(path).runs(owner="a" * 64)] == [new]  # and it opens again
    assert [row.run.id for row in store.class_overview()] == [new, 3, 2, 1]
    assert store.class_overview()[-1].epochs_done == 4


def test_runs_record_their_owner_and_runs_filters_by_owner(store):
    class Someone:  # anything with an id: the pages pass a Person
        id = "b" * 64

    ana = store.create_run(TINY, owner_id="a" * 64, owner_name="Ana")
    ben = store.create_run(TINY, owner_id="b" * 64, owner_name="Ana")  # the same name, another person
    nobody = store.create_run(TINY)
    assert (store.get(ana).owner_id, store.get(ana).owner_name) == ("a" * 64, "Ana")
    assert [r.id for r in store.runs(owner="a" * 64)] == [ana]
    assert [r.id for r in store.runs(owner=Someone())] == [ben]
    assert [r.id for r in store.runs(owner="")] == [nobody]
    store.finish(ana, "cancelled", "cancelled by the teacher before it started", cancelled_by="the teacher")
    assert store.get(ana).cancelled_by == "the teacher"


def test_changes_moves_on_with_every_write_and_stays_put_without_one(store):
    seen, epochs = [store.changes()], [store.changes(per_step=False)]
    run_id = store.create_run(TINY)
    per_step = {2, 3}  # the writes the epoch counter leaves alone
    for i, write in enumerate((
        lambda: None,  # (the create above)
        lambda: store.mark_running(run_id, "cpu"),
        lambda: store.record(run_id, StepReport(step=2, epoch=1, losses=[1.0, 0.9], lr=0.01, grad_norm=1.0)),
        lambda: store.record(run_id, ProbeReport(step=2, epoch=1, layers=[{"layer": 1}])),
        lambda: store.record(run_id, epoch_event(1)),
        lambda: store.save_hints(run_id, [{"id": "healthy", "title": "Healthy"}]),
        lambda: store.set_name(run_id, "renamed"),
        lambda: store.finish(run_id, "completed"),
        lambda: store.put_settings({"paused": True}),
        lambda: store.delete(store.create_run(TINY)),
    )):
        write()
        seen.append(store.changes())
        epochs.append(store.changes(per_step=False))
        assert (epochs[-1] == epochs[-2]) if i in per_step else (epochs[-1] > epochs[-2]), (i, epochs)
    assert all(b > a for a, b in zip(seen, seen[1:])), seen
    still = store.changes()
    store.get(run_id), store.runs(), store.history(run_id), store.steps(run_id), store.probes(run_id)
    store.overview([run_id]), store.class_overview(), store.settings(), store.version(run_id)
    store.touch_person("c" * 64, "Cleo")  # people are left out: their visits would move it all the time
    assert store.changes() == still == RunStore(store.path).changes()  # the same from another connection
    assert store.changes(per_step=False) == epochs[-1]


def test_touch_person_writes_rarely(store):
    store.touch_person("a" * 64, "Ana")
    [first] = store.people()
    store.touch_person("a" * 64, "Ana")
    assert store.people() == [first]  # seen again within a minute: nothing written
    store.touch_person("a" * 64, "Ana B.")
    [renamed] = store.people()
    assert renamed["name"] == "Ana B." and renamed["first_seen"] == first["first_seen"]
    store.touch_person("a" * 64, "Ana B.", every=0.0)
    assert store.people()[0]["last_seen"] >= renamed["last_seen"]


def test_the_class_overview_shows_every_running_and_recent_run_in_one_query(store):
    old_running = store.create_run(TINY, owner_id="a" * 64, owner_name="Ana")
    store.mark_running(old_running, "cpu")
    store.record(old_running, epoch_event(1, val_accuracy=0.3))
    store.record(old_running, epoch_event(2, val_accuracy=0.5))
    store.save_hints(old_running, [{"id": "underfitting", "title": "Underfitting"}])
    recent = [store.create_run(TINY, owner_id="b" * 64, owner_name="Ben") for _ in range(5)]
    store.finish(recent[0], "completed")
    statements: list[str] = []
    store._conn().raw.set_trace_callback(statements.append)
    try:
        rows = store.class_overview(limit=3)
    finally:
        store._conn().raw.set_trace_callback(None)
    assert len(statements) == 1
    assert [row.run.id for row in rows] == [recent[4], recent[3], recent[2], old_running]
    wall = rows[-1]
    assert (wall.owner_name, wall.status, wall.epochs_done, wall.diagnosis) == ("Ana", "running", 2, "Underfitting")
    assert wall.best_val_accuracy == pytest.approx(0.5)
    assert (rows[0].owner_name, rows[0].epochs_done, rows[0].best_val_accuracy, rows[0].diagnosis) == ("Ben", 0, None, "")
