"""The classroom on the worker: fair turns for thirty people (one slot and two), fair-share positions,
the per-person waiting cap (a sweep counting once), the time budget (a fake calibration), the
wall-clock time limit, pause and resume, who may cancel and delete, single-user mode, and the
settings and challenge kept in the store across a restart."""
from __future__ import annotations

import csv
import io
import random
import sqlite3
import threading
import time

import pytest

from core.config import RunConfig
from core.errors import ConfigError, UserError
from core.runs.budget import OverBudget, StepTimer, cost_key, format_seconds
from core.runs.classroom import DEFAULT_WAITING_CAP, Classroom
from core.runs.people import NotAllowed, Person, new_token
from core.runs.store import ActiveRuns, RunStore
from core.runs.sweeps import queue_sweep, repeat_with_seeds, sweep_configs
from core.runs.worker import TIME_LIMIT_BY, QueueFull, StillRunning, Worker
from core.training.events import EpochEnd, RunResult

KEY = "blue-heron-42"
TINY = RunConfig(dataset="digits", model="mlp", depth=1, width=16, epochs=2, batch_size=256)


class Recorder:
    """A trainer stub: records the seed of every config it starts, in start order, and returns at once
    (or, with hold, when the test releases one run or the run is cancelled)."""

    def __init__(self, hold: bool = False):
        self.hold = hold
        self.calls: list[int] = []
        self.release = threading.Semaphore(0)
        self._cond = threading.Condition()

    def __call__(self, config, device, cancel=None, emit=None, **kwargs) -> RunResult:
        with self._cond:
            self.calls.append(config.seed)
            self._cond.notify_all()
        if self.hold:
            while not self.release.acquire(timeout=0.01):
                if cancel.is_set():
                    return RunResult("cancelled", str(device), message="cancelled during epoch 1")
        return RunResult("completed", str(device), message="completed 0 epochs")

    def wait_calls(self, n: int, timeout: float = 30.0) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.calls) >= n, timeout), f"{len(self.calls)} of {n} started"


def until_cancelled(config, device, cancel=None, emit=None, **kwargs) -> RunResult:
    """A trainer stub that trains for ever: it logs an epoch, then waits for its cancel token."""
    emit(EpochEnd(1, 2.0, 0.1, 2.1, 0.1, 0.01, 0.1, 100.0))
    cancel.wait()
    return RunResult("cancelled", str(device), message="cancelled during epoch 2")


class FakeTimer(StepTimer):
    """A calibration with set seconds per step (per model), counting what it measured."""

    def __init__(self, per_step: dict[str, float]):
        super().__init__("cpu")
        self.per_step = per_step
        self.measured: list[tuple] = []

    def measure(self, config: RunConfig) -> float:
        self.measured.append(cost_key(config))
        return self.per_step[config.model]


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs.db")


@pytest.fixture
def classroom(store) -> Classroom:
    return Classroom(store, class_key=KEY)


@pytest.fixture
def teacher(classroom) -> Person:
    return classroom.identify(new_token(), "Ms T", key=KEY)


@pytest.fixture
def worker_defaults(classroom) -> dict:
    return {"make_probe": None, "classroom": classroom}


