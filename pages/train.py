"""Train page: say who you are, set the knobs (sidebar, in the tuning guide's order) or choose a preset,
start a run on the shared worker, watch its curves, hints and layers grow live, and open any stored
run (its settings go into the knobs). The URL carries the run id, so a reload or a shared link shows
the same run; only its owner or the teacher can cancel it. Laid out for a projector: at 1280x720 the
loss and accuracy charts and the first hint are on the first screen."""
from __future__ import annotations

import streamlit as st

from core import paths
from core.catalog import datasets
from core.config import RunConfig
from core.errors import ConfigError, UserError
from core.presets import PRESETS
from core.runs.people import Person
from core.runs.store import RunRecord
from core.runs.sweeps import repeat_with_seeds
from pages.parts import icons, knobs, train_tools
from pages.parts.identity import identity_box
from pages.parts.run_view import ACTIVE, show_run
from pages.parts.ui import get_classroom, get_store, get_worker, plain, session_id, show_user_error, use_app_navigation

RUN_LIST_LIMIT = 200


def load_preset() -> None:
    """The preset selectbox's callback: choosing a preset loads it into the knobs."""
    name = st.session_state.get("preset")
    if name in PRESETS:
        knobs.set_values(PRESETS[name].config())
        st.session_state["preset_loaded"] = name


def load_opened(run_id: int | None) -> None:
    """Opening a run (by its address or the run list) puts its settings into the knobs, once per
    opening: Start then re-runs it, or a changed copy of it. Call before the knobs are drawn."""
    if run_id is None or st.session_state.get("knobs_from_run") == run_id:
        return
    st.session_state["knobs_from_run"] = run_id
    run = get_store().get(run_id)
    if run is not None:
        knobs.set_values(run.config)
        st.session_state["knobs_loaded_note"] = run_id


def load_settings_of(run_id: int) -> None:
    """The "Load these settings" button's callback."""
    run = get_store().get(run_id)
    if run is not None:
        knobs.set_values(run.config)
        st.session_state["knobs_loaded_note"] = run_id


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


def default_name(config: RunConfig, taken: set[str]) -> str:
    """The preset's name or the settings in brief, made unique among the stored runs' names."""
    loaded = st.session_state.get("preset_loaded")
    base = (loaded if loaded in PRESETS and PRESETS[loaded].config() == config else
            f"{config.optimizer} lr {config.lr:g} · {config.init} · {config.activation}")
    name, n = base, 2
    while name in taken:
        name, n = f"{base} ({n})", n + 1
    return name


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
    who = "" if mine else f" · {run.owner_name or 'nobody'}"
    return f"{run.label} · {run.status}{who}"


def is_mine(run: RunRecord, person: Person | None) -> bool:
    """A run is mine when my browser (or account) made it; before anyone had a name, by this session."""
    if person is not None and run.owner_id:
        return run.owner_id == person.id
    return run.session == session_id()


def run_table(runs: list[RunRecord], with_owner: bool) -> list[dict]:
    overview = get_store().overview([run.id for run in runs])
    rows = []
    for run in runs:
        known = overview.get(run.id, {"epochs": 0, "best_val_accuracy": None, "diagnosis": ""})
        c = run.config
        row = {"run": run.id, "name": run.name}
        if with_owner:
            row["owner"] = run.owner_name
        row.update({"status": run.status, "best val acc": known["best_val_accuracy"], "diagnosis": known["diagnosis"],
                    "epochs": f"{known['epochs']}/{c.epochs}", "dataset": c.dataset, "model": c.model,
                    "optimizer": c.optimizer, "lr": c.lr, "init": c.init, "activation": c.activation})
        rows.append(row)
    return rows


def runs_section(current: int | None, person: Person | None, everyone: list[RunRecord]) -> None:
    st.subheader("Runs")
    mine = [r for r in everyone if is_mine(r, person)]
    others = [r for r in everyone if not is_mine(r, person)]
    ordered = mine + others
    if not ordered:
        st.caption("No runs yet. Set the knobs and click Start training.")
        return
    labels = {r.id: run_label(r, is_mine(r, person)) for r in ordered}
    if current in labels:
        st.session_state["open_run"] = current
    elif st.session_state.get("open_run") not in labels:
        st.session_state.pop("open_run", None)
    st.selectbox("Open a run", list(labels), format_func=labels.get, key="open_run", index=None,
                 placeholder="Choose a run to show it above (its settings go into the knobs)", on_change=open_selected)
    column_config = {"lr": st.column_config.NumberColumn(format="%g"),
                     "best val acc": st.column_config.NumberColumn(format="percent")}
    if mine:
        st.markdown("**My runs**")
        st.dataframe(run_table(mine, with_owner=False), hide_index=True, column_config=column_config, key="my_runs")
    if others:
        st.markdown("**Everyone else's runs** (read-only)")
        st.dataframe(run_table(others, with_owner=True), hide_index=True, column_config=column_config, key="all_runs")


