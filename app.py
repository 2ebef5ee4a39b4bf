"""TuneLab's entry point: the home page and the navigation between pages; nothing else."""
import streamlit as st

from pages.parts import icons

st.set_page_config(page_title="TuneLab", page_icon=icons.APP, layout="wide")
# less empty space above each page: on a 720-pixel projector the first screen is for the curves
st.html("<style>[data-testid=stMainBlockContainer]{padding:2.5rem 2rem 4rem}</style>")

st.navigation([
    st.Page("pages/home.py", title="Home", icon=icons.HOME, default=True),
    st.Page("pages/train.py", title="Train", icon=icons.TRAIN, url_path="train"),
    st.Page("pages/compare.py", title="Compare", icon=icons.COMPARE, url_path="compare"),
    st.Page("pages/curve_doctor.py", title="Curve Doctor", icon=icons.CURVE_DOCTOR, url_path="curve_doctor"),
    st.Page("pages/saturation_lab.py", title="Saturation Lab", icon=icons.SATURATION_LAB, url_path="saturation_lab"),
    st.Page("pages/wall.py", title="Wall", icon=icons.WALL, url_path="wall"),
    st.Page("pages/teacher.py", title="Teacher", icon=icons.TEACHER, url_path="teacher"),
]).run()
