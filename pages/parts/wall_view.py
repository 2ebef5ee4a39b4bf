"""The Wall's live part: every running and recent run of the class as one small chart each (validation
and training accuracy per epoch, titled with the owner, the run, its status and its diagnosis), the
pinned challenge's standings, who is waiting, and one click on a tile to show that run large.

Built for thirty browsers and a projector at once: each poll reads one counter (store.changes(), the
one that per-step losses and probes leave alone: the Wall draws epochs), and only when it moved does
one session read the store and build the chart (snapshot(), shared by every
session through st.cache_data). All tiles are one faceted Vega-Lite chart: one element to send per
poll, not one per run. Not a page (pages/wall.py is)."""
from __future__ import annotations

import math
import time

import streamlit as st

from core.catalog.datasets import classes_of
from core.doctor.diagnose import diagnose
from core.runs.classroom import WINS
from core.runs.store import ClassRow
from pages.parts.run_charts import FONT, arrow_datasets
from pages.parts import icons
from pages.parts.ui import get_classroom, get_store, plain

POLL_SECONDS = 2.0
OVERVIEW_LIMIT = 60  # the newest runs class_overview reads (every running one comes on top)
TILES = 24  # small charts on the wall: four screens' rows at most, the running ones first
COLUMNS = 4
TILE_WIDTH, TILE_HEIGHT = 180, 80  # pixels per small chart: 4 across beside the standings, 3 rows, at 1280x720
STANDINGS = 10
LABEL_CHARS = 28  # per header line (what is longer than the tile is cut with an ellipsis too)
# A tile's colour: blue while training; a finished run green when healthy, orange when its diagnosis
# names a problem (the class sees at a glance who needs help), red when it diverged or failed.
STATUS_COLOUR = {"running": "#1f77b4", "completed": "#2ca02c", "a problem": "#ff7f0e", "diverged": "#d62728",
                 "failed": "#d62728", "cancelled": "#8c6d31", "interrupted": "#9467bd", "queued": "#bcbd22"}
NO_PROBLEM = ("", "healthy", "too_early", "not_judged")
PICK = "pick"  # the chart's click selection


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _finite(value) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None


def _diagnosis(row: ClassRow, history: list[dict]) -> str:
    """The stored diagnosis's title; for a run still training, the Curve Doctor on its epochs so far
    (per-epoch rows only: steps and probes would cost a read per poll and change the title little)."""
    if row.diagnosis or row.status != "running" or len(history) < 3:
        return row.diagnosis
    config = row.run.config
    hints = diagnose(history, classes=classes_of(config.dataset), config=config.to_dict(), epochs_planned=config.epochs)
    return hints[0].title if hints else ""


def shade(row: ClassRow) -> str:
    """The tile's colour key (STATUS_COLOUR)."""
    if row.status == "completed" and row.family not in NO_PROBLEM:
        return "a problem"
    return row.status


def _tile(row: ClassRow, history: list[dict]) -> dict:
    run = row.run
    owner = row.owner_name or "nobody"
    best = "" if row.best_val_accuracy is None else f" · best {row.best_val_accuracy:.1%}"
    progress = f"epoch {row.epochs_done}/{run.config.epochs}" if row.status == "running" else row.status
    diagnosis = _diagnosis(row, history)
    return {
        "run_id": run.id, "owner": owner, "name": run.name, "status": row.status, "shade": shade(row),
        "diagnosis": diagnosis,
        "epochs_done": row.epochs_done, "epochs": run.config.epochs, "best_val_accuracy": row.best_val_accuracy,
        # the chart's header, three lines (split on "\n" in the spec): who and which run; status and best;
        # the diagnosis. Words, not the status icons: a projector's browser may lack a colour emoji font.
        "header": "\n".join((f"{_short(owner, 14)} · #{run.id} {_short(run.name, LABEL_CHARS - 16)}".rstrip(),
                             f"{progress}{best}", _short(diagnosis.split(":")[0] or "–"))),
    }


