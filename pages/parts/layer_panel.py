"""The per-layer panel of the boiling-water lab, shared by the Saturation Lab and the Train page: a
row of sideways histograms (one "stove" per layer, coloured by region), the saturated or dead
fraction per layer, and the gradient size per layer on a log axis. Not a page (app.py does not list it).
"""
from __future__ import annotations

import math

import altair as alt
import pandas as pd
import streamlit as st

from core.catalog.activations import ACTIVATIONS
from core.doctor.stove_story import span
from core.training.probes import HIST_BINS, hist_edges
from pages.parts.run_charts import arrow_datasets

# Colours that survive a washed-out projector: strong hues, one meaning each.
BOILING = "#d62728"  # saturated / flat region
SENSITIVE = "#1f77b4"  # where more flame still changes the output
OFF = "#8c8c8c"  # zero: a ReLU unit that is off
GRADIENT = "#ff7f0e"
FONT = 16
MIN_BIN = 0.035  # thinnest bar drawn, as a fraction of the value axis
AXIS_WIDTH = 70  # fixed width of every y axis, so the three charts line up layer by layer


def _zone(family: str, activation: str, index: int) -> str:
    """The region histogram bin `index` covers (core.training.probes.hist_edges makes the end bins of sigmoid
    and tanh exactly their saturated zones, and ReLU's first bin exactly its zeros)."""
    if family == "saturating" and index in (0, HIST_BINS - 1):
        return "flat region (boiling)"
    if family == "rectifier" and index == 0 and ACTIVATIONS.get(activation).factory.output_range[0] == 0.0:
        return "zero (off)"
    return "sensitive range"


ZONES = {"sensitive range": SENSITIVE, "flat region (boiling)": BOILING, "zero (off)": OFF}


def _zone_scale(frame: pd.DataFrame) -> alt.Scale:
    """Colours of the regions this activation has (no 'boiling' legend entry for ReLU, say)."""
    present = [zone for zone in ZONES if zone in set(frame["zone"])]
    return alt.Scale(domain=present, range=[ZONES[zone] for zone in present])


def histogram_frame(layers: list[dict]) -> pd.DataFrame:
    """One row per (layer, bin): where the bar starts and ends in the layer's slot, and its region.
    Bins thinner than MIN_BIN of the axis (saturated zones, ReLU's zeros) are drawn MIN_BIN thick,
    from the end of the range inwards, so a projector still shows them."""
    rows = []
    for layer in layers:
        edges = hist_edges(layer["activation"])
        counts = layer["hist"]
        total = sum(counts) or 1
        peak = max(counts) or 1
        thick = MIN_BIN * (edges[-1] - edges[0])
        for i, count in enumerate(counts):
            low, high = edges[i], edges[i + 1]
            y0, y1 = low, high
            if high - low < thick:
                y0, y1 = (low, low + thick) if i == 0 else (high - thick, high)
            rows.append({
                "layer": layer["layer"],
                "name": layer["name"],
                "low": low,
                "high": high,
                "y0": y0,
                "y1": y1,
                "share": count / total,
                "x0": layer["layer"] - 0.42,
                "x1": layer["layer"] - 0.42 + 0.84 * count / peak,
                "zone": _zone(layer["family"], layer["activation"], i),
            })
    # special (thin) bins last, so they are drawn over the bins they overlap
    frame = pd.DataFrame(rows)
    return frame.assign(order=(frame["zone"] != "sensitive range").astype(int))


def zones_present(layers: list[dict]) -> list[str]:
    """The regions (keys of ZONES) the stoves chart of these layers can colour, in ZONES' order."""
    found = {_zone(row["family"], row["activation"], i) for row in layers[:1] for i in range(HIST_BINS)}
    return [zone for zone in ZONES if zone in found]


def _x(n_layers: int, field: str = "layer:Q", title: str | None = None) -> alt.X:
    """The shared layer axis: layer k sits at x = k in every chart, so columns line up."""
    ticks = list(range(1, n_layers + 1)) if n_layers <= 16 else list(range(1, n_layers + 1, 2))
    return alt.X(
        field, title=title, scale=alt.Scale(domain=[0.5, n_layers + 0.5], nice=False, zero=False),
        axis=alt.Axis(values=ticks, format="d", grid=False),
    )


def _style(chart: alt.Chart) -> alt.Chart:
    return (
        chart.configure_axis(labelFontSize=FONT, titleFontSize=FONT + 1, titleFontWeight="normal")
        .configure_axisY(minExtent=AXIS_WIDTH, maxExtent=AXIS_WIDTH)
        .configure_legend(labelFontSize=FONT, titleFontSize=FONT, orient="top", title=None, symbolSize=220)
        .configure_title(fontSize=FONT + 3, anchor="start", fontWeight="bold", subtitleFontSize=FONT,
                         subtitleColor="#444444")
        .configure_view(strokeWidth=0)
    )


