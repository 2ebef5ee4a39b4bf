"""TuneLab's engine: configs, registries, data, models, trainer, run store and CLI (no Streamlit)."""
