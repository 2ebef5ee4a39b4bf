"""The pages' shared parts (knobs, charts, the live run view, hint cards, the layer panel, tools).
Streamlit lists only the files at the top of pages/, so nothing here becomes a page."""
