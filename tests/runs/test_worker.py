"""The worker for real, with the real trainer on tiny configs: FIFO order under concurrent submits,
cancel (queued and running), crash isolation, user errors, queue positions, shutdown, a server
process killed in the middle of a run, and a class: fair turns, cancel rights and the time limit."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from core.config import RunConfig
from core.errors import ConfigError
from core.doctor.diagnose import HINT_IDS
from core.runs.store import RunStore
from core.training.loop import train
from core.runs.classroom import Classroom
from core.runs.people import NotAllowed, new_token
from core.runs.worker import Worker, slots_from_env

ROOT = Path(__file__).resolve().parents[2]

# digits (scikit-learn's 8x8 digits, offline): 1438 training images -> 6 steps per epoch at 256
TINY = RunConfig(dataset="digits", model="mlp", depth=1, width=16, epochs=2, batch_size=256)
TINY_STEPS_PER_EPOCH = 6
# long enough (tens of seconds) that it is always still running when a test cancels or kills it
LONG = TINY.replace(epochs=1000, batch_size=32)


class Gate:
    """A trainer that holds every run at its start until `open` is set (or the run is cancelled),
    then trains for real. Records the seeds of the configs it was called with, in call order."""

    def __init__(self):
        self.open = threading.Event()
        self.entered = threading.Event()
        self.calls: list[int] = []

    def __call__(self, config, device, cancel=None, **kwargs):
        self.calls.append(config.seed)
        self.entered.set()
        while not self.open.is_set() and not cancel.is_set():
            self.open.wait(0.005)
        return train(config, device, cancel=cancel, **kwargs)


def wait_until(predicate, worker: Worker, timeout: float = 30.0, what: str = "") -> None:
    """Poll `predicate` until it holds; fail if the worker goes idle first or the deadline passes."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if worker.wait_idle(timeout=0.01):
            assert predicate(), f"the worker went idle before {what}"
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"


def test_a_run_through_the_worker_fills_its_record_and_keeps_its_diagnosis(store, make_worker):
    worker = make_worker()
    run_id = worker.submit(TINY)
    assert worker.wait_idle(timeout=60)
    record = store.get(run_id)
    assert store.hints(run_id) == []  # two epochs: too early for the doctor to say anything
    longer = worker.submit(TINY.replace(epochs=8))
    assert worker.wait_idle(timeout=60)
    hints = store.hints(longer)
    assert hints and all(h["id"] in HINT_IDS and h["evidence"] for h in hints)
    assert record.status == "completed" and record.device == "cpu"
    assert record.message == "completed 2 epochs"
    assert record.steps_per_epoch == TINY_STEPS_PER_EPOCH and record.train_images == 1438
    assert record.test_loss is None and record.images_per_second > 0 and record.best_epoch in (1, 2)


def test_twenty_runs_from_ten_threads_run_in_order_and_one_cancel_hits_only_its_run(store, make_worker):
    gate = Gate()
    worker = make_worker(trainer=gate)
    barrier = threading.Barrier(10)
    submitted: dict[int, int] = {}  # seed -> run id
    per_thread: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def client(i: int):
        try:
            barrier.wait(timeout=30)
            ids = []
            for j in range(2):
                seed = 100 + 2 * i + j
                ids.append(worker.submit(TINY.replace(seed=seed), name=f"client {i} run {j}", session=f"s{i}"))
                submitted[seed] = ids[-1]
            per_thread[i] = ids
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and not any(t.is_alive() for t in threads)
    ids = sorted(submitted.values())
    assert len(ids) == 20 and len(set(ids)) == 20
    assert all(a < b for a, b in per_thread.values())  # one thread's runs are queued in its order

    # the first run is held at the gate; the other 19 wait in id order
    assert gate.entered.wait(timeout=30)
    assert worker.running() == [ids[0]]
    assert worker.queued() == ids[1:]
    assert all(store.get(i).status == "queued" for i in ids[1:])
    victim = ids[10]
    assert worker.position(victim) == 10
    assert worker.cancel(victim) is True
    assert store.get(victim).status == "cancelled"  # at once, not when its turn comes
    assert worker.position(victim) is None
    assert worker.position(ids[11]) == 10
    assert worker.cancel(victim) is False  # twice: nothing left to cancel

    gate.open.set()
    assert worker.wait_idle(timeout=30)
    assert not worker.busy()

    records = {r.id: r for r in store.runs()}
    assert sorted(records) == ids
    assert {i: r.status for i, r in records.items()} == {i: "cancelled" if i == victim else "completed" for i in ids}
    completed = [i for i in ids if i != victim]
    # FIFO: the trainer saw the runs in id order, and their start times follow the ids
    seed_of = {run_id: seed for seed, run_id in submitted.items()}
    assert [submitted[seed] for seed in gate.calls] == completed
    assert sorted(completed, key=lambda i: records[i].started_at) == completed
    for run_id in completed:
        record = records[run_id]
        assert record.config == TINY.replace(seed=seed_of[run_id])
        assert record.finished_at >= record.started_at
        history = store.history(run_id)
        assert [row["epoch"] for row in history] == [1, 2]
        assert all(row["loss"] is not None and row["val_accuracy"] is not None for row in history)
        assert record.steps_per_epoch == TINY_STEPS_PER_EPOCH
        assert [s["step"] for s in store.steps(run_id)] == list(range(1, 2 * TINY_STEPS_PER_EPOCH + 1))
    cancelled = records[victim]
    assert cancelled.started_at is None and cancelled.message == "cancelled before it started"
    assert store.history(victim) == [] and store.steps(victim) == []
    for i, thread_ids in per_thread.items():
        assert sorted(r.id for r in store.runs(session=f"s{i}")) == thread_ids


