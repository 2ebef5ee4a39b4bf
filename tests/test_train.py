"""The trainer: learns, is reproducible, reports events, stops on divergence, cancel and early stopping."""
from __future__ import annotations

import math
import threading

import pytest
import torch

from core import augment
from core.config import RunConfig
from core.events import EpochEnd, RunStarted, StepReport
from core.train import _steps_per_epoch, prepare_data, train

FAST = dict(dataset="digits", model="mlp", depth=2, width=64, epochs=3, batch_size=64)


def run(**changes):
    events = []
    result = train(RunConfig(**{**FAST, **changes}), "cpu", emit=events.append, report_every=5)
    return result, events


def test_learns_digits_and_reports_every_kind_of_event():
    result, events = run()
    assert result.status == "completed" and len(result.history) == 3
    assert result.history[-1]["val_accuracy"] > 0.85
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    started = [e for e in events if isinstance(e, RunStarted)]
    steps = [e for e in events if isinstance(e, StepReport)]
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert len(started) == 1 and started[0].train_images == 1438 and started[0].val_images == 359
    assert len(epochs) == 3 and [e.epoch for e in epochs] == [1, 2, 3]
    # every step's loss arrives, in batches of report_every, with the gradient norm of the last step
    losses = [loss for e in steps for loss in e.losses]
    assert len(losses) == 3 * started[0].steps_per_epoch
    assert steps[0].step == 5 and len(steps[0].losses) == 5 and steps[0].grad_norm > 0
    assert all(e.images_per_s > 0 and e.seconds > 0 for e in epochs)
    assert result.first_report_seconds is not None and result.images_per_second > 0


def test_same_seed_same_history_other_seed_other_history():
    a, _ = run(seed=7, dropout=0.2, aug_shift=0.1)
    b, _ = run(seed=7, dropout=0.2, aug_shift=0.1)
    c, _ = run(seed=8, dropout=0.2, aug_shift=0.1)
    keys = ("loss", "accuracy", "val_loss", "val_accuracy")
    assert [[h[k] for k in keys] for h in a.history] == [[h[k] for k in keys] for h in b.history]
    assert [h["loss"] for h in a.history] != [h["loss"] for h in c.history]


def test_another_thread_using_the_global_rng_does_not_change_a_run():
    baseline, _ = run(seed=3, dropout=0.3)
    stop = threading.Event()

    def noise():
        while not stop.is_set():
            torch.rand(100)

    thread = threading.Thread(target=noise)
    thread.start()
    try:
        again, _ = run(seed=3, dropout=0.3)
    finally:
        stop.set()
        thread.join()
    assert [h["loss"] for h in again.history] == [h["loss"] for h in baseline.history]


def test_a_huge_learning_rate_diverges_without_an_exception():
    result, events = run(optimizer="sgd", lr=100.0, epochs=5)
    assert result.status == "diverged"
    assert "NaN or infinite" in result.message
    assert len(result.history) == 1 and math.isnan(result.history[0]["val_loss"])


def test_cancel_stops_within_a_few_steps():
    cancel = threading.Event()
    seen = []

    def emit(event):
        if isinstance(event, StepReport):
            seen.append(event.step)
            cancel.set()

    result = train(RunConfig(**FAST), "cpu", cancel=cancel, emit=emit, report_every=5)
    assert result.status == "cancelled" and seen == [5] and result.history == []


def test_early_stopping_restores_the_best_weights():
    # a tiny subset and a big learning rate overfit at once: validation loss climbs after its minimum
    result, _ = run(train_subset=40, lr=0.01, epochs=30, early_stopping=True, patience=2, width=256)
    assert result.stopped_early and len(result.history) < 30
    assert result.best_epoch == len(result.history) - 2
    assert "restored the best weights" in result.message


@pytest.mark.parametrize(
    "changes",
    [
        dict(l1=1e-4, l2=1e-3, clip_norm=1.0),
        dict(batch_norm=True, dropout=0.5, optimizer="nesterov", lr=0.05, schedule="cosine"),
        dict(model="simple_cnn", aug_rotation=15, aug_zoom=0.1, aug_shift=0.1, schedule="step", epochs=2),
        dict(model="vgg_bn", batch_norm=True, dropout=0.5, epochs=1, train_subset=256),
        dict(optimizer="rmsprop", schedule="plateau", activation="elu", init="he_uniform"),
    ],
)
def test_every_knob_combination_trains(changes):
    result, _ = run(**changes)
    assert result.status == "completed"
    assert all(math.isfinite(h["val_loss"]) for h in result.history)


def test_train_subset_and_validation_split_sizes():
    data = prepare_data(RunConfig(dataset="digits", train_subset=100, val_split=0.5), torch.device("cpu"))
    assert len(data.y_train) == 100 and len(data.y_val) == round(1797 * 0.5)
    assert abs(data.x_train.mean().item()) < 0.05  # standardized with training statistics


def test_a_last_batch_of_one_image_is_dropped():
    assert _steps_per_epoch(129, 64) == 2 and _steps_per_epoch(130, 64) == 3 and _steps_per_epoch(10, 64) == 1


def test_augmentation_off_is_identity_and_flip_mirrors():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    same = augment.random_affine(x, torch.Generator().manual_seed(0))
    assert torch.allclose(same, x, atol=1e-5)
    flipped = None
    for seed in range(10):  # each image flips with probability 1/2
        out = augment.random_affine(x, torch.Generator().manual_seed(seed), flip=True)
        for i in range(2):
            if not torch.allclose(out[i], x[i], atol=1e-5):
                flipped = (out[i], x[i])
    assert flipped is not None and torch.allclose(flipped[0], flipped[1].flip(-1), atol=1e-5)


def test_augmentation_moves_pixels_but_keeps_the_batch_shape():
    x = torch.randn(8, 3, 32, 32)
    out = augment.random_affine(x, torch.Generator().manual_seed(0), shift=0.1, rotation=15, zoom=0.1)
    assert out.shape == x.shape and not torch.allclose(out, x)
