"""The trainer: learns, is reproducible, reports events, stops on divergence, cancel and early stopping."""
from __future__ import annotations

import math
import threading
import time

import pytest
import torch

from core.catalog.optimizers import regularized_weights
from core.config import RunConfig
from core.training import augment
from core.training.callbacks import Callback
from core.training.data import PreparedData, prepare_data
from core.training.events import EpochEnd, RunStarted, StepReport
from core.training.loop import train
from core.training.model import evaluate
from core.training.step import steps_per_epoch

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
    assert steps_per_epoch(129, 64) == 2 and steps_per_epoch(130, 64) == 3 and steps_per_epoch(10, 64) == 1


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


# ---- the knobs do what they say (each of these caught a bug made on purpose) --------------------------
class Capture(Callback):
    """Keeps the loop, and the weights just before and just after the first update."""

    def before_fit(self, loop):
        self.loop = loop
        self.before = None

    def before_update(self, loop, loss, grad_norm):
        if loop.step == 1:
            self.before = [p.detach().clone() for p in loop.params]
            self.grad_norm = float(grad_norm) if grad_norm is not None else None
        return True

    def after_batch(self, loop, loss):
        if loop.step == 1:
            self.after = [p.detach().clone() for p in loop.params]


def captured(**changes):
    capture = Capture()
    result = train(RunConfig(**{**FAST, **changes}), "cpu", report_every=5, callbacks=[capture])
    return result, capture


SCHEDULE_CASES = [
    # schedule settings, the learning rate of epochs 1..4 (the lr column) for lr 0.01
    (dict(schedule="constant"), [0.01, 0.01, 0.01, 0.01]),
    (dict(schedule="step", lr_step_epochs=2, lr_decay=0.5), [0.01, 0.01, 0.005, 0.005]),
    (dict(schedule="exponential", lr_decay=0.5), [0.01, 0.005, 0.0025, 0.00125]),
    (dict(schedule="cosine", min_lr=0.0), [0.01 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]),
]


@pytest.mark.parametrize("changes, rates", SCHEDULE_CASES, ids=[c["schedule"] for c, _ in SCHEDULE_CASES])
def test_each_schedule_sets_the_learning_rate_of_each_epoch(changes, rates):
    result, _ = run(optimizer="sgd", lr=0.01, epochs=4, **changes)
    assert [row["lr"] for row in result.history] == pytest.approx(rates, rel=1e-9)


def test_reduce_on_plateau_lowers_the_rate_only_after_epochs_without_improvement():
    # SGD at 1e-6 barely moves the validation loss (less than the 1e-4 it calls an improvement): plateaus
    result, _ = run(optimizer="sgd", lr=1e-6, epochs=5, schedule="plateau", plateau_patience=1, lr_decay=0.5)
    assert [row["lr"] for row in result.history] == pytest.approx([1e-6, 1e-6, 1e-6, 5e-7, 5e-7], rel=1e-9)
    improving, _ = run(optimizer="adam", lr=1e-3, epochs=4, schedule="plateau", plateau_patience=1, lr_decay=0.5)
    assert [row["lr"] for row in improving.history] == [1e-3] * 4  # still improving: the rate stays


def test_l1_pulls_the_weights_towards_zero_and_changes_the_run():
    plain, plain_cap = captured(epochs=2, l1=0.0)
    sparse, sparse_cap = captured(epochs=2, l1=1e-2)

    def l1_norm(cap):
        return sum(w.abs().sum().item() for w in regularized_weights(cap.loop.model))

    assert l1_norm(sparse_cap) < 0.8 * l1_norm(plain_cap)
    assert sparse.history[0]["loss"] != plain.history[0]["loss"]


def test_clip_norm_bounds_the_first_update():
    # plain SGD: the update is lr times the (clipped) gradient, so its norm is at most lr * clip_norm
    _, free = captured(optimizer="sgd", lr=0.5, clip_norm=0.0)
    _, clipped = captured(optimizer="sgd", lr=0.5, clip_norm=0.01)

    def update(cap):
        return math.sqrt(sum(((a - b) ** 2).sum().item() for a, b in zip(cap.after, cap.before)))

    assert clipped.grad_norm > 0.01  # the gradient was larger than the clip ...
    assert update(clipped) == pytest.approx(0.5 * 0.01, rel=1e-3)  # ... and the step was cut to lr * clip
    assert update(free) > 10 * update(clipped)


