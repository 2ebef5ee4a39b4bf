"""The history CSV reader: Keras, TensorBoard, TuneLab and long formats; clear errors; a fuzz test
proving that nothing but HistoryFileError ever escapes."""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import UserError
from core.doctor.history_io import HistoryFileError, LoadedHistory, read_history, read_history_file

KERAS = b"epoch,acc,loss,lr,val_acc,val_loss\n0,0.5,1.2,0.001,0.6,1.0\n1,0.7,0.8,0.001,0.7,0.9\n2,0.8,0.5,0.001,0.75,0.85\n"


def test_keras_csvlogger_is_read_with_aliases_and_epochs_shifted_to_one_based():
    got = read_history(KERAS, "log.csv")
    assert got.kind == "keras"
    assert [r["epoch"] for r in got.history] == [1, 2, 3]
    assert got.history[0] == {"epoch": 1, "loss": 1.2, "accuracy": 0.5, "val_loss": 1.0, "val_accuracy": 0.6,
                              "lr": 0.001}
    assert any("shifted" in note for note in got.notes)


def test_tunelab_export_keeps_one_based_epochs_and_empty_cells_become_none():
    text = "epoch,loss,accuracy,val_loss,val_accuracy,lr\n1,2.0,0.1,,,0.01\n2,nan,0.1,2.2,0.1,0.01\n"
    got = read_history(text, "run.csv")
    assert got.kind == "tunelab"
    assert [r["epoch"] for r in got.history] == [1, 2]
    assert got.history[0]["val_loss"] is None
    assert math.isnan(got.history[1]["loss"])


def test_semicolon_and_bom_and_extra_columns_are_fine():
    text = "\ufeffepoch;loss;val_loss;my_metric\n0;1.0;1.1;3\n1;0.9;1.0;4\n".encode("utf-8")
    got = read_history(text, "x.csv")
    assert [r["val_loss"] for r in got.history] == [1.1, 1.0]


def test_tensorboard_export_maps_by_file_name_and_orders_by_step():
    text = "Wall time,Step,Value\n1700000002.0,1,0.8\n1700000001.0,0,0.9\n1700000003.0,2,0.85\n"
    val = read_history(text, "run-validation-tag-epoch_loss.csv")
    assert val.kind == "tensorboard"
    assert [(r["epoch"], r["val_loss"]) for r in val.history] == [(1, 0.9), (2, 0.8), (3, 0.85)]
    train = read_history(text, "run-train-tag-epoch_loss.csv")
    assert train.history[0]["loss"] == 0.9 and train.history[0]["val_loss"] is None


def test_tensorboard_export_of_accuracy_only_has_no_loss():
    text = "Wall time,Step,Value\n1.0,0,0.9\n"
    with pytest.raises(HistoryFileError, match="no loss values"):
        read_history(text, "run-train-tag-epoch_accuracy.csv")


def test_long_format_is_pivoted():
    text = "tag,step,value\nepoch_loss,0,1.0\nval_loss,0,1.2\nepoch_loss,1,0.8\nval_loss,1,1.1\nweird,1,5\n"
    got = read_history(text, "long.csv")
    assert got.kind == "long"
    assert got.history == [
        {"epoch": 1, "loss": 1.0, "accuracy": None, "val_loss": 1.2, "val_accuracy": None, "lr": None},
        {"epoch": 2, "loss": 0.8, "accuracy": None, "val_loss": 1.1, "val_accuracy": None, "lr": None},
    ]


@pytest.mark.parametrize("data, message", [
    (b"", "is empty"),
    (b"   \n\n", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    (b"\xff\xfe\xfa not utf8", "not UTF-8"),
    (b"epoch,loss\n", "no data rows"),
    (b"epoch,accuracy\n0,0.5\n", "no loss or val_loss column (found: epoch, accuracy)"),
    (b"epoch,loss\n0,0.5\n1,abc\n", "line 3, column loss: 'abc' is not a number"),
    (b"epoch,loss\n0,0.5\n1\n", "line 3 has 1 fields but the header has 2"),
    (b"epoch,loss\n0,0.5\n0,0.4\n", "epoch 0 appears twice"),
    (b"epoch,loss\n0.5,0.5\n", "not a whole epoch number"),
    (b"Wall time,Step,Value\n1.0,x,0.5\n", "column Step"),
])
def test_bad_files_say_what_is_wrong(data, message):
    with pytest.raises(HistoryFileError) as info:
        read_history(data, "bad.csv")
    assert message in str(info.value)
    assert str(info.value).startswith("bad.csv: ")
    assert isinstance(info.value, UserError)


def test_size_limit_is_checked_before_parsing(tmp_path):
    with pytest.raises(HistoryFileError, match="the limit is"):
        read_history(KERAS, "big.csv", max_bytes=10)
    path = tmp_path / "big.csv"
    path.write_bytes(KERAS)
    with pytest.raises(HistoryFileError, match="the limit is"):
        read_history_file(path, max_bytes=10)


def test_missing_file_and_folder_are_user_errors(tmp_path):
    with pytest.raises(HistoryFileError, match="cannot be read"):
        read_history_file(tmp_path / "nope.csv")
    with pytest.raises(HistoryFileError, match="folder"):
        read_history_file(tmp_path)


def _check(data, name: str = "fuzz.csv") -> None:
    try:
        got = read_history(data, name)
    except HistoryFileError as exc:
        assert str(exc).startswith(name + ": ") and len(str(exc)) > len(name) + 2
        return
    assert isinstance(got, LoadedHistory) and got.history
    assert all(isinstance(r["epoch"], int) for r in got.history)


_FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FAST
@given(st.binary(max_size=400))
def test_fuzz_arbitrary_bytes_only_raise_our_error(data):
    _check(data)


_HEADERS = ["epoch", "loss", "acc", "accuracy", "val_loss", "val_acc", "lr", "Wall time", "Step", "Value",
            "tag", "step", "value", "metric", "x", ""]
_CELLS = st.one_of(
    st.sampled_from(["0", "1", "2", "-1", "1.5", "nan", "inf", "-inf", "", "1e999", "loss", "val_loss",
                     "epoch_loss", "abc", '"', "1,2", " 3 ", "None"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=6),
)


@_FAST
@given(st.lists(st.sampled_from(_HEADERS), min_size=1, max_size=7),
       st.lists(st.lists(_CELLS, min_size=0, max_size=8), max_size=8),
       st.sampled_from([",", ";", "\t"]),
       st.sampled_from(["a.csv", "run-validation-tag-epoch_loss.csv", "run-train-tag-epoch_acc.csv"]))
def test_fuzz_csv_shaped_input_only_raises_our_error(header, rows, sep, name):
    text = "\n".join([sep.join(header)] + [sep.join(r) for r in rows])
    _check(text, name)
