"""One run, live: status and progress, the loss / accuracy / learning-rate charts, the Curve Doctor's
hints and the per-layer panel. A fragment re-reads the store every second while the run is queued or
running and stops polling when it ends. Used by the Train page; not a page itself."""
from __future__ import annotations

import time

import streamlit as st

from core.catalog.datasets import classes_of
from core.doctor.diagnose import Hint
from core.runs.lifecycle import stored_diagnosis
from core.runs.progress import summarize
from core.runs.store import RunRecord
from pages.parts.hint_view import render_hints
from pages.parts.layer_panel import panel_specs, render_panel_specs
from pages.parts.run_charts import accuracy_chart, loss_chart, lr_chart
from pages.parts import icons
from pages.parts.ui import get_store, get_worker, plain

ACTIVE = ("queued", "running")
POLL_SECONDS = 2.0
CHART_HEIGHT = 250  # loss and accuracy side by side: both on a 720-pixel projector's first screen
# Seconds between redraws by phase (None: no polling).
POLL_EVERY = {"starting": 0.5, "waiting": POLL_SECONDS, "training": POLL_SECONDS, "done": None}


def settings_line(run: RunRecord) -> str:
    c = run.config
    model = f"mlp {c.depth}×{c.width}" if c.model == "mlp" else c.model
    return (f"{c.dataset} · {model} · {c.optimizer} lr {c.lr:g} · {c.init} · {c.activation} · "
            f"batch {c.batch_size} · {c.epochs} epochs · seed {c.seed}")


@st.cache_data(max_entries=256, show_spinner=False)
def snapshot(db_path: str, run_id: int, version: tuple) -> dict:
    """Everything the view shows of a run at one `version` of it, with the Curve Doctor's hints.
    Shared by every browser watching the run and recomputed only when the run changes, so a class
    of 30 watching one run costs one read per change, not 30 a second."""
    store = get_store()
    run = store.get(run_id)
    history, steps, probes = store.history(run_id), store.steps(run_id), store.probes(run_id)
    classes = classes_of(run.config.dataset)
    # a finished run's stored diagnosis (made again if the rules changed since); a live one's, now
    hints = [Hint.from_dict(h) for h in stored_diagnosis(store, run)] if history else []
    latest = max(probes) if probes else None
    epochs = run.config.epochs
    charts = {  # Vega-Lite specs
        "loss": loss_chart(history, steps, run.steps_per_epoch, epochs, classes, height=CHART_HEIGHT,
                           marks=[m for hint in hints for m in hint.marks]),
        "accuracy": accuracy_chart(history, epochs, classes, height=CHART_HEIGHT),
        "lr": lr_chart(history, steps, run.steps_per_epoch, epochs, height=160),
    }
    return {"history": history, "last_step": steps[-1]["step"] if steps else 0, "hints": hints,
            "charts": charts, "probe_step": latest}


@st.cache_data(max_entries=64, show_spinner=False)
def layer_snapshot(db_path: str, run_id: int, probe_step: int) -> dict:
    """The per-layer panel at one probe step (it changes only every few dozen steps)."""
    layers = get_store().probes(run_id, step=probe_step)[probe_step]
    return {"specs": panel_specs(layers), "activation": layers[0]["activation"]}


def _draw(run: RunRecord) -> None:
    store = get_store()
    data = snapshot(str(store.path), run.id, store.version(run.id))
    history, last_step = data["history"], data["last_step"]
    position = get_worker().position(run.id) if run.status == "queued" else None
    progress = summarize(run, history, last_step, time.time(), position)

    name = f" {plain(run.name)}" if run.name else ""
    owner = f" · {plain(run.owner_name)}" if run.owner_name else ""
    st.markdown(f"#### {icons.status(run.status)} #{run.id}{name} · {run.status}{owner}")
    st.progress(progress.fraction, text=f"{progress.text} · {settings_line(run)}")

    # a projector's first screen: loss, accuracy and the first hint side by side
    loss_col, acc_col, hints_col = st.columns([3.2, 2.6, 3.6], gap="small")
    loss_col.vega_lite_chart(data["charts"]["loss"], width="stretch", key=f"loss_{run.id}")
    acc_col.vega_lite_chart(data["charts"]["accuracy"], width="stretch", key=f"acc_{run.id}")
    with hints_col:
        st.markdown("**What the curves say**")
        if history:
            render_hints(data["hints"], base=run.config, key=f"hints_{run.id}")
        else:
            st.caption("The Curve Doctor reads the curves after the first epochs.")

    lr_col, layers_col = st.columns([2, 3], gap="medium")
    lr_col.vega_lite_chart(data["charts"]["lr"], width="stretch", key=f"lr_{run.id}")
    with layers_col:
        st.markdown("#### Inside the network, layer by layer")
        if data["probe_step"] is not None:
            st.caption(f"Measured on a fixed batch of validation images at step {data['probe_step']:,}: where each "
                       "layer's outputs sit, how many units saturate or die, and how much gradient reaches each layer.")
            panel = layer_snapshot(str(store.path), run.id, data["probe_step"])
            render_panel_specs(panel["specs"], panel["activation"], key=f"layers_{run.id}")
        elif run.status in ACTIVE:
            st.caption("The first per-layer measurement comes with the first training step.")
        else:
            st.caption("This run has no per-layer measurements (it stopped before its first step).")


def phase(run: RunRecord) -> str:
    """How closely to watch a run: 'done'; 'starting' (running with no step yet, or about to start on
    an idle worker: the first point is due any moment); 'waiting' (in the queue); 'training'."""
    if run.status not in ACTIVE:
        return "done"
    if run.status == "running":
        return "training" if (get_store().version(run.id) or (None,) * 4)[3] else "starting"
    worker = get_worker()
    position = worker.position(run.id)
    next_up = position is not None and position <= 1 and not worker.running()
    return "starting" if next_up else "waiting"


def show_run(run_id: int) -> None:
    """The run's live view; polls while it is queued or running, fast only while its first point is
    due. Each poll redraws the page's live part in every watching browser, which on a laptop that is
    also the server costs training speed, so a training run is redrawn every POLL_SECONDS."""
    run = get_store().get(run_id)
    if run is None:
        st.warning(f"There is no run #{run_id} in the store (it may have been deleted).")
        return
    shown_phase = phase(run)

    @st.fragment(run_every=POLL_EVERY[shown_phase])
    def live() -> None:
        current = get_store().get(run_id)
        if phase(current) != shown_phase:
            st.rerun()  # started, first point in, or ended: redraw the page once with the new pace
        _draw(current)

    live()
