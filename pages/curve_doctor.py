"""Curve Doctor page: upload training-history CSVs or pick stored runs, and read what the curves say."""
from __future__ import annotations

import streamlit as st

from core.doctor.diagnose import Hint, classes_seen, diagnose_loaded
from core.doctor.history_io import MAX_BYTES, MAX_MEGABYTES, HistoryFileError, read_histories, too_big
from core.errors import UserError
from core.runs.lifecycle import stored_diagnosis
from core.runs.store import RunStore
from pages.parts.hint_view import hint_chart, render_hints
from pages.parts import icons
from pages.parts.ui import get_store, plain, use_app_navigation

UPLOAD, STORED = "Upload CSV files", "Stored runs"


def show_case(title: str, history: list[dict], hints, notes: list[str] = (), base=None, key: str = "case") -> None:
    """One history: its loss chart with the hints marked, and the hint cards (with "Try it" buttons that
    open the Train page when `base`, the run's settings, is known)."""
    st.subheader(plain(title))
    for note in notes:
        st.caption(note)
    chart, cards = st.columns([3, 2])
    with chart:
        st.altair_chart(hint_chart(history, hints), width="stretch", key=f"{key}_chart")
    with cards:
        render_hints(hints, base=base, key=key, go_to_train=True)


def uploaded_cases(files, classes: int | None) -> None:
    """Each uploaded file, and in a file whose epoch counter restarts each run on its own."""
    for upload in files:
        try:
            if upload.size > MAX_BYTES:
                raise HistoryFileError(upload.name, too_big(upload.size))
            segments = read_histories(upload.getvalue(), upload.name)
        except UserError as exc:
            st.error(str(exc), icon=icons.ERROR)
            continue
        for i, loaded in enumerate(segments):
            notes = list(loaded.notes)
            seen = classes_seen(loaded.history, classes)
            if seen.how == "inferred":
                notes.append(f"{seen.k} classes, inferred from {seen.because}.")
            elif seen.how == "unknown":
                notes.append("The number of classes could not be read off these curves: the doctor measures "
                             "against the run's own start (enter it above for chance-based checks).")
            show_case(f"{loaded.name} ({loaded.kind}, {len(loaded.history)} epochs)", loaded.history,
                      diagnose_loaded(loaded, classes=classes), notes, key=f"upload_{upload.file_id}_{i}")


def stored_cases(store: RunStore) -> None:
    runs = [r for r in store.runs(limit=200) if r.status != "queued"]
    if not runs:
        st.info("No stored runs yet: train one on the Train page, or upload a CSV.")
        return
    labels = {f"{r.label} · {r.config.model} on {r.config.dataset} · {r.status}": r.id for r in runs}
    picked = st.multiselect("Runs", list(labels), default=list(labels)[:1])
    for label in picked:
        run = store.get(labels[label])
        if run is None:
            continue
        hints = [Hint.from_dict(h) for h in stored_diagnosis(store, run)]
        show_case(label, store.history(run.id), hints, base=run.config, key=f"doctor_{run.id}")


use_app_navigation()
st.title(f"{icons.CURVE_DOCTOR} Curve Doctor")
st.markdown(
    "Curves tell you what went wrong: oscillation, overfitting, a learning rate that is too small, a bad "
    "initialization, divergence. Upload Keras `CSVLogger` files, PyTorch Lightning `metrics.csv`, pandas or "
    "fastai history CSVs, TensorBoard scalar CSV exports or TuneLab's own export, or pick runs you trained "
    "here; each hint is marked on the curve, with the numbers it quotes."
)
source = st.radio("Curves from", [UPLOAD, STORED], horizontal=True)
if source == UPLOAD:
    files = st.file_uploader("History CSV files", type=["csv", "txt"], accept_multiple_files=True,
                             max_upload_size=MAX_MEGABYTES,
                             help="Keras CSVLogger (also append=True, several runs in one file), Lightning's "
                                  "metrics.csv, pandas DataFrame(history).to_csv(), human headers such as "
                                  "'Train Loss', TensorBoard's Download CSV (Wall time, Step, Value) or TuneLab's "
                                  "export; comma, tab or semicolon; "
                                  f"{MAX_MEGABYTES} MB and 5,000 epochs at most.")
    classes = st.number_input("Number of classes (0 = infer from the curves)", min_value=0, max_value=100_000,
                              value=0, help="The loss of guessing is ln K. Left at 0, the doctor reads K off the "
                                            "curves where they show it (a loss at ln K with accuracy 1/K, a binary "
                                            "task's class prior) and says so.")
    if files:
        uploaded_cases(files, int(classes) if classes >= 2 else None)
    else:
        st.caption("Upload one or more files to see their curves and hints.")
else:
    try:
        stored_cases(get_store())
    except UserError as exc:
        st.error(str(exc), icon=icons.ERROR)
