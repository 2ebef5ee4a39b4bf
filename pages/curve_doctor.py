"""Curve Doctor page: upload training histories (CSV, JSON, console output, notebooks), paste console
output, or pick stored runs, and read what the curves say."""
from __future__ import annotations

import streamlit as st

from core.doctor.diagnose import Hint, classes_seen, diagnose_loaded
from core.doctor.history_io import MAX_BYTES, MAX_MEGABYTES, HistoryFileError, read_histories, too_big
from core.errors import UserError
from core.runs.lifecycle import stored_diagnosis
from core.runs.store import RunStore
from pages.parts.hint_view import hint_chart, render_hints
from pages.parts import icons
from pages.parts.ui import get_store, plain, show_user_error, use_app_navigation

UPLOAD, PASTE, STORED = "Upload files", "Paste console output", "Stored runs"
TYPES = ["csv", "txt", "log", "json", "jsonl", "ipynb"]
PASTE_PLACEHOLDER = ("Epoch 1/20\n"
                     "157/157 [==============================] - 2s 10ms/step - loss: 0.4100 - accuracy: 0.8600 - "
                     "val_loss: 0.5200 - val_accuracy: 0.8100\nEpoch 2/20\n...")


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
    """Each uploaded file, and in a file whose epoch counter restarts (or a notebook's cells) each run
    on its own."""
    for upload in files:
        if upload.size > MAX_BYTES:
            show_user_error(HistoryFileError(upload.name, too_big(upload.size)))
            continue
        read_cases(upload.getvalue(), upload.name, classes, key=f"upload_{upload.file_id}")


def read_cases(data: bytes | str, name: str, classes: int | None, key: str) -> None:
    """One input's runs, each with its chart and hints; what is wrong with the input, in one line."""
    try:
        segments = read_histories(data, name)
    except UserError as exc:
        show_user_error(exc)
        return
    for i, loaded in enumerate(segments):
        notes = list(loaded.notes)
        seen = classes_seen(loaded.history, classes)
        if seen.how == "inferred":
            notes.append(f"{seen.k} classes, inferred from {seen.because}.")
        elif seen.how == "unknown":
            notes.append("The number of classes could not be read off these curves: the doctor measures "
                         "against the run's own start (enter it above for chance-based checks).")
        show_case(f"{loaded.name} ({loaded.kind}, {len(loaded.history)} epochs)", loaded.history,
                  diagnose_loaded(loaded, classes=classes), notes, key=f"{key}_{i}")


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
    "fastai history CSVs, TensorBoard scalar CSV exports, JSON dumps of `history.history`, Keras's console "
    "output (`.txt`, `.log`) or a notebook (`.ipynb`, each fit a run), paste what `model.fit` printed, or "
    "pick runs you trained here; each hint is marked on the curve, with the numbers it quotes."
)
source = st.radio("Curves from", [UPLOAD, PASTE, STORED], horizontal=True)


def class_count() -> int | None:
    classes = st.number_input("Number of classes (0 = infer from the curves)", min_value=0, max_value=100_000,
                              value=0, help="The loss of guessing is ln K. Left at 0, the doctor reads K off the "
                                            "curves where they show it (a loss at ln K with accuracy 1/K, a binary "
                                            "task's class prior) and says so.")
    return int(classes) if classes >= 2 else None


if source == UPLOAD:
    files = st.file_uploader("History files", type=TYPES, accept_multiple_files=True,
                             max_upload_size=MAX_MEGABYTES,
                             help="Keras CSVLogger (also append=True, several runs in one file), Lightning's "
                                  "metrics.csv, pandas DataFrame(history).to_csv(), human headers such as "
                                  "'Train Loss', TensorBoard's Download CSV (Wall time, Step, Value), TuneLab's "
                                  "export, a JSON dump of history.history, console output saved as .txt or .log, "
                                  "a Jupyter notebook; "
                                  f"{MAX_MEGABYTES} MB and 5,000 epochs at most.")
    classes = class_count()
    if files:
        uploaded_cases(files, classes)
    else:
        st.caption("Upload one or more files to see their curves and hints.")
elif source == PASTE:
    text = st.text_area("Console output", height=180, max_chars=MAX_BYTES, placeholder=PASTE_PLACEHOLDER,
                        help="What Keras's model.fit printed (progress bars and all), or any log with a line "
                             "per epoch such as 'Epoch 3/20 | Train Loss: 0.41 | Val Loss: 0.52'.")
    classes = class_count()
    if text.strip():
        read_cases(text, "pasted output", classes, key="pasted")
    else:
        st.caption("Paste the output of a training run to see its curves and hints.")
else:
    try:
        stored_cases(get_store())
    except UserError as exc:
        show_user_error(exc)
