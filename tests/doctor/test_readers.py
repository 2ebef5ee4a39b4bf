"""What students actually have, read: Keras console output (pasted, or a .txt/.log, progress bars and
`\\r` included), hand-made per-epoch logs, JSON dumps of `history.history`, and notebooks whose cells
hold fits. Checked on real files of the project's copy of the real logs (assets/diagnosis_corpus/real/,
each with its repository and commit in sources.csv): a console printout must give the same numbers as
the CSV transcription made of it by hand."""
from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import pytest

from core.doctor.diagnose import diagnose_loaded
from core.doctor.history_io import HistoryFileError, read_histories
from core.doctor.readers import console, json_history, notebook

REAL = Path(__file__).resolve().parents[2] / "assets" / "diagnosis_corpus" / "real"
CURVES = REAL / "curves"
SHARED = Path(__file__).resolve().parents[3] / "shared"
KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
# console printouts (or notebook output) next to the hand transcription in CSVLogger form
TRANSCRIBED = ["r001", "r002", "r013", "r014", "r018", "r037", "r039", "r041", "r042", "r051", "r056", "r073",
               "r074"]


def read(name: str):
    return read_histories((CURVES / name).read_bytes(), name)


@pytest.mark.parametrize("run", TRANSCRIBED)
def test_a_console_printout_reads_as_its_hand_transcription(run):
    [printed], [written] = read(f"{run}.txt"), read(f"{run}.csv")
    assert len(printed.history) == len(written.history) >= 5
    for got, want in zip(printed.history, written.history):
        for key in KEYS:
            assert (got[key] is None) == (want[key] is None), (run, key)
            if want[key] is not None:
                assert got[key] == pytest.approx(want[key], abs=1e-12), (run, got["epoch"], key)


def test_keras_console_with_progress_bars_and_an_interrupted_last_epoch():
    [run] = read("r041.txt")  # Keras 2's bars; Ctrl+C in epoch 114
    assert run.kind == "keras console" and len(run.history) == 113
    assert any("epoch 114 was cut off" in note for note in run.notes)
    text = ("Epoch 1/2\r\n 5/10 [==>...] - ETA: 1s - loss: 0.9000 - accuracy: 0.5000\r"
            "10/10 [=====] - 2s 10ms/step - loss: 0.8000 - accuracy: 0.6000 - val_loss: 0.7000 - val_accuracy: 0.6500\n"
            "Epoch 2/2\n10/10 ━━━━━━━━━━━━ 2s 10ms/step - accuracy: 0.7000 - loss: 0.6000 - val_accuracy: 0.7000 "
            "- val_loss: 0.6000 - learning_rate: 0.0010\n")
    [pasted] = read_histories(text, "pasted")
    assert [(r["epoch"], r["loss"], r["val_accuracy"], r["lr"]) for r in pasted.history] == [
        (1, 0.8, 0.65, None), (2, 0.6, 0.7, 0.001)]


def test_hand_made_logs_give_each_unqualified_metric_its_side():
    [run] = read("r001.txt")  # "Epoch 1/50 | Train Loss: 0.2143 Acc: 0.8993 | Val Loss: 0.0870 Acc: 0.9710"
    first = run.history[0]
    assert (first["loss"], first["accuracy"], first["val_loss"], first["val_accuracy"]) == (0.2143, 0.8993, 0.087, 0.971)
    [percent] = read("r002.txt")  # "Train Loss: 1.6279, Test Acc: 59.86%"
    assert percent.history[0]["val_accuracy"] == pytest.approx(0.5986)


@pytest.mark.parametrize("name", ["r003.json", "r004.json", "r012.json", "r017.json", "r023.json", "r035.txt"])
def test_json_dumps_of_a_history_are_read(name):
    [run] = read(name)
    assert run.kind == "json" and run.has_loss and run.has_validation and len(run.history) >= 5


def test_json_records_lines_and_what_is_left_out():
    records = [{"epoch": e, "loss": 1 / e, "val_loss": 1.2 / e, "note": "x"} for e in range(1, 5)]
    [run] = read_histories(json.dumps({"config": {"lr": 0.1}, "log": records}), "log.json")
    assert [r["loss"] for r in run.history] == [1.0, 0.5, 1 / 3, 0.25]
    assert any("left out note" in note for note in run.notes)
    [lines] = read_histories("\n".join(json.dumps(r) for r in records), "log.jsonl")
    assert [r["val_loss"] for r in lines.history] == [r["val_loss"] for r in run.history]
    assert json_history.read("[1, 2, 3]", "numbers.json") == []