def wall_chart(tiles: list[dict], points: list[dict]) -> dict:
    """One faceted Vega-Lite chart, a cell per tile in the tiles' order: validation accuracy (bold, in
    the status colour) and training accuracy (thin, grey) per epoch on a 0-100% axis, the x axis up to
    the planned epochs. A click anywhere in a cell selects its run (the `pick` selection)."""
    statuses = list(STATUS_COLOUR)
    x = {"field": "epoch", "type": "quantitative", "title": None,
         "axis": {"tickMinStep": 1, "labelFontSize": FONT - 2, "grid": False}}
    y = {"field": "value", "type": "quantitative", "title": None, "scale": {"domain": [0, 1]},
         "axis": {"format": "%", "tickCount": 3, "labelFontSize": FONT - 2}}
    by_run = {"run_id": "run_id"}
    only = lambda test: [{"filter": test}]  # noqa: E731 (every layer reads the one faceted data set)
    layers = [
        # the whole cell, transparent: a click on empty space picks the run too (not only on the line)
        {"transform": only("datum.kind == 'cell'"), "mark": {"type": "rect", "fill": "white", "opacity": 0.001,
                                                             "cursor": "pointer"},
         "params": [{"name": PICK, "select": {"type": "point", "fields": ["run_id"], "on": "click",
                                              "clear": "dblclick"}}],
         "encoding": {"tooltip": [{"field": "tooltip", "type": "nominal", "title": "click to show large"}]}},
        {"transform": only("datum.kind == 'cell'"), "mark": {"type": "rule", "opacity": 0},  # x reaches the plan
         "encoding": {"x": {**x, "field": "epochs"}}},
        {"transform": only("datum.series == 'training'"),
         "mark": {"type": "line", "strokeWidth": 1.5, "color": "#9a9a9a", "clip": True},
         "encoding": {"x": x, "y": y, "detail": by_run}},
        {"transform": only("datum.series == 'validation'"),
         "mark": {"type": "line", "strokeWidth": 3, "point": {"size": 30}, "clip": True},
         "encoding": {"x": x, "y": y, "detail": by_run,
                      "color": {"field": "shade", "type": "nominal", "title": None,
                                "scale": {"domain": statuses, "range": [STATUS_COLOUR[s] for s in statuses]},
                                "legend": None},
                      "tooltip": [{"field": "epoch", "type": "quantitative"},
                                  {"field": "value", "type": "quantitative", "format": ".1%",
                                   "title": "validation accuracy"}]}},
    ]
    blank = dict.fromkeys(("epochs", "tooltip", "epoch", "series", "value"))  # (Arrow wants one set of columns)
    rows = [{**blank, "kind": "cell", "run_id": t["run_id"], "header": t["header"], "shade": t["shade"],
             "epochs": max(1, t["epochs"]), "tooltip": f"#{t['run_id']} {t['name']} · {t['owner']}"} for t in tiles]
    rows += [{**blank, "kind": "point", **p} for p in points]
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "datasets": {"wall": rows},
        "data": {"name": "wall"},
        "facet": {"field": "header", "type": "nominal", "sort": [t["header"] for t in tiles], "title": None,
                  "header": {"labelExpr": "split(datum.value, '\\n')", "labelFontSize": FONT,
                             "labelLimit": TILE_WIDTH, "labelAnchor": "start", "labelFontWeight": "bold",
                             "labelPadding": 4}},
        "columns": COLUMNS,
        "spec": {"width": TILE_WIDTH, "height": TILE_HEIGHT, "layer": layers},
        "resolve": {"scale": {"x": "independent"}},
        "config": {"view": {"stroke": "#dddddd"}, "facet": {"spacing": {"row": 10, "column": 18}}},
    }
    return arrow_datasets(spec)


def _order(rows: list[ClassRow]) -> list[ClassRow]:
    """Running runs first (oldest start first, so tiles keep their place), then the newest finished."""
    running = sorted((r for r in rows if r.status == "running"), key=lambda r: r.run.id)
    done = [r for r in rows if r.status not in ("running", "queued")]
    return (running + done)[:TILES]


def _standings() -> dict | None:
    classroom = get_classroom()
    challenge = classroom.settings().challenge
    if not challenge:
        return None
    title = challenge.get("title") or f"{challenge['dataset']} · {challenge['model']} · {challenge['epochs']} epochs"
    rows = [{"rank": r.rank, "name": r.name or "nobody", "run_id": r.run_id, "accuracy": r.accuracy,
             "seconds": r.seconds} for r in classroom.challenge_results()]
    return {"title": title, "wins": WINS.get(challenge["wins"], challenge["wins"]), "rows": rows}


