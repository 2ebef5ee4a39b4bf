"""The Train page's live charts as Vega-Lite specs: loss (training and validation per epoch, every
step's loss faint behind), accuracy and learning rate, all on one x axis in epochs.

Each chart's layout is built with Altair once per shape (epochs, classes) and cached; a redraw only
drops the new data and the y scale into a copy. Building Altair objects costs ~50 ms a chart, which a
page polling every second for a whole class cannot afford. Not a page."""
from __future__ import annotations

import copy
import math
from functools import lru_cache

import altair as alt
import pandas as pd
import pyarrow as pa

FONT = 14
MAX_STEP_POINTS = 1500  # more per-step points than this are averaged in buckets (the chart stays fast)
TRAIN, VAL, STEP, CHANCE = "training", "validation", "every step", "chance"
QUOTED = "what the doctor quotes"
COLOURS = {TRAIN: "#1f77b4", VAL: "#ff7f0e", STEP: "#9ecae1", CHANCE: "#7f7f7f", QUOTED: "#d62728"}
# hint mark series -> the chart series it sits on
MARK_SERIES = {"loss": TRAIN, "val_loss": VAL, "step_loss": STEP}


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


def _chance(value: float, epochs: int) -> pd.DataFrame:
    return pd.DataFrame({"epoch": [0, max(1, epochs)], "value": [value, value], "series": [CHANCE, CHANCE]})


def _log_scale(values: pd.Series) -> bool:
    """Log when the values are positive and span more than a factor of 50 (a diverging loss)."""
    values = values[values.notna()]
    return bool(len(values)) and bool((values > 0).all()) and float(values.max() / values.min()) > 50


def _x(epochs: int, title: str | None = "epoch") -> alt.X:
    return alt.X("epoch:Q", title=title, scale=alt.Scale(domain=[0, max(1, epochs)], nice=False),
                 axis=alt.Axis(tickMinStep=1))


def _colour(series: list[str]) -> alt.Color:
    return alt.Color("series:N", scale=alt.Scale(domain=series, range=[COLOURS[s] for s in series]),
                     legend=alt.Legend(orient="top", title=None, labelFontSize=FONT - 1, symbolSize=50, columnPadding=6))


def _finish(chart, title: str, height: int) -> dict:
    chart = chart.properties(title=title, height=height,
                             autosize=alt.AutoSizeParams(type="fit", contains="padding"))
    return chart.configure_axis(labelFontSize=FONT, titleFontSize=FONT).configure_title(
        fontSize=FONT + 2, anchor="start").to_dict()


def arrow_datasets(spec: dict) -> dict:
    """Turn a spec's named data sets into Arrow tables. Streamlit sends `datasets` as Arrow anyway; made
    here once (and cached), a redraw skips the pandas conversion it would do on every poll, and the
    browser updates a chart whose spec is unchanged by swapping its data instead of rebuilding it."""
    spec["datasets"] = {
        name: pa.Table.from_pandas(rows, preserve_index=False) if isinstance(rows, pd.DataFrame)
        else pa.Table.from_pylist(rows)
        for name, rows in spec.get("datasets", {}).items()
    }
    return spec


def _fill(template: dict, datasets: dict[str, pd.DataFrame], y_scale: dict | None = None) -> dict:
    spec = copy.deepcopy(template)
    spec["datasets"] = datasets
    if y_scale is not None:
        for layer in spec.get("layer", [spec]):
            layer["encoding"]["y"]["scale"] = y_scale
    return arrow_datasets(spec)


@lru_cache(maxsize=64)
def _loss_template(epochs: int, with_chance: bool, height: int) -> dict:
    """Three data sets, each only ever appended to while a run trains: steps, epochs, chance."""
    series = [STEP, TRAIN, VAL] + ([CHANCE] if with_chance else [])
    encoding = dict(
        x=_x(epochs), y=alt.Y("value:Q", title="loss"), color=_colour(series),
        tooltip=[alt.Tooltip("series:N"), alt.Tooltip("epoch:Q", format=".2f"), alt.Tooltip("value:Q", format=".4g")],
    )
    faint = alt.Chart(alt.NamedData("steps")).mark_line(strokeWidth=1, opacity=0.6, clip=True).encode(**encoding)
    curves = alt.Chart(alt.NamedData("epochs")).mark_line(
        point=alt.OverlayMarkDef(size=60), strokeWidth=3, clip=True).encode(**encoding)
    quoted = alt.Chart(alt.NamedData("marks")).encode(x=_x(epochs), y=alt.Y("value:Q"), tooltip=[
        alt.Tooltip("what:N", title="the doctor quotes"), alt.Tooltip("epoch:Q", format=".2f"),
        alt.Tooltip("value:Q", format=".4g")])
    layers = [faint, curves, quoted.mark_point(shape="diamond", size=140, filled=True, color=COLOURS[QUOTED]),
              quoted.mark_text(align="left", dx=8, dy=-8, fontWeight="bold", color=COLOURS[QUOTED]).encode(text="label:N")]
    if with_chance:
        layers.insert(1, alt.Chart(alt.NamedData("chance")).mark_line(strokeDash=[6, 4], strokeWidth=1.5).encode(**encoding))
    return _finish(alt.layer(*layers), "Loss", height)


