"""One run, live: status and progress, the loss / accuracy / learning-rate charts, the Curve Doctor's
hints and the per-layer panel. A fragment re-reads the store every second while the run is queued or
running and stops polling when it ends. Used by the Train page; not a page itself."""
from __future__ import annotations

import time

import streamlit as st

from core.datasets import DATASETS
from core.diagnose import diagnose
from core.run_progress import summarize
from core.store import RunRecord
from pages.hint_view import render_hints
from pages.layer_panel import render_layer_panel
from pages.run_charts import accuracy_chart, loss_chart, lr_chart
from pages.ui import get_store, get_worker

ACTIVE = ("queued", "running")
POLL_SECONDS = 1.0
STATUS_ICON = {"queued": "⏳", "running": "🏃", "completed": "✅", "diverged": "💥", "cancelled": "⏹️",
               "failed": "❌", "interrupted": "⚡"}


def classes_of(run: RunRecord) -> int | None:
    try:
        return DATASETS.get(run.config.dataset).factory.classes
    except Exception:  # a stored run of a data set this version does not know
        return None


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
    classes = classes_of(run)
    hints = diagnose(history, steps, probes, classes, run.config.to_dict(), run.config.epochs) if history else []
    latest = max(probes) if probes else None
    return {"history": history, "steps": steps, "hints": hints, "classes": classes,
            "probe_step": latest, "layers": probes[latest] if probes else []}


def _draw(run: RunRecord) -> None:
    store = get_store()
    data = snapshot(str(store.path), run.id, store.version(run.id))
    history, steps, classes = data["history"], data["steps"], data["classes"]
    last_step = steps[-1]["step"] if steps else 0
    position = get_worker().position(run.id) if run.status == "queued" else None
    progress = summarize(run, history, last_step, time.time(), position)

    st.markdown(f"### {STATUS_ICON.get(run.status, '')} {run.label} · {run.status}")
    st.caption(settings_line(run))
    st.progress(progress.fraction, text=progress.text)

    epochs = run.config.epochs
    left, right = st.columns([3, 2], gap="medium")
    with left:
        st.altair_chart(loss_chart(history, steps, run.steps_per_epoch, epochs, classes), width="stretch",
                        key=f"loss_{run.id}")
    with right:
        st.altair_chart(accuracy_chart(history, epochs, classes, height=260), width="stretch", key=f"acc_{run.id}")
        st.altair_chart(lr_chart(history, steps, run.steps_per_epoch, epochs, height=160), width="stretch",
                        key=f"lr_{run.id}")

    hints_col, layers_col = st.columns([2, 3], gap="medium")
    with hints_col:
        st.markdown("#### What the curves say")
        if history:
            render_hints(data["hints"])
        else:
            st.caption("The Curve Doctor reads the curves after the first epochs.")
    with layers_col:
        st.markdown("#### Inside the network, layer by layer")
        if data["layers"]:
            st.caption(f"Measured on a fixed batch of validation images at step {data['probe_step']:,}: where each "
                       "layer's outputs sit, how many units saturate or die, and how much gradient reaches each layer.")
            render_layer_panel(data["layers"], key=f"layers_{run.id}")
        else:
            st.caption("The first per-layer measurement comes with the first training step.")


def show_run(run_id: int) -> None:
    """The run's live view; polls while it is queued or running."""
    run = get_store().get(run_id)
    if run is None:
        st.warning(f"There is no run #{run_id} in the store (it may have been deleted).")
        return
    was_active = run.status in ACTIVE

    @st.fragment(run_every=POLL_SECONDS if was_active else None)
    def live() -> None:
        current = get_store().get(run_id)
        if was_active and current.status not in ACTIVE:
            st.rerun()  # it ended: redraw the whole page once (buttons, run list) and stop polling
        _draw(current)

    live()
