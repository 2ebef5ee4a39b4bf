"""Training: data and augmentation on the device, the one training step, the one loop with its
callbacks (per-layer probes, the learning-rate range test), device settings and the events it emits.
Nothing here touches Streamlit, files or threads."""
from core.training.loop import train

__all__ = ["train"]
