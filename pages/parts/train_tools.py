"""The Train page's tools below the run: a one-knob sweep queued as a group, the learning-rate range
test with a button that puts its suggestion into the knobs, export of the shown run (history CSV,
config JSON, TensorBoard events, a standalone PyTorch script) and import of a config JSON into the
knobs. Not a page (app.py does not list it)."""
from __future__ import annotations

import logging
import math

import altair as alt
import pandas as pd
import streamlit as st

from core.config import RunConfig
from core.errors import UserError
from core.export.bundle import FORMATS, download
from core.export.files import import_config
from core.runs import sweeps
from core.runs.people import Person
from core.runs.store import RunRecord
from core.training.lr_finder import lr_range_test
from pages.parts import icons, knobs
from pages.parts.run_charts import FONT
from pages.parts.ui import get_store, get_worker, session_id, show_user_error

log = logging.getLogger("tunelab.ui")

SWEEPABLE = ("lr", "optimizer", "activation", "init", "batch_size", "dropout", "l2", "init_std", "momentum",
             "schedule", "seed")
IMPORT_KEY = "import_config"


def default_values(param: str, config: RunConfig) -> str:
    if param == "lr":
        return ",".join(f"{v:g}" for v in sweeps.log_space(config.lr / 10, config.lr * 10, 5))
    if param in ("optimizer", "activation", "init", "schedule"):
        return "all"
    if param == "seed":
        return ",".join(str(config.seed + i) for i in range(3))
    if param == "batch_size":
        return "32,64,128"
    if param in ("dropout", "l2"):
        return "0,0.1,0.3" if param == "dropout" else "0,1e-4,1e-3"
    return str(getattr(config, param))


def sweep_tab(config: RunConfig | None, person: Person | None) -> None:
    st.caption("Change one setting over a list and keep everything else, the seed included: the runs start "
               "from the same weights where the shapes allow and see the data in the same order, so the "
               "difference is the knob's. They are queued as one group and appear on the Compare page.")
    if config is None:
        st.caption("Fix the settings above first.")
        return
    param_col, values_col, button_col = st.columns([1, 2, 1], vertical_alignment="bottom")
    param = param_col.selectbox("Setting", SWEEPABLE, key="sweep_param", format_func=knobs.label)
    values = values_col.text_input("Values (comma-separated, or all)", value=default_values(param, config),
                                   key=f"sweep_values_{param}")
    if button_col.button("Queue the sweep", key="sweep_start", disabled=person is None,
                         help="The whole sweep counts as one of your waiting requests in a class."):
        try:
            result = sweeps.queue_sweep(get_worker(), sweeps.sweep_configs(config, param, values), session=session_id(),
                                        by=person)
        except UserError as exc:
            show_user_error(exc)
            return
        ids = ",".join(str(r.run_id) for r in result.runs)
        st.success(f"Queued {len(result.runs)} runs ({', '.join(r.name for r in result.runs)}).")
        st.markdown(f"[Watch them arrive on the Compare page](compare?runs={ids})")


def use_rate(rate: float) -> None:
    knobs.set_value("lr", float(f"{rate:.3g}"))


def finder_chart(result) -> alt.LayerChart:
    frame = pd.DataFrame({"lr": result.lrs, "loss": result.losses, "trend": result.trend}).replace(
        [math.inf, -math.inf], math.nan)
    base = alt.Chart(frame).encode(x=alt.X("lr:Q", scale=alt.Scale(type="log"), title="learning rate"))
    start = frame["trend"].dropna()
    top = 2.5 * float(start.iloc[0]) if len(start) and start.iloc[0] > 0 else None  # the blow-up is clipped
    y = alt.Y("loss:Q", title="training loss", scale=alt.Scale(domain=[0, top]) if top else alt.Scale(zero=True))
    raw = base.mark_line(opacity=0.3, color="#1f77b4", clip=True).encode(y=y)
    trend = base.mark_line(strokeWidth=3, color="#1f77b4", clip=True).encode(y="trend:Q")
    marks = [{"lr": result.suggested_lr, "what": f"suggested {result.suggested_lr:.2g}"}] if result.suggested_lr else []
    if result.edge_lr:
        marks.append({"lr": result.edge_lr, "what": f"instability edge {result.edge_lr:.2g}"})
    layers = [raw, trend]
    if marks:
        rules = alt.Chart(pd.DataFrame(marks)).encode(x="lr:Q")
        layers += [rules.mark_rule(strokeDash=[6, 4], strokeWidth=2, color="#d62728"),
                   rules.mark_text(align="left", dx=4, dy=-120, fontSize=FONT, color="#d62728").encode(text="what:N")]
    return alt.layer(*layers).properties(height=320).configure_axis(labelFontSize=FONT, titleFontSize=FONT)