def test_early_stopping_restores_the_best_weights():
    # a tiny subset and a big learning rate overfit at once: validation loss climbs after its minimum
    result, _ = run(train_subset=40, lr=0.01, epochs=30, early_stopping=True, patience=2, width=256)
    assert result.stopped_early and len(result.history) < 30
    assert result.best_epoch == len(result.history) - 2
    best = result.history[result.best_epoch - 1]["val_loss"]
    last = result.history[-1]["val_loss"]
    assert last > best
    # the model the run ends with is the best epoch's: evaluated again, it gives that epoch's loss exactly
    assert result.restored_val_loss == best
    assert "restored the best weights" in result.message


def test_early_stopping_without_restore_keeps_the_last_weights():
    result, capture = captured(train_subset=40, lr=0.01, epochs=30, early_stopping=True, patience=2, width=256,
                               restore_best=False)
    assert result.stopped_early and result.restored_val_loss is None
    data = capture.loop.data
    assert evaluate(capture.loop.model, data.x_val, data.y_val)[0] == result.history[-1]["val_loss"]


# ---- what the result and the events say (mutation testing found these unchecked) --------------------------
def test_the_result_and_the_events_say_what_happened():
    started = time.perf_counter()
    result, events = run(epochs=2)
    elapsed = time.perf_counter() - started
    [begin] = [e for e in events if isinstance(e, RunStarted)]
    assert (begin.device, begin.epochs, begin.train_images) == ("cpu", 2, 1438)
    assert begin.settings == result.settings == {"amp": False, "channels_last": False, "fast": False}
    assert result.device == "cpu" and result.status == "completed" and result.message == "completed 2 epochs"
    reports = [e for e in events if isinstance(e, StepReport)]
    assert {e.epoch for e in reports} == {1, 2} and all(e.lr == 1e-3 for e in reports)
    assert reports[-1].step == 2 * begin.steps_per_epoch
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    # times: positive, within the call, and images/s as the images trained over the time spent training
    assert 0 < result.first_report_seconds <= result.seconds <= elapsed
    assert sum(e.seconds for e in epochs) <= result.seconds
    assert all(0 < e.seconds <= elapsed for e in epochs)
    assert result.images_per_second > 0 and result.images_per_second * result.seconds >= 2 * 1438 * 0.5
    one, _ = run(epochs=1)
    assert one.message == "completed 1 epoch"


def test_a_diverged_epoch_is_logged_with_what_it_reached():
    result, _ = run(optimizer="sgd", lr=100.0, epochs=5)
    [row] = result.history
    assert row["epoch"] == 1 and row["lr"] == 100.0 and 0 <= row["accuracy"] <= 1
    assert math.isnan(row["val_loss"]) and math.isnan(row["val_accuracy"])
    assert row["seconds"] > 0 and row["images_per_s"] > 0


def test_cancel_between_epochs_is_cancelled_after_that_epoch():
    cancel = threading.Event()

    def emit(event):
        if isinstance(event, EpochEnd) and event.epoch == 2:
            cancel.set()  # set after the last step of epoch 2: the loop notices at the epoch's end

    result = train(RunConfig(**{**FAST, "epochs": 4}), "cpu", cancel=cancel, emit=emit, report_every=1000)
    assert result.status == "cancelled" and result.message == "cancelled after epoch 2" and len(result.history) == 2


def test_patience_running_out_at_the_last_epoch_is_a_completed_run():
    # validation loss rising from epoch 2 on, patience 2, 3 epochs: the patience ends with the run
    result, _ = run(train_subset=40, lr=0.05, epochs=3, early_stopping=True, patience=2, width=256)
    assert not result.stopped_early and result.status == "completed" and result.message == "completed 3 epochs"


def synthetic(n=256, channels=3, size=8, test=True):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, channels, size, size, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return PreparedData(x, y, x[:64], y[:64], x[:32] if test else None, y[:32] if test else None,
                        (channels, size, size), 10)


def test_a_data_set_with_a_test_split_is_scored_on_it_at_the_end():
    data = synthetic()
    result = train(RunConfig(dataset="cifar10", model="mlp", depth=1, width=16, epochs=1), "cpu", data=data)
    assert result.test_loss is not None and math.isfinite(result.test_loss) and 0 <= result.test_accuracy <= 1
    assert train(RunConfig(dataset="cifar10", model="mlp", depth=1, width=16, epochs=1), "cpu",
                 data=synthetic(test=False)).test_loss is None


def test_horizontal_flips_change_what_the_network_sees():
    config = RunConfig(dataset="cifar10", model="mlp", depth=1, width=16, epochs=1, batch_size=32)
    plain = train(config, "cpu", data=synthetic()).history[0]["loss"]
    flipped = train(config.replace(aug_flip=True), "cpu", data=synthetic()).history[0]["loss"]
    assert flipped != plain
