"""Shared page plumbing: the process-wide worker and run store, this browser's session id, and the
one place where user errors become st.error. Not a page itself (app.py does not list it)."""
from __future__ import annotations

import uuid

import streamlit as st

from core.errors import UserError
from core.store import RunStore
from core.worker import Worker


@st.cache_resource(show_spinner=False)
def get_store() -> RunStore:
    return RunStore()


@st.cache_resource(show_spinner=False)
def get_worker() -> Worker:
    """One worker for the whole server: every browser session shares its queue."""
    from core.probes import make_probe

    return Worker(get_store(), device="auto", make_probe=make_probe)


def session_id() -> str:
    if "session_id" not in st.session_state:
        st.session_state.session_id = uuid.uuid4().hex[:12]
    return st.session_state.session_id


def show_user_error(exc: UserError) -> None:
    st.error(str(exc), icon="⚠️")