def notebook_with_two_fits() -> str:
    fit = "Epoch 1/3\n" + "".join(
        f"Epoch {e}/3\n20/20 [====] - 1s - loss: {1 / e:.4f} - accuracy: {0.5 + e / 10:.4f} - "
        f"val_loss: {1.1 / e:.4f} - val_accuracy: {0.45 + e / 10:.4f}\n" for e in range(1, 4))
    history = {"loss": [0.9, 0.5, 0.3, 0.2], "val_loss": [1.0, 0.7, 0.75, 0.9]}
    cells = [
        {"cell_type": "markdown", "source": ["# Epoch 1: loss: 3"], "metadata": {}},
        {"cell_type": "code", "execution_count": 3, "source": ["model.fit(x, y)"], "metadata": {},
         "outputs": [{"output_type": "stream", "name": "stdout", "text": fit.splitlines(keepends=True)}]},
        {"cell_type": "code", "execution_count": 4, "source": ["print('hi')"], "metadata": {},
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["hi\n"]}]},
        {"cell_type": "code", "execution_count": 5, "source": ["history.history"], "metadata": {},
         "outputs": [{"output_type": "execute_result", "execution_count": 5, "metadata": {},
                      "data": {"text/plain": [repr(history)]}}]},
    ]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def test_a_notebook_with_two_fits_is_two_runs_named_by_their_cells():
    runs = read_histories(notebook_with_two_fits(), "lab.ipynb")
    assert [(r.name, r.kind, len(r.history)) for r in runs] == [("lab.ipynb cell 3", "notebook", 3),
                                                                ("lab.ipynb cell 5", "notebook", 4)]
    assert runs[0].history[2]["val_accuracy"] == pytest.approx(0.75)
    assert runs[1].history[-1]["val_loss"] == 0.9
    assert notebook.sniff("{}", "x.ipynb") and not notebook.sniff('{"loss": [1]}', "h.json")
    with pytest.raises(HistoryFileError, match="no epoch with a loss or an accuracy"):
        read_histories(json.dumps({"cells": [], "nbformat": 4}), "empty.ipynb")


def test_a_csv_is_left_to_the_csv_reader():
    text = "epoch,loss,val_loss\n0,1.0,1.1\n1,0.8,0.9\n"
    assert not console.sniff(text, "h.csv") and not json_history.sniff(text, "h.csv")
    assert read_histories(text, "h.csv")[0].kind == "keras"


def labelled() -> list[dict]:
    with open(REAL / "labels.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_every_labelled_real_log_is_read_or_refused_in_words_and_never_crashes_the_doctor():
    sources = {row["file"]: row for row in csv.DictReader(open(REAL / "sources.csv", newline=""))}
    unread = []
    for row in labelled():
        try:
            runs = read(row["file"])
        except HistoryFileError as exc:  # a clear message naming the file, never an internal error
            unread.append((row["file"], row["confidence"], str(exc)))
            continue
        classes = sources[row["file"]]["classes_if_known"].strip()
        for run in runs:
            diagnose_loaded(run, classes=int(classes) if classes else None)
            diagnose_loaded(run)
    assert [(f, c) for f, c, _ in unread] == [("r070.csv", "low")], unread  # the one malformed file


def test_no_file_of_the_copy_is_on_the_outside_checks_list():
    holdout = SHARED / "holdout-sha256.txt"
    if not holdout.exists():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI has ../shared beside the clone: its holdout-sha256.txt must be there")
        pytest.skip("no ../shared/holdout-sha256.txt beside this clone")
    banned = {line.strip() for line in holdout.read_text().splitlines() if line.strip() and not line.startswith("#")}
    for path in (Path(__file__).resolve().parents[2] / "assets").rglob("*"):
        if path.is_file():
            raw = path.read_bytes()
            assert hashlib.sha256(raw).hexdigest() not in banned, path
            assert hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest() not in banned, path