def wait_for(predicate, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        event.wait(0.005)


# ---- fair turns ------------------------------------------------------------------------------------
def submit_thirty_times_three(worker: Worker, classroom: Classroom) -> tuple[list[int], dict[int, int]]:
    """30 students x 3 runs, submitted in a shuffled order (each person's own runs in their order).
    Returns the run ids in the order fair turns start them, and each run's round (1, 2 or 3)."""
    students = [classroom.identify(new_token(), f"student {i}") for i in range(30)]
    order = [s for s in students for _ in range(3)]
    random.Random(7).shuffle(order)
    rounds: dict[int, int] = {}
    runs_of: dict[str, list[int]] = {s.id: [] for s in students}
    first_seen: list[str] = []
    for n, student in enumerate(order):
        run_id = worker.submit(TINY.replace(seed=n), name=f"{student.name} #{len(runs_of[student.id]) + 1}",
                               by=student)
        runs_of[student.id].append(run_id)
        rounds[run_id] = len(runs_of[student.id])
        if student.id not in first_seen:
            first_seen.append(student.id)
    expected = [runs_of[owner][r] for r in range(3) for owner in first_seen]
    return expected, rounds


@pytest.mark.parametrize("slots", [1, 2])
def test_thirty_people_take_turns_every_first_run_before_any_second(store, classroom, teacher, make_worker, slots):
    recorder = Recorder(hold=slots > 1)
    classroom.set_waiting_cap(teacher, 3)
    classroom.pause(teacher)  # everything queues first, so the order is the queue's alone
    worker = make_worker(trainer=recorder, slots=slots)
    expected, rounds = submit_thirty_times_three(worker, classroom)
    seed_of = {r.id: r.config.seed for r in store.runs()}

    # the fair-share positions: how many runs start before each, plus one
    assert worker.queued() == expected
    assert [worker.position(run_id) for run_id in expected] == list(range(1, 91))
    assert [rounds[i] for i in expected] == [1] * 30 + [2] * 30 + [3] * 30

    classroom.resume(teacher)
    if slots == 1:
        assert worker.wait_idle(timeout=60)
    else:  # let one run finish at a time, so each start is the one freed slot's pick
        recorder.wait_calls(2)
        for n in range(3, 91):
            recorder.release.release()
            recorder.wait_calls(n)
        for _ in range(2):
            recorder.release.release()
        assert worker.wait_idle(timeout=60)
    started = [next(i for i, s in seed_of.items() if s == seed) for seed in recorder.calls]
    assert sorted(started) == sorted(expected)
    assert [rounds[i] for i in started] == [1] * 30 + [2] * 30 + [3] * 30  # every first before any second...
    if slots == 1:
        assert started == expected
    else:  # (the first two start together, in either order)
        assert set(started[:2]) == set(expected[:2]) and started[2:] == expected[2:]
    assert all(store.get(i).status == "completed" for i in expected)


def test_a_late_comer_goes_next_and_positions_follow_the_turns(store, classroom, teacher, make_worker):
    recorder = Recorder(hold=True)
    classroom.set_waiting_cap(teacher, 10)
    worker = make_worker(trainer=recorder)
    ana, ben = (classroom.identify(new_token(), name) for name in ("Ana", "Ben"))
    anas = [worker.submit(TINY.replace(seed=i), by=ana) for i in range(5)]
    recorder.wait_calls(1)  # Ana's first trains; four wait
    assert [worker.position(i) for i in anas] == [0, 1, 2, 3, 4]
    late = worker.submit(TINY.replace(seed=99), by=ben)
    assert worker.position(late) == 1  # served never: before Ana's next
    assert [worker.position(i) for i in anas[1:]] == [2, 3, 4, 5]
    assert worker.cancel(anas[1], by=ana)
    assert [worker.position(i) for i in anas[2:]] == [2, 3, 4]
    for n in range(2, 6):
        recorder.release.release()
        recorder.wait_calls(n)
    recorder.release.release()
    assert worker.wait_idle(timeout=30)
    assert recorder.calls == [0, 99, 2, 3, 4]


# ---- the waiting cap ----------------------------------------------------------------------------------
def test_each_person_may_have_two_requests_waiting_and_a_sweep_counts_once(store, classroom, teacher, make_worker):
    classroom.pause(teacher)
    worker = make_worker(trainer=Recorder())
    ana, ben = (classroom.identify(new_token(), name) for name in ("Ana", "Ben"))
    assert classroom.settings().cap(in_class=True) == DEFAULT_WAITING_CAP == 2
    sweep = queue_sweep(worker, sweep_configs(TINY, "lr", "0.001,0.01,0.1"), by=ana)
    assert len(sweep.runs) == 3  # three runs, one request
    single = worker.submit(TINY, by=ana)
    with pytest.raises(QueueFull) as refused:
        worker.submit(TINY, by=ana)
    assert str(refused.value) == ("you have 2 runs waiting (a sweep or a seed group counts as one), the class "
                                  "allows 2; wait for one to start or cancel one")
    with pytest.raises(QueueFull):  # a sweep is refused whole: none of its runs is stored
        queue_sweep(worker, sweep_configs(TINY, "lr", "0.2,0.3"), by=ana)
    assert len(store.runs()) == 4
    assert [worker.submit(TINY, by=ben) for _ in range(2)]  # the cap is per person
    with pytest.raises(QueueFull, match="^you have 2 runs waiting, the class allows 2; wait for one"):
        worker.submit(TINY, by=ben)
    worker.submit(TINY, by=teacher)  # the teacher has no cap
    worker.submit(TINY, by=teacher)
    worker.submit(TINY, by=teacher)

    worker.cancel(single, by=ana)  # one request free again
    worker.submit(TINY, by=ana)
    classroom.set_waiting_cap(teacher, 3)
    worker.submit(TINY, by=ana)
    with pytest.raises(QueueFull, match="you have 3 runs waiting .*the class allows 3"):
        worker.submit(TINY, by=ana)
    with pytest.raises(NotAllowed, match="only the teacher can change how many runs"):
        classroom.set_waiting_cap(ana, 50)
    with pytest.raises(ConfigError, match="waiting_cap"):
        classroom.set_waiting_cap(teacher, -1)

    classroom.resume(teacher)
    assert worker.wait_idle(timeout=60)
    assert worker.submit(TINY, by=ana)  # nothing waits any more


def test_a_seed_group_is_one_request(store, classroom, teacher, make_worker):
    worker = make_worker(trainer=Recorder())
    ana = classroom.identify(new_token(), "Ana")
    first = worker.submit(TINY, by=ana)
    assert worker.wait_idle(timeout=30)
    classroom.pause(teacher)
    worker.submit(TINY.replace(seed=50), by=ana)
    ids = repeat_with_seeds(store, worker, store.get(first), 5, by=ana)  # four more runs: one request
    assert len(ids) == 5 and [r.owner_name for r in store.group(store.get(first).group_id)] == ["Ana"] * 5
    with pytest.raises(QueueFull):
        worker.submit(TINY, by=ana)


def test_single_user_mode_has_no_cap(store, make_worker):
    worker = make_worker(classroom=Classroom(store), trainer=Recorder(hold=True))
    me = Person("a" * 64, "me")
    ids = [worker.submit(TINY.replace(seed=i), by=me) for i in range(6)] + [worker.submit(TINY) for _ in range(3)]
    assert len(ids) == 9 and len(worker.queued()) >= 8
    worker.shutdown()


# ---- the time budget ----------------------------------------------------------------------------------
def test_a_run_over_the_budget_is_refused_naming_the_limit_and_what_fits(store, classroom, teacher, make_worker):
    timer = FakeTimer({"vgg_bn": 2.0, "simple_cnn": 0.2, "mlp": 0.001})
    classroom.set_waiting_cap(teacher, 0)  # (no cap: this test is about the budget)
    worker = make_worker(trainer=Recorder(), timer=timer)
    ana = classroom.identify(new_token(), "Ana")
    big = RunConfig(dataset="digits", model="vgg_bn", epochs=10, batch_size=64)
    # digits: 1438 training images -> 23 steps of 64 per epoch; 2 s a step -> 46 s an epoch
    assert worker.estimate(big).seconds == pytest.approx(460.0)
    worker.submit(big, by=ana)  # no budget set: no limit
    classroom.set_budget(teacher, 120)
    with pytest.raises(OverBudget) as refused:
        worker.submit(big, by=ana)
    assert str(refused.value) == ("estimated 7 min 40 s, the class allows 2 min per run: at most 2 epochs of this "
                                  "model would fit")
    assert isinstance(refused.value, UserError)
    small = worker.submit(big.replace(epochs=2), by=ana)  # 92 s: fits
    fast = worker.submit(big.replace(model="simple_cnn"), by=ana)  # 46 s
    with pytest.raises(OverBudget, match="^epochs=10: estimated 7 min 40 s"):  # a sweep names its run...
        queue_sweep(worker, sweep_configs(big, "epochs", "1,10"), by=ana)
    assert len(store.runs()) == 3  # ...and is refused whole
    classroom.set_budget(teacher, 30)
    with pytest.raises(OverBudget, match=r"not even one epoch of this model fits \(one takes about 46 s\)"):
        worker.submit(big.replace(epochs=1), by=ana)
    worker.submit(big, by=teacher)  # the teacher's own runs have no budget
    assert worker.wait_idle(timeout=60)
    assert len(store.runs()) == 4 and {store.get(small).status, store.get(fast).status} == {"completed"}
    # calibrated once per model, data set and batch size, whatever the epochs
    assert sorted(timer.measured) == sorted({cost_key(big), cost_key(big.replace(model="simple_cnn"))})
    classroom.set_budget(teacher, None)
    worker.submit(big, by=ana)
    with pytest.raises(NotAllowed, match="only the teacher can change the time budget"):
        classroom.set_budget(ana, 1e9)
    with pytest.raises(ConfigError, match="budget_seconds"):
        classroom.set_budget(teacher, 0)


def test_a_run_that_cannot_be_estimated_is_not_refused(store, classroom, teacher, make_worker):
    worker = make_worker(trainer=Recorder())
    classroom.set_budget(teacher, 1)
    ana = classroom.identify(new_token(), "Ana")
    missing = worker.submit(TINY.replace(dataset="mnist"), by=ana)  # not here offline: the run says so
    assert worker.wait_idle(timeout=30) and store.get(missing).status == "completed"  # (the stub needs no data)


def test_the_real_calibration_times_the_model_here_and_caches_it():
    timer = StepTimer("cpu")
    mlp = timer.estimate(TINY)
    assert 0 < mlp.seconds_per_step < 1 and mlp.steps_per_epoch == 6 and mlp.epochs == 2
    assert timer.seconds_per_step(TINY.replace(epochs=50, lr=0.5)) == mlp.seconds_per_step  # cached
    cnn = timer.estimate(TINY.replace(model="simple_cnn"))
    assert cnn.seconds_per_step > mlp.seconds_per_step  # a conv net costs more than a 16-unit MLP


def test_durations_read_as_people_say_them():
    assert [format_seconds(s) for s in (0.3, 45, 120, 460, 3600, 3900, 59.6)] == [
        "0.3 s", "45 s", "2 min", "7 min 40 s", "1 h", "1 h 5 min", "1 min"]


# ---- the wall-clock time limit ------------------------------------------------------------------------
def test_a_run_over_the_time_limit_is_stopped_and_says_so(store, classroom, teacher, make_worker):
    worker = make_worker(trainer=until_cancelled)
    ana = classroom.identify(new_token(), "Ana")
    classroom.set_time_limit(teacher, 0.2)
    run_id = worker.submit(TINY, by=ana)
    assert worker.wait_idle(timeout=30)
    record = store.get(run_id)
    assert record.status == "cancelled" and record.cancelled_by == TIME_LIMIT_BY
    assert record.message == "stopped: over the class's time limit of 0.2 s"
    assert record.finished_at - record.started_at > 0.1
    assert len(store.history(run_id)) == 1  # what it logged is kept


def test_a_lower_time_limit_applies_at_once_to_a_run_already_training(store, classroom, teacher, make_worker):
    worker = make_worker(trainer=until_cancelled)
    ana = classroom.identify(new_token(), "Ana")
    run_id = worker.submit(TINY, by=ana)
    wait_for(lambda: store.history(run_id), what="the run to log its epoch")
    assert worker.running() == [run_id]
    classroom.set_time_limit(teacher, 120)
    classroom.set_time_limit(teacher, 0.1)
    assert worker.wait_idle(timeout=30)
    assert store.get(run_id).message == "stopped: over the class's time limit of 0.1 s"


def test_the_teachers_runs_have_no_time_limit(store, classroom, teacher, make_worker):
    def waits(config, device, cancel=None, **kwargs) -> RunResult:
        stopped = cancel.wait(1.0)  # five times the limit
        return RunResult("cancelled" if stopped else "completed", str(device), message="done")

    worker = make_worker(trainer=waits)
    classroom.set_time_limit(teacher, 0.2)
    run_id = worker.submit(TINY, by=teacher)
    assert worker.wait_idle(timeout=30)
    assert store.get(run_id).status == "completed"


# ---- pause and resume ---------------------------------------------------------------------------------
def test_while_paused_nothing_new_starts_and_the_running_run_finishes(store, classroom, teacher, make_worker):
    recorder = Recorder(hold=True)
    worker = make_worker(trainer=recorder)
    ana = classroom.identify(new_token(), "Ana")
    first = worker.submit(TINY.replace(seed=1), by=ana)
    recorder.wait_calls(1)
    with pytest.raises(NotAllowed, match="only the teacher can pause the queue"):
        classroom.pause(ana)
    classroom.pause(teacher)
    second = worker.submit(TINY.replace(seed=2), by=ana)  # still queues
    recorder.release.release()
    assert not worker.wait_idle(timeout=0.5)  # the second waits while paused
    assert store.get(first).status == "completed" and store.get(second).status == "queued"
    assert recorder.calls == [1] and worker.position(second) == 1 and worker.paused()
    classroom.resume(teacher)
    recorder.wait_calls(2)
    recorder.release.release()
    assert worker.wait_idle(timeout=30) and store.get(second).status == "completed"


# ---- who may cancel and delete ------------------------------------------------------------------------
def test_a_student_cannot_cancel_or_delete_anothers_run_and_the_teacher_can(store, classroom, teacher, make_worker):
    worker = make_worker(trainer=until_cancelled)
    ana, ben = (classroom.identify(new_token(), name) for name in ("Ana", "Ben"))
    running = worker.submit(TINY, name="ana's", by=ana)
    waiting = worker.submit(TINY, by=ana)
    # (a slot takes the run, then its lifecycle marks it running in the store: wait for both)
    wait_for(lambda: worker.running() == [running] and store.get(running).status == "running",
             what="Ana's run to start")

    for action in (worker.cancel, worker.delete):
        for run_id in (running, waiting):
            with pytest.raises(NotAllowed) as refused:
                action(run_id, by=ben)
            verb = "cancel" if action == worker.cancel else "delete"
            assert str(refused.value) == f"only the run's owner (Ana) or the teacher can {verb} run #{run_id}"
        with pytest.raises(NotAllowed):
            action(running)  # in a class, nobody (no person) may either
    assert worker.running() == [running] and store.get(running).status == "running"  # it keeps running
    assert worker.position(waiting) == 1
    with pytest.raises(StillRunning, match=f"run #{running} is still training: cancel it first"):
        worker.delete(running, by=teacher)

    classroom.pause(teacher)  # (so the waiting run stays waiting when the slot frees)
    assert worker.cancel(running, by=teacher)
    wait_for(lambda: store.get(running).finished, what="the cancel")
    record = store.get(running)
    assert record.status == "cancelled" and record.cancelled_by == "the teacher"
    assert record.message == "cancelled by the teacher during epoch 2"
    assert worker.cancel(waiting, by=ana)
    record = store.get(waiting)
    assert record.message == "cancelled by Ana before it started" and record.cancelled_by == "Ana"

    assert worker.delete(waiting, by=ana) and store.get(waiting) is None
    with pytest.raises(NotAllowed, match="can delete"):
        worker.delete(running, by=ben)
    assert worker.delete(running, by=teacher) and store.get(running) is None
    assert worker.delete(running, by=teacher) is False  # gone already
    assert worker.cancel(12345, by=ben) is False


def test_an_owner_cancels_their_own_running_run(store, classroom, make_worker):
    worker = make_worker(trainer=until_cancelled)
    ana = classroom.identify(new_token(), "Ana")
    run_id = worker.submit(TINY, by=ana)
    wait_for(lambda: worker.running() == [run_id], what="the run to start")
    assert worker.cancel(run_id, by=ana)
    assert worker.wait_idle(timeout=30)
    assert store.get(run_id).message == "cancelled by Ana during epoch 2"


def test_a_waiting_run_deleted_leaves_the_queue(store, classroom, teacher, make_worker):
    classroom.pause(teacher)
    worker = make_worker(trainer=Recorder())
    ana = classroom.identify(new_token(), "Ana")
    first, second = (worker.submit(TINY, by=ana) for _ in range(2))
    assert worker.delete(first, by=ana)
    assert worker.queued() == [second] and worker.position(second) == 1 and store.get(first) is None


def test_single_user_mode_lets_anyone_cancel_and_delete(store, make_worker):
    worker = make_worker(classroom=Classroom(store), trainer=until_cancelled)
    ana, ben = Person("a" * 64, "Ana"), Person("b" * 64, "Ben")
    running = worker.submit(TINY, by=ana)
    waiting = worker.submit(TINY, by=ana)
    wait_for(lambda: worker.running() == [running], what="the run to start")
    assert worker.cancel(waiting, by=ben)
    assert store.get(waiting).message == "cancelled by Ben before it started"
    assert worker.cancel(running)  # no person at all: as before classes
    assert worker.wait_idle(timeout=30)
    record = store.get(running)
    assert record.message == "cancelled during epoch 2" and record.cancelled_by == ""
    assert worker.delete(running, by=ben) and worker.delete(waiting)
    assert store.runs() == []


# ---- settings, challenge and reset in the store -------------------------------------------------------
def finished_run(store: RunStore, owner: Person, val_accuracies: list[float], seconds: float,
                 config: RunConfig = TINY, status: str = "completed") -> int:
    run_id = store.create_run(config, owner_id=owner.id, owner_name=owner.name)
    store.mark_running(run_id, "cpu")
    for epoch, acc in enumerate(val_accuracies, 1):
        store.record(run_id, EpochEnd(epoch, 1.0, acc, 1.0, acc, 0.01, 1.0, 100.0))
    store.finish(run_id, status, "done")
    with sqlite3.connect(store.path) as conn:
        conn.execute("UPDATE runs SET started_at=100.0, finished_at=? WHERE id=?", (100.0 + seconds, run_id))
    return run_id


def test_settings_and_the_challenge_survive_reopening_the_store(store, classroom, teacher):
    classroom.set_waiting_cap(teacher, 4)
    classroom.set_budget(teacher, 90)
    classroom.set_time_limit(teacher, 150.5)
    classroom.pause(teacher)
    pinned = classroom.pin_challenge(teacher, "digits", "mlp", 2, wins="val_accuracy", title="Beat 90 %")
    again = Classroom(RunStore(store.path), class_key=KEY).settings()
    assert (again.waiting_cap, again.budget_seconds, again.time_limit_seconds, again.paused) == (4, 90.0, 150.5, True)
    assert again.challenge == pinned and pinned["dataset"] == "digits" and pinned["wins"] == "val_accuracy"
    assert again.cap(in_class=True) == 4
    classroom.set_waiting_cap(teacher, 0)
    assert classroom.settings().cap(in_class=True) is None  # 0: no cap
    for bad, field in [(("cifar100", "mlp", 2), "dataset"), (("digits", "resnet", 2), "model"),
                       (("digits", "mlp", 0), "epochs")]:
        with pytest.raises(ConfigError) as refused:
            classroom.pin_challenge(teacher, *bad)
        assert refused.value.field == field
    with pytest.raises(ConfigError, match="wins"):
        classroom.pin_challenge(teacher, "digits", "mlp", 2, wins="lowest loss")
    student = classroom.identify(new_token(), "Ana")
    with pytest.raises(NotAllowed, match="only the teacher can pin a challenge"):
        classroom.pin_challenge(student, "digits", "mlp", 2)


def test_the_challenge_standings_take_each_persons_best_run_and_export_as_csv(store, classroom, teacher):
    ana, ben, other_ana = (classroom.identify(new_token(), name) for name in ("Ana", "Ben", "Ana"))
    finished_run(store, ana, [0.5, 0.99], 10)  # before the challenge: does not count
    classroom.pin_challenge(teacher, "digits", "mlp", 2)
    assert classroom.challenge_results() == []
    anas = [finished_run(store, ana, [0.5, 0.8], 10), finished_run(store, ana, [0.9, 0.7], 12)]
    bens = finished_run(store, ben, [0.6, 0.9], 8)  # as good as Ana's best, and faster
    finished_run(store, ben, [0.95, 0.97], 5, config=TINY.replace(model="simple_cnn"))  # another model
    finished_run(store, ben, [0.99], 5, config=TINY.replace(epochs=1))  # other epochs
    finished_run(store, other_ana, [0.99, 0.4], 3, status="diverged")  # not completed
    others = finished_run(store, other_ana, [0.3, 0.4], 3)

    results = classroom.challenge_results()
    assert [(r.rank, r.name, r.run_id, r.accuracy, r.seconds) for r in results] == [
        (1, "Ben", bens, 0.9, 8.0), (2, "Ana", anas[1], 0.9, 12.0), (3, "Ana", others, 0.4, 3.0)]
    assert results[1].owner_id == ana.id and results[2].owner_id == other_ana.id  # the same name, two people
    rows = list(csv.DictReader(io.StringIO(classroom.challenge_csv())))
    assert [(r["rank"], r["name"], r["run_id"], float(r["accuracy"]), float(r["seconds"])) for r in rows] == [
        ("1", "Ben", str(bens), 0.9, 8.0), ("2", "Ana", str(anas[1]), 0.9, 12.0), ("3", "Ana", str(others), 0.4, 3.0)]
    classroom.unpin_challenge(teacher)
    assert classroom.challenge_results() == [] and classroom.challenge_csv() == "rank,name,run_id,accuracy,seconds\n"


def test_the_end_of_term_reset_removes_every_run_and_keeps_settings_unless_asked(store, classroom, teacher, make_worker):
    ana = classroom.identify(new_token(), "Ana")
    classroom.set_budget(teacher, 60)
    done = [finished_run(store, ana, [0.5, 0.6], 3) for _ in range(3)]
    queued = store.create_run(TINY, owner_id=ana.id, owner_name="Ana")
    with pytest.raises(ActiveRuns, match="1 run is still waiting or running"):
        classroom.reset(teacher)
    with pytest.raises(NotAllowed, match="only the teacher can reset the class"):
        classroom.reset(ana)
    store.finish(queued, "cancelled")
    assert classroom.reset(teacher) == 4
    assert store.runs() == [] and all(store.history(i) == [] for i in done)
    with sqlite3.connect(store.path) as conn:
        assert [conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("epochs", "steps", "hints")] == [0] * 3
    assert sorted(p["name"] for p in store.people()) == ["Ana", "Ms T"]  # kept
    assert classroom.settings().budget_seconds == 60  # kept
    next_id = store.create_run(TINY)
    assert next_id > queued  # ids are not reused
    store.finish(next_id, "completed")

    assert classroom.reset(teacher, people_too=True, settings_too=True) == 1
    assert store.people() == [] and classroom.settings().budget_seconds is None
