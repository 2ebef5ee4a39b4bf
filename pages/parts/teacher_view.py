"""The Teacher page's sections: the queue (pause, resume, cancel any run), removing runs, the class's
limits, the pinned challenge with its standings and CSV, and the end-of-term reset. Every action
passes the person to core, which checks the role; a refusal shows as st.error, never a traceback.

After an action succeeds the page reruns whole (so every section shows the new state) and the
section says what it did; what it said is kept in the session across that rerun."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from core.catalog.datasets import DATASETS
from core.catalog.models import MODELS
from core.config import RunConfig
from core.errors import UserError
from core.runs.budget import format_seconds
from core.runs.classroom import WINS, ClassSettings
from core.runs.people import Person
from core.runs.store import RunRecord
from pages.parts import icons
from pages.parts.ui import get_classroom, get_store, get_worker, plain, show_user_error

QUEUE_POLL_SECONDS = 2.0
RUN_LIST_LIMIT = 500
MAX_SECONDS = 7 * 24 * 3600
LIMIT_KEYS = ("teacher_cap", "teacher_budget", "teacher_time_limit")
CHALLENGE_KEYS = ("teacher_ch_dataset", "teacher_ch_model", "teacher_ch_epochs", "teacher_ch_wins", "teacher_ch_title")
RESET_KEYS = ("teacher_reset_confirm", "teacher_reset_people", "teacher_reset_settings")


def _said(section: str) -> None:
    """Show what the last action in `section` did (kept across the rerun that followed it)."""
    for item in st.session_state.pop(f"teacher_said_{section}", []):
        if isinstance(item, UserError):
            show_user_error(item)
        else:
            st.success(item, icon=icons.DONE)


def _tell(section: str, *items: str | UserError) -> None:
    """Remember what an action did and rerun the whole page, so every section shows the new state."""
    st.session_state[f"teacher_said_{section}"] = list(items)
    st.rerun()


def _owner(run: RunRecord) -> str:
    if not run.owner_id:
        return "(no owner)"
    return run.owner_name or "(no name)"


def _runs(ids: list[int], selection_key: str) -> list[int]:
    """Drop from a multiselect's selection the runs no longer offered (before the widget is drawn)."""
    if selection_key in st.session_state:
        st.session_state[selection_key] = [i for i in st.session_state[selection_key] if i in ids]
    return ids


# ---- the queue ------------------------------------------------------------------------------------
def queue_section(person: Person | None) -> None:
    st.session_state["teacher_full_run"] = True
    _queue(person)


@st.fragment(run_every=QUEUE_POLL_SECONDS)
def _queue(person: Person | None) -> None:
    running, waiting = get_worker().running(), get_worker().queued()
    _draw_queue(person, running, waiting)
    # When runs started or ended since the last poll, redraw the whole page: the run list and the
    # standings change too. Only on the fragment's own reruns, and after its buttons (a rerun before
    # them would drop the click).
    active = frozenset(running) | frozenset(waiting)
    seen = st.session_state.get("teacher_active")
    st.session_state["teacher_active"] = active
    if not st.session_state.pop("teacher_full_run", False) and seen is not None and seen != active:
        st.rerun()


