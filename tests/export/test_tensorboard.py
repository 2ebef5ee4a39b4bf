"""TensorBoard export: written by PyTorch's SummaryWriter, read back through tensorboard's own
EventAccumulator, NaN left out, and exporting again replaces the file."""
from __future__ import annotations

import math

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from core.export.tensorboard import EPOCH_TAGS, STEP_TAG, write_tensorboard
from tests.export.test_script import train_run


def read(folder) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return acc


def test_tensorboard_files_read_back_through_tensorboards_own_reader(tmp_path):
    store, run_id = train_run(tmp_path)
    path = write_tensorboard(store, run_id, tmp_path / "tb")
    assert path.parent.name == f"run_{run_id}" and path.name.startswith("events.out.tfevents.")
    acc = read(path.parent)
    assert set(acc.Tags()["scalars"]) == {*EPOCH_TAGS, STEP_TAG}
    history = store.history(run_id)
    for tag in EPOCH_TAGS:
        points = acc.Scalars(tag)
        assert [p.step for p in points] == [row["epoch"] for row in history]
        assert [p.value for p in points] == pytest.approx([row[tag] for row in history], rel=1e-6)  # float32
    losses = acc.Scalars(STEP_TAG)
    stored = store.steps(run_id)
    assert [p.step for p in losses] == [row["step"] for row in stored] and len(stored) == 12
    assert [p.value for p in losses] == pytest.approx([row["loss"] for row in stored], rel=1e-6)
    # wall times: the run's start plus its epochs' durations, in order
    record = store.get(run_id)
    walls = [p.wall_time for p in acc.Scalars("loss")]
    assert walls == sorted(walls) and walls[0] >= record.started_at
    # exporting again replaces the file rather than adding a second copy of every point
    write_tensorboard(store, run_id, tmp_path / "tb")
    assert len(list(path.parent.glob("events.out.tfevents.*"))) == 1
    assert len(read(path.parent).Scalars("loss")) == len(history)


def test_a_diverged_runs_missing_values_are_left_out(tmp_path):
    store, run_id = train_run(tmp_path, status="diverged", depth=4, width=64, optimizer="momentum", lr=100.0)
    acc = read(write_tensorboard(store, run_id, tmp_path / "tb").parent)
    values = [p.value for tag in acc.Tags()["scalars"] for p in acc.Scalars(tag)]
    assert values and all(math.isfinite(v) for v in values)  # NaN was stored as missing, and stays missing
    assert "val_loss" not in acc.Tags()["scalars"] or len(acc.Scalars("val_loss")) < len(store.history(run_id))
    assert "lr" in acc.Tags()["scalars"]
