"""Home page: what TuneLab is, where to start, and what the engine offers right now."""
import streamlit as st

from core.catalog import datasets
from core.catalog.fields import REGISTRIES
from pages.parts import icons
from pages.parts.ui import use_app_navigation

use_app_navigation()
st.title("TuneLab")
st.markdown(
    "Learn neural-network tuning by doing it: pick an activation, a weight initializer, an optimizer "
    "and a learning rate, train a small CNN and read what the loss and accuracy curves say."
)
st.markdown("#### Where to start")
start = st.columns(3)
with start[0].container(border=True):
    st.page_link("pages/train.py", label="**Train**", icon=icons.TRAIN)
    st.caption("Set the knobs (or load a preset such as *Learning rate too high*), click Start training and "
               "watch the loss and accuracy grow while TuneLab says what the curves show.")
with start[1].container(border=True):
    st.page_link("pages/saturation_lab.py", label="**Saturation Lab**", icon=icons.SATURATION_LAB)
    st.caption("Every neuron is a stove: see, layer by layer, how too big an initial weight makes sigmoid "
               "and tanh boil over and the gradient vanish.")
with start[2].container(border=True):
    st.page_link("pages/curve_doctor.py", label="**Curve Doctor**", icon=icons.CURVE_DOCTOR)
    st.caption("Upload a Keras or TensorBoard CSV, paste what model.fit printed, or pick a stored run: "
               "oscillation, overfitting, too small a learning rate, bad initialization or divergence, with "
               "the evidence and the fix.")

with st.container(border=True):
    wall, teacher, how = st.columns([1, 1, 3], vertical_alignment="center")
    wall.page_link("pages/wall.py", label="**Wall**", icon=icons.WALL)
    teacher.page_link("pages/teacher.py", label="**Teacher**", icon=icons.TEACHER)
    how.caption("In class: start the server with a class key (TUNELAB_CLASS_KEY); each student types a name, "
                "the Wall shows everyone's runs live on the projector, and whoever types the key is the teacher.")

left, right = st.columns(2)
with left:
    st.subheader("Data sets")
    for row in datasets.availability():
        where = "" if row["builtin"] else (" (on disk)" if row["available_offline"] else " (downloaded when online)")
        st.markdown(f"**{row['label']}**{where} — {row['note']}")
    st.subheader("Models")
    for entry in REGISTRIES["model"]:
        st.markdown(f"**{entry.title}** — {entry.note}")
with right:
    for title, field in (("Optimizers", "optimizer"), ("Initializers", "init"), ("Activations", "activation"),
                         ("Learning-rate schedules", "schedule")):
        registry = REGISTRIES[field]
        with st.expander(title):
            for entry in registry:
                st.markdown(f"**{entry.title}** — {entry.note}")
