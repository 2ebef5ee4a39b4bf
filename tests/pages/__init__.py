"""Tests of the pages (Streamlit AppTest)."""
