"""Saturation Lab: the seeds' boiling-water analogy made visible. Pick an activation, an initializer,
a depth and a width; see at once, layer by layer and before any training, where the outputs sit,
how many units saturate or die and how much gradient reaches each layer; then train it and watch."""
from __future__ import annotations

import html
import math

import altair as alt
import pandas as pd
import streamlit as st

from core.catalog.activations import ACTIVATIONS
from core.config import RunConfig
from core.catalog.datasets import DATASETS
from core.errors import ConfigError, UserError
from core.catalog.initializers import INITIALIZERS
from core.training.probes import PROBE_BATCH, SATURATION_MARGIN, probe_at_init
from core.runs.store import RunRecord
from core.doctor.stove_story import Story, span, tell
from pages.parts.layer_panel import FONT, render_layer_panel, zones_present
from pages.parts import icons
from pages.parts.ui import get_store, get_worker, session_id, show_user_error, use_app_navigation

MAX_WIDTH = 1024  # the lab answers in under a second up to 30 layers of this width on a CPU
STD_CHOICES = [0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0]
STD_INITS = ("normal", "truncated_normal")
ACTIVE = ("queued", "running")
TONE_COLOURS = {"good": "#2ca02c", "warn": "#e8a33d", "bad": "#d62728"}

use_app_navigation()
st.markdown(
    f"""<style>
    .stove-verdict {{ font-size: 1.9rem; font-weight: 700; padding: .4rem .9rem; border-radius: .5rem;
                      border-left: .6rem solid; margin-bottom: .6rem; }}
    .stove-lines li {{ font-size: 1.25rem; line-height: 1.45; margin-bottom: .5rem; }}
    div[data-testid="stCaptionContainer"] p {{ font-size: 1.05rem; }}
    div.block-container {{ padding-top: 2.5rem; }}
    div[data-testid="stWidgetLabel"] p {{ font-size: {FONT + 1}px; }}
    </style>""",
    unsafe_allow_html=True,
)


@st.cache_data(show_spinner="Lighting the stoves…", max_entries=256)
def probe_numbers(config_json: str) -> list[dict]:
    """Per-layer numbers of a freshly initialized network on PROBE_BATCH images (cached per setting)."""
    return probe_at_init(RunConfig.from_json(config_json), n_samples=PROBE_BATCH)


def read_settings() -> RunConfig:
    """The widgets, as a validated RunConfig of the lab's MLP (raises ConfigError naming the field)."""
    cols = st.columns([1.1, 1.3, 1.2, 1.3, 0.9, 1.0])
    activation = cols[0].selectbox(
        "Activation", ACTIVATIONS.names(), index=ACTIVATIONS.names().index("sigmoid"),
        format_func=lambda n: ACTIVATIONS.get(n).title, key="lab_activation",
        help="The temperature rule of every stove.",
    )
    init = cols[1].selectbox(
        "Initializer (the flame)", INITIALIZERS.names(), index=INITIALIZERS.names().index("normal"),
        format_func=lambda n: INITIALIZERS.get(n).title, key="lab_init",
        help=INITIALIZERS.get(st.session_state.get("lab_init", "normal")).note,
    )
    std = 0.02
    if init in STD_INITS:
        std = cols[2].select_slider("Flame size (std)", STD_CHOICES, value=1.0, key="lab_std",
                                    help="Standard deviation of the initial weights.")
    else:
        cols[2].markdown(f"**Flame size**  \n{INITIALIZERS.get(init).title} sets it from the layer sizes")
    depth = cols[3].slider("Depth (stoves in a row)", 2, 30, 10, key="lab_depth")
    width = cols[4].number_input("Width", value=256, step=32, key="lab_width", help=f"Units per layer (1 to {MAX_WIDTH}).")
    dataset = cols[5].selectbox(
        "Images", DATASETS.names(), index=DATASETS.names().index("mnist5k"),
        format_func=lambda n: DATASETS.get(n).title, key="lab_dataset",
    )
    config = RunConfig(model="mlp", activation=activation, init=init, init_std=float(std), depth=int(depth),
                       width=int(width), dataset=dataset)
    if config.width > MAX_WIDTH:
        raise ConfigError("width", f"must be at most {MAX_WIDTH} in the lab, so the picture comes at once (got {config.width})")
    return config


