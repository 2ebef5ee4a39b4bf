"""Wall page, for the projector: every running and recent run of the class as small live curves
(owner, run, status and diagnosis over each), the pinned challenge's standings and who waits; one
click on a run's chart (or the "Show a run large" box) shows that run large, ?run=12 in the address,
with a way back. Read-only: nobody needs to say who they are. Thirty browsers watching cost the
server one tiny query per poll each and one read of the store per change (pages/parts/wall_view.py)."""
from __future__ import annotations

import streamlit as st

from core.errors import ConfigError
from pages.parts.run_view import show_run
from pages.parts.ui import show_user_error, use_app_navigation
from pages.parts import icons
from pages.parts.wall_view import live_wall


def requested_run() -> int | None:
    """The run to show large (?run=12), or None for the wall; a bad value is reported, not raised."""
    raw = st.query_params.get("run")
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        show_user_error(ConfigError("run", f"must be a run number such as ?run=3 (got {raw!r})"))
        return None
    return int(raw)


def back_to_wall() -> None:
    st.query_params.pop("run", None)


use_app_navigation()
st.set_page_config(initial_sidebar_state="collapsed")  # a projector's whole width for the class's runs
run_id = requested_run()
if run_id is None:
    st.markdown(f"### {icons.WALL} The Wall")
    live_wall()
else:
    st.button("← Back to the Wall", key="wall_back", on_click=back_to_wall, type="primary")
    show_run(run_id)
