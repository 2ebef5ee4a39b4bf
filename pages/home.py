"""Home page: what TuneLab is, where to start, and what the engine offers right now."""
import streamlit as st

from core import datasets
from core.activations import ACTIVATIONS
from core.initializers import INITIALIZERS
from core.models import MODELS
from core.optimizers import OPTIMIZERS
from core.schedules import SCHEDULES
from pages.ui import use_app_navigation

use_app_navigation()
st.title("TuneLab")
st.markdown(
    "Learn neural-network tuning by doing it: pick an activation, a weight initializer, an optimizer "
    "and a learning rate, train a small CNN and read what the loss and accuracy curves say."
)
st.info(
    "Start from the command line while the live pages are being built:  \n"
    "`python -m core train --dataset mnist5k --model simple_cnn --optimizer adam --lr 0.001 --epochs 3`",
)

left, right = st.columns(2)
with left:
    st.subheader("Data sets")
    for row in datasets.availability():
        where = "" if row["builtin"] else (" (on disk)" if row["available_offline"] else " (downloaded when online)")
        st.markdown(f"**{row['label']}**{where} — {row['note']}")
    st.subheader("Models")
    for entry in MODELS:
        st.markdown(f"**{entry.title}** — {entry.note}")
with right:
    for title, registry in (("Optimizers", OPTIMIZERS), ("Initializers", INITIALIZERS),
                            ("Activations", ACTIVATIONS), ("Learning-rate schedules", SCHEDULES)):
        with st.expander(title):
            for entry in registry:
                st.markdown(f"**{entry.title}** — {entry.note}")
