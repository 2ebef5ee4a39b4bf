"""The Train page (pages/train.py) with Streamlit's AppTest: knobs grouped in the tuning guide's order,
contextual knobs, presets, errors naming the field, a small run started and finished through the real
worker and store, the run id in the URL, and the run list."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import GROUPS, RunConfig
from core.presets import PRESETS
from core.runs.store import RunStore
from pages.parts import icons
from tests.export.test_script import HOSTILE_NAMES
from tests.pages.support import open_page

DONE = icons.status("completed")

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "train.py")
SMALL = dict(knob_dataset="digits", knob_model="mlp", knob_epochs=5, knob_batch_size=128)


def page(query: dict | None = None) -> AppTest:
    return open_page(PAGE, query)


def set_knobs(at: AppTest, **values) -> AppTest:
    for key, value in values.items():
        widget = next(w for w in (*at.selectbox, *at.number_input, *at.checkbox) if w.key == key)
        widget.set_value(value)
    at.run()
    assert not at.exception, at.exception
    return at


def wait_finished(run_id: int, timeout: float = 60) -> str:
    store = RunStore()
    deadline = time.monotonic() + timeout
    while store.get(run_id).status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the store with a deadline
    return store.get(run_id).status


def test_knobs_are_grouped_in_the_guides_order_with_notes_and_help():
    at = page()
    assert [e.label for e in at.sidebar.expander] == [f"{i}. {g}" for i, g in enumerate(GROUPS, start=1)]
    assert [b.label for b in at.button][:2] == ["Start training", "Cancel"]
    assert at.button(key="cancel").disabled  # nothing to cancel yet
    lr = at.number_input(key="knob_lr")
    assert lr.label == "Learning rate" and lr.value == RunConfig().lr and "first knob to tune" in lr.help
    notes = [c.value for c in at.sidebar.caption]
    assert any(n.startswith("Adam:") for n in notes) and any(n.startswith("Glorot/Xavier") for n in notes)
    assert at.number_input(key="knob_epochs").value == RunConfig().epochs


def test_only_the_knobs_that_matter_are_shown_and_hidden_ones_keep_their_value():
    at = page()
    keys = lambda: {w.key for w in at.number_input}  # noqa: E731
    assert "knob_beta1" not in keys() and "knob_momentum" not in keys()  # betas: rarely changed, folded away
    at.toggle(key="knobs_more_optimizer").set_value(True).run()
    assert {"knob_beta1", "knob_beta2", "knob_eps"} <= keys()
    assert "knob_init_std" not in keys() and "knob_depth" not in keys()
    set_knobs(at, knob_beta1=0.8)
    set_knobs(at, knob_optimizer="momentum", knob_init="normal", knob_model="mlp")
    assert {"knob_momentum", "knob_init_std", "knob_depth", "knob_width"} <= keys() and "knob_beta1" not in keys()
    set_knobs(at, knob_optimizer="adam")
    assert at.number_input(key="knob_beta1").value == 0.8  # kept while hidden


def test_each_preset_fills_the_knobs():
    at = page()
    for name, preset in PRESETS.items():
        at.selectbox(key="preset").set_value(name).run()  # choosing it loads it: no second click
        assert not at.exception and not at.error
        expected = preset.config()
        assert at.number_input(key="knob_lr").value == expected.lr
        assert at.selectbox(key="knob_optimizer").value == expected.optimizer
        assert at.selectbox(key="knob_model").value == expected.model
        assert preset.lesson in [c.value for c in at.caption]
        assert at.text_input(key="run_name").placeholder == name


@pytest.mark.parametrize("key, value, message", [
    ("knob_lr", -1.0, "lr: must be greater than 0 and at most 100 (got -1)"),
    ("knob_epochs", 0, "epochs: must be at least 1"),
    ("knob_batch_size", 0, "batch_size: must be at least 1"),
    ("knob_dropout", 0.95, "dropout: must be at least 0 and at most 0.9"),
    ("knob_train_subset", 5, "train_subset: must be 0 (all) or at least 20"),
])
def test_an_invalid_setting_is_named_in_an_error_and_start_is_disabled(key, value, message):
    at = set_knobs(page(), **{key: value})
    assert len(at.error) == 1 and message in at.error[0].value
    assert at.button(key="start").disabled
    assert RunStore().runs() == []


def test_a_data_set_that_is_not_here_says_which_files_go_where():
    at = set_knobs(page(), knob_dataset="fashion_mnist")
    assert len(at.error) == 1
    error = at.error[0].value
    assert error.startswith("dataset:") and "train-images-idx3-ubyte" in error and "FashionMNIST" in error
    assert at.button(key="start").disabled


def test_a_small_run_starts_finishes_and_shows_charts_hints_and_layers():
    at = set_knobs(page(), knob_lr=0.01, **SMALL)
    at.text_input(key="run_name").input("tiny digits")
    at.button(key="start").click().run()
    assert not at.exception
    assert at.query_params["run"] == ["1"] or at.query_params["run"] == "1"
    [run] = RunStore().runs()
    assert run.name == "tiny digits" and run.config.lr == 0.01 and run.config.dataset == "digits"
    assert run.session == at.session_state["session_id"]

    assert wait_finished(run.id) == "completed"
    at.run()
    assert not at.exception
    headings = [m.value for m in at.markdown]
    assert any(h.startswith(f"#### {DONE} #1 tiny digits · completed") for h in headings)
    progress = at.get("progress")[0]
    assert "Completed 5 epochs" in progress.proto.text and progress.proto.value == 100
    charts = at.get("vega_lite_chart")
    assert len(charts) >= 3 + 3  # loss, accuracy, learning rate + the per-layer panel
    assert any("Evidence:" in m.value for m in at.markdown)  # the hints panel
    assert at.button(key="cancel").disabled  # it has finished
    assert at.selectbox(key="open_run").value == 1


def test_cancel_stops_the_shown_run():
    at = set_knobs(page(), **{**SMALL, "knob_epochs": 500})
    at.button(key="start").click().run()
    store = RunStore()
    deadline = time.monotonic() + 30
    while not store.steps(1) and time.monotonic() < deadline:
        time.sleep(0.05)
    at.run()
    assert not at.button(key="cancel").disabled
    at.button(key="cancel").click().run()
    assert wait_finished(1) == "cancelled"
    at.run()
    assert not at.exception and "Cancelled" in at.get("progress")[0].proto.text


def test_the_url_opens_a_stored_run_and_bad_ids_are_explained():
    store = RunStore()
    run_id = store.create_run(RunConfig(dataset="digits"), name="from a link", session="someone-else")
    store.finish(run_id, "completed")
    at = page({"run": str(run_id)})
    assert any(m.value.startswith(f"#### {DONE} #{run_id} from a link") for m in at.markdown)
    labels = at.selectbox(key="open_run").options
    assert any("from a link" in label and "nobody" in label for label in labels)
    # opening it put its settings into the knobs: Start would re-run it, not the defaults
    assert at.selectbox(key="knob_dataset").value == "digits"
    assert any(f"hold run #{run_id}'s settings" in c.value for c in at.caption)

    at = page({"run": "abc"})
    assert len(at.error) == 1 and at.error[0].value.startswith("run: must be a run number")
    at = page({"run": "999"})
    assert any("There is no run #999" in w.value for w in at.warning)


@pytest.mark.parametrize("name", HOSTILE_NAMES + ["<script>alert(1)</script> *bold* [link](x) :red[x]"])
def test_a_run_with_a_hostile_name_opens_and_shows_its_name_as_typed(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = RunStore()
    run_id = store.create_run(RunConfig(dataset="digits"), name=name)
    store.finish(run_id, "completed")
    at = page({"run": str(run_id)})
    [heading] = [m for m in at.markdown if m.value.startswith(f"#### {DONE} #{run_id} ")]
    def seen(text: str) -> str:  # what a reader sees: the escapes fall away, spaces collapse
        return " ".join(text.replace("\\", "").split())

    assert seen(name) in seen(heading.value) and "\n" not in heading.value
    assert not list(tmp_path.rglob("PWNED"))  # nothing of the name ran


def test_a_store_made_before_the_move_opens_its_runs_on_the_page(tunelab_home):
    tunelab_home.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).parents[1] / "golden" / "runs_before_restructure.sqlite", tunelab_home / "runs.db")
    at = page({"run": "1"})
    assert any(m.value.startswith(f'#### {DONE} #1 old run "quoted"') for m in at.markdown)
    assert any("Healthy" in m.value for m in at.markdown)  # its diagnosis, made again by today's rules
    assert len(at.selectbox(key="open_run").options) == 3


def test_try_it_puts_the_hints_change_into_the_knobs_and_says_so():
    from core.training.events import EpochEnd

    store = RunStore()
    config = RunConfig(dataset="digits", model="mlp", epochs=8, lr=0.002, init="normal", init_std=0.5)
    run_id = store.create_run(config, name="stuck", session="someone-else")
    for epoch in range(1, 9):  # stuck at chance (ln 10) for every epoch: a bad initialization
        store.record(run_id, EpochEnd(epoch, 2.3026, 0.1, 2.3026, 0.1, 0.002, 1.0, 100.0))
    store.finish(run_id, "completed")
    at = page({"run": str(run_id)})
    [button] = [b for b in at.button if b.label.startswith("Try it")]
    assert button.label == "Try it: init he_normal"
    button.click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="knob_init").value == "he_normal"  # the knobs now show the change...
    assert at.number_input(key="knob_lr").value == 0.002 and at.number_input(key="knob_epochs").value == 8  # ...on its settings
    assert any(s.value.startswith("Loaded into the knobs: init he_normal") for s in at.success)


def test_opening_a_run_from_the_list_puts_it_in_the_url():
    store = RunStore()
    first = store.create_run(RunConfig(dataset="digits"), name="first")
    second = store.create_run(RunConfig(dataset="digits"), name="second")
    for run_id in (first, second):
        store.finish(run_id, "completed")
    at = page({"run": str(second)})
    at.selectbox(key="open_run").set_value(first).run()
    assert not at.exception
    assert at.query_params["run"] in (str(first), [str(first)])
    assert any(m.value.startswith(f"#### {DONE} #{first} first") for m in at.markdown)


def test_repeat_with_seeds_makes_a_group_with_the_next_seeds_and_links_to_compare():
    at = set_knobs(page(), **{**SMALL, "knob_epochs": 1})
    at.button(key="start").click().run()
    assert wait_finished(1) == "completed"
    at.run()
    at.number_input(key="seed_k").set_value(3)
    at.button(key="repeat").click().run()
    assert not at.exception
    store = RunStore()
    group = store.group(store.get(1).group_id)
    assert [r.config.seed for r in group] == [0, 1, 2] and [r.id for r in group] == [1, 2, 3]
    assert all(r.config.replace(seed=0) == group[0].config for r in group)
    assert any("compare?runs=1,2,3" in m.value for m in at.markdown)
    assert wait_finished(3) == "completed"


def test_a_sweep_is_queued_as_one_group_with_the_same_seed():
    at = set_knobs(page(), **{**SMALL, "knob_epochs": 1})
    at.selectbox(key="sweep_param").set_value("lr").run()
    at.text_input(key="sweep_values_lr").input("0.001, 0.01, 0.1").run()
    at.button(key="sweep_start").click().run()
    assert not at.exception and not at.error
    runs = RunStore().runs()[::-1]
    assert [r.config.lr for r in runs] == [0.001, 0.01, 0.1] and len({r.group_id for r in runs}) == 1
    assert {r.config.seed for r in runs} == {0} and all(r.tag == "sweep" for r in runs)
    assert any("compare?runs=1,2,3" in m.value for m in at.markdown)
    at.text_input(key="sweep_values_lr").input("0.01, -1").run()
    at.button(key="sweep_start").click().run()
    assert at.error and at.error[0].value.startswith("lr:") and len(RunStore().runs()) == 3


def test_the_learning_rate_finder_puts_its_suggestion_into_the_knobs():
    at = set_knobs(page(), **SMALL)
    at.button(key="lr_find").click().run()
    assert not at.exception
    use = at.button(key="lr_use")
    suggestion = float(use.label.split()[1])
    assert 1e-5 < suggestion < 10
    use.click().run()
    assert not at.exception and at.number_input(key="knob_lr").value == pytest.approx(suggestion, rel=1e-2)


def test_a_finished_run_offers_every_export_and_an_imported_config_fills_the_knobs():
    at = set_knobs(page(), **{**SMALL, "knob_epochs": 1})
    at.button(key="start").click().run()
    assert wait_finished(1) == "completed"
    at.run()
    # the history and config are made at the download click; the costly two only when asked for
    assert sorted(b.proto.label for b in at.get("download_button")) == ["Config JSON", "History CSV"]
    prepare = {b.label: b for b in at.button if b.label.startswith("Prepare: ")}
    assert set(prepare) == {"Prepare: TensorBoard folder (zip)", "Prepare: Standalone PyTorch script"}
    prepare["Prepare: Standalone PyTorch script"].click().run()
    at.button(key="prepare_1_tensorboard").click().run()
    assert not at.exception and not at.error
    labels = sorted(b.proto.label for b in at.get("download_button"))
    assert labels[:2] == ["Config JSON", "History CSV"] and len(labels) == 4
    assert any(label.startswith("Standalone PyTorch script (") for label in labels)
    assert any(label.startswith("TensorBoard folder (zip) (") for label in labels)

    imported = RunConfig(dataset="digits", model="mlp", lr=0.0042, activation="tanh", epochs=7).to_json().encode()
    at.file_uploader(key="import_config").set_value(("mine.json", imported, "application/json")).run()
    at.run()
    assert not at.exception
    assert at.number_input(key="knob_lr").value == 0.0042 and at.selectbox(key="knob_activation").value == "tanh"
    assert at.number_input(key="knob_epochs").value == 7

    at.file_uploader(key="import_config").set_value(("bad.json", b'{"lr": "fast"}', "application/json")).run()
    at.run()
    assert any(e.value.startswith("bad.json: lr: must be a number") for e in at.error)
    assert at.number_input(key="knob_lr").value == 0.0042  # nothing already set is lost


# ---- a class: who ran what -------------------------------------------------------------------------
def person_page(token: str, name: str, key: str = "", query: dict | None = None) -> AppTest:
    """The page as one browser sees it: its cookie's token (the session already holds it, as after a
    first visit), the name typed in "Your name" and, for the teacher, the class key."""
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["identity_token"] = token
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.sidebar.text_input(key="identity_name").input(name).run()
    if key:
        at.sidebar.text_input(key="identity_class_key").input(key).run()
    assert not at.exception, at.exception
    return at


def test_in_a_class_a_name_comes_first(monkeypatch):
    monkeypatch.setenv("TUNELAB_CLASS_KEY", "sesame")
    at = page()
    assert at.sidebar.text_input(key="identity_name").label == "Your name"
    assert at.sidebar.text_input(key="identity_class_key").label == "Class key"
    assert at.button(key="start").disabled and any("Type your name" in i.value for i in at.sidebar.info)
    at.sidebar.text_input(key="identity_name").input("Ana").run()
    assert not at.button(key="start").disabled


def test_only_the_owner_or_the_teacher_cancels_and_my_runs_survive_a_reload(monkeypatch):
    from core.runs.people import NotAllowed, Person, person_id
    from pages.parts.ui import get_worker

    monkeypatch.setenv("TUNELAB_CLASS_KEY", "sesame")
    ana_token, ben_token = "a" * 32, "b" * 32
    ana = set_knobs(person_page(ana_token, "Ana"), **{**SMALL, "knob_epochs": 500})
    ana.button(key="start").click().run()
    store = RunStore()
    [run] = store.runs()
    assert run.owner_name == "Ana" and run.owner_id == person_id(ana_token) and ana_token not in run.owner_id

    ben = person_page(ben_token, "Ben", query={"run": str(run.id)})
    assert ben.button(key="cancel").disabled  # no enabled Cancel for someone else's run ...
    assert any("belongs to Ana" in c.value for c in ben.caption)
    with pytest.raises(NotAllowed, match="Ana"):  # ... and the core refuses too
        get_worker().cancel(run.id, by=Person(person_id(ben_token), "Ben"))
    assert store.get(run.id).status in ("queued", "running")

    again = person_page(ana_token, "Ana", query={"run": str(run.id)})  # a reload: the same cookie
    assert any(m.value == "**My runs**" for m in again.markdown)
    tables = [d.value for d in again.dataframe if "run" in d.value.columns]
    [mine] = [t for t in tables if "owner" not in t.columns]  # (everyone else's runs carry an owner column)
    assert list(mine["run"]) == [run.id]
    assert not again.button(key="cancel").disabled

    teacher = person_page("t" * 32, "", key="sesame", query={"run": str(run.id)})
    assert not teacher.button(key="cancel").disabled
    teacher.button(key="cancel").click().run()
    assert wait_finished(run.id) == "cancelled"
    done = store.get(run.id)
    assert done.cancelled_by == "the teacher" and "cancelled by the teacher" in done.message


def test_default_run_names_are_unique():
    at = set_knobs(page(), **SMALL)
    first = at.text_input(key="run_name").placeholder
    at.button(key="start").click().run()
    assert wait_finished(1) == "completed"
    at = set_knobs(page(), **SMALL)
    assert at.text_input(key="run_name").placeholder == f"{first} (2)"
