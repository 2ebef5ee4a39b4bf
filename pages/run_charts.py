"""The Train page's live Altair charts: loss (training and validation per epoch, every step's loss
faint behind), accuracy and learning rate, all on one x axis in epochs. Not a page."""
from __future__ import annotations

import math

import altair as alt
import pandas as pd

FONT = 14
MAX_STEP_POINTS = 1500  # more per-step points than this are averaged in buckets (the chart stays fast)
TRAIN, VAL, STEP, CHANCE = "training", "validation", "training, every step", "chance"
COLOURS = {TRAIN: "#1f77b4", VAL: "#ff7f0e", STEP: "#9ecae1", CHANCE: "#7f7f7f"}


def _finite(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def step_frame(steps: list[dict], steps_per_epoch: int | None, column: str = "loss") -> pd.DataFrame:
    """Per-step values at x = step / steps_per_epoch (so step losses line up with epochs), averaged in
    buckets when there are more than MAX_STEP_POINTS of them."""
    if not steps or not steps_per_epoch:
        return pd.DataFrame(columns=["epoch", "value"])
    frame = pd.DataFrame({"step": [s["step"] for s in steps], "value": [_finite(s.get(column)) for s in steps]})
    frame = frame.dropna()
    if len(frame) > MAX_STEP_POINTS:
        bucket = math.ceil(len(frame) / MAX_STEP_POINTS)
        centre = (frame["step"] - 1) // bucket * bucket + (bucket + 1) / 2  # steps count from 1
        frame = frame.groupby(centre.rename("step"), as_index=False)["value"].mean()
    frame["epoch"] = frame["step"] / steps_per_epoch
    return frame[["epoch", "value"]]


def epoch_frame(history: list[dict], columns: dict[str, str]) -> pd.DataFrame:
    rows = [{"epoch": row["epoch"], "series": series, "value": _finite(row.get(column))}
            for row in history for column, series in columns.items()]
    return pd.DataFrame(rows, columns=["epoch", "series", "value"]).dropna()


def _log_scale(values: pd.Series) -> bool:
    """Log when the values are positive and span more than a factor of 50 (a diverging loss)."""
    values = values[values.notna()]
    return bool(len(values)) and bool((values > 0).all()) and float(values.max() / values.min()) > 50


def _loss_scale(per_epoch: pd.Series, per_step: pd.Series, classes: int | None) -> alt.Scale:
    """Linear from 0, tall enough for the epoch curves and chance (noisy single steps are clipped),
    unless the epoch losses span more than a factor of 50 (a diverging run): then logarithmic."""
    if _log_scale(per_epoch):
        return alt.Scale(type="log")
    tops = [per_epoch.max() if len(per_epoch) else None, math.log(classes) if classes else None,
            per_step.quantile(0.98) if len(per_step) else None]
    top = max((float(t) for t in tops if t is not None and math.isfinite(float(t))), default=1.0)
    return alt.Scale(domain=[0, top * 1.1], clamp=False)


def _x(epochs: int, title: str | None = "epoch") -> alt.X:
    return alt.X("epoch:Q", title=title, scale=alt.Scale(domain=[0, max(1, epochs)], nice=False),
                 axis=alt.Axis(tickMinStep=1))


def _colour(series: list[str]) -> alt.Color:
    return alt.Color("series:N", scale=alt.Scale(domain=series, range=[COLOURS[s] for s in series]),
                     legend=alt.Legend(orient="top", title=None, labelFontSize=FONT))


def _finish(chart, title: str, height: int):
    return chart.properties(title=title, height=height, autosize=alt.AutoSizeParams(type="fit", contains="padding")).configure_axis(
        labelFontSize=FONT, titleFontSize=FONT).configure_title(fontSize=FONT + 2, anchor="start")


def loss_chart(history: list[dict], steps: list[dict], steps_per_epoch: int | None, epochs: int,
               classes: int | None = None, height: int = 420):
    per_step = step_frame(steps, steps_per_epoch).assign(series=STEP)
    per_epoch = epoch_frame(history, {"loss": TRAIN, "val_loss": VAL})
    frame = pd.concat([per_step, per_epoch], ignore_index=True)
    series = [STEP, TRAIN, VAL]
    if classes:
        chance = math.log(classes)
        frame = pd.concat([frame, pd.DataFrame(
            {"epoch": [0, max(1, epochs)], "value": [chance, chance], "series": [CHANCE, CHANCE]})], ignore_index=True)
        series.append(CHANCE)
    scale = _loss_scale(per_epoch["value"], per_step["value"], classes)
    base = alt.Chart(frame).encode(
        x=_x(epochs), y=alt.Y("value:Q", title="loss", scale=scale), color=_colour(series),
        tooltip=[alt.Tooltip("series:N"), alt.Tooltip("epoch:Q", format=".2f"), alt.Tooltip("value:Q", format=".4g")],
    )
    faint = base.transform_filter(alt.datum.series == STEP).mark_line(strokeWidth=1, opacity=0.6, clip=True)
    chance_line = base.transform_filter(alt.datum.series == CHANCE).mark_line(strokeDash=[6, 4], strokeWidth=1.5)
    curves = base.transform_filter((alt.datum.series == TRAIN) | (alt.datum.series == VAL)).mark_line(
        point=alt.OverlayMarkDef(size=60), strokeWidth=3)
    return _finish(alt.layer(faint, chance_line, curves), "Loss", height)


def accuracy_chart(history: list[dict], epochs: int, classes: int | None = None, height: int = 420):
    frame = epoch_frame(history, {"accuracy": TRAIN, "val_accuracy": VAL})
    series = [TRAIN, VAL]
    if classes:
        frame = pd.concat([frame, pd.DataFrame(
            {"epoch": [0, max(1, epochs)], "value": [1 / classes] * 2, "series": [CHANCE, CHANCE]})], ignore_index=True)
        series.append(CHANCE)
    base = alt.Chart(frame).encode(
        x=_x(epochs, None), y=alt.Y("value:Q", title="accuracy", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        color=_colour(series),
        tooltip=[alt.Tooltip("series:N"), alt.Tooltip("epoch:Q"), alt.Tooltip("value:Q", format=".2%")],
    )
    chance_line = base.transform_filter(alt.datum.series == CHANCE).mark_line(strokeDash=[6, 4], strokeWidth=1.5)
    curves = base.transform_filter(alt.datum.series != CHANCE).mark_line(point=alt.OverlayMarkDef(size=60), strokeWidth=3)
    return _finish(alt.layer(chance_line, curves), "Accuracy", height)


def lr_chart(history: list[dict], steps: list[dict], steps_per_epoch: int | None, epochs: int, height: int = 160):
    frame = step_frame(steps, steps_per_epoch, column="lr")
    if frame.empty:
        frame = epoch_frame(history, {"lr": "lr"})[["epoch", "value"]]
    scale = alt.Scale(type="log") if _log_scale(frame["value"]) else alt.Scale(zero=False)
    chart = alt.Chart(frame).mark_line(strokeWidth=2, color="#2ca02c", interpolate="step-after").encode(
        x=_x(epochs, None), y=alt.Y("value:Q", title="learning rate", scale=scale, axis=alt.Axis(format=".1e")),
        tooltip=[alt.Tooltip("epoch:Q", format=".2f"), alt.Tooltip("value:Q", title="learning rate", format=".3g")],
    )
    return _finish(chart, "Learning rate", height)
