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
        .configure_title(fontSize=FONT + 3, anchor="start", fontWeight="bold")
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
    key, title, colour = {
        "saturating": ("saturated_fraction", "Saturated units (boiling)", BOILING),
        "rectifier": ("dead_fraction", "Dead units (zero for every image)", OFF),
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


def _decades(values: list[float]) -> list[float]:
    """Powers of ten from just below the smallest value to just above the largest, at most ~6 of them."""
    if not values:
        return [1e-3, 1.0]
    low = math.floor(math.log10(min(values)))
    high = max(math.ceil(math.log10(max(values))), low + 1)
    step = max(1, math.ceil((high - low) / 6))
    high = low + step * math.ceil((high - low) / step)
    return [10.0 ** k for k in range(low, high + 1, step)]


def gradient_chart(layers: list[dict], height: int = 220) -> alt.Chart:
    """Norm of the loss gradient with respect to each layer's weight, on a log axis."""
    frame = pd.DataFrame({
        "layer": [r["layer"] for r in layers],
        "name": [r["name"] for r in layers],
        "grad": [r["grad_norm"] if r["grad_norm"] and math.isfinite(r["grad_norm"]) else None for r in layers],
        "update": [r.get("update_ratio") for r in layers],
    }).dropna(subset=["grad"])
    decades = _decades(frame["grad"].tolist())
    base = alt.Chart(frame).encode(
        x=_x(len(layers), title="layer (input → output)"),
        y=alt.Y("grad:Q", title="gradient", scale=alt.Scale(type="log", domain=[decades[0], decades[-1]]),
                axis=alt.Axis(values=decades, labelExpr="replace(format(datum.value, '.0e'), 'e+', 'e')")),
        tooltip=[alt.Tooltip("name:N", title="layer"), alt.Tooltip("grad:Q", title="gradient norm", format=".2e"),
                 alt.Tooltip("update:Q", title="update / weight", format=".2e")],
    )
    line = base.mark_line(color=GRADIENT, strokeWidth=4) + base.mark_circle(color=GRADIENT, size=120, opacity=1)
    return line.properties(height=height, title="Gradient reaching each layer (log scale)")


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
