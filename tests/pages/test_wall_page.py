"""The Wall (AppTest): every running and recent run as a small chart titled with its owner, status and
diagnosis; the pinned challenge's standings and who waits beside them; ?run=N shows a run large with a
way back; a bad ?run= is a clear error. Polls cost one counter read: the snapshot is built once per
store change and shared by every session."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.config import RunConfig
from core.runs.classroom import Classroom
from core.runs.people import new_token
from core.runs.store import RunStore
from core.training.events import EpochEnd
from pages.parts import wall_view
from pages.parts import icons
from tests.pages.support import open_page

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "wall.py")
SMALL = RunConfig(dataset="digits", model="mlp", epochs=3, batch_size=128)


def page(query: dict | None = None) -> AppTest:
    return open_page(PAGE, query)


def run_with_epochs(store: RunStore, owner: tuple[str, str], accuracies: list[float], status: str = "completed",
                    name: str = "my run") -> int:
    run_id = store.create_run(SMALL, name=name, owner_id=owner[0], owner_name=owner[1])
    store.mark_running(run_id, "cpu")
    for epoch, acc in enumerate(accuracies, start=1):
        store.record(run_id, EpochEnd(epoch, 1.0 - acc, acc, 1.0 - acc, acc, 1e-3, 0.1, 100.0))
    if status != "running":
        store.finish(run_id, status)
    return run_id


def test_an_empty_wall_says_runs_appear_here():
    at = page()
    assert [i.value for i in at.info] == ["No runs yet: the class's runs appear here as they train."]
    assert at.caption[0].value.startswith("0 training · 0 waiting · 0 shown")


def test_the_wall_shows_each_run_with_its_owner_status_and_best():
    store = RunStore()
    ana = run_with_epochs(store, ("a" * 64, "Ana"), [0.5, 0.7, 0.9], name="adam run")
    ben = run_with_epochs(store, ("b" * 64, "Ben"), [0.3, 0.4], status="running", name="sgd run")
    at = page()
    assert not at.info
    assert at.caption[0].value.startswith("1 training · 0 waiting · 2 shown")
    data = wall_view.snapshot(str(store.path), store.changes(per_step=False))
    headers = [t["header"].split("\n") for t in data["tiles"]]
    # the running run first, then the finished ones
    assert headers[0] == [f"Ben · #{ben} sgd run", "epoch 2/3 · best 40.0%", "–"]  # too early for a diagnosis
    assert headers[1][:2] == [f"Ana · #{ana} adam run", "completed · best 90.0%"]
    assert len(at.get("vega_lite_chart")) == 1, "the tiles are one faceted chart"


def test_the_snapshot_is_built_once_per_store_change(monkeypatch):
    reads = []
    overview = RunStore.class_overview
    monkeypatch.setattr(RunStore, "class_overview", lambda self, **kw: reads.append(1) or overview(self, **kw))
    store = RunStore()
    run_id = run_with_epochs(store, ("a" * 64, "Ana"), [0.5], status="running")
    at = page()
    for _ in range(3):  # three polls by three sessions, the store unchanged: one read in all
        page()
    assert len(reads) == 1
    store.record(run_id, EpochEnd(2, 0.4, 0.6, 0.4, 0.6, 1e-3, 0.1, 100.0))
    at.run()
    assert len(reads) == 2
    assert at.caption[0].value.startswith("1 training · 0 waiting · 1 shown")
    data = wall_view.snapshot(str(store.path), store.changes(per_step=False))
    assert data["tiles"][0]["epochs_done"] == 2 and len(reads) == 2


def test_the_challenge_standings_and_the_waiting_list_are_beside_the_tiles(monkeypatch):
    monkeypatch.setenv("TUNELAB_CLASS_KEY", "k")
    store = RunStore()
    classroom = Classroom(store)
    teacher = classroom.identify(new_token(), "", "k")
    classroom.pin_challenge(teacher, "digits", "mlp", 3, "val_accuracy", "Week 3")
    run_with_epochs(store, ("a" * 64, "Ana"), [0.5, 0.7, 0.9])
    run_with_epochs(store, ("b" * 64, "Ben"), [0.4, 0.5, 0.6])
    waiting = store.create_run(SMALL, name="next", owner_id="c" * 64, owner_name="Cleo")
    at = page()
    text = "\n".join(m.value for m in at.markdown)
    assert f"{icons.TROPHY} Week 3" in text
    assert "| 1 | Ana | 90.0% |" in text and "| 2 | Ben | 60.0% |" in text
    assert f"Waiting (1)**: Cleo #{waiting}" in text


def test_a_run_opens_large_and_goes_back():
    store = RunStore()
    run_id = run_with_epochs(store, ("a" * 64, "Ana"), [0.5, 0.7, 0.9], name="adam run")
    at = page()
    at.selectbox(key="wall_open").set_value(run_id).run()
    assert at.query_params["run"] == [str(run_id)] or at.query_params["run"] == str(run_id)
    at.run()
    assert not at.exception, at.exception
    assert at.button(key="wall_back")
    assert any("adam run" in m.value for m in at.markdown)
    at.button(key="wall_back").click().run()
    assert "run" not in at.query_params
    assert at.caption[0].value.startswith("0 training · 0 waiting · 1 shown")


def test_a_bad_run_number_is_a_clear_error():
    at = page({"run": "abc"})
    assert "run" in at.error[0].value and "?run=3" in at.error[0].value
    assert at.caption[0].value.startswith("0 training")  # the wall is still shown


def test_a_finished_run_with_a_problem_is_orange_and_a_healthy_one_green():
    store = RunStore()
    sick = run_with_epochs(store, ("a" * 64, "Ana"), [0.1, 0.1, 0.1], name="adam 0.5")
    store.save_hints(sick, [{"id": "divergence", "family": "divergence", "title": "Divergence: it blew up"}])
    well = run_with_epochs(store, ("b" * 64, "Ben"), [0.5, 0.8, 0.9], name="adam 1e-3")
    store.save_hints(well, [{"id": "healthy", "family": "healthy", "title": "Healthy training"}])
    page()
    tiles = {t["run_id"]: t for t in wall_view.snapshot(str(store.path), store.changes(per_step=False))["tiles"]}
    assert (tiles[sick]["shade"], tiles[well]["shade"]) == ("a problem", "completed")
    assert tiles[sick]["header"].endswith("\nDivergence")  # the title up to its colon: a tile is narrow
    colours = dict(zip(*(wall_view.wall_chart(list(tiles.values()), [])["spec"]["layer"][3]
                         ["encoding"]["color"]["scale"][k] for k in ("domain", "range"))))
    assert colours["a problem"] == "#ff7f0e" and colours["completed"] == "#2ca02c"