def repeat_section(run: RunRecord, person: Person | None) -> None:
    """Seed noise: repeat the shown run with other seeds, and open its group on the Compare page."""
    with st.expander("Is it real or seed noise? Repeat this run with other seeds"):
        st.caption("The same settings with different seeds give different curves. Repeat the run, then compare "
                   "groups: only a difference larger than the seed-to-seed spread is real.")
        k_col, button_col = st.columns([1, 2], vertical_alignment="bottom")
        k = int(k_col.number_input("Runs in the group", min_value=2, max_value=10, value=3, key="seed_k"))
        if button_col.button(f"Repeat with {k} seeds", key="repeat"):
            try:
                ids = repeat_with_seeds(get_store(), get_worker(), run, k, session=session_id(), by=person)
            except UserError as exc:
                show_user_error(exc)
            else:
                st.success(f"Group of {len(ids)} runs: #{', #'.join(map(str, ids))} (the new ones are queued).")
                run = get_store().get(run.id)
        group = get_store().group(run.group_id) if run.group_id else []
        if len(group) > 1:
            st.markdown(f"[Compare the group on the Compare page](compare?runs={','.join(str(r.id) for r in group)})")


use_app_navigation()
person = identity_box(st.sidebar)
st.title(f"{icons.TRAIN} Train")
train_tools.apply_import()
run_id = requested_run()
load_opened(run_id)
knobs.render(st.sidebar)

store, worker = get_store(), get_worker()
config = current_config()
shown = store.get(run_id) if run_id else None
everyone = store.runs(limit=RUN_LIST_LIMIT)
may_cancel = shown is not None and shown.status in ACTIVE and get_classroom().may_manage(person, shown)

preset_col, name_col, start_col, cancel_col = st.columns([2.2, 2.2, 1.2, 0.9], vertical_alignment="bottom")
preset = preset_col.selectbox("Preset from the tuning guide", list(PRESETS), index=None, key="preset",
                              placeholder="Start from a preset…", on_change=load_preset,
                              help="Choosing one loads its settings into the knobs.")
name = name_col.text_input("Run name", key="run_name",
                           placeholder=default_name(config, {r.name for r in everyone}) if config else "")
start = start_col.button("Start training", type="primary", disabled=config is None or person is None, key="start",
                         help=None if person is not None else "Type your name in the sidebar first.")
cancel = cancel_col.button("Cancel", disabled=not may_cancel, key="cancel",
                           help=None if may_cancel or shown is None or shown.status not in ACTIVE
                           else f"Only {shown.owner_name or 'its owner'} or the teacher can cancel this run.")
if preset:
    st.caption(PRESETS[preset].lesson)

if start and config is not None:
    try:
        run_id = worker.submit(config, name=name.strip() or default_name(config, {r.name for r in everyone}),
                               session=session_id(), by=person)
    except UserError as exc:
        show_user_error(exc)
    else:
        st.session_state["knobs_from_run"] = run_id  # (the knobs already hold its settings)
        st.query_params["run"] = str(run_id)
        st.rerun()  # draw the whole page for the new run (its Cancel button enabled)
if cancel and run_id:
    try:
        if not worker.cancel(run_id, by=person):
            st.warning(f"Run #{run_id} is not waiting or running in this server's queue any more.")
    except UserError as exc:
        show_user_error(exc)
if "hint_tried" in st.session_state and not st.session_state.get("hint_clicked"):  # (else: said after the rerun)
    tried = st.session_state.pop("hint_tried")
    st.success(f"Loaded into the knobs: {tried}. Click **Start training**, then compare the two runs.", icon=icons.TRIED)
loaded_note = st.session_state.pop("knobs_loaded_note", None)
if loaded_note is not None and loaded_note == run_id and shown is not None:
    st.caption(f"The knobs hold run #{run_id}'s settings: change one, then Start training to compare.")

if run_id:
    if shown is not None and not is_mine(shown, person):
        owner = plain(shown.owner_name) or "nobody"
        if person is not None and person.is_teacher:
            st.caption(f"Run #{shown.id} belongs to {owner}: as the teacher you can cancel it.")
        elif not get_classroom().may_manage(person, shown):  # (alone on a laptop, every run is yours)
            st.caption(f"Run #{shown.id} belongs to {owner}: you can watch it and copy its settings, not cancel it.")
    show_run(run_id)
    if shown is not None:
        st.button("Load these settings", key="load_settings", on_click=load_settings_of, args=(shown.id,),
                  help="Put this run's settings into the knobs.")
        repeat_section(shown, person)
else:
    st.info("Set the knobs in the sidebar, or choose a preset, then click **Start training**. "
            "The curves grow here while the run trains, and TuneLab says what they show.")
waiting, running = len(worker.queued()), len(worker.running())
paused = " · paused by the teacher" if worker.paused() else ""
st.caption(f"Queue on {worker.device}: {running} running, {waiting} waiting{paused}. People take turns: "
           "each person's next run starts after everyone else's waiting one.")
st.divider()
train_tools.render(config, shown, person)
st.divider()
runs_section(run_id, person, everyone)