def _draw_queue(person: Person | None, running: list[int], waiting: list[int]) -> None:
    worker, store, classroom = get_worker(), get_store(), get_classroom()
    st.subheader("Queue")
    _said("queue")
    paused = worker.paused()
    state_col, button_col = st.columns([3, 1], vertical_alignment="center")
    if paused:
        finishing = f"; the {len(running)} training finish" if running else ""
        state_col.markdown(f"{icons.PAUSE} **Paused**: nothing new starts{finishing}; people can still queue "
                           f"({len(waiting)} waiting).")
    else:
        state_col.markdown(f"{icons.RESUME} **Running** on {worker.device}: {len(running)} training, {len(waiting)} waiting, "
                           "served in fair turns (one run per person in turn).")
    if button_col.button("Resume the queue" if paused else "Pause the queue", key="teacher_pause",
                         icon=icons.RESUME if paused else icons.PAUSE,
                         type="primary" if paused else "secondary", width="stretch"):
        try:
            (classroom.resume if paused else classroom.pause)(person)
        except UserError as exc:
            show_user_error(exc)
        else:
            _tell("queue", "Resumed: waiting runs start again." if paused
                  else "Paused: nothing new starts until you resume; runs already training finish.")

    records = {i: store.get(i) for i in running + waiting}
    ids = [i for i in running + waiting if records[i] is not None]
    if not ids:
        st.caption("Nothing is waiting or training.")
        return
    rows = [{"place": "training" if i in running else str(worker.position(i) or ""), "run": i,
             "name": records[i].name, "owner": _owner(records[i]), "status": records[i].status,
             "settings": f"{records[i].config.dataset} · {records[i].config.model} · {records[i].config.epochs} epochs"}
            for i in ids]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="teacher_queue_table")
    pick_col, cancel_col = st.columns([3, 1], vertical_alignment="bottom")
    selected = pick_col.multiselect(
        "Runs to cancel", _runs(ids, "teacher_cancel"), key="teacher_cancel", placeholder="Pick runs to cancel",
        format_func=lambda i: f"#{i} {records[i].name} · {_owner(records[i])} · {records[i].status}")
    if cancel_col.button("Cancel selected", key="teacher_cancel_selected", disabled=not selected, width="stretch"):
        said: list[str | UserError] = []
        for run_id in selected:
            try:
                if worker.cancel(run_id, by=person):
                    said.append(f"Cancelled run #{run_id}" + (" (it stops within a few steps)."
                                                               if run_id in running else "."))
                else:
                    said.append(f"Run #{run_id} had already finished.")
            except UserError as exc:
                said.append(exc)
        _tell("queue", *said)


# ---- removing runs --------------------------------------------------------------------------------
def runs_section(person: Person | None) -> None:
    st.subheader("Runs")
    _said("runs")
    finished = {r.id: r for r in get_store().runs(limit=RUN_LIST_LIMIT) if r.finished}
    st.caption("Remove finished runs with everything they logged (a test run, a duplicate, a name that should "
               "not be on the wall). Waiting and training runs are not listed: cancel them in the queue first.")
    if not finished:
        st.caption("No finished runs.")
        return
    pick_col, remove_col = st.columns([3, 1], vertical_alignment="bottom")
    selected = pick_col.multiselect(
        "Finished runs to remove", _runs(list(finished), "teacher_remove"), key="teacher_remove",
        placeholder="Pick runs to remove",
        format_func=lambda i: f"#{i} {finished[i].name} · {_owner(finished[i])} · {finished[i].status}")
    if remove_col.button("Remove selected", key="teacher_remove_selected", disabled=not selected, width="stretch"):
        removed, said = [], []
        for run_id in selected:
            try:
                if get_worker().delete(run_id, by=person):
                    removed.append(f"#{run_id}")
            except UserError as exc:  # StillRunning names the run and says to cancel it first
                said.append(exc)
        _tell("runs", *([f"Removed {len(removed)} run{'s' if len(removed) != 1 else ''}: {', '.join(removed)}."]
                        if removed else []), *said)


# ---- limits ---------------------------------------------------------------------------------------
def _limit_values(settings: ClassSettings, in_class: bool) -> dict[str, int]:
    return {"teacher_cap": settings.cap(in_class) or 0,
            "teacher_budget": round(settings.budget_seconds or 0),
            "teacher_time_limit": round(settings.time_limit_seconds or 0)}


def _now(seconds: float | None) -> str:
    return format_seconds(seconds) if seconds else "none"


