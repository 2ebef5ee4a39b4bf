"""Train page: set the knobs (sidebar, in the tuning guide's order), start a run on the shared worker,
watch its curves, hints and layers grow live, and open any stored run. The URL carries the run id,
so a reload or a shared link shows the same run."""
from __future__ import annotations

import streamlit as st

from core import paths
from core.catalog import datasets
from core.config import RunConfig
from core.errors import ConfigError, UserError
from core.presets import PRESETS
from core.runs.store import RunRecord
from core.runs.sweeps import repeat_with_seeds
from pages.parts import knobs, train_tools
from pages.parts.run_view import ACTIVE, STATUS_ICON, show_run
from pages.parts.ui import get_store, get_worker, session_id, show_user_error, use_app_navigation

RUN_LIST_LIMIT = 200


def load_preset() -> None:
    name = st.session_state.get("preset")
    if name in PRESETS:
        knobs.set_values(PRESETS[name].config())
        st.session_state["preset_loaded"] = name


def current_config() -> RunConfig | None:
    """The knobs as a validated config; shows the error naming the field and returns None if not."""
    try:
        config = RunConfig.from_dict(knobs.values())
    except ConfigError as exc:
        show_user_error(exc)
        return None
    missing = datasets.missing_message(config.dataset)
    if missing and not paths.downloads_allowed():
        show_user_error(ConfigError("dataset", f"{config.dataset} is {missing}"))
        return None
    if missing:
        st.info(f"{config.dataset} is not on this computer yet: TuneLab downloads it when the run starts "
                f"(this needs internet). Offline, {missing.removeprefix('not available offline; ')}.")
    return config


def default_name(config: RunConfig) -> str:
    loaded = st.session_state.get("preset_loaded")
    if loaded in PRESETS and PRESETS[loaded].config() == config:
        return loaded
    return f"{config.optimizer} lr {config.lr:g} · {config.init} · {config.activation}"


def requested_run() -> int | None:
    """The run id in the URL (?run=12), or None; a bad value is reported, not raised."""
    raw = st.query_params.get("run")
    if raw is None:
        return None
    try:
        run_id = int(raw)
        if run_id < 1:
            raise ValueError
    except ValueError:
        show_user_error(ConfigError("run", f"must be a run number such as ?run=3 (got {raw!r})"))
        return None
    return run_id


def open_selected() -> None:
    st.query_params["run"] = str(st.session_state["open_run"])


def run_label(run: RunRecord, mine: bool) -> str:
    who = "" if mine else " · another session"
    return f"{STATUS_ICON.get(run.status, '')} {run.label} · {run.status}{who}"


def run_table(runs: list[RunRecord]) -> list[dict]:
    overview = get_store().overview([run.id for run in runs])
    rows = []
    for run in runs:
        known = overview.get(run.id, {"epochs": 0, "best_val_accuracy": None, "diagnosis": ""})
        c = run.config
        rows.append({
            "run": run.id, "name": run.name, "status": run.status, "dataset": c.dataset, "model": c.model,
            "optimizer": c.optimizer, "lr": c.lr, "init": c.init, "activation": c.activation,
            "epochs": f"{known['epochs']}/{c.epochs}", "best val acc": known["best_val_accuracy"],
            "diagnosis": known["diagnosis"],
        })
    return rows


def runs_section(current: int | None) -> None:
    st.subheader("Runs")
    store = get_store()
    everyone = store.runs(limit=RUN_LIST_LIMIT)
    mine = [r for r in everyone if r.session == session_id()]
    others = [r for r in everyone if r.session != session_id()]
    ordered = mine + others
    if not ordered:
        st.caption("No runs yet. Set the knobs and click Start training.")
        return
    labels = {r.id: run_label(r, r.session == session_id()) for r in ordered}
    if current in labels:
        st.session_state["open_run"] = current
    elif st.session_state.get("open_run") not in labels:
        st.session_state.pop("open_run", None)
    st.selectbox("Open a run", list(labels), format_func=labels.get, key="open_run", index=None,
                 placeholder="Choose a run to show it above", on_change=open_selected)
    column_config = {"lr": st.column_config.NumberColumn(format="%g"),
                     "best val acc": st.column_config.NumberColumn(format="percent")}
    if mine:
        st.markdown("**This session's runs**")
        st.dataframe(run_table(mine), hide_index=True, column_config=column_config, key="my_runs")
    if others:
        st.markdown("**Everyone's runs**")
        st.dataframe(run_table(others), hide_index=True, column_config=column_config, key="all_runs")


