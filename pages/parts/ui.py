"""Shared page plumbing: the process-wide worker, run store and class, this browser's session id, and
the one place where user errors become st.error. Not a page itself (app.py does not list it)."""
from __future__ import annotations

import gc
import logging
import re
import threading
import uuid

import streamlit as st

from core.catalog import datasets
from core.config import RunConfig
from core.errors import UserError
from core.runs.classroom import Classroom
from core.runs.store import RunStore
from core.runs.worker import Worker, slots_from_env
from pages.parts import icons

log = logging.getLogger("tunelab.ui")


def use_app_navigation() -> None:
    """Call first in every page. A fresh server whose first request is a page's URL (a shared link to
    /train) runs that file alone in Streamlit's old pages-folder mode: no app.py, a menu of every
    module in pages/. Switching the mode off and rerunning runs app.py's st.navigation instead; the
    page keeps its URL because app.py gives each page the url_path of its file name."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


@st.cache_resource(show_spinner=False)
def get_store() -> RunStore:
    """The server's run store. Made once per server start: runs a dead server left running or queued
    become interrupted here, keeping every epoch they logged."""
    store = RunStore()
    store.mark_interrupted()
    return store


def secret(name: str):
    """One entry of .streamlit/secrets.toml (class_key = "...", an [auth] section), or None."""
    try:
        return st.secrets.get(name)
    except Exception:  # no secrets file: Streamlit raises on first access
        return None


@st.cache_resource(show_spinner=False)
def get_classroom() -> Classroom:
    """The class around the server's store: its key ($TUNELAB_CLASS_KEY, or class_key in the
    secrets), its people and the teacher's settings. Without a key: single-user mode."""
    key = secret("class_key")
    return Classroom(get_store(), class_key=str(key) if key else None)


@st.cache_resource(show_spinner=False)
def get_worker() -> Worker:
    """One worker for the whole server: every browser session shares its queue."""
    try:
        slots = slots_from_env()
    except UserError as exc:  # `make run` refuses to start with it; plain `streamlit run` trains one at a time
        log.warning("%s; training one run at a time", exc)
        slots = 1
    worker = Worker(get_store(), device="auto", slots=slots, classroom=get_classroom())
    worker.stop_at_exit()  # SIGTERM or Ctrl+C: what trains ends interrupted, and the server exits 0
    # Load the built-in digits now, while the person sets the knobs: the first run then starts
    # training at once instead of spending its first second reading the data.
    threading.Thread(target=_warm_up, name="tunelab-warm-up", daemon=True).start()
    return worker


def _warm_up() -> None:
    try:
        datasets.load(RunConfig().dataset)
    except Exception:  # only a head start: the run itself reports any problem with the data
        pass
    # torch, pandas and altair are imported by now: move their millions of objects out of the
    # garbage collector's sight, so its full collections stop pausing the training thread.
    gc.freeze()


def session_id() -> str:
    if "session_id" not in st.session_state:
        st.session_state.session_id = uuid.uuid4().hex[:12]
    return st.session_state.session_id


_MARKDOWN = re.compile(r"([\\`*_\[\]<>#~|$:])")


def plain(text: str) -> str:
    """Text a person typed (a run's name), safe inside Markdown: on one line, every character that
    Markdown or Streamlit's directives would read escaped, so it shows as typed and formats nothing."""
    return _MARKDOWN.sub(r"\\\1", " ".join(str(text).split()))


def show_user_error(exc: UserError) -> None:
    st.error(str(exc), icon=icons.ERROR)
