"""The Teacher page (AppTest): a student sees no controls; the teacher pauses and resumes the queue,
sets limits that survive a restart, pins a challenge and downloads its CSV, cancels a student's run
and resets the class (refused while a run waits); single-user mode has every right."""
from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from core.config import RunConfig
from core.runs.classroom import Classroom
from core.runs.people import new_token
from core.runs.store import RunStore
from core.training.events import EpochEnd
from pages.parts.ui import get_classroom, get_worker

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "teacher.py")
SMALL = RunConfig(dataset="digits", model="mlp", epochs=1, batch_size=128)


@pytest.fixture
def in_class(monkeypatch):
    monkeypatch.setenv("TUNELAB_CLASS_KEY", "k")


def page(name: str = "", key: str = "") -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    for box, value in (("identity_name", name), ("identity_class_key", key)):
        if value:
            at.sidebar.text_input(key=box).input(value).run()
    assert not at.exception, at.exception
    return at


def act(widget) -> AppTest:
    """Run the page after a widget changed (a widget's run() is its page's)."""
    at = widget.run()
    assert not at.exception, at.exception
    return at


def table(at: AppTest, column: str):
    """The shown table that has `column` (AppTest does not keep a data frame's key)."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def queued_by_student(name: str = "Ana") -> int:
    """A run a student queued, kept waiting by pausing the queue first."""
    classroom = get_classroom()
    classroom.pause(classroom.identify(new_token(), "", "k"))
    return get_worker().submit(SMALL, name="student run", by=classroom.identify(new_token(), name))


def finished_run(store: RunStore, config: RunConfig = SMALL, owner: tuple[str, str] = ("", ""),
                 val_accuracy: float = 0.8) -> int:
    run_id = store.create_run(config, name="done", owner_id=owner[0], owner_name=owner[1])
    store.mark_running(run_id, "cpu")
    store.record(run_id, EpochEnd(1, 0.5, 0.8, 0.6, val_accuracy, 1e-3, 0.1, 100.0))
    store.finish(run_id, "completed")
    return run_id


def test_a_student_sees_no_controls(in_class):
    at = page(name="Ana")
    assert [i.value for i in at.main.info] == ["Teacher only: type the class key in the sidebar."]
    assert not at.main.button and not at.main.number_input and not at.main.subheader


def test_the_teacher_pauses_and_resumes_the_queue(in_class):
    at = page(key="k")
    assert at.sidebar.caption[-1].value == "Signed in as the teacher on this browser, for this school day."
    assert [s.value for s in at.subheader] == ["Queue", "Limits", "Challenge", "Runs", "End of term"]
    act(at.button(key="teacher_pause").click())
    assert RunStore().settings()["paused"] is True and get_worker().paused()
    assert at.button(key="teacher_pause").label == "Resume the queue"
    assert any(s.value.startswith("Paused:") for s in at.success)
    act(at.button(key="teacher_pause").click())
    assert RunStore().settings()["paused"] is False
    assert at.button(key="teacher_pause").label == "Pause the queue"


def test_the_limits_are_saved_and_survive_a_restart(in_class):
    at = page(key="k")
    assert at.number_input(key="teacher_cap").value == 2  # the class default
    at.number_input(key="teacher_cap").set_value(5)
    at.number_input(key="teacher_budget").set_value(120)
    at.number_input(key="teacher_time_limit").set_value(600)
    act(at.button(key="FormSubmitter:teacher_limits-Save limits").click())
    assert any(s.value.startswith("Saved.") for s in at.success)

    st.cache_resource.clear()  # the server restarts: new store, class and worker on the same file
    settings = Classroom(RunStore()).settings()
    assert (settings.waiting_cap, settings.budget_seconds, settings.time_limit_seconds) == (5, 120.0, 600.0)
    at = page(key="k")
    assert [at.number_input(key=k).value for k in ("teacher_cap", "teacher_budget", "teacher_time_limit")] \
        == [5, 120, 600]
    assert any("budget per run 2 min · time limit per run 10 min" in c.value for c in at.caption)


def test_the_teacher_pins_a_challenge_and_downloads_its_standings(in_class, monkeypatch):
    downloads = []
    keep = MemoryMediaFileStorage.load_and_get_id

    def recording(self, data, mimetype, kind, filename=None):
        downloads.append((data, filename))
        return keep(self, data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", recording)
    at = page(key="k")
    assert not at.get("download_button")  # nothing pinned yet
    at.selectbox(key="teacher_ch_dataset").set_value("digits")
    at.selectbox(key="teacher_ch_model").set_value("mlp")
    at.number_input(key="teacher_ch_epochs").set_value(1)
    at.text_input(key="teacher_ch_title").input("Week 3")
    act(at.button(key="FormSubmitter:teacher_challenge-Pin challenge").click())
    challenge = RunStore().settings()["challenge"]
    assert (challenge["dataset"], challenge["model"], challenge["epochs"], challenge["wins"], challenge["title"]) \
        == ("digits", "mlp", 1, "val_accuracy", "Week 3")

    store = RunStore()
    best = finished_run(store, owner=("a" * 64, "Ana"), val_accuracy=0.9)
    finished_run(store, owner=("a" * 64, "Ana"), val_accuracy=0.7)
    finished_run(store, RunConfig(dataset="digits", model="mlp", epochs=2), owner=("b" * 64, "Ben"))  # not it
    downloads.clear()
    act(at)
    standings = table(at, "best run")
    assert list(standings["name"]) == ["Ana"] and list(standings["best run"]) == [best]
    data, filename = downloads[-1]
    lines = data.decode().splitlines()
    assert filename == "challenge-results.csv"
    assert lines[0] == "rank,name,run_id,accuracy,seconds"
    assert lines[1].startswith(f"1,Ana,{best},0.9,") and len(lines) == 2

    act(at.button(key="teacher_unpin").click())
    assert RunStore().settings()["challenge"] is None and not at.get("download_button")


def test_the_teacher_cancels_a_students_run(in_class):
    run_id = queued_by_student("Ana")
    at = page(key="k")
    queue = table(at, "place")
    assert list(queue["run"]) == [run_id] and list(queue["owner"]) == ["Ana"] and list(queue["place"]) == ["1"]
    act(at.multiselect(key="teacher_cancel").select(run_id))
    act(at.button(key="teacher_cancel_selected").click())
    record = RunStore().get(run_id)
    assert (record.status, record.cancelled_by) == ("cancelled", "the teacher")
    assert f"Cancelled run #{run_id}." in [s.value for s in at.success]
    assert "Nothing is waiting or training." in [c.value for c in at.caption]


def test_the_reset_is_refused_while_a_run_waits_and_works_after(in_class):
    done = finished_run(RunStore())
    waiting = queued_by_student()
    at = page(key="k")
    assert at.button(key="teacher_reset").disabled  # not before the box is ticked
    act(at.checkbox(key="teacher_reset_confirm").check())
    act(at.button(key="teacher_reset").click())
    assert "still waiting or running" in at.error[0].value
    assert {r.id for r in RunStore().runs()} == {done, waiting}

    get_worker().cancel(waiting, by=get_classroom().identify(new_token(), "", "k"))
    act(at.button(key="teacher_reset").click())
    assert "Removed 2 runs." in at.success[0].value
    assert RunStore().runs() == [] and RunStore().settings()["paused"] is True  # the settings are kept
    assert not at.checkbox(key="teacher_reset_confirm").value


def test_single_user_mode_has_every_right_and_removes_runs():
    store = RunStore()
    keep, remove = finished_run(store), finished_run(store)
    at = page()
    assert "TUNELAB_CLASS_KEY" in at.caption[0].value and not at.main.info
    act(at.multiselect(key="teacher_remove").select(remove))
    act(at.button(key="teacher_remove_selected").click())
    assert f"Removed 1 run: #{remove}." in [s.value for s in at.success]
    assert store.get(remove) is None and store.get(keep) is not None
    assert at.multiselect(key="teacher_remove").options == [f"#{keep} done · (no owner) · completed"]