def repeat_section(run: RunRecord) -> None:
    """Seed noise: repeat the shown run with other seeds, and open its group on the Compare page."""
    with st.expander("Is it real or seed noise? Repeat this run with other seeds"):
        st.caption("The same settings with different seeds give different curves. Repeat the run, then compare "
                   "groups: only a difference larger than the seed-to-seed spread is real.")
        k_col, button_col = st.columns([1, 2], vertical_alignment="bottom")
        k = int(k_col.number_input("Runs in the group", min_value=2, max_value=10, value=3, key="seed_k"))
        if button_col.button(f"Repeat with {k} seeds", key="repeat"):
            try:
                ids = repeat_with_seeds(get_store(), get_worker(), run, k, session=session_id())
            except UserError as exc:
                show_user_error(exc)
            else:
                st.success(f"Group of {len(ids)} runs: #{', #'.join(map(str, ids))} (the new ones are queued).")
                run = get_store().get(run.id)
        group = get_store().group(run.group_id) if run.group_id else []
        if len(group) > 1:
            st.markdown(f"[Compare the group on the Compare page](compare?runs={','.join(str(r.id) for r in group)})")


use_app_navigation()
st.title("🎛️ Train")
train_tools.apply_import()
knobs.render(st.sidebar)

preset_col, load_col, _ = st.columns([3, 1, 2], vertical_alignment="bottom")
preset = preset_col.selectbox("Preset from the tuning guide", list(PRESETS), index=None, key="preset",
                              placeholder="Start from a preset…")
load_col.button("Load preset", on_click=load_preset, disabled=preset is None, key="load_preset")
if preset:
    st.caption(PRESETS[preset].lesson)

config = current_config()
run_id = requested_run()
shown = get_store().get(run_id) if run_id else None

name_col, start_col, cancel_col, queue_col = st.columns([3, 1.2, 1, 2], vertical_alignment="bottom")
name = name_col.text_input("Run name", key="run_name", placeholder=default_name(config) if config else "")
start = start_col.button("Start training", type="primary", disabled=config is None, key="start")
cancel = cancel_col.button("Cancel", disabled=shown is None or shown.status not in ACTIVE, key="cancel")

worker = get_worker()
if start and config is not None:
    try:
        run_id = worker.submit(config, name=name.strip() or default_name(config), session=session_id())
    except UserError as exc:
        show_user_error(exc)
    else:
        st.query_params["run"] = str(run_id)
        st.rerun()  # draw the whole page for the new run (its Cancel button enabled)
if cancel and run_id:
    if not worker.cancel(run_id):
        st.warning(f"Run #{run_id} is not waiting or running in this server's queue any more.")
if "hint_tried" in st.session_state and not st.session_state.get("hint_clicked"):  # (else: said after the rerun)
    tried = st.session_state.pop("hint_tried")
    st.success(f"Loaded into the knobs: {tried}. Click **Start training**, then compare the two runs.", icon="🧪")
waiting, running = len(worker.queued()), len(worker.running())
queue_col.caption(f"Queue on {worker.device}: {running} running, {waiting} waiting")

st.divider()
if run_id:
    show_run(run_id)
    if shown is not None:
        repeat_section(shown)
else:
    st.info("Set the knobs in the sidebar, or load a preset, then click **Start training**. "
            "The curves grow here while the run trains, and TuneLab says what they show.")
st.divider()
train_tools.render(config, get_store().get(run_id) if run_id else None)
st.divider()
runs_section(run_id)