def limits_section(person: Person | None) -> None:
    classroom = get_classroom()
    settings = classroom.settings()
    st.subheader("Limits")
    _said("limits")
    for key, value in _limit_values(settings, classroom.in_class).items():
        st.session_state.setdefault(key, value)
    cap = settings.cap(classroom.in_class)
    st.caption(f"Now: {cap or 'no cap on'} waiting request{'s' if cap != 1 else ''} per person"
               f"{' (the default)' if settings.waiting_cap is None and cap else ''} · budget per run "
               f"{_now(settings.budget_seconds)} · time limit per run {_now(settings.time_limit_seconds)}. "
               "Your own runs are exempt from all three.")
    with st.form("teacher_limits", border=False):
        cap_col, budget_col, limit_col = st.columns(3)
        cap_col.number_input("Waiting requests per person (0 = no cap)", min_value=0, max_value=100, step=1,
                             key="teacher_cap")
        cap_col.caption("One click of Start training is one request; a sweep or a seed group counts as ONE request, "
                        "however many runs it queues.")
        budget_col.number_input("Budget per run, seconds (0 = none)", min_value=0, max_value=MAX_SECONDS, step=30,
                                key="teacher_budget")
        budget_col.caption("Judged before the run starts, on this server's own clock: TuneLab times a few real "
                           "training steps of the run's model on its data set and multiplies by the run's steps. "
                           "A run estimated over it is refused and told how many epochs would fit.")
        limit_col.number_input("Time limit per run, seconds (0 = none)", min_value=0, max_value=MAX_SECONDS,
                               step=60, key="teacher_time_limit")
        limit_col.caption("Judged by the wall clock while the run trains: a run training longer is stopped and "
                          "recorded as cancelled. It applies at once, to runs already training too.")
        save = st.form_submit_button("Save limits", type="primary")
    if save:
        state = st.session_state
        try:
            classroom.set_waiting_cap(person, int(state["teacher_cap"]))
            classroom.set_budget(person, float(state["teacher_budget"]) or None)
            classroom.set_time_limit(person, float(state["teacher_time_limit"]) or None)
        except UserError as exc:
            show_user_error(exc)
        else:
            _tell("limits", "Saved. They hold from the next submit (the time limit at once), and survive a restart.")
    if st.button("What fits in the budget?", key="teacher_estimate"):
        _estimate(settings)


def _estimate(settings: ClassSettings) -> None:
    """The calibrated estimate of the challenge's run (or a default run): what the budget means here."""
    challenge = settings.challenge
    config = (RunConfig(dataset=challenge["dataset"], model=challenge["model"], epochs=challenge["epochs"])
              if challenge else RunConfig())
    with st.spinner("Timing a few training steps on this server…"):
        estimate = get_worker().estimate(config)
    if estimate is None:
        st.warning(f"Cannot estimate a run on {config.dataset}: that data set is not on this server.")
        return
    what = "the challenge's run" if challenge else "a default run"
    text = (f"On this server one epoch of {what} ({config.model} on {config.dataset}, batch {config.batch_size}) "
            f"takes about {format_seconds(estimate.seconds_per_epoch)}; its {config.epochs} epochs about "
            f"{format_seconds(estimate.seconds)}.")
    if settings.budget_seconds:
        fits = estimate.epochs_within(settings.budget_seconds)
        text += f" The budget of {format_seconds(settings.budget_seconds)} fits {fits} epoch{'s' if fits != 1 else ''}."
    st.info(text, icon=icons.TIMER)


# ---- the challenge --------------------------------------------------------------------------------
def describe(challenge: dict) -> str:
    epochs = challenge["epochs"]
    what = (f"{WINS[challenge['wins']]} on {DATASETS.get(challenge['dataset']).title} with "
            f"{MODELS.get(challenge['model']).title} in {epochs} epoch{'s' if epochs != 1 else ''}")
    return f"**{plain(challenge['title'])}**: {what}" if challenge.get("title") else what