def show_story(story: Story) -> None:
    """The verdict, coloured by its tone, and the story's lines: every line is made of the story's claims
    (core.doctor.stove_story.Claim), each quoting the number it reads from the charts beside it."""
    colour = TONE_COLOURS[story.tone]
    items = "".join(f"<li>{html.escape(line)}</li>" for line in story.lines)
    st.markdown(
        f'<div class="stove-verdict" style="border-color:{colour};color:{colour};background:{colour}14">'
        f"{html.escape(story.verdict)}</div><ul class='stove-lines'>{items}</ul>",
        unsafe_allow_html=True,
    )


def chart_caption(layers: list[dict]) -> str:
    """How to read the three charts of these layers, saying only what is true of them: the colours
    their stoves chart uses, what the middle chart counts, and where layers without a gradient sit."""
    activation = layers[0]["activation"]
    act = ACTIVATIONS.get(activation).factory
    colours = {
        "sensitive range": "blue is the sensitive range, where a little more flame still changes the output",
        "flat region (boiling)": (f"red is the flat region, within {SATURATION_MARGIN:g} of {activation}'s limits, "
                                  "where the water already boils and more flame changes nothing"),
        "zero (off)": "grey is exactly zero, a unit switched off",
    }
    zones = [colours[z] for z in zones_present(layers)]
    zones = zones[1:] + zones[:1] if len(zones) > 1 else zones  # the special region first
    text = ("Every neuron is a stove and its initial weights are the flame. Each column of the top chart is one "
            f"layer, input on the left: its bars show where the layer's outputs sit for {PROBE_BATCH} real images; "
            + "; ".join(zones) + ". ")
    if act.family == "saturating":
        text += "The middle chart shows the share of each layer's units that are saturated. "
    elif act.family == "rectifier":
        never = "zero for every image" if act.output_range[0] == 0.0 else "never positive for any image"
        text += f"The middle chart shows the share of each layer's units that are dead ({never}). "
    text += ("The bottom chart shows the size (norm) of the gradient of the loss with respect to each layer's "
             "weights, on a log scale: how strongly the loss reacts to a change of that layer's flame")
    zero = [row["layer"] for row in layers if row["grad_norm"] == 0]
    huge = [row["layer"] for row in layers if row["grad_norm"] is None or not math.isfinite(row["grad_norm"])]
    if zero:
        text += f"; {span(zero)} {'has' if len(zero) == 1 else 'have'} no gradient at all (0), marked ▼ at its bottom"
    if huge:
        text += f"; the gradient of {span(huge)} is too big to store, marked ▲ at its top"
    return text + "."


def describe(config: RunConfig) -> str:
    flame = f"{config.init} std {config.init_std:g}" if config.init in STD_INITS else config.init
    return f"{config.activation} · {flame} · {config.depth}×{config.width}"


OTHER_RUNS = ["#7f7f7f", "#bcbd22", "#9467bd"]  # earlier lab runs of this session, for comparison


def loss_chart(run: RunRecord, others: list[RunRecord]) -> alt.Chart:
    """This run's training loss per step and validation loss per epoch, the validation loss of this
    session's earlier lab runs, and the loss of guessing (the line a stuck network sits on)."""
    store = get_store()
    chance = math.log(DATASETS.get(run.config.dataset).factory.classes)
    rows = [{"step": s["step"], "loss": s["loss"], "curve": "training loss"} for s in store.steps(run.id)]
    names, colours = ["training loss", "validation loss"], ["#1f77b4", "#2ca02c"]

    def validation(record: RunRecord, name: str) -> list[dict]:
        per_epoch = record.steps_per_epoch or 0
        return [{"step": h["epoch"] * per_epoch, "loss": h["val_loss"], "curve": name}
                for h in store.history(record.id) if per_epoch]

    rows += validation(run, "validation loss")
    for other, colour in zip(others, OTHER_RUNS):
        name = f"#{other.id} {describe(other.config)}"
        rows += validation(other, name)
        names.append(name)
        colours.append(colour)
    last = max((r["step"] for r in rows), default=1)
    chance_name = f"guessing (chance) = {chance:.2f}"
    rows += [{"step": 0, "loss": chance, "curve": chance_name}, {"step": last, "loss": chance, "curve": chance_name}]
    names.append(chance_name)
    colours.append("#d62728")
    frame = pd.DataFrame(rows).dropna()
    top = max(2 * chance, min(float(frame["loss"].max()), 4 * chance))
    return alt.Chart(frame).mark_line(strokeWidth=3, clip=True).encode(
        x=alt.X("step:Q", title="training step"),
        y=alt.Y("loss:Q", title="loss", scale=alt.Scale(domain=[0, top], clamp=True)),
        color=alt.Color("curve:N", scale=alt.Scale(domain=names, range=colours),
                        legend=alt.Legend(orient="top", title=None, columns=2, labelLimit=360)),
        strokeDash=alt.condition(alt.datum.curve == chance_name, alt.value([8, 6]), alt.value([1, 0])),
    ).properties(height=440, title="Loss while training").configure_axis(
        labelFontSize=FONT, titleFontSize=FONT + 1).configure_legend(labelFontSize=FONT, symbolStrokeWidth=4).configure_title(
        fontSize=FONT + 3, anchor="start")