def test_cancel_a_running_run_and_the_next_one_still_runs(store, make_worker):
    worker = make_worker(report_every=5)
    long_id = worker.submit(LONG, name="long")
    next_id = worker.submit(TINY, name="next")
    wait_until(lambda: store.steps(long_id), worker, what="the long run to report its first steps")
    assert worker.position(long_id) == 0 and worker.position(next_id) == 1
    assert store.get(long_id).status == "running"

    assert worker.cancel(long_id) is True
    assert worker.wait_idle(timeout=30)
    record = store.get(long_id)
    assert record.status == "cancelled"
    assert record.message.startswith("cancelled during epoch") or record.message.startswith("cancelled after epoch")
    assert len(store.history(long_id)) < LONG.epochs
    assert store.steps(long_id)  # what it logged is kept
    assert worker.cancel(long_id) is False

    after = store.get(next_id)
    assert after.status == "completed" and len(store.history(next_id)) == 2
    assert after.started_at >= record.finished_at


def test_a_crashing_trainer_fails_its_run_and_the_worker_goes_on(store, make_worker, caplog):
    def flaky(config, device, **kwargs):
        if config.seed == 13:
            raise RuntimeError("boom")
        return train(config, device, **kwargs)

    worker = make_worker(trainer=flaky)
    with caplog.at_level(logging.ERROR, logger="tunelab.worker"):
        bad = worker.submit(TINY.replace(seed=13))
        good = worker.submit(TINY.replace(seed=14))
        assert worker.wait_idle(timeout=30)

    failed = store.get(bad)
    assert failed.status == "failed" and "boom" in failed.error
    assert failed.error == "RuntimeError: boom"
    assert failed.message == "the run stopped with an error" and failed.finished_at is not None
    assert store.get(good).status == "completed" and len(store.history(good)) == 2
    # the traceback is logged, naming the run
    assert any(f"run {bad} failed" in r.getMessage() and "boom" in r.getMessage() for r in caplog.records)

    # the worker thread survived: a third run completes as well
    third = worker.submit(TINY.replace(seed=13, epochs=1))
    assert worker.wait_idle(timeout=30)
    assert store.get(third).status == "failed"
    fourth = worker.submit(TINY.replace(seed=15, epochs=1))
    assert worker.wait_idle(timeout=30)
    assert store.get(fourth).status == "completed" and len(store.history(fourth)) == 1


def test_a_user_error_from_the_trainer_fails_the_run_with_its_message(store, make_worker, caplog):
    def picky(config, device, **kwargs):
        if config.seed == 1:
            raise ConfigError("lr", "is too big for this model (got 5)")
        return train(config, device, **kwargs)

    worker = make_worker(trainer=picky)
    with caplog.at_level(logging.ERROR, logger="tunelab.worker"):
        bad = worker.submit(TINY.replace(seed=1))
        good = worker.submit(TINY.replace(seed=2))
        assert worker.wait_idle(timeout=30)
    record = store.get(bad)
    assert record.status == "failed"
    assert record.error == "lr: is too big for this model (got 5)"  # the message alone, no type name
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # a user error is no crash
    assert store.get(good).status == "completed"


def test_a_missing_dataset_fails_the_run_with_the_real_message(store, make_worker, tunelab_home):
    worker = make_worker()
    missing = worker.submit(TINY.replace(dataset="mnist"))  # not on disk, and TUNELAB_OFFLINE is set
    good = worker.submit(TINY)
    assert worker.wait_idle(timeout=30)
    record = store.get(missing)
    assert record.status == "failed"
    assert record.error.startswith("dataset mnist: not available offline")
    assert str(tunelab_home / "data") in record.error
    assert store.history(missing) == []
    assert store.get(good).status == "completed"


