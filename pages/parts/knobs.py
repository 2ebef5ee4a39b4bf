"""The Train page's knobs: one widget per RunConfig field, grouped in the order the tuning guide
teaches, each with its teaching note and a help tooltip. Only the knobs that matter for the current
choices are shown (core.config.knob_applies: momentum for SGD + momentum, the std for normal init...);
the values of hidden knobs are kept. The canonical values live in st.session_state["knobs"], so presets, imported
configs and "use this rate" buttons can set them. Not a page (app.py does not list it)."""
from __future__ import annotations

import math
from typing import Any

import streamlit as st

from core.catalog.fields import registry_for
from core.config import GROUPS, RunConfig, config_fields, knob_applies

STATE = "knobs"
KEY = "knob_"
LABELS = {
    "lr": "Learning rate", "init": "Initializer", "init_std": "Initial weight std", "l1": "L1 penalty",
    "l2": "L2 penalty (weight decay)", "clip_norm": "Clip gradient norm (0 = off)", "aug_flip": "Random horizontal flips",
    "aug_shift": "Random shift (fraction)", "aug_rotation": "Random rotation (degrees)", "aug_zoom": "Random zoom (fraction)",
    "lr_decay": "Decay factor", "lr_step_epochs": "Epochs per step", "plateau_patience": "Plateau patience (epochs)",
    "min_lr": "Lowest learning rate", "early_stopping": "Early stopping", "patience": "Patience (epochs)",
    "restore_best": "Restore the best weights", "train_subset": "Training images (0 = all)",
    "val_split": "Validation fraction", "batch_norm": "Batch normalization", "eps": "Epsilon",
    "beta1": "Beta 1", "beta2": "Beta 2", "rho": "Rho", "batch_size": "Batch size", "seed": "Random seed",
}
OPEN_GROUPS = (GROUPS[0], GROUPS[1])  # expanded at first: the knobs the guide tunes first
RARE = ("beta1", "beta2", "eps", "rho")  # rarely changed: shown only after "More optimizer settings"
MORE = "knobs_more_optimizer"


def label(name: str) -> str:
    return LABELS.get(name, name.replace("_", " ").capitalize())


def values() -> dict[str, Any]:
    """The current knob values (defaults on a first visit)."""
    if STATE not in st.session_state:
        st.session_state[STATE] = RunConfig().to_dict()
    return st.session_state[STATE]


def set_values(config: RunConfig) -> None:
    """Put a whole config into the knobs (presets, imports). Call it from a callback or before the
    widgets are drawn in this run."""
    st.session_state[STATE] = config.to_dict()
    for name, value in st.session_state[STATE].items():
        st.session_state[KEY + name] = value


def set_value(name: str, value: Any) -> None:
    values()[name] = value
    st.session_state[KEY + name] = value


def _step(default: float) -> float:
    """A +/- step of one unit in the default's leading digit (0.001 -> 0.0001 for the rate)."""
    if default <= 0:
        return 0.01
    return 10.0 ** (math.floor(math.log10(default)) - 1)


def _widget(f, container) -> Any:
    name, meta = f.name, f.metadata
    key = KEY + name
    if key not in st.session_state:
        st.session_state[key] = values()[name]
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    help_text = meta["help"]
    registry = registry_for(name)
    if registry is not None:
        options = registry.names()
        if st.session_state[key] not in options:  # a stored config from another version
            st.session_state[key] = f.default
        value = container.selectbox(label(name), options, key=key, help=help_text,
                                    format_func=lambda n, r=registry: r.get(n).title)
        container.caption(registry.get(value).note)
        return value
    if kind in ("int", "float") and not isinstance(st.session_state[key], bool):
        # a number input refuses a value of the other numeric type (a JSON 15 for a float knob)
        st.session_state[key] = (int if kind == "int" else float)(st.session_state[key])
    if kind == "bool":
        return container.checkbox(label(name), key=key, help=help_text)
    if kind == "int":
        return int(container.number_input(label(name), step=1, key=key, help=help_text))
    return float(container.number_input(label(name), step=_step(float(f.default)), format="%g", key=key,
                                        help=help_text))


def render(container=None) -> None:
    """Draw every relevant knob, grouped, into `container` (the sidebar by default), and keep the
    values in the session."""
    container = container or st.sidebar
    current = values()
    by_group: dict[str, list] = {group: [] for group in GROUPS}
    for f in config_fields():
        by_group[f.metadata["group"]].append(f)
    for number, group in enumerate(GROUPS, start=1):
        with container.expander(f"{number}. {group}", expanded=group in OPEN_GROUPS):
            for f in by_group[group]:
                # only the knobs that matter for the current choices; a flip left on for a data set that
                # refuses it stays shown, so it can be turned off again
                if f.name in RARE or not (knob_applies(f.name, current) or (f.name == "aug_flip" and current["aug_flip"])):
                    continue
                current[f.name] = _widget(f, st)
            rare = [f for f in by_group[group] if f.name in RARE and knob_applies(f.name, current)]
            if rare:
                if MORE not in st.session_state:  # (a widget drawn in no rerun forgets its state: keep it)
                    st.session_state[MORE] = st.session_state.get(MORE + "_kept", False)
                more = st.toggle("More optimizer settings", key=MORE,
                                 help="Betas, epsilon and rho: the defaults suit nearly every run.")
                st.session_state[MORE + "_kept"] = more
                for f in rare if more else ():
                    current[f.name] = _widget(f, st)