def finder_tab(config: RunConfig | None) -> None:
    st.caption("The learning-rate range test (fastai's lr_find, made robust to NaN and noisy losses): a few "
               "hundred steps from these settings' initial weights with the rate growing from 1e-7 to 10; "
               "the loss falls, flattens, then blows up. The suggestion sits on the steep fall, well before "
               "the edge.")
    if config is None:
        st.caption("Fix the settings above first.")
        return
    if st.button("Find a learning rate", key="lr_find"):
        try:
            with st.spinner("Ramping the learning rate…"):
                st.session_state["lr_find_result"] = (config.to_json(), lr_range_test(config, steps=150))
        except UserError as exc:
            show_user_error(exc)
    found = st.session_state.get("lr_find_result")
    if not found:
        return
    tested, result = found
    if tested != config.to_json():
        st.caption("(The settings changed since this test; run it again for these.)")
    st.altair_chart(finder_chart(result), width="stretch", key="lr_find_chart")
    if result.suggested_lr:
        st.button(f"Use {result.suggested_lr:.3g} as the learning rate", key="lr_use", on_click=use_rate,
                  args=(result.suggested_lr,), type="primary")
    else:
        st.info(result.note or "No clear suggestion: the loss never fell steadily.")


EXPORTS = {  # format -> (button label, what the caption says)
    "csv": "History CSV",
    "json": "Config JSON",
    "tensorboard": "TensorBoard folder (zip)",
    "script": "Standalone PyTorch script",
}
CHEAP = ("csv", "json")  # built at the click of the download button itself


def _prepared(run_id: int, fmt: str) -> tuple[str, bytes] | None:
    return st.session_state.get(f"export_{run_id}_{fmt}")


def _prepare(run_id: int, fmt: str) -> None:
    """Button callback: build one costly export (the script is checked in a subprocess first)."""
    try:
        st.session_state[f"export_{run_id}_{fmt}"] = download(get_store(), run_id, fmt)
    except UserError as exc:
        st.session_state[f"export_error_{run_id}"] = str(exc)
    except Exception:  # a bug of ours: said in words, logged for a developer, never a traceback
        log.exception("export %s of run %s failed", fmt, run_id)
        st.session_state[f"export_error_{run_id}"] = (
            f"The {EXPORTS[fmt].lower()} of run #{run_id} could not be made; the server's log says why.")


def export_tab(run: RunRecord | None) -> None:
    """Exports are made when asked for: the history and config at the download click, the TensorBoard
    folder and the script (which is run once in a subprocess to check it) behind a Prepare button."""
    if run is None:
        st.caption("Open a run above to export it.")
        return
    if not run.finished:
        st.caption("The exports come when the run has finished.")
        return
    st.caption("The history CSV has Keras CSVLogger's columns (the Curve Doctor reads it back); the config "
               "JSON fills this page again; the TensorBoard folder shows in `tensorboard --logdir`; the script "
               "reproduces the run with PyTorch alone.")
    error = st.session_state.pop(f"export_error_{run.id}", None)
    if error:
        st.error(error, icon=icons.ERROR)
    store = get_store()
    for column, fmt in zip(st.columns(len(FORMATS)), FORMATS):
        ready = _prepared(run.id, fmt)
        if fmt in CHEAP:
            name = f"run_{run.id}_history.csv" if fmt == "csv" else f"run_{run.id}_config.json"
            column.download_button(EXPORTS[fmt], data=lambda fmt=fmt: download(store, run.id, fmt)[1],
                                   file_name=name, key=f"download_{run.id}_{fmt}", on_click="ignore")
        elif ready is None:
            column.button(f"Prepare: {EXPORTS[fmt]}", key=f"prepare_{run.id}_{fmt}", on_click=_prepare,
                          args=(run.id, fmt))
        else:
            column.download_button(f"{EXPORTS[fmt]} ({len(ready[1]) / 1024:.0f} KB)", ready[1], file_name=ready[0],
                                   key=f"download_{run.id}_{fmt}", on_click="ignore")


def import_tab() -> None:
    st.caption("A config JSON exported from TuneLab (or written by hand) fills every knob.")
    upload = st.file_uploader("Config JSON", type=["json"], key=IMPORT_KEY)
    message = st.session_state.get("import_message")
    if upload is not None and message:  # said for as long as that file sits in the uploader
        (st.success if message[0] == "ok" else st.error)(message[1])


def apply_import() -> None:
    """Call before the knobs are drawn: a newly uploaded config goes into the knobs."""
    upload = st.session_state.get(IMPORT_KEY)
    if upload is None or st.session_state.get("imported_file") == upload.file_id:
        return
    st.session_state["imported_file"] = upload.file_id
    try:
        config = import_config(upload.getvalue())
    except UserError as exc:
        st.session_state["import_message"] = ("error", f"{upload.name}: {exc}")
        return
    knobs.set_values(config)
    st.session_state["import_message"] = ("ok", f"Loaded {upload.name} into the knobs.")


def render(config: RunConfig | None, run: RunRecord | None, person: Person | None = None) -> None:
    sweep_col, finder_col, export_col, import_col = st.tabs(
        ["One-knob sweep", "Find a learning rate", "Export this run", "Import a config"])
    with sweep_col:
        sweep_tab(config, person)
    with finder_col:
        finder_tab(config)
    with export_col:
        export_tab(run)
    with import_col:
        import_tab()