def test_position_counts_the_running_run_and_the_queue(store, make_worker):
    gate = Gate()
    worker = make_worker(trainer=gate)
    a, b, c, d = (worker.submit(TINY.replace(seed=s)) for s in range(4))
    assert gate.entered.wait(timeout=30)
    assert [worker.position(i) for i in (a, b, c, d)] == [0, 1, 2, 3]
    assert worker.position(10_000) is None
    assert worker.running() == [a] and worker.queued() == [b, c, d] and worker.busy()

    assert worker.cancel(c)
    assert [worker.position(i) for i in (a, b, c, d)] == [0, 1, None, 2]

    gate.open.set()
    assert worker.wait_idle(timeout=30)
    assert [worker.position(i) for i in (a, b, c, d)] == [None] * 4
    assert worker.running() == [] and worker.queued() == [] and not worker.busy()
    assert [store.get(i).status for i in (a, b, c, d)] == ["completed", "completed", "cancelled", "completed"]


def test_shutdown_cancels_what_waits_and_what_runs_and_refuses_new_runs(store, make_worker):
    gate = Gate()
    worker = make_worker(trainer=gate)
    running = worker.submit(TINY.replace(seed=1))
    waiting = [worker.submit(TINY.replace(seed=s)) for s in (2, 3)]
    assert gate.entered.wait(timeout=30)

    worker.shutdown(timeout=30)
    assert not any(t.is_alive() for t in worker._threads)
    for run_id in waiting:
        record = store.get(run_id)
        assert record.status == "cancelled" and record.started_at is None
        assert record.message == "the server shut down before it started"
    record = store.get(running)
    assert record.status == "cancelled" and record.message.startswith("cancelled")
    assert gate.calls == [1]  # the waiting runs never reached the trainer
    assert worker.queued() == [] and worker.running() == [] and worker.wait_idle(timeout=5)

    with pytest.raises(RuntimeError, match="shut down"):
        worker.submit(TINY)
    assert len(store.runs()) == 3  # the refused run was not stored
    worker.shutdown(timeout=5)  # a second shutdown is harmless


def test_a_server_stopping_interrupts_what_runs_and_waits_keeping_every_epoch(store, make_worker):
    """SIGTERM or Ctrl+C: the worker's exit hook stops the run between steps and records it
    `interrupted` (not cancelled: nobody cancelled it), with every epoch it logged; a waiting run is
    interrupted too, as a restart would leave it."""
    worker = make_worker(report_every=5)
    running = worker.submit(LONG)
    waiting = worker.submit(TINY)
    wait_until(lambda: len(store.history(running)) >= 2, worker, what="two epochs")
    worker.stop_at_exit()
    worker._at_exit()  # what atexit calls when Streamlit's server has stopped
    assert not any(t.is_alive() for t in worker._threads)
    record = store.get(running)
    assert record.status == "interrupted" and record.message.startswith("the server stopped "), record.message
    assert record.cancelled_by == ""
    epochs = store.history(running)
    assert len(epochs) >= 2 and [row["epoch"] for row in epochs] == list(range(1, len(epochs) + 1))
    assert store.get(waiting).status == "interrupted" and "queued" in store.get(waiting).message


KILLED_SERVER = textwrap.dedent(
    """
    import time
    import torch
    torch.set_num_threads(1)
    from core.config import RunConfig
    from core.runs.store import RunStore
    from core.runs.worker import Worker

    worker = Worker(RunStore(), device="cpu", report_every=5)
    worker.submit(RunConfig(dataset="digits", model="mlp", depth=1, width=16, epochs=1000, batch_size=32))
    time.sleep(300)  # a server that is still busy when it is killed
    """
)


def test_a_killed_server_leaves_an_interrupted_run_with_its_epochs(tunelab_home, make_worker):
    env = {**os.environ, "TUNELAB_HOME": str(tunelab_home), "TUNELAB_OFFLINE": "1", "PYTHONPATH": str(ROOT),
           "OMP_NUM_THREADS": "1"}
    env.pop("TUNELAB_DB", None)
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SERVER], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        observer = None
        while True:
            try:
                proc.wait(timeout=0.05)  # the pause between polls; it must not exit by itself
            except subprocess.TimeoutExpired:
                pass
            else:
                pytest.fail(f"the server exited by itself ({proc.returncode}): {proc.stderr.read().decode()}")
            if observer is None and (tunelab_home / "runs.db").exists():
                observer = RunStore(tunelab_home / "runs.db")
            runs = observer.runs() if observer else []
            if runs and len(observer.history(runs[0].id)) >= 2:
                break
            assert time.monotonic() < deadline, "the server did not store 2 epochs in time"

        # freeze it, read what it committed, then kill it: nothing it had not committed may appear
        os.kill(proc.pid, signal.SIGSTOP)
        os.waitpid(proc.pid, os.WUNTRACED)  # returns once it is stopped
        [run] = observer.runs()
        assert run.status == "running" and run.owner_pid == proc.pid
        history_before = observer.history(run.id)
        steps_before = observer.steps(run.id)
        assert len(history_before) >= 2 and steps_before
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proc.stderr.close()

    restarted = RunStore(tunelab_home / "runs.db")
    worker = make_worker(restarted)
    assert worker.interrupted == [run.id]
    record = restarted.get(run.id)
    assert record.status == "interrupted" and record.finished_at is not None
    assert record.message == "the server stopped while this run was running"
    assert restarted.history(run.id) == history_before
    assert restarted.steps(run.id) == steps_before
    assert record.config == LONG

    fresh = worker.submit(TINY)
    assert worker.wait_idle(timeout=30)
    assert restarted.get(fresh).status == "completed" and len(restarted.history(fresh)) == 2
    assert restarted.get(run.id).status == "interrupted"  # left as it was
    # another restart finds nothing more to mark
    assert make_worker(RunStore(tunelab_home / "runs.db")).interrupted == []


