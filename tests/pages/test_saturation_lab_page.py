"""The Saturation Lab page (pages/saturation_lab.py) driven with Streamlit's AppTest: its widgets, the
story that follows the numbers (told from the claims of core.doctor.stove_story), a caption true of the
setting, zero gradients marked on the gradient chart, errors naming the field, and training through
the worker."""
from __future__ import annotations

import html
import math
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.config import RunConfig
from core.doctor.stove_story import tell
from core.runs.store import RunStore
from core.training.probes import probe_at_init
from pages.parts.layer_panel import NO_GRADIENT, gradient_chart

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "saturation_lab.py")


def lab() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def story(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("<div class=\"stove-verdict"))


def test_widgets_are_there_and_the_picture_comes_at_once():
    at = lab()
    assert [s.label for s in at.selectbox] == ["Activation", "Initializer (the flame)", "Images"]
    assert at.slider(key="lab_depth").min == 2 and at.slider(key="lab_depth").max == 30
    assert at.number_input(key="lab_width").value == 256
    assert at.select_slider(key="lab_std").value == 1.0
    assert at.button(key="lab_train").label == "Train this network"
    assert "Too much flame: the water boils" in story(at)
    assert not at.error


def test_changing_activation_and_initializer_changes_the_numbers():
    at = lab()
    boiling = story(at)
    at.selectbox(key="lab_init").set_value("xavier_uniform").run()
    assert not at.exception
    assert [s.key for s in at.select_slider] == ["lab_epochs"]  # Xavier sets its own flame: no std slider
    xavier_sigmoid = story(at)
    assert xavier_sigmoid != boiling and "saturated" in xavier_sigmoid and "10^-" in xavier_sigmoid
    at.selectbox(key="lab_activation").set_value("tanh").run()
    assert "Good flame" in story(at)
    at.selectbox(key="lab_activation").set_value("relu")
    at.slider(key="lab_depth").set_value(20).run()
    relu_xavier = story(at)
    assert "dies out" in relu_xavier
    at.selectbox(key="lab_init").set_value("he_normal").run()
    assert "Good flame" in story(at) and story(at) != relu_xavier
    assert not at.exception and not at.error


@pytest.mark.parametrize("width, message", [(0, "width: must be at least 1"), (2000, "width: must be at most 1024 in the lab")])
def test_an_invalid_setting_shows_an_error_naming_the_field(width, message):
    at = lab()
    at.number_input(key="lab_width").set_value(width).run()
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value


def test_train_button_runs_through_the_worker_and_shows_curve_and_time_slider(tunelab_home):
    at = lab()
    at.selectbox(key="lab_dataset").set_value("digits")
    at.slider(key="lab_depth").set_value(3)
    at.number_input(key="lab_width").set_value(32)
    at.select_slider(key="lab_epochs").set_value(1)
    at.run()
    at.button(key="lab_train").click().run()
    assert not at.exception

    store = RunStore()
    assert store.path.parent == tunelab_home
    [run] = store.runs()
    assert run.config.depth == 3 and run.config.width == 32 and run.config.dataset == "digits"
    assert run.tag == "saturation-lab" and run.session == at.session_state["session_id"]
    deadline = time.monotonic() + 30
    while store.get(run.id).status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the store with a deadline, not waiting blindly
    assert store.get(run.id).status == "completed"

    at.run()
    assert not at.exception
    steps = sorted(store.probes(run.id))
    slider = at.select_slider(key=f"lab_probe_step_{run.id}")
    assert steps[0] == 0 and list(slider.options) == [str(s) for s in steps]
    assert slider.value == steps[-1]  # follows the newest measurement
    slider.set_value(0).run()
    assert not at.exception and any("Step 0:" in m.value for m in at.markdown)


def caption(at: AppTest) -> str:
    return next(c.value for c in at.caption if c.value.startswith("Every neuron is a stove"))


def test_the_story_is_told_from_the_numbers_beside_it():
    # sigmoid N(0, 1), 10 x 256 (the defaults): most units boil, but the gradient chart shows layer 1
    # getting more gradient than layer 10, so the story must not call it close to zero.
    at = lab()
    config = RunConfig(model="mlp", activation="sigmoid", init="normal", init_std=1.0, depth=10, width=256,
                       dataset="mnist5k")
    told = tell(probe_at_init(config))
    shown = html.unescape(story(at))
    assert told.verdict in shown and all(line in shown for line in told.lines)
    assert all(claim.shown in shown for claim in told.claims)
    assert "close to zero" not in shown and "does not vanish" in shown
    assert "red is the flat region" in caption(at) and "grey" not in caption(at) and "saturated" in caption(at)


def test_the_caption_says_only_what_is_true_of_the_setting():
    at = lab()
    at.selectbox(key="lab_activation").set_value("relu")
    at.selectbox(key="lab_init").set_value("he_normal").run()
    text = caption(at)
    assert "grey is exactly zero" in text and "red" not in text and "dead (zero for every image)" in text
    assert "no gradient at all" not in text
    at.selectbox(key="lab_init").set_value("zeros").run()
    assert not at.exception
    assert "No flame: every stove is the same" in story(at)
    assert "layers 1-10 have no gradient at all (0), marked ▼" in caption(at)


def test_zero_gradients_are_drawn_at_the_bottom_not_dropped():
    layers = probe_at_init(RunConfig(model="mlp", activation="sigmoid", init="zeros", depth=3, width=16,
                                     dataset="digits"))
    spec = gradient_chart(layers).to_dict()
    rows = max(spec["datasets"].values(), key=len)  # the points' data: every layer (the line's has no zeros)
    marked = [r for r in rows if r["kind"] == NO_GRADIENT]
    assert [r["layer"] for r in marked] == [1, 2, 3] and all(r["gradient"] == "0 (no gradient)" for r in marked)
    axis = spec["layer"][1]["encoding"]["y"]
    assert axis["scale"]["type"] == "log"
    bottom = axis["scale"]["domain"][0]
    assert all(r["y"] == bottom for r in marked) and bottom in axis["axis"]["values"]
    assert "'0'" in axis["axis"]["labelExpr"]
    assert "Layers 1-3: no gradient (0)" in spec["title"]["subtitle"][0]


def test_a_gradient_chart_with_all_gradients_finite_has_no_extra_ticks():
    layers = probe_at_init(RunConfig(model="mlp", activation="tanh", init="xavier_uniform", depth=3, width=16,
                                     dataset="digits"))
    spec = gradient_chart(layers).to_dict()
    axis = spec["layer"][1]["encoding"]["y"]["axis"]
    assert all(math.log10(v) == round(math.log10(v)) for v in axis["values"])  # powers of ten only
    assert isinstance(spec["title"], str)
