"""TuneLab's entry point: the home page and the navigation between pages; nothing else."""
import streamlit as st

st.set_page_config(page_title="TuneLab", page_icon="🔥", layout="wide")

st.navigation([
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/train.py", title="Train", icon="🎛️", url_path="train"),
    st.Page("pages/compare.py", title="Compare", icon="⚖️", url_path="compare"),
    st.Page("pages/curve_doctor.py", title="Curve Doctor", icon="🩺", url_path="curve_doctor"),
    st.Page("pages/saturation_lab.py", title="Saturation Lab", icon="🔥", url_path="saturation_lab"),
]).run()
