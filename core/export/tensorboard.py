"""A stored run as TensorBoard event files, written by PyTorch's own SummaryWriter: per epoch the
history's scalars (step = epoch number), per training step its loss (step = global step)."""
from __future__ import annotations

from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from core.export.files import folder, load_run
from core.runs.store import RunStore

EPOCH_TAGS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")  # per epoch, step = epoch number
STEP_TAG = "step_loss"  # per training step, step = global step number (from 1)


def scalar_points(record, history: list[dict], steps: list[dict]) -> list[tuple[str, float, int, float]]:
    """(tag, value, step, wall time) of every scalar. Wall times are the run's real start plus its
    recorded epoch durations (steps spread evenly through their epoch); missing values (a diverged
    epoch's NaN) are left out."""
    start = record.started_at or record.created_at
    points: list[tuple[str, float, int, float]] = []
    epoch_start: dict[int, float] = {}
    epoch_seconds: dict[int, float] = {}
    clock = start
    for row in history:
        epoch_start[row["epoch"]] = clock
        epoch_seconds[row["epoch"]] = row.get("seconds") or 0.0
        clock += epoch_seconds[row["epoch"]]
        points += [(tag, float(row[tag]), row["epoch"], clock) for tag in EPOCH_TAGS if row.get(tag) is not None]
    per_epoch: dict[int, int] = {}
    for row in steps:
        per_epoch[row["epoch"]] = per_epoch.get(row["epoch"], 0) + 1
    seen: dict[int, int] = {}
    for row in steps:
        epoch = row["epoch"]
        seen[epoch] = seen.get(epoch, 0) + 1
        if row["loss"] is None:
            continue
        wall = epoch_start.get(epoch, clock) + epoch_seconds.get(epoch, 0.0) * seen[epoch] / per_epoch[epoch]
        points.append((STEP_TAG, float(row["loss"]), row["step"], wall))
    return points


def write_tensorboard(store: RunStore, run_id: int, out_dir: str | Path) -> Path:
    """out_dir/run_<id>/events.out.tfevents.*: `tensorboard --logdir out_dir` shows each exported run as
    its own run. Exporting again replaces the file."""
    record = load_run(store, run_id)
    run_dir = folder(Path(out_dir) / f"run_{run_id}")
    for old in run_dir.glob("events.out.tfevents.*"):
        old.unlink()
    writer = SummaryWriter(log_dir=str(run_dir), filename_suffix=".tunelab")
    try:
        for tag, value, step, wall in scalar_points(record, store.history(run_id), store.steps(run_id)):
            writer.add_scalar(tag, value, global_step=step, walltime=wall)
    finally:
        writer.close()
    return next(run_dir.glob("events.out.tfevents.*"))
