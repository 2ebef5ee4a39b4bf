"""Teacher page, the teacher's only: pause and resume the queue, cancel any run, remove runs, set the
budget, the time limit and the cap per person, pin a challenge and download its standings as CSV
for grading, and reset the class at the end of term. The settings live in the run store, so they
survive a restart. In single-user mode (no class key) the one user may do all of it."""
from __future__ import annotations

import streamlit as st

from pages.parts import icons, teacher_view
from pages.parts.identity import identity_box
from pages.parts.ui import get_classroom, use_app_navigation

use_app_navigation()
st.title(f"{icons.TEACHER} Teacher")
person = identity_box(st.sidebar)
classroom = get_classroom()
if classroom.in_class and (person is None or not person.is_teacher):
    st.info("Teacher only: type the class key in the sidebar.", icon=icons.LOCKED)
    st.stop()
if classroom.in_class:
    st.caption("Every change here reaches the whole class at once and is kept when the server restarts.")
else:
    st.caption("Single-user mode: you may do everything here. The class's limits (who may cancel what, the cap, "
               "the budget) apply when the server is started with TUNELAB_CLASS_KEY set, or with class_key in "
               ".streamlit/secrets.toml; whoever types that key in the sidebar is then the teacher.")

teacher_view.queue_section(person)
st.divider()
teacher_view.limits_section(person)
st.divider()
teacher_view.challenge_section(person)
st.divider()
teacher_view.runs_section(person)
st.divider()
teacher_view.reset_section(person)