@st.cache_data(max_entries=4, show_spinner=False)
def snapshot(db_path: str, changes: int) -> dict:
    """Everything the Wall shows at one value of the store's change counter, the chart built: made
    by the first session that sees the counter move and then shared by every other one. `db_path` keeps
    two stores (tests) apart; `changes` is only the cache key."""
    store = get_store()
    rows = store.class_overview(limit=OVERVIEW_LIMIT)
    shown = _order(rows)
    tiles, points = [], []
    for row in shown:
        history = store.history(row.run.id) if row.epochs_done else []
        tiles.append(_tile(row, history))
        for epoch in history:
            for series, column in (("training", "accuracy"), ("validation", "val_accuracy")):
                value = _finite(epoch.get(column))
                if value is not None:
                    points.append({"run_id": row.run.id, "header": tiles[-1]["header"], "epoch": epoch["epoch"],
                                   "series": series, "value": value, "shade": tiles[-1]["shade"]})
    waiting = [{"run_id": r.run.id, "owner": r.owner_name or "nobody"} for r in sorted(rows, key=lambda r: r.run.id)
               if r.status == "queued"]
    counts = {status: sum(r.status == status for r in rows) for status in ("running", "queued")}
    return {"tiles": tiles, "chart": wall_chart(tiles, points) if tiles else None, "waiting": waiting,
            "counts": counts, "standings": _standings(), "built_at": time.time(), "changes": changes}


def show_large(run_id: int) -> None:
    """The selectbox's and the chart's way to a run: put it in the address, redraw the page large."""
    st.query_params["run"] = str(run_id)
    st.rerun()


def _picked(event) -> int | None:
    try:
        picked = event.selection[PICK]
    except (AttributeError, KeyError, TypeError):
        return None
    return int(picked[0]["run_id"]) if picked and "run_id" in picked[0] else None


def _side(data: dict) -> None:
    standings = data["standings"]
    if standings is not None:
        st.markdown(f"**{icons.TROPHY} {plain(standings['title'])}**")
        if standings["rows"]:
            lines = ["| | who | " + ("val acc" if "validation" in standings["wins"] else "test acc") + " |",
                     "|--:|:--|--:|"]
            lines += [f"| {r['rank']} | {plain(_short(r['name'], 12))} | {r['accuracy']:.1%} |"
                      for r in standings["rows"][:STANDINGS]]
            st.markdown("\n".join(lines))
            if len(standings["rows"]) > STANDINGS:
                st.caption(f"and {len(standings['rows']) - STANDINGS} more")
        else:
            st.caption(f"No finished run of the challenge yet: {standings['wins']} wins.")
    if data["waiting"]:
        names = ", ".join(f"{plain(_short(w['owner'], 14))} #{w['run_id']}" for w in data["waiting"][:12])
        more = f" and {len(data['waiting']) - 12} more" if len(data["waiting"]) > 12 else ""
        st.markdown(f"**{icons.status('queued')} Waiting ({len(data['waiting'])})**: {names}{more}")
    if data["tiles"]:
        labels = {t["run_id"]: f"#{t['run_id']} {t['name']} · {t['owner']}" for t in data["tiles"]}
        choice = st.selectbox("Show a run large", list(labels), format_func=labels.get, index=None, key="wall_open",
                              placeholder="or click its chart")
        if choice is not None:
            st.session_state.pop("wall_open", None)  # (back on the wall, the box is empty again)
            show_large(choice)


def draw(data: dict) -> None:
    """One poll's drawing of a snapshot: the status line, the tiles and the side panel."""
    counts = data["counts"]
    st.caption(f"{counts['running']} training · {counts['queued']} waiting · {len(data['tiles'])} shown · "
               f"as of {time.strftime('%H:%M:%S', time.localtime(data['built_at']))}")
    chart_col, side_col = st.columns([3.3, 1], gap="small")
    with chart_col:
        if data["chart"] is None:
            st.info("No runs yet: the class's runs appear here as they train.", icon=icons.WALL)
        else:
            event = st.vega_lite_chart(data["chart"], key="wall_chart", on_select="rerun", selection_mode=PICK,
                                       width="content")
            picked = _picked(event)
            if picked is not None:
                st.session_state.pop("wall_chart", None)  # (back on the wall, no tile is selected)
                show_large(picked)
    with side_col:
        _side(data)


def live_wall() -> None:
    """The polling part: one tiny query per poll, the shared snapshot when it moved."""

    @st.fragment(run_every=POLL_SECONDS)
    def live() -> None:
        store = get_store()
        draw(snapshot(str(store.path), store.changes(per_step=False)))

    live()