def show_training(run_id: int) -> None:
    """The run's loss curve beside its per-layer panel at a chosen probe step; polls while it runs."""
    store = get_store()
    record = store.get(run_id)
    if record is None:
        return
    was_active = record.status in ACTIVE

    @st.fragment(run_every=1.0 if was_active else None)
    def live() -> None:
        run = store.get(run_id)
        if was_active and run.status not in ACTIVE:
            st.rerun()  # the run ended: redraw the page once, without polling
        epochs = len(store.history(run_id))
        st.markdown(f"**Run #{run_id}** · {describe(run.config)} · {run.status} · epoch {epochs}/{run.config.epochs}"
                    + (f" · {run.error or run.message}" if run.status in ("failed", "diverged") else ""))
        probes = store.probes(run_id)
        left, right = st.columns([1, 1.25], gap="large")
        others = [r for r in store.runs(session=session_id(), limit=20)
                  if r.tag == "saturation-lab" and r.id != run_id and r.finished][:len(OTHER_RUNS)]
        left.altair_chart(loss_chart(run, others), width="stretch", key=f"lab_loss_{run_id}")
        if not probes:
            right.info("Waiting for the first measurement…")
            return
        steps = sorted(probes)
        key = f"lab_probe_step_{run_id}"
        # Follow the newest measurement unless the slider was moved back in time.
        if key not in st.session_state or st.session_state[key] == st.session_state.get(key + "_newest"):
            st.session_state[key] = steps[-1]
        st.session_state[key + "_newest"] = steps[-1]
        with right:
            step = st.select_slider("Time: training step of the measurement", steps, key=key)
            layers = probes[step]
            story = tell(layers)
            st.markdown(f"<span style='font-size:1.3rem;color:{TONE_COLOURS[story.tone]};font-weight:700'>"
                        f"Step {step}: {html.escape(story.verdict)}</span>", unsafe_allow_html=True)
            render_layer_panel(layers, key=f"lab_train_{run_id}")

    live()


st.title(f"{icons.SATURATION_LAB} Saturation Lab: every neuron is a stove")

try:
    config = read_settings()
    layers = probe_numbers(config.to_json())
except UserError as exc:
    show_user_error(exc)
    st.stop()

panel, words = st.columns([2.1, 1], gap="large")
with panel:
    render_layer_panel(layers, key="lab_init")
with words:
    show_story(tell(layers))
    st.caption(chart_caption(layers))

st.divider()
st.subheader("Train this network and watch the stoves")
c_epochs, c_button, _ = st.columns([1, 1, 2], vertical_alignment="bottom")
epochs = c_epochs.select_slider("Epochs", [1, 2, 3, 5, 10, 20], value=3, key="lab_epochs")
if c_button.button("Train this network", icon=icons.TRAIN_NETWORK, type="primary", key="lab_train"):
    try:
        run_id = get_worker().submit(config.replace(epochs=int(epochs)), name=f"Lab: {describe(config)}",
                                     tag="saturation-lab", session=session_id())
        st.session_state["lab_run_id"] = run_id
    except UserError as exc:
        show_user_error(exc)
if "lab_run_id" in st.session_state:
    show_training(st.session_state["lab_run_id"])