def marks_frame(marks: list[dict]) -> pd.DataFrame:
    """The loss values a run's hints quote (hint.marks on the loss series), as chart points."""
    rows = [{"epoch": m["epoch"], "value": m["value"], "label": m.get("label", ""), "what": m.get("label", "")}
            for m in marks if m.get("series") in MARK_SERIES and _finite(m.get("value")) is not None]
    return pd.DataFrame(rows, columns=["epoch", "value", "label", "what"])


def loss_chart(history: list[dict], steps: list[dict], steps_per_epoch: int | None, epochs: int,
               classes: int | None = None, height: int = 420, marks: list[dict] | None = None) -> dict:
    """marks: the points the run's hints quote; each is drawn (a red diamond with its number) and the
    axis always reaches it, so a hint's "9.91" is on the chart, never clipped away."""
    per_step = step_frame(steps, steps_per_epoch).assign(series=STEP)
    per_epoch = epoch_frame(history, {"loss": TRAIN, "val_loss": VAL})
    quoted = marks_frame(marks or [])
    values = per_epoch["value"]
    top_quoted = float(quoted["value"].max()) if len(quoted) else 0.0
    blown_up = bool(len(values)) and classes and (float(values.max()) > 3 * math.log(classes)
                                                  or top_quoted > 3 * math.log(classes))
    if blown_up or (not classes and _log_scale(pd.concat([values, quoted["value"]]))):  # every value on a log axis
        scale = {"type": "log"}
    else:
        scale = {"zero": True}
        if classes:  # a noisy single step far above chance would squash the curves: draw it at the cap
            per_step["value"] = per_step["value"].clip(upper=max(2 * math.log(classes), top_quoted))
    datasets = {"steps": per_step, "epochs": per_epoch, "marks": quoted}
    if classes:
        datasets["chance"] = _chance(math.log(classes), epochs)
    return _fill(_loss_template(epochs, bool(classes), height), datasets, scale)


@lru_cache(maxsize=64)
def _accuracy_template(epochs: int, with_chance: bool, height: int) -> dict:
    series = [TRAIN, VAL] + ([CHANCE] if with_chance else [])
    encoding = dict(
        x=_x(epochs, None), y=alt.Y("value:Q", title="accuracy", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        color=_colour(series),
        tooltip=[alt.Tooltip("series:N"), alt.Tooltip("epoch:Q"), alt.Tooltip("value:Q", format=".2%")],
    )
    layers = [alt.Chart(alt.NamedData("epochs")).mark_line(point=alt.OverlayMarkDef(size=60), strokeWidth=3).encode(**encoding)]
    if with_chance:
        layers.insert(0, alt.Chart(alt.NamedData("chance")).mark_line(strokeDash=[6, 4], strokeWidth=1.5).encode(**encoding))
    return _finish(alt.layer(*layers), "Accuracy", height)


def accuracy_chart(history: list[dict], epochs: int, classes: int | None = None, height: int = 260) -> dict:
    datasets = {"epochs": epoch_frame(history, {"accuracy": TRAIN, "val_accuracy": VAL})}
    if classes:
        datasets["chance"] = _chance(1 / classes, epochs)
    return _fill(_accuracy_template(epochs, bool(classes), height), datasets)


@lru_cache(maxsize=64)
def _lr_template(epochs: int, height: int) -> dict:
    chart = alt.Chart(alt.NamedData("lr")).mark_line(strokeWidth=2, color="#2ca02c", interpolate="step-after").encode(
        x=_x(epochs, None), y=alt.Y("value:Q", title="learning rate", axis=alt.Axis(format=".1e")),
        tooltip=[alt.Tooltip("epoch:Q", format=".2f"), alt.Tooltip("value:Q", title="learning rate", format=".3g")],
    )
    return _finish(chart, "Learning rate", height)


def lr_chart(history: list[dict], steps: list[dict], steps_per_epoch: int | None, epochs: int,
             height: int = 160) -> dict:
    frame = step_frame(steps, steps_per_epoch, column="lr")
    if frame.empty:
        frame = epoch_frame(history, {"lr": "lr"})[["epoch", "value"]]
    scale = {"type": "log"} if _log_scale(frame["value"]) else {"zero": False}
    return _fill(_lr_template(epochs, height), {"lr": frame}, scale)
