"""TuneLab's entry point: the home page and the navigation between pages; nothing else."""
import streamlit as st

st.set_page_config(page_title="TuneLab", page_icon="🔥", layout="wide")

home = st.Page("pages/home.py", title="Home", icon="🏠", default=True)
doctor = st.Page("pages/curve_doctor.py", title="Curve Doctor", icon="🩺")
st.navigation([home, doctor, st.Page("pages/saturation_lab.py", title="Saturation Lab", icon="🔥")]).run()
