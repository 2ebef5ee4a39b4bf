"""Compare page: pick stored runs (filter by data set, model, tag, name), overlay their curves one
colour per run, list only the settings that differ and what each run reached; seed groups as a mean
with a band, and whether two groups differ by more than seed noise. The selection lives in the URL
(?runs=3,5,9), so a link reproduces the view."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from core.runs.compare import compare_groups, differing_settings, final_values, group_curve, summarize
from core.errors import ConfigError
from core.runs.store import RunRecord
from pages.parts.run_charts import FONT
from pages.parts import icons
from pages.parts.ui import get_store, show_user_error, use_app_navigation

MAX_RUNS = 1000
METRICS = {"validation loss": "val_loss", "training loss": "loss", "validation accuracy": "val_accuracy",
           "training accuracy": "accuracy"}


def url_selection(known: set[int]) -> list[int]:
    """The run ids in ?runs=..., those that exist; a malformed value is reported, not raised."""
    raw = st.query_params.get("runs", "")
    ids: list[int] = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        if not part.isdigit():
            show_user_error(ConfigError("runs", f"must be run numbers separated by commas, such as ?runs=3,5 (got {raw!r})"))
            return []
        if int(part) in known and int(part) not in ids:
            ids.append(int(part))
    missing = [p for p in raw.split(",") if p.strip().isdigit() and int(p) not in known]
    if missing:
        st.warning(f"Not in the store (deleted?): run {', '.join(missing)}.")
    return ids


def put_selection_in_url() -> None:
    ids = st.session_state.get("compare_runs", [])
    if ids:
        st.query_params["runs"] = ",".join(str(i) for i in ids)
    else:
        st.query_params.pop("runs", None)


def filters(runs: list[RunRecord]) -> list[RunRecord]:
    cols = st.columns(4)
    datasets = cols[0].multiselect("Data set", sorted({r.config.dataset for r in runs}), key="f_dataset")
    models = cols[1].multiselect("Model", sorted({r.config.model for r in runs}), key="f_model")
    tags = cols[2].multiselect("Tag", sorted({r.tag for r in runs if r.tag}), key="f_tag")
    name = cols[3].text_input("Name contains", key="f_name").strip().lower()
    return [r for r in runs
            if (not datasets or r.config.dataset in datasets) and (not models or r.config.model in models)
            and (not tags or r.tag in tags) and (not name or name in r.name.lower())]


# Tableau 10: ten hues told apart on a projector and by most colour-blind eyes (no red/green or
# light/dark pair of one hue, as category20 has); past ten runs the colours repeat with a dash.
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac"]
DASHES = [[1, 0], [8, 4], [2, 3], [10, 3, 2, 3]]


def run_styles(labels: list[str]) -> tuple[alt.Color, alt.StrokeDash]:
    """Colour and dash per run in the order picked: run i gets colour i mod 10, dash i div 10."""
    legend = alt.Legend(orient="top", title=None, labelLimit=400, columns=2, symbolType="stroke",
                        symbolStrokeWidth=3, symbolSize=400)  # one legend: Vega-Lite merges the two
    colour = alt.Color("run:N", scale=alt.Scale(domain=labels, range=[PALETTE[i % len(PALETTE)] for i in
                                                                      range(len(labels))]), legend=legend)
    dash = alt.StrokeDash("run:N", scale=alt.Scale(domain=labels, range=[DASHES[(i // len(PALETTE)) % len(DASHES)]
                                                                         for i in range(len(labels))]), legend=legend)
    return colour, dash


def overlay_chart(histories: dict[RunRecord, list[dict]], metric: str):
    column = METRICS[metric]
    rows = [{"run": run.label, "epoch": row["epoch"], "value": row.get(column)}
            for run, history in histories.items() for row in history]
    frame = pd.DataFrame(rows, columns=["run", "epoch", "value"]).dropna()
    percent = "accuracy" in column
    colour, dash = run_styles([run.label for run in histories])
    return alt.Chart(frame).mark_line(point=True, strokeWidth=3).encode(
        x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)),
        y=alt.Y("value:Q", title=metric, axis=alt.Axis(format="%" if percent else "")),
        color=colour, strokeDash=dash,
        tooltip=["run:N", "epoch:Q", alt.Tooltip("value:Q", format=".2%" if percent else ".4g")],
    ).properties(height=380).configure_axis(labelFontSize=FONT, titleFontSize=FONT).configure_legend(
        labelFontSize=FONT)


def band_chart(groups: dict[str, list[list[dict]]], metric: str):
    column = METRICS[metric]
    rows = []
    for name, histories in groups.items():
        curve = group_curve(histories, column)
        rows += [{"group": name, "epoch": e, "mean": m, "low": lo, "high": hi, "runs": n}
                 for e, m, lo, hi, n in zip(curve.epochs, curve.mean, curve.low, curve.high, curve.count)]
    frame = pd.DataFrame(rows, columns=["group", "epoch", "mean", "low", "high", "runs"])
    base = alt.Chart(frame).encode(x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1)),
                                   color=alt.Color("group:N", scale=alt.Scale(range=PALETTE),
                                                   legend=alt.Legend(orient="top", title=None)))
    band = base.mark_area(opacity=0.25).encode(y=alt.Y("low:Q", title=f"{metric} (mean, band = min to max)"),
                                               y2="high:Q")
    line = base.mark_line(point=True, strokeWidth=3).encode(
        y="mean:Q", tooltip=["group:N", "epoch:Q", alt.Tooltip("mean:Q", format=".4g"), "runs:Q"])
    return alt.layer(band, line).properties(height=340).configure_axis(labelFontSize=FONT, titleFontSize=FONT)


def settings_table(selected: list[RunRecord]) -> None:
    names = differing_settings([r.config for r in selected])
    if not names:
        st.caption("Every setting is the same in these runs (they differ only in what training did with them)."
                   if len(selected) > 1 else "Pick two or more runs to see the settings that differ.")
        return
    st.dataframe(pd.DataFrame([{"run": r.label, **{n: getattr(r.config, n) for n in names}} for r in selected]),
                 hide_index=True, key="differences")


use_app_navigation()
st.title(f"{icons.COMPARE} Compare runs")
store = get_store()
every = store.runs(limit=MAX_RUNS)
if not every:
    st.info("No runs yet: train a few on the Train page, then compare them here.")
    st.stop()
by_id = {r.id: r for r in every}
if "compare_runs" not in st.session_state:
    st.session_state["compare_runs"] = url_selection(set(by_id))
shown = filters(every)
options = sorted({r.id for r in shown} | set(st.session_state["compare_runs"]), reverse=True)
st.multiselect("Runs", options, key="compare_runs", format_func=lambda i: f"{by_id[i].label} · {by_id[i].status}",
               on_change=put_selection_in_url, placeholder="Pick runs to compare")
selected = [by_id[i] for i in st.session_state["compare_runs"]]
if not selected:
    st.caption("Pick runs above; the link in the address bar then reproduces this view.")
    st.stop()
put_selection_in_url()

histories = {run: store.history(run.id) for run in selected}
metric = st.radio("Curve", list(METRICS), horizontal=True, key="compare_metric")
st.altair_chart(overlay_chart(histories, metric), width="stretch", key="overlay")

st.subheader("What each run reached")
summaries = [summarize(run, history) for run, history in histories.items()]
st.dataframe(pd.DataFrame([{
    "run": s.label, "status": s.status, "epochs": s.epochs, "best val acc": s.best_val_accuracy,
    "at epoch": s.best_epoch, "final loss": s.final_loss, "final val loss": s.final_val_loss, "seconds": s.seconds,
} for s in summaries]), hide_index=True, key="summary",
    column_config={"best val acc": st.column_config.NumberColumn(format="percent"),
                   "seconds": st.column_config.NumberColumn(format="%.1f")})

st.subheader("Settings that differ")
settings_table(selected)

groups: dict[str, list[RunRecord]] = {}
for run in selected:
    if run.group_id:
        groups.setdefault(run.group_id, []).append(run)
groups = {gid: runs for gid, runs in groups.items() if len(runs) > 1}
if groups:
    st.subheader("Seed groups")
    names = {gid: f"{runs[0].name or 'group'} ({len(runs)} seeds)" for gid, runs in groups.items()}
    group_histories = {names[gid]: [histories[r] for r in runs] for gid, runs in groups.items()}
    st.altair_chart(band_chart(group_histories, metric), width="stretch", key="bands")
    if len(groups) >= 2:
        (ga, ra), (gb, rb) = list(groups.items())[:2]
        verdict = compare_groups(final_values([histories[r] for r in ra]), final_values([histories[r] for r in rb]),
                                 names[ga], names[gb])
        (st.success if verdict.verdict == "real" else st.info)(verdict.text)
    else:
        st.caption("Add a second seed group to ask whether their difference is larger than seed noise.")
