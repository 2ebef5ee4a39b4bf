"""The history CSV reader: Keras CSVLogger (plain, append=True restarts, other metric names, learning_rate),
TuneLab's export, pandas' to_csv, Lightning's metrics.csv, TensorBoard and long formats, human headers,
delimiters, line ends, title lines, limits; clear errors; fuzz tests proving that nothing but
HistoryFileError ever escapes.

The files in fixtures/ were written by the libraries themselves (fixtures/make_fixtures.py) or by hand
(fixtures/README.md says which); library-written ones are checked against an independent plain-csv reading
of the same file, so regenerating them needs no change here."""
from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.doctor.history_io import (
    COLUMNS,
    MAX_EPOCHS,
    HistoryFileError,
    LoadedHistory,
    read_histories,
    read_history,
    read_history_file,
    read_history_file_segments,
)
from core.errors import UserError

FIXTURES = Path(__file__).parent / "fixtures"
KERAS = (b"epoch,acc,loss,lr,val_acc,val_loss\n0,0.5,1.2,0.001,0.6,1.0\n1,0.7,0.8,0.001,0.7,0.9\n"
         b"2,0.8,0.5,0.001,0.75,0.85\n")


def plain_rows(path: Path) -> list[dict[str, str]]:
    """The file as csv.DictReader sees it: the independent reading the parsed numbers are checked against."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def column(got: LoadedHistory, key: str) -> list:
    return [row[key] for row in got.history]


# ---- Keras CSVLogger, written by Keras 3 ------------------------------------------------------------------
def test_keras_csvlogger_is_read_with_aliases_and_epochs_shifted_to_one_based():
    got = read_history(KERAS, "log.csv")
    assert got.kind == "keras"
    assert [r["epoch"] for r in got.history] == [1, 2, 3]
    assert got.history[0] == {"epoch": 1, "loss": 1.2, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.6,
                              "lr": 0.001}
    assert any("shifted" in note for note in got.notes)
    assert got.columns == ["epoch", "acc", "loss", "lr", "val_acc", "val_loss"]
    assert got.mapping == {"epoch": "epoch", "acc": "accuracy", "loss": "loss", "lr": "lr", "val_acc": "val_accuracy",
                           "val_loss": "val_loss"}


def test_keras_plain_run_matches_the_file_row_for_row():
    path = FIXTURES / "keras_plain.csv"
    got = read_history_file(path)
    rows = plain_rows(path)
    assert got.kind == "keras" and got.name == "keras_plain.csv"
    assert column(got, "epoch") == [int(r["epoch"]) + 1 for r in rows] == list(range(1, len(rows) + 1))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert column(got, key) == [float(r[key]) for r in rows], key
    assert column(got, "lr") == [None] * len(rows)
    assert got.columns == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]  # CSVLogger sorts its keys
    assert got.has_validation and got.has_accuracy and got.has_loss and not got.regression


def test_keras_append_true_restart_gives_one_history_per_run():
    path = FIXTURES / "keras_append_restart.csv"
    rows = plain_rows(path)
    restart = next(i for i in range(1, len(rows)) if int(rows[i]["epoch"]) <= int(rows[i - 1]["epoch"]))
    parts = read_history_file_segments(path)
    assert [p.name for p in parts] == [f"keras_append_restart.csv (part {k} of 2)" for k in (1, 2)]
    assert [len(p.history) for p in parts] == [restart, len(rows) - restart]
    assert column(parts[0], "epoch") == list(range(1, restart + 1))
    assert column(parts[1], "epoch") == list(range(1, len(rows) - restart + 1))
    assert column(parts[0], "loss") == [float(r["loss"]) for r in rows[:restart]]
    assert column(parts[1], "val_accuracy") == [float(r["val_accuracy"]) for r in rows[restart:]]
    line = restart + 2  # the header is line 1
    assert any(f"restarted at line {line}" in n and "epoch 0 after epoch" in n for n in parts[1].notes)
    assert any(f"restarts at line {line}" in n for n in parts[0].notes)
    assert read_histories(path.read_bytes(), path.name)[1].history == parts[1].history

    last = read_history_file(path)  # old callers: the last run, and a note that the others were left out
    assert last.history == parts[1].history and last.name.endswith("(part 2 of 2)")
    assert "1 earlier segment was left out" in last.notes[0]
    assert read_history(path.read_bytes(), path.name).history == parts[1].history


def test_keras_validation_every_second_epoch_leaves_na_cells_as_none():
    path = FIXTURES / "keras_validation_freq.csv"  # fit(validation_freq=2)
    got = read_history_file(path)
    rows = plain_rows(path)
    assert [r["val_loss"] for r in rows][::2] == ["NA", "NA"]
    assert column(got, "val_loss") == [None if r["val_loss"] == "NA" else float(r["val_loss"]) for r in rows]
    assert column(got, "loss") == [float(r["loss"]) for r in rows] and got.has_validation


def test_keras_sparse_categorical_accuracy_is_the_accuracy():
    path = FIXTURES / "keras_sparse_categorical.csv"
    got = read_history_file(path)
    rows = plain_rows(path)
    assert column(got, "accuracy") == [float(r["sparse_categorical_accuracy"]) for r in rows]
    assert column(got, "val_accuracy") == [float(r["val_sparse_categorical_accuracy"]) for r in rows]
    assert got.mapping["val_sparse_categorical_accuracy"] == "val_accuracy"


@pytest.mark.parametrize("metric", ["acc", "accuracy", "sparse_categorical_accuracy", "categorical_accuracy",
                                    "binary_accuracy"])
def test_every_keras_accuracy_name_is_read(metric):
    got = read_history(f"epoch,loss,{metric},val_loss,val_{metric}\n0,1.0,0.4,1.1,0.35\n1,0.8,0.6,0.9,0.5\n")
    assert column(got, "accuracy") == [0.4, 0.6] and column(got, "val_accuracy") == [0.35, 0.5]


def test_the_plain_accuracy_name_wins_over_other_accuracy_metrics():
    text = ("epoch,accuracy,binary_accuracy,loss,top_k_categorical_accuracy,val_accuracy,val_binary_accuracy,val_loss\n"
            "0,0.5,0.9,1.0,0.99,0.4,0.8,1.1\n")
    got = read_history(text)
    assert got.history[0]["accuracy"] == 0.5 and got.history[0]["val_accuracy"] == 0.4
    got = read_history("epoch,loss,top_k_categorical_accuracy,categorical_accuracy\n0,1.0,0.9,0.3\n")
    assert got.history[0]["accuracy"] == 0.3  # top-k accuracy is another metric


def test_keras_learning_rate_from_a_scheduler():
    path = FIXTURES / "keras_lr_schedule.csv"
    got = read_history_file(path)
    assert got.mapping["learning_rate"] == "lr"
    assert column(got, "lr") == [float(r["learning_rate"]) for r in plain_rows(path)]
    assert column(got, "lr") == pytest.approx([0.01 * 0.5 ** k for k in range(len(got.history))], rel=1e-6)


def test_keras_regression_run_is_read_and_flagged():
    path = FIXTURES / "keras_regression.csv"  # loss mse, metric mae
    got = read_history_file(path)
    assert got.regression and not got.has_accuracy and got.has_validation
    assert column(got, "loss") == [float(r["loss"]) for r in plain_rows(path)]
    assert "mae" not in got.mapping  # a metric, not the loss


def test_regression_log_without_a_loss_column_uses_the_error_as_loss():
    got = read_history_file(FIXTURES / "regression_mse.csv")  # hand-made: epoch,train_mse,val_mse
    assert got.regression and got.kind == "csv"
    assert column(got, "loss") == [4.81, 2.97, 1.88] and column(got, "val_loss") == [5.02, 3.30, 2.41]
    assert any("train_mse was read as the loss" in n for n in got.notes)


@pytest.mark.parametrize("header, regression", [
    ("epoch,loss,mean_absolute_error", True), ("epoch,loss,val_r2", True), ("epoch,huber_loss", True),
    ("epoch,loss,RMSE", True), ("epoch,loss,accuracy", False), ("epoch,loss,val_loss", False),
])
def test_regression_is_told_by_the_names(header, regression):
    width = header.count(",")
    assert read_history(header + "\n0" + ",0.5" * width + "\n").regression is regression


def test_keras_na_cells_and_non_finite_values_are_kept_as_none_and_nan():
    text = "epoch,loss,val_loss,accuracy\n0,nan,NA,\n1,NaN,inf,0.5\n2,-inf,-Infinity,0.6\n3,1e999,1.0,0.7\n"
    got = read_history(text)
    loss = column(got, "loss")
    assert math.isnan(loss[0]) and math.isnan(loss[1]) and loss[2] == -math.inf and loss[3] == math.inf
    assert column(got, "val_loss") == [None, math.inf, -math.inf, 1.0]
    assert column(got, "accuracy") == [None, 0.5, 0.6, 0.7]


def test_tunelab_export_keeps_one_based_epochs_and_empty_cells_become_none():
    text = "epoch,loss,accuracy,val_loss,val_accuracy,lr\n1,2.0,0.1,,,0.01\n2,nan,0.1,2.2,0.1,0.01\n"
    got = read_history(text, "run.csv")
    assert got.kind == "tunelab"
    assert [r["epoch"] for r in got.history] == [1, 2]
    assert got.history[0]["val_loss"] is None
    assert math.isnan(got.history[1]["loss"])


def test_one_based_fixture_is_not_shifted():
    got = read_history_file(FIXTURES / "one_based.csv")
    assert got.kind == "tunelab" and column(got, "epoch") == [1, 2, 3]
    assert column(got, "lr") == [0.001, 0.001, 0.0005] and column(got, "val_accuracy") == [0.730, 0.822, 0.845]
    assert not any("shifted" in n for n in got.notes)


# ---- pandas, Lightning, TensorBoard, long ---------------------------------------------------------------
def test_pandas_to_csv_index_column_is_the_epoch():
    got = read_history_file(FIXTURES / "pandas_index.csv")  # pd.DataFrame(history.history).to_csv(path)
    keras = read_history_file(FIXTURES / "keras_plain.csv")  # the same run, as CSVLogger wrote it
    assert got.kind == "pandas" and got.columns[0] == "" and got.mapping[""] == "epoch"
    assert got.history == keras.history
    assert any("pandas index" in n for n in got.notes)


def test_no_epoch_column_rows_are_epochs_one_two_three():
    got = read_history_file(FIXTURES / "no_epoch_column.csv")
    assert column(got, "epoch") == [1, 2, 3, 4]
    assert column(got, "loss") == [2.10, 1.65, 1.31, 1.12] and column(got, "val_accuracy") == [0.22, 0.39, 0.50, 0.53]
    assert any("no epoch column" in n for n in got.notes)


def _lightning_expected(rows: list[dict[str, str]]) -> dict[str, list[float]]:
    """Lightning's metrics.csv collapsed by hand: the *_epoch value, the mean of *_step, the val row's value."""
    epochs = sorted({int(r["epoch"]) for r in rows if r["epoch"]})

    def per_epoch(col: str, how) -> list[float]:
        return [how([float(r[col]) for r in rows if r["epoch"] == str(e) and r[col]]) for e in epochs]

    return {"epoch": epochs, "loss": per_epoch("train_loss_epoch", lambda v: v[-1]),
            "accuracy": per_epoch("train_acc_epoch", lambda v: v[-1]),
            "loss_from_steps": per_epoch("train_loss_step", statistics.fmean),
            "val_loss": per_epoch("val_loss", lambda v: v[-1]), "val_accuracy": per_epoch("val_acc", lambda v: v[-1])}


def test_lightning_metrics_csv_is_collapsed_to_one_row_per_epoch():
    path = FIXTURES / "lightning_metrics.csv"
    rows = plain_rows(path)
    want = _lightning_expected(rows)
    got = read_history_file(path)
    assert got.kind == "lightning"
    assert column(got, "epoch") == [e + 1 for e in want["epoch"]] == [1, 2, 3]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert column(got, key) == pytest.approx(want[key]), key
    assert column(got, "lr") == [0.1, 0.1, 0.1]  # LearningRateMonitor's rows have no epoch: the next one's
    assert got.mapping["train_loss_epoch"] == "loss" and got.mapping["val_acc"] == "val_accuracy"
    assert "train_loss_step" not in got.mapping  # the *_epoch column is preferred
    assert got.has_validation and got.has_accuracy


def test_lightning_without_epoch_columns_takes_the_mean_of_the_step_values():
    path = FIXTURES / "lightning_metrics.csv"
    rows = plain_rows(path)
    keep = [c for c in rows[0] if not c.endswith("_epoch")]
    text = ",".join(keep) + "\n" + "".join(",".join(r[c] for c in keep) + "\n" for r in rows)
    got = read_history(text, "metrics.csv")
    assert column(got, "loss") == pytest.approx(_lightning_expected(rows)["loss_from_steps"])
    assert got.mapping["train_loss_step"] == "loss"


def test_lightning_plain_names_and_a_nan_step():
    text = ("epoch,step,train_loss,val_loss,val_acc\n0,0,1.0,,\n0,1,0.8,,\n0,1,,0.9,0.5\n1,2,nan,,\n1,3,0.6,,\n"
            "1,3,,0.7,0.6\n")
    got = read_history(text, "metrics.csv")
    assert column(got, "epoch") == [1, 2]
    assert got.history[0]["loss"] == pytest.approx(0.9) and math.isnan(got.history[1]["loss"])
    assert column(got, "val_loss") == [0.9, 0.7] and column(got, "val_accuracy") == [0.5, 0.6]


def test_an_epoch_and_step_file_with_one_row_per_epoch_is_an_ordinary_table():
    got = read_history("epoch,step,train_loss,train_acc,test_loss,test_acc\n1,100,0.9,0.6,1.0,0.55\n2,200,0.7,0.7,0.8,0.65\n")
    assert got.kind == "csv" and column(got, "epoch") == [1, 2]
    assert column(got, "val_loss") == [1.0, 0.8] and column(got, "val_accuracy") == [0.55, 0.65]


def test_tensorboard_fixture_and_export_map_by_file_name_and_order_by_step():
    got = read_history_file(FIXTURES / "run-validation-tag-epoch_loss.csv")
    assert got.kind == "tensorboard" and column(got, "val_loss") == [0.8123, 0.6471, 0.5904]
    assert column(got, "loss") == [None] * 3 and got.has_validation and not got.has_accuracy
    text = "Wall time,Step,Value\n1700000002.0,1,0.8\n1700000001.0,0,0.9\n1700000003.0,2,0.85\n"
    val = read_history(text, "run-validation-tag-epoch_loss.csv")
    assert val.kind == "tensorboard"
    assert [(r["epoch"], r["val_loss"]) for r in val.history] == [(1, 0.9), (2, 0.8), (3, 0.85)]
    train = read_history(text, "run-train-tag-epoch_loss.csv")
    assert train.history[0]["loss"] == 0.9 and train.history[0]["val_loss"] is None
    dated = read_history(text, "run-20240301-101500_train-tag-epoch_learning_rate.csv")
    assert dated.history[0]["lr"] == 0.9


def test_accuracy_only_file_is_read_and_says_it_has_no_loss():
    got = read_history("Wall time,Step,Value\n1.0,0,0.9\n", "run-train-tag-epoch_accuracy.csv")
    assert column(got, "accuracy") == [0.9] and not got.has_loss and got.has_accuracy
    got = read_history("epoch,accuracy\n0,0.5\n1,0.6\n")
    assert column(got, "accuracy") == [0.5, 0.6] and not got.has_loss


def test_long_format_is_pivoted():
    text = "tag,step,value\nepoch_loss,0,1.0\nval_loss,0,1.2\nepoch_loss,1,0.8\nval_loss,1,1.1\nweird,1,5\n"
    got = read_history(text, "long.csv")
    assert got.kind == "long"
    assert got.history == [
        {"epoch": 1, "loss": 1.0, "accuracy": None, "val_loss": 1.2, "val_accuracy": None, "lr": None},
        {"epoch": 2, "loss": 0.8, "accuracy": None, "val_loss": 1.1, "val_accuracy": None, "lr": None},
    ]
    assert any("weird" in n for n in got.notes)


def test_long_format_with_a_run_column():
    got = read_history_file(FIXTURES / "long_format.csv")
    assert column(got, "loss") == [0.88, 0.64] and column(got, "val_loss") == [0.91, 0.75]
    assert column(got, "accuracy") == [0.62, 0.74] and column(got, "val_accuracy") == [0.60, 0.69]
    assert got.mapping["validation/epoch_accuracy"] == "val_accuracy"


# ---- headers people write ------------------------------------------------------------------------------
def test_human_header_fixture():
    got = read_history_file(FIXTURES / "human_header.csv")
    assert got.columns == ["Epoch", "Train Accuracy", "Validation Accuracy", "Train Loss", "Validation Loss"]
    assert column(got, "epoch") == [1, 2, 3, 4, 5]
    assert column(got, "loss") == [1.052, 0.781, 0.602, 0.498, 0.421]
    assert column(got, "val_accuracy") == [0.598, 0.701, 0.756, 0.771, 0.768]
    assert got.mapping["Validation Loss"] == "val_loss"


@pytest.mark.parametrize("header, keys", [
    ("epoch,train_loss,valid_loss", ("loss", "val_loss")),
    ("Epoch,Training Loss,Validation Loss", ("loss", "val_loss")),
    ("epoch,Train Acc,Val Acc", ("accuracy", "val_accuracy")),
    ("EPOCH,TRAIN-LOSS,VAL-LOSS", ("loss", "val_loss")),
    ("epoch,trainLoss,valLoss", ("loss", "val_loss")),
    ("epoch,trainloss,valacc", ("loss", "val_accuracy")),
    ("epoch,train loss,test_loss", ("loss", "val_loss")),  # test is the validation when nothing says validation
    ("epoch, Loss , Learning Rate ", ("loss", "lr")),
    ("epoch,train/loss,val/loss", ("loss", "val_loss")),
    ("epoch_num,epoch_loss,epoch_val_loss", ("loss", "val_loss")),
])
def test_human_headers_are_mapped_by_words(header, keys):
    got = read_history(f"{header}\n0,0.9,0.8\n1,0.7,0.6\n")
    assert column(got, keys[0]) == [0.9, 0.7] and column(got, keys[1]) == [0.8, 0.6]


def test_fastai_metrics_are_validation_metrics():
    got = read_history("epoch,train_loss,valid_loss,accuracy,time\n0,0.912,0.701,0.62,00:05\n1,0.633,0.588,0.71,00:04\n")
    assert got.kind == "fastai" and column(got, "epoch") == [1, 2]
    assert column(got, "val_accuracy") == [0.62, 0.71] and column(got, "accuracy") == [None, None]
    assert column(got, "val_loss") == [0.701, 0.588]


def test_several_candidate_losses_take_the_first_with_a_note():  # Ultralytics' results.csv, padded with spaces
    text = ("   epoch,  train/box_loss,  train/cls_loss,  metrics/mAP50(B),  val/box_loss,  val/cls_loss,  lr/pg0,  lr/pg1\n"
            "       1,             1.2,             2.3,               0.3,           1.3,           2.4,    0.07,   0.003\n")
    got = read_history(text, "results.csv")
    assert got.history[0] == {"epoch": 1, "loss": 1.2, "accuracy": None, "val_loss": 1.3, "val_accuracy": None,
                              "lr": 0.07}
    assert any("several columns could be the loss (train/box_loss, train/cls_loss)" in n for n in got.notes)


def test_test_loss_is_left_out_when_the_file_has_validation():
    got = read_history("epoch,loss,val_loss,test_loss\n0,1.0,1.1,9.0\n")
    assert got.history[0]["val_loss"] == 1.1 and "test_loss" not in got.mapping


def test_epoch_cells_written_as_words():
    text = "Epoch,Time,Accuracy,Loss,Val_Accuracy,Val_Loss,Model_Saved\nEpoch_01,10:01,0.5,1.0,0.4,1.1,yes\n" \
           "Epoch_02,10:02,0.6,0.9,0.5,1.0,no\n"
    got = read_history(text)
    assert column(got, "epoch") == [1, 2] and column(got, "val_loss") == [1.1, 1.0]


def test_accuracy_in_percent_is_divided_by_100():
    got = read_history("Epoch,Train Loss,Train Acc,Val Acc\n1,1.0,55.5,50%\n2,0.8,71.25,62.5%\n")
    assert column(got, "accuracy") == pytest.approx([0.555, 0.7125])
    assert column(got, "val_accuracy") == pytest.approx([0.5, 0.625])


def test_values_printed_as_tensors_or_numpy_scalars_are_numbers():
    text = 'epoch,loss,val_loss\n0,tensor(0.5000),"tensor(0.6, device=\'cuda:0\')"\n1,np.float32(0.25),0.3\n'
    got = read_history(text)
    assert column(got, "loss") == [0.5, 0.25] and column(got, "val_loss") == [0.6, 0.3]


def test_comment_lines_and_words_below_the_table_are_skipped_with_a_note():
    got = read_history("epoch,loss,val_loss\n0,1.0,1.1\n# resumed here\n1,0.8,0.9\nTest accuracy: 0.98\n")
    assert column(got, "loss") == [1.0, 0.8]
    assert any("skipped 2 lines that hold no data (line 3, 5)" in n for n in got.notes)


def test_title_lines_above_the_header_are_skipped_with_a_note():
    got = read_history_file(FIXTURES / "title_line.csv")
    assert column(got, "loss") == [1.90, 1.42, 1.10] and column(got, "val_accuracy") == [0.36, 0.50, 0.58]
    assert any("skipped 2 lines above the header" in n and "Training log of model X" in n for n in got.notes)


# ---- delimiters, decimal commas, line ends, BOM, quotes ---------------------------------------------------
def test_semicolon_and_bom_and_extra_columns_are_fine():
    text = "\ufeffepoch;loss;val_loss;my_metric\n0;1.0;1.1;3\n1;0.9;1.0;4\n".encode("utf-8")
    got = read_history(text, "x.csv")
    assert [r["val_loss"] for r in got.history] == [1.1, 1.0]


def test_semicolon_with_decimal_commas():
    got = read_history_file(FIXTURES / "semicolon_decimal_comma.csv")
    assert column(got, "loss")[:3] == [2.3026, 1.4512, 0.9875]
    assert column(got, "val_accuracy")[:3] == [0.1135, 0.5521, 0.6603]
    assert math.isnan(got.history[3]["loss"]) and got.history[3]["val_loss"] == math.inf
    assert any("decimal commas" in n for n in got.notes)


def test_tab_separated():
    got = read_history_file(FIXTURES / "tab_separated.tsv")
    assert column(got, "loss") == [0.693, 0.612, 0.534] and column(got, "val_accuracy") == [0.52, 0.63, 0.70]


def test_cr_line_endings_fixture():
    assert b"\n" not in (FIXTURES / "cr_line_endings.csv").read_bytes()
    got = read_history_file(FIXTURES / "cr_line_endings.csv")
    assert column(got, "loss") == [0.95, 0.71, 0.55] and column(got, "val_loss") == [0.97, 0.80, 0.69]


def test_quoted_header_with_bom_and_crlf_fixture():
    got = read_history_file(FIXTURES / "quoted_bom_crlf.csv")
    assert got.columns == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert column(got, "loss") == [0.70, 0.62] and column(got, "val_accuracy") == [0.53, 0.61]


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_every_line_end_bom_and_delimiter_reads_the_same(end, bom, delimiter):
    path = FIXTURES / "keras_plain.csv"
    want = read_history_file(path).history
    text = path.read_text().replace(",", delimiter).replace("\n", end)
    assert read_history(bom + text.encode(), "x.csv").history == want


def test_utf16_with_bom_as_excel_saves_unicode_text():
    text = "epoch\tloss\tval_loss\n0\t1,5\t1,6\n1\t1,2\t1,4\n"
    got = read_history(text.encode("utf-16"), "excel.txt")
    assert column(got, "loss") == [1.5, 1.2] and column(got, "val_loss") == [1.6, 1.4]


# ---- restarts, limits -----------------------------------------------------------------------------------
def test_resumed_training_and_a_repeated_header_are_segments_too():
    resumed = "epoch,loss\n0,1.0\n1,0.9\n2,0.8\n3,0.7\n2,0.75\n3,0.65\n4,0.6\n"  # resumed from epoch 2
    parts = read_histories(resumed, "r.csv")
    assert [column(p, "epoch") for p in parts] == [[1, 2, 3, 4], [3, 4, 5]]
    assert "epoch 2 after epoch 3" in parts[1].notes[0] and "line 6" in parts[1].notes[0]
    twice = "epoch,loss\n0,1.0\n1,0.9\nepoch,loss\n0,0.8\n1,0.7\n"  # two logs concatenated
    parts = read_histories(twice, "t.csv")
    assert [column(p, "loss") for p in parts] == [[1.0, 0.9], [0.8, 0.7]]
    assert "line 4" in parts[1].notes[0]
    same = read_histories("epoch,loss\n0,0.5\n0,0.4\n", "s.csv")  # the same epoch logged twice: a restart
    assert [column(p, "loss") for p in same] == [[0.5], [0.4]]
    one = read_histories(KERAS, "k.csv")
    assert len(one) == 1 and one[0].name == "k.csv"


def test_a_counter_that_restarts_on_every_line_is_refused():
    text = "epoch,loss\n" + "0,0.5\n" * 200
    with pytest.raises(HistoryFileError, match=r"starts again 199 times \(at lines 3, 4, 5, ...\).*at most 100 runs"):
        read_histories(text, "bad.csv")


def test_rows_of_one_epoch_written_apart_are_merged():
    got = read_history("epoch,train_loss,val_loss\n0,1.0,\n0,,1.2\n1,0.8,\n1,,1.1\n")
    assert column(got, "loss") == [1.0, 0.8] and column(got, "val_loss") == [1.2, 1.1]


def test_five_thousand_epochs_are_read_and_more_are_refused():
    def make(n: int) -> str:
        return "epoch,loss,val_loss\n" + "".join(f"{e},{1 / (e + 1):.6f},{1.1 / (e + 1):.6f}\n" for e in range(n))

    got = read_history(make(MAX_EPOCHS))
    assert MAX_EPOCHS == 5000 and len(got.history) == 5000
    assert got.history[-1] == {"epoch": 5000, "loss": 0.0002, "accuracy": None, "val_loss": 0.00022,
                               "val_accuracy": None, "lr": None}
    with pytest.raises(HistoryFileError, match="has 5,001 epochs; the limit is 5,000 epochs"):
        read_history(make(MAX_EPOCHS + 1), "long.csv")


def test_size_limit_is_checked_before_parsing(tmp_path):
    with pytest.raises(HistoryFileError, match="the limit is"):
        read_history(KERAS, "big.csv", max_bytes=10)
    path = tmp_path / "big.csv"
    path.write_bytes(KERAS)
    with pytest.raises(HistoryFileError, match="the limit is"):
        read_history_file(path, max_bytes=10)
    with pytest.raises(HistoryFileError, match="the limit is"):
        read_history_file_segments(path, max_bytes=10)


def test_missing_file_and_folder_are_user_errors(tmp_path):
    with pytest.raises(HistoryFileError, match="cannot be read"):
        read_history_file(tmp_path / "nope.csv")
    with pytest.raises(HistoryFileError, match="folder"):
        read_history_file(tmp_path)


def test_loaded_history_keeps_its_old_constructor():
    got = LoadedHistory("a.csv", "csv", [{c: (1 if c == "epoch" else None) for c in COLUMNS} | {"val_loss": 0.5}])
    assert got.notes == [] and got.columns == [] and got.mapping == {} and got.regression is False
    assert got.has_validation and got.has_loss and not got.has_accuracy


# ---- errors ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("data, message", [
    (b"", "is empty"),
    (b"   \n\n", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    (b"\xff\xfe\xfa not utf8", "not UTF-8"),
    (b"epoch,loss\n", "no data rows"),
    (b"epoch,foo,bar\n0,0.5,1\n", "has no loss or accuracy column (found: epoch, foo, bar)"),
    (b",x\n0,0.5\n", "has no loss or accuracy column (found: (empty), x)"),
    (b"epoch,loss\n0,0.5\n1,abc\n", "line 3, column loss: 'abc' is not a number"),
    (b"title\nepoch,Val Loss\n0,0.5\n1,abc\n", "line 4, column Val Loss: 'abc' is not a number"),
    (b"epoch,loss\n0,0.5\n1\n", "line 3 has 1 field but the header has 2"),
    (b"epoch,loss\n0.5,0.5\n", "line 2, column epoch: '0.5' is not a whole epoch number"),
    (b"epoch,loss\n-1,0.5\n", "not a whole epoch number"),
    (b"epoch,loss,val_loss\n0,,\n1,NA,\n", "has the columns loss, val_loss but no values in them"),
    (b"Wall time,Step,Value\n1.0,x,0.5\n", "column Step"),
    (b"tag,value\nloss,0.5\n", "no epoch or step column"),
    (b"0,0.5,0.4\n1,0.4,0.3\n", "has no header line: line 1 ('0,0.5,0.4') holds numbers"),
    (b"tag,step,value\nweird,0,0.5\n", "no loss or accuracy tags (found: weird)"),
])
def test_bad_files_say_what_is_wrong(data, message):
    with pytest.raises(HistoryFileError) as info:
        read_history(data, "bad.csv")
    assert message in str(info.value)
    assert str(info.value).startswith("bad.csv: ")
    assert isinstance(info.value, UserError)


# ---- fuzz: only HistoryFileError escapes ----------------------------------------------------------------
def _check(data, name: str = "fuzz.csv") -> None:
    try:
        parts = read_histories(data, name)
        got = read_history(data, name)
    except HistoryFileError as exc:
        assert str(exc).startswith(name + ": ") and len(str(exc)) > len(name) + 2
        return
    assert parts and repr(got.history) == repr(parts[-1].history)  # (repr: NaN == NaN)
    for item in parts:
        assert isinstance(item, LoadedHistory) and item.history and len(item.history) <= MAX_EPOCHS
        assert all(isinstance(r["epoch"], int) and r["epoch"] >= 1 for r in item.history)
        assert all(set(r) == set(COLUMNS) for r in item.history)
        assert all(v is None or isinstance(v, float) for r in item.history for k, v in r.items() if k != "epoch")


_FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FAST
@given(st.binary(max_size=400))
def test_fuzz_arbitrary_bytes_only_raise_our_error(data):
    _check(data)


_HEADERS = ["epoch", "loss", "acc", "accuracy", "val_loss", "val_acc", "lr", "Wall time", "Step", "Value",
            "tag", "step", "value", "metric", "x", "", "Train Loss", "Val Acc", "test_loss", "train_loss_epoch",
            "train_loss_step", "lr-SGD", "learning_rate", "mse", "run", "Epoch", "sparse_categorical_accuracy"]
_CELLS = st.one_of(
    st.sampled_from(["0", "1", "2", "-1", "1.5", "nan", "inf", "-inf", "", "1e999", "loss", "val_loss",
                     "epoch_loss", "abc", '"', "1,2", " 3 ", "None", "NA", "0,5", "50%", "Epoch_01", "tensor(0.5)",
                     "epoch", "train", "validation"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=6),
)


@_FAST
@given(st.lists(st.sampled_from(_HEADERS), min_size=1, max_size=7),
       st.lists(st.lists(_CELLS, min_size=0, max_size=8), max_size=8),
       st.sampled_from([",", ";", "\t"]),
       st.sampled_from(["\n", "\r\n", "\r"]),
       st.sampled_from(["a.csv", "run-validation-tag-epoch_loss.csv", "run-train-tag-epoch_acc.csv"]),
       st.lists(st.text(max_size=12), max_size=2))
def test_fuzz_csv_shaped_input_only_raises_our_error(header, rows, sep, end, name, titles):
    text = end.join(titles + [sep.join(header)] + [sep.join(r) for r in rows])
    _check(text, name)


@_FAST
@given(st.lists(st.tuples(st.integers(0, 6), st.sampled_from(["", "0.5", "nan", "1,5"]),
                          st.sampled_from(["", "0.4", "inf"])), min_size=1, max_size=12),
       st.sampled_from(["epoch,loss,val_loss", "epoch,step,train_loss_step,val_loss", ",loss,val_loss"]))
def test_fuzz_epoch_counters_only_raise_our_error(rows, header):
    width = header.count(",")
    lines = [header] + [",".join([str(e), str(e * 2), a, b][:1] + ([str(e * 2)] if width == 3 else []) + [a, b])
                        for e, a, b in rows]
    _check("\n".join(lines))