# ---- several runs at once (TUNELAB_SLOTS) ---------------------------------------------------------
def test_two_slots_train_two_runs_at_once_while_the_third_waits_its_turn(store, make_worker):
    gate = Gate()
    worker = make_worker(trainer=gate, slots=2)
    first, second, third = (worker.submit(TINY.replace(seed=seed)) for seed in (1, 2, 3))
    wait_until(lambda: len(gate.calls) == 2, worker, what="two runs at the gate")
    assert worker.running() == [first, second] and sorted(gate.calls) == [1, 2]
    assert worker.position(third) == 1 and store.get(third).status == "queued"
    assert worker.cancel(first)  # a running one: only it stops
    wait_until(lambda: len(gate.calls) == 3, worker, what="the third run")  # the freed slot takes the next
    assert worker.running() == [second, third]
    gate.open.set()
    assert worker.wait_idle(timeout=60)
    assert [store.get(i).status for i in (first, second, third)] == ["cancelled", "completed", "completed"]
    assert all(len(store.history(i)) == TINY.epochs for i in (second, third))


def test_slots_come_from_tunelab_slots_and_a_bad_value_names_it():
    assert slots_from_env({}) == 1
    assert slots_from_env({"TUNELAB_SLOTS": " 3 "}) == 3
    for bad in ("0", "9", "two", "-1", "1.5"):
        with pytest.raises(ConfigError, match=r"TUNELAB_SLOTS: must be a whole number from 1 to 8"):
            slots_from_env({"TUNELAB_SLOTS": bad})
    with pytest.raises(ConfigError, match="slots"):
        Worker(None, slots=0)  # refused before it touches a store or starts a thread


def test_make_run_refuses_a_bad_tunelab_slots_with_one_line_and_exit_2():
    done = subprocess.run([sys.executable, "-m", "core.serve", "--server.port", "1"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "TUNELAB_SLOTS": "lots"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["error: TUNELAB_SLOTS: must be a whole number from 1 to 8 (got 'lots')"]


# ---- a class on the real trainer --------------------------------------------------------------------
def test_a_class_takes_fair_turns_and_a_real_run_over_the_time_limit_is_stopped(store, make_worker):
    classroom = Classroom(store, class_key="class-key")
    teacher = classroom.identify(new_token(), "T", key="class-key")
    ana, ben = (classroom.identify(new_token(), name) for name in ("Ana", "Ben"))
    gate = Gate()
    worker = make_worker(trainer=gate, classroom=classroom, report_every=5)
    long_id = worker.submit(LONG, name="long", by=ana)
    assert gate.entered.wait(timeout=30)
    anas = worker.submit(TINY.replace(seed=1), by=ana)
    bens = [worker.submit(TINY.replace(seed=s), by=ben) for s in (2, 3)]
    assert worker.queued() == [bens[0], anas, bens[1]]  # Ben was never served: he goes first
    assert [worker.position(i) for i in (long_id, bens[0], anas, bens[1])] == [0, 1, 2, 3]
    with pytest.raises(NotAllowed, match=r"only the run's owner \(Ana\) or the teacher can cancel"):
        worker.cancel(long_id, by=ben)

    gate.open.set()
    wait_until(lambda: store.steps(long_id), worker, what="the long run to report its first steps")
    classroom.set_time_limit(teacher, 1.0)
    assert worker.wait_idle(timeout=60)
    record = store.get(long_id)
    assert record.status == "cancelled" and record.message == "stopped: over the class's time limit of 1 s"
    assert record.cancelled_by == "the class's time limit" and store.steps(long_id)
    assert [r.status for r in map(store.get, (bens[0], anas, bens[1]))] == ["completed"] * 3
    assert gate.calls == [LONG.seed, 2, 1, 3]
