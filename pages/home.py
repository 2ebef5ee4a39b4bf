"""Home page: what TuneLab is and where to start."""
import streamlit as st

st.title("TuneLab")
st.markdown(
    "Learn neural-network tuning by doing it: pick an activation, an initializer, an optimizer and a "
    "learning rate, train a small CNN and watch what the curves say."
)