def stoves_chart(layers: list[dict], height: int = 310) -> alt.Chart:
    """Every layer's histogram drawn sideways in its own slot: the row of stoves."""
    frame = histogram_frame(layers)
    first = layers[0]
    low, high = frame["low"].min(), frame["high"].max()
    bars = alt.Chart(frame).mark_rect().encode(
        x=_x(len(layers), "x0:Q"),
        x2="x1:Q",
        y=alt.Y("y0:Q", title=f"{first['activation']} output", scale=alt.Scale(domain=[low, high], nice=False)),
        y2="y1:Q",
        color=alt.Color("zone:N", scale=_zone_scale(frame)),
        order=alt.Order("order:Q"),
        tooltip=[
            alt.Tooltip("name:N", title="layer"),
            alt.Tooltip("low:Q", title="from", format=".2f"),
            alt.Tooltip("high:Q", title="to", format=".2f"),
            alt.Tooltip("share:Q", title="share of values", format=".1%"),
        ],
    )
    return bars.properties(height=height, title="Each layer's outputs: one stove per column")


def fraction_chart(layers: list[dict], height: int = 170) -> alt.Chart | None:
    """Saturated (sigmoid/tanh) or dead (ReLU family) share of each layer; None for smooth ones."""
    family = layers[0]["family"]
    zero_floor = ACTIVATIONS.get(layers[0]["activation"]).factory.output_range[0] == 0.0
    dead = "zero for every image" if zero_floor else "never positive for any image"
    key, title, colour = {
        "saturating": ("saturated_fraction", "Saturated units (boiling)", BOILING),
        "rectifier": ("dead_fraction", f"Dead units ({dead})", OFF),
    }.get(family, (None, "", ""))
    if key is None:
        return None
    frame = pd.DataFrame({"layer": [r["layer"] for r in layers], "name": [r["name"] for r in layers],
                          "share": [r[key] or 0.0 for r in layers]})
    return alt.Chart(frame).mark_bar(color=colour, size=max(4, min(40, 600 // len(layers)))).encode(
        x=_x(len(layers)),
        y=alt.Y("share:Q", title="% of units", scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%", values=[0, 0.5, 1])),
        tooltip=[alt.Tooltip("name:N", title="layer"), alt.Tooltip("share:Q", title=title, format=".1%")],
    ).properties(height=height, title=title)


def _decades(values: list[float], most: int = 5) -> list[float]:
    """Powers of ten from just below the smallest value to just above the largest, at most `most` + 1
    of them."""
    if not values:
        return [1e-3, 1.0]
    low = math.floor(math.log10(min(values)))
    high = max(math.ceil(math.log10(max(values))), low + 1)
    step = max(1, math.ceil((high - low) / most))
    high = low + step * math.ceil((high - low) / step)
    return [10.0 ** k for k in range(low, high + 1, step)]


NO_GRADIENT = "0 (no gradient)"
TOO_BIG = "too big to store (overflow)"
GRADIENT_KINDS = {"gradient": GRADIENT, NO_GRADIENT: "#444444", TOO_BIG: BOILING}
SHAPES = {"gradient": "circle", NO_GRADIENT: "triangle-down", TOO_BIG: "triangle-up"}


def gradient_frame(layers: list[dict]) -> pd.DataFrame:
    """One row per layer: its gradient norm and what the chart draws for it. A zero gradient is kind
    NO_GRADIENT, a non-finite one (None in the probe: inf or NaN) kind TOO_BIG; neither is dropped.
    `segment` numbers the runs of consecutive layers with a finite gradient, so the line breaks at a gap."""
    rows, segment, previous = [], 0, False
    for r in layers:
        g = r["grad_norm"]
        if g is None or not math.isfinite(g):
            kind, text = TOO_BIG, TOO_BIG
        elif g == 0:
            kind, text = NO_GRADIENT, NO_GRADIENT
        else:
            kind, text = "gradient", f"{g:.2e}"
        drawn = kind == "gradient"
        if drawn and not previous:
            segment += 1
        previous = drawn
        rows.append({"layer": r["layer"], "name": r["name"], "grad": g if drawn else None, "kind": kind,
                     "gradient": text, "update": r.get("update_ratio"), "segment": segment if drawn else 0})
    return pd.DataFrame(rows)


def gradient_chart(layers: list[dict], height: int = 220) -> alt.Chart:
    """Norm of the loss gradient with respect to each layer's weight, on a log axis. A layer with no
    gradient (exactly 0, which a log axis cannot show) is marked at the bottom of the axis, at a tick
    labelled 0; one whose gradient is too big to store (inf or NaN) at the top, at a tick labelled
    "overflow"; the subtitle names those layers."""
    frame = gradient_frame(layers)
    decades = _decades(frame.loc[frame["kind"] == "gradient", "grad"].tolist())
    ticks, label = list(decades), "replace(format(datum.value, '.0e'), 'e+', 'e')"
    low, high = decades[0], decades[-1]
    notes = []
    zero = frame.loc[frame["kind"] == NO_GRADIENT, "layer"].tolist()
    huge = frame.loc[frame["kind"] == TOO_BIG, "layer"].tolist()
    if zero:
        low = decades[0] / 10 ** 0.6  # a slot below the lowest decade: the row of zeros
        ticks.insert(0, low)
        label = f"datum.value < {decades[0] / 10 ** 0.3!r} ? '0' : {label}"
        notes.append(f"{span(zero).capitalize()}: no gradient (0), marked ▼ at the bottom")
    if huge:
        high = decades[-1] * 10 ** 0.6  # a slot above the highest decade: the row of overflows
        ticks.append(high)
        label = f"datum.value > {decades[-1] * 10 ** 0.3!r} ? 'overflow' : ({label})"
        notes.append(f"{span(huge).capitalize()}: too big to store, marked ▲ at the top")
    frame["y"] = [row.grad if row.kind == "gradient" else (low if row.kind == NO_GRADIENT else high)
                  for row in frame.itertuples()]
    present = [kind for kind in GRADIENT_KINDS if kind in set(frame["kind"])]
    y = alt.Y("y:Q", title="gradient", scale=alt.Scale(type="log", domain=[low, high]),
              axis=alt.Axis(values=ticks, labelExpr=label))
    tooltip = [alt.Tooltip("name:N", title="layer"), alt.Tooltip("gradient:N", title="gradient norm"),
               alt.Tooltip("update:Q", title="update / weight", format=".2e")]
    x = _x(len(layers), title="layer (input → output)")
    line = alt.Chart(frame[frame["kind"] == "gradient"]).mark_line(color=GRADIENT, strokeWidth=4).encode(
        x=x, y=y, detail="segment:N")
    points = alt.Chart(frame).mark_point(filled=True, size=150, opacity=1).encode(
        x=x, y=y, tooltip=tooltip,
        color=alt.Color("kind:N", scale=alt.Scale(domain=present, range=[GRADIENT_KINDS[k] for k in present]),
                        legend=alt.Legend(title=None) if len(present) > 1 else None),
        shape=alt.Shape("kind:N", scale=alt.Scale(domain=present, range=[SHAPES[k] for k in present]),
                        legend=None),
    )
    title = alt.TitleParams("Gradient reaching each layer (log scale)", subtitle=notes) if notes else \
        "Gradient reaching each layer (log scale)"
    # The page fits the whole chart, title and legend included, into its height: make room for the
    # legend and subtitle lines so the plot itself keeps its size.
    # and room for every tick label beyond the fourth (a log axis over 20 decades has six, plus 0).
    extra = (44 if len(present) > 1 else 0) + 22 * len(notes) + 24 * max(0, len(ticks) - 4)
    return (line + points).properties(height=height + extra, title=title)


def panel_specs(layers: list[dict]) -> dict[str, dict | None]:
    """The three charts as Vega-Lite specs (fractions is None where the activation has neither a flat
    region nor a hard zero). Plain dicts: the Train page caches them once per probe for every viewer."""
    fractions = fraction_chart(layers)
    return {
        "stoves": arrow_datasets(_style(stoves_chart(layers)).to_dict(validate=False)),
        "fractions": arrow_datasets(_style(fractions).to_dict(validate=False)) if fractions is not None else None,
        "gradient": arrow_datasets(_style(gradient_chart(layers)).to_dict(validate=False)),
    }


def render_panel_specs(specs: dict[str, dict | None], activation: str, key: str) -> None:
    st.vega_lite_chart(specs["stoves"], width="stretch", key=f"{key}_stoves")
    if specs["fractions"] is not None:
        st.vega_lite_chart(specs["fractions"], width="stretch", key=f"{key}_fractions")
    else:
        st.caption(f"{activation} has no flat region and no hard zero: nothing saturates, no unit dies.")
    st.vega_lite_chart(specs["gradient"], width="stretch", key=f"{key}_gradient")


def render_layer_panel(layers: list[dict], key: str) -> None:
    """Draw the three aligned per-layer charts for one probe (a list of core.training.probes layer dicts)."""
    if not layers:
        st.info("No per-layer numbers yet.")
        return
    render_panel_specs(panel_specs(layers), layers[0]["activation"], key)
