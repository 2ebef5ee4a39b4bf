"""How a Curve Doctor hint looks: one compact card per hint, and a loss chart with each hint marked at
its epoch. Used by the Curve Doctor page and, live, by the Train page. Not a page itself."""
from __future__ import annotations

import math

import altair as alt
import pandas as pd
import streamlit as st

from core.config import RunConfig
from core.doctor.diagnose import Hint
from core.errors import ConfigError
from pages.parts import icons, knobs

SEVERITY_COLOUR = {"error": "red", "warning": "orange", "info": "blue"}
HEALTHY_COLOUR = "green"
SERIES = {"loss": "training loss", "val_loss": "validation loss"}
FAMILY_NAMES = {"divergence": "divergence", "bad_init": "a bad initialization", "oscillation": "oscillation",
                "overfitting": "overfitting", "too_small_lr": "a learning rate too small", "healthy": "healthy"}


def _colour(hint: Hint) -> str:
    return HEALTHY_COLOUR if hint.id == "healthy" else SEVERITY_COLOUR.get(hint.severity, "gray")


def change_text(change: dict) -> str:
    return ", ".join(f"{name} {value:g}" if isinstance(value, float) else
                     f"{name} {'on' if value is True else 'off' if value is False else value}"
                     for name, value in change.items())


def _try(base: RunConfig, change: dict) -> None:
    """Button callback (runs before the page is drawn again, so the knobs can still be set)."""
    try:
        knobs.set_values(base.replace(**change))
    except ConfigError as exc:
        st.session_state["hint_try_error"] = str(exc)
    else:
        st.session_state["hint_tried"] = change_text(change)
        st.session_state["hint_clicked"] = True


def render_hints(hints: list[Hint], base: RunConfig | None = None, key: str = "hints",
                 go_to_train: bool = False) -> None:
    """One bordered card per hint: coloured title and severity, where it starts, evidence and advice.
    With `base` (the run's settings) a hint whose advice is a concrete setting gets a "Try it" button
    that puts base + that change into the Train page's knobs (and opens the Train page if asked)."""
    if not hints:
        st.caption("Too early to tell: the doctor waits for a few epochs before saying anything.")
        return
    error = st.session_state.pop("hint_try_error", None)
    if error:
        st.error(error, icon=icons.ERROR)
    for i, hint in enumerate(hints):
        colour = _colour(hint)
        where = f" · from epoch {hint.epoch}" if hint.epoch else ""
        family = (f" · one kind of {FAMILY_NAMES[hint.family]}"
                  if hint.family and hint.family != hint.id and hint.family in FAMILY_NAMES else "")
        with st.container(border=True):
            st.markdown(f":{colour}[**{hint.title}**]  \n"
                        f":{colour}[{hint.severity}]{where}{family} · confidence {hint.confidence:.0%}")
            st.markdown(f"**Evidence:** {hint.evidence}")
            st.markdown(f"**Try:** {hint.advice}")
            if base is not None and hint.change:
                st.button(f"Try it: {change_text(hint.change)}", key=f"{key}_try_{i}_{hint.id}",
                          on_click=_try, args=(base, hint.change),
                          help="Load this run's settings with this change into the knobs; then click "
                               "Start training and compare the two runs.")
    if st.session_state.pop("hint_clicked", False):
        if go_to_train:
            st.switch_page("pages/train.py")
        st.rerun()  # a full rerun (the click reran only the live fragment): the knobs show the new values


def _finite(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def curve_frame(history: list[dict]) -> pd.DataFrame:
    rows = [{"epoch": int(r["epoch"]), "series": label, "value": _finite(r.get(key))}
            for r in history for key, label in SERIES.items() if r.get("epoch") is not None]
    return pd.DataFrame(rows, columns=["epoch", "series", "value"]).dropna()


def hint_chart(history: list[dict], hints: list[Hint]) -> alt.LayerChart | alt.Chart:
    """Training and validation loss by epoch (log scale when every value is positive), with a rule at
    each hint's starting epoch and a labelled point at every number its evidence quotes (hint.marks),
    so what a hint says can be found on the chart."""
    curves = curve_frame(history)
    quoted = [m for hint in hints for m in hint.marks if m.get("series") in SERIES and _finite(m.get("value")) is not None]
    values = list(curves["value"]) + [m["value"] for m in quoted]
    positive = bool(values) and all(v > 0 for v in values)
    domain = [min(values), max(values)] if values else None
    scale = alt.Scale(type="log" if positive else "linear", domain=domain, nice=not positive) if domain else alt.Scale()
    y = alt.Y("value:Q", title="loss", scale=scale)
    base = alt.Chart(curves).mark_line(point=True).encode(
        x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1)),
        y=y,
        color=alt.Color("series:N", title=None),
        tooltip=["epoch:Q", "series:N", alt.Tooltip("value:Q", format=".4g")],
    )
    marks = []
    for hint in hints:
        for m in hint.marks:
            if m in quoted:
                marks.append({"epoch": m["epoch"], "value": m["value"], "hint": m["label"], "title": hint.title,
                              "evidence": hint.evidence, "colour": _colour(hint)})
        if not hint.epoch or hint.marks:
            continue
        at = curves[curves["epoch"] == hint.epoch]
        value = at["value"].max() if not at.empty else None
        marks.append({"epoch": hint.epoch, "value": value, "hint": hint.id, "title": hint.title,
                      "evidence": hint.evidence, "colour": _colour(hint)})
    if not marks:
        return base
    frame = pd.DataFrame(marks)
    rule = alt.Chart(frame).mark_rule(strokeDash=[4, 4]).encode(
        x="epoch:Q", color=alt.value("gray"), tooltip=["title:N", "evidence:N"])
    on_curve = frame.dropna(subset=["value"])
    point = alt.Chart(on_curve).mark_point(size=160, filled=True, shape="diamond").encode(
        x="epoch:Q", y=y, color=alt.Color("colour:N", scale=None), tooltip=["title:N", "evidence:N"])
    label = alt.Chart(on_curve).mark_text(align="left", dx=8, dy=-8, fontWeight="bold").encode(
        x="epoch:Q", y=y, text="hint:N", color=alt.Color("colour:N", scale=None))
    return alt.layer(base, rule, point, label)