def challenge_section(person: Person | None) -> None:
    classroom = get_classroom()
    challenge = classroom.settings().challenge
    st.subheader("Challenge")
    _said("challenge")
    if challenge:
        st.markdown(f"{icons.PIN} Pinned: {describe(challenge)}.")
    else:
        st.caption("Pin a challenge and the class competes on it: runs of that data set and model with exactly "
                   "that many epochs, finished after you pin it, each person's best run counts.")
    wanted = challenge or {"dataset": RunConfig().dataset, "model": RunConfig().model, "epochs": 3,
                           "wins": "val_accuracy", "title": ""}
    for key, name in zip(CHALLENGE_KEYS, ("dataset", "model", "epochs", "wins", "title")):
        st.session_state.setdefault(key, wanted[name])
    with st.form("teacher_challenge", border=True):
        data_col, model_col, epochs_col, wins_col = st.columns(4)
        data_col.selectbox("Data set", DATASETS.names(), key="teacher_ch_dataset",
                           format_func=lambda n: DATASETS.get(n).title)
        model_col.selectbox("Model", MODELS.names(), key="teacher_ch_model", format_func=lambda n: MODELS.get(n).title)
        epochs_col.number_input("Epochs", min_value=1, max_value=1000, step=1, key="teacher_ch_epochs")
        wins_col.selectbox("What wins", list(WINS), key="teacher_ch_wins", format_func=WINS.get)
        st.text_input("Title (optional)", key="teacher_ch_title", max_chars=80,
                      placeholder="e.g. Week 3: best MLP on MNIST in 3 epochs")
        pin = st.form_submit_button("Pin challenge", icon=icons.PIN, type="primary",
                                    help="Replaces the pinned challenge, if there is one.")
    if pin:
        state = st.session_state
        try:
            pinned = classroom.pin_challenge(person, state["teacher_ch_dataset"], state["teacher_ch_model"],
                                             int(state["teacher_ch_epochs"]), state["teacher_ch_wins"],
                                             state["teacher_ch_title"])
        except UserError as exc:
            show_user_error(exc)
        else:
            _tell("challenge", f"Pinned: {describe(pinned)}. Runs finished from now on count.")
    if not challenge:
        return
    if st.button("Unpin the challenge", key="teacher_unpin"):
        try:
            classroom.unpin_challenge(person)
        except UserError as exc:
            show_user_error(exc)
        else:
            _tell("challenge", "Unpinned. Pin it again to see its standings.")
    results = classroom.challenge_results()
    if results:
        st.dataframe(pd.DataFrame([{"rank": r.rank, "name": r.name or "(no name)", "best run": r.run_id,
                                    "accuracy": r.accuracy,
                                    "time": format_seconds(r.seconds) if r.seconds is not None else ""}
                                   for r in results]), hide_index=True, key="teacher_standings",
                     column_config={"accuracy": st.column_config.NumberColumn(format="percent")})
    else:
        st.caption("No finished run of it yet.")
    st.download_button("Download results (CSV)", classroom.challenge_csv(), file_name="challenge-results.csv",
                       mime="text/csv", key="teacher_csv", on_click="ignore", icon=icons.DOWNLOAD)


# ---- the end of term ------------------------------------------------------------------------------
def reset_section(person: Person | None) -> None:
    st.subheader("End of term")
    _said("reset")
    st.caption("Removes every run with its curves, hints and layer statistics, so the next class starts empty "
               "(run numbers are not reused). Refused while runs wait or train: cancel them, or let them finish.")
    confirm = st.checkbox("I understand this removes every run", key="teacher_reset_confirm")
    people_too = st.checkbox("Also forget the people (the names the class typed)", key="teacher_reset_people")
    settings_too = st.checkbox("Also reset the limits and unpin the challenge (else they are kept)",
                               key="teacher_reset_settings")
    if st.button("Reset the class", key="teacher_reset", type="primary", disabled=not confirm):
        try:
            removed = get_classroom().reset(person, people_too=people_too, settings_too=settings_too)
        except UserError as exc:  # ActiveRuns says how many still wait or train
            show_user_error(exc)
        else:
            for key in RESET_KEYS + ((LIMIT_KEYS + CHALLENGE_KEYS) if settings_too else ()):
                st.session_state.pop(key, None)  # the boxes show the stored state again
            kept = "" if settings_too else " The limits and the challenge are kept."
            _tell("reset", f"Removed {removed} run{'s' if removed != 1 else ''}"
                           f"{' and forgot the people' if people_too else ''}.{kept}")
