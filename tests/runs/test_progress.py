"""The progress line of a run (core/run_progress.py) and the chart frames of the Train page
(pages/run_charts.py): what a person reads while a run waits, trains and ends."""
from __future__ import annotations

import math
from dataclasses import replace

import pyarrow as pa
import pytest

from core.config import RunConfig
from core.runs.progress import summarize
from core.runs.store import RunStore
from pages.parts.run_charts import MAX_STEP_POINTS, accuracy_chart, loss_chart, lr_chart, step_frame


@pytest.fixture
def run():
    store = RunStore()
    run_id = store.create_run(RunConfig(epochs=4, dataset="digits"), name="r")
    return store.get(run_id)


def test_queued_says_how_many_runs_are_ahead(run):
    assert summarize(run, [], 0, 0.0, queue_position=3).text == "Queued, waiting in the queue: 2 runs ahead of this one."
    assert "next in the queue" in summarize(run, [], 0, 0.0, queue_position=1).text
    progress = summarize(run, [], 0, 0.0)
    assert progress.active and progress.fraction == 0.0


def test_running_shows_epoch_step_eta_speed_and_device(run):
    running = replace(run, status="running", device="cpu", started_at=100.0, steps_per_epoch=10)
    assert "loading the data" in summarize(replace(running, steps_per_epoch=None), [], 0, 101.0).text
    history = [{"epoch": 1, "images_per_s": 1234.0}]
    progress = summarize(running, history, last_step=10, now=110.0)
    # 10 steps took 10 s, 30 remain: about 30 s
    assert progress.text == "Epoch 2/4 · step 10/40 · about 30 s left · 1,234 images/s · cpu"
    assert progress.fraction == 0.25 and progress.active


def test_finished_runs_say_how_they_ended_and_keep_the_epoch_count(run):
    history = [{"epoch": e, "val_accuracy": a} for e, a in ((1, 0.5), (2, 0.9), (3, 0.8))]
    done = replace(run, status="completed", device="cpu", started_at=0.0, finished_at=12.0,
                   images_per_second=2000.0, steps_per_epoch=10, message="early stopping at epoch 3")
    progress = summarize(done, history, 30, 20.0)
    assert progress.text == ("Completed 3 epochs of 4 (early stopping at epoch 3) in 12 s · 2,000 images/s · cpu"
                             " · best validation accuracy 90.0% at epoch 2.")
    assert progress.fraction == 1.0 and not progress.active
    diverged = replace(done, status="diverged", message="the training loss became NaN or infinite by step 12 (epoch 2)")
    assert summarize(diverged, history[:1], 12, 20.0).text.startswith("Diverged: the training loss became NaN")
    failed = replace(done, status="failed", error="DataUnavailableError: no files")
    assert "Failed: DataUnavailableError: no files. 3 of 4 epochs kept." == summarize(failed, history, 30, 20.0).text
    interrupted = replace(done, status="interrupted", message="the server stopped while this run was running")
    assert summarize(interrupted, history, 30, 20.0).text.startswith("Interrupted: the server stopped")


def test_step_frame_lines_steps_up_with_epochs_and_buckets_long_runs():
    steps = [{"step": s, "loss": 1.0 / s} for s in range(1, 101)]
    frame = step_frame(steps, steps_per_epoch=50)
    assert list(frame["epoch"][:2]) == [0.02, 0.04] and frame["epoch"].iloc[-1] == 2.0
    many = [{"step": s, "loss": float(s % 7)} for s in range(1, 10 * MAX_STEP_POINTS + 1)]
    bucketed = step_frame(many, steps_per_epoch=100)
    assert len(bucketed) <= MAX_STEP_POINTS
    assert bucketed["value"].mean() == pytest.approx(sum(s % 7 for s in range(1, 10 * MAX_STEP_POINTS + 1)) / len(many), rel=0.01)
    nan_steps = [{"step": 1, "loss": math.nan}, {"step": 2, "loss": None}, {"step": 3, "loss": 0.5}]
    assert list(step_frame(nan_steps, 10)["value"]) == [0.5]


def test_charts_build_for_empty_normal_and_diverging_runs():
    history = [{"epoch": 1, "loss": 2.0, "val_loss": 1.5, "accuracy": 0.5, "val_accuracy": 0.6, "lr": 1e-3},
               {"epoch": 2, "loss": 1e6, "val_loss": math.inf, "accuracy": 0.1, "val_accuracy": 0.1, "lr": 1e-3}]
    steps = [{"step": s, "loss": 2.0, "lr": 1e-3} for s in range(1, 21)]
    for h, s in (([], []), (history[:1], steps[:10]), (history, steps)):
        for chart in (loss_chart(h, s, 10, 4, 10), accuracy_chart(h, 4, 10), lr_chart(h, s, 10, 4)):
            assert chart["title"] and all(isinstance(t, pa.Table) for t in chart["datasets"].values())
    diverging = loss_chart(history, steps, 10, 4, 10)
    assert diverging["layer"][0]["encoding"]["y"]["scale"] == {"type": "log"}  # 2 -> 1e6 needs a log axis
    assert diverging["datasets"]["epochs"].column("value").to_pylist() == [2.0, 1.5, 1e6]  # inf is left out


def test_the_loss_chart_keeps_its_spec_while_data_grows_and_caps_noisy_steps():
    """The browser swaps the data of a chart whose spec is unchanged instead of rebuilding it."""
    steps = [{"step": s, "loss": 50.0 if s == 3 else 2.0 / s} for s in range(1, 41)]
    history = [{"epoch": 1, "loss": 1.0, "val_loss": 1.1}, {"epoch": 2, "loss": 0.5, "val_loss": 0.7}]
    early = loss_chart(history[:1], steps[:20], 20, 5, 10)
    later = loss_chart(history, steps, 20, 5, 10)
    without_data = lambda spec: {k: v for k, v in spec.items() if k != "datasets"}  # noqa: E731
    assert without_data(early) == without_data(later)
    assert later["datasets"]["steps"].num_rows == 40 and later["datasets"]["epochs"].num_rows == 4
    assert max(later["datasets"]["steps"].column("value").to_pylist()) == pytest.approx(2 * math.log(10))


def test_a_healthy_loss_falling_a_hundredfold_keeps_a_linear_axis():
    history = [{"epoch": 1, "loss": 0.5, "val_loss": 0.4}, {"epoch": 2, "loss": 0.004, "val_loss": 0.1}]
    assert loss_chart(history, [], 10, 4, 10)["layer"][0]["encoding"]["y"]["scale"] == {"zero": True}
