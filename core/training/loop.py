"""The trainer: a RunConfig in, events out. Data sits on the device as tensors, batches are index
slices, augmentation is batched on the device, and the loss is read back only every few steps.

It never touches Streamlit, files or threads; the caller gives it a device, a cancel token and an
event sink. All randomness comes from generators seeded by the config, so the same seed gives the
same history on the CPU whatever other threads do. Per-layer probes and the learning-rate range test
are callbacks on this one loop (core/training/callbacks.py).
"""
from __future__ import annotations

import math
import time
from typing import Protocol, Sequence

import torch

from core.catalog.models import count_parameters
from core.catalog.optimizers import build_optimizer, regularized_weights
from core.catalog.schedules import build_schedule
from core.config import RunConfig
from core.training import augment
from core.training.callbacks import Callback, StopFit
from core.training.data import PreparedData, prepare_data
from core.training.device import accelerate, step_settings
from core.training.events import EpochEnd, EventSink, RunResult, RunStarted, StepReport, ignore
from core.training.model import build_initialized_model, evaluate, run_generator
from core.training.probes import ProbeCallback, ProbeFactory
from core.training.step import steps_per_epoch, train_step


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


class _NeverCancelled:
    def is_set(self) -> bool:
        return False


class Loop:
    """One run's state while it trains; `run()` trains it. Callbacks read and change this state."""

    # Set by a callback's before_fit (the range test): no validation, schedule or early stopping at
    # the end of an epoch; a non-finite loss does not end the run; the gradient norm every step.
    validate = True
    stop_on_nonfinite = True
    measure_every_step = False

    def __init__(self, config: RunConfig, device: torch.device, data: PreparedData, cancel: CancelToken,
                 emit: EventSink, report_every: int, callbacks: Sequence[Callback] = (),
                 amp: bool | None = None, fast: bool | None = None):
        self.config, self.device, self.data = config, device, data
        self.cancel, self.emit, self.report_every = cancel, emit, report_every
        self.callbacks = list(callbacks)
        self.model = build_initialized_model(config, data.shape, data.classes, device)
        self.settings = step_settings(self.model, device, amp, fast)
        self.step_model = accelerate(self.model, device, self.settings)
        self.generator = run_generator(self.model, config, device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.l1_weights = list(regularized_weights(self.model)) if config.l1 > 0 else []
        self.optimizer = build_optimizer(self.model, config)
        self.schedule = build_schedule(self.optimizer, config)
        self.n_train = len(data.y_train)
        self.batch_size = min(config.batch_size, self.n_train)
        self.steps_per_epoch = steps_per_epoch(self.n_train, self.batch_size)
        self.step = 0  # global step, counting from 1 once the first batch is drawn
        self.epoch = 0
        self.batch = 0  # index of the step within its epoch

    @property
    def last_step_of_run(self) -> bool:
        return self.epoch == self.config.epochs and self.batch == self.steps_per_epoch - 1

    def _before_update(self, loss: torch.Tensor, grad_norm: torch.Tensor | None) -> bool:
        keep = True
        for callback in self.callbacks:
            keep = callback.before_update(self, loss, grad_norm) and keep
        return keep

    def run(self) -> RunResult:
        """Train to the end, to divergence, to early stopping, until cancelled or a callback stops it."""
        started = time.perf_counter()
        config, data, device = self.config, self.data, self.device
        augmenting = augment.is_active(config.aug_flip, config.aug_shift, config.aug_rotation, config.aug_zoom)
        batch = self.batch_size
        self.emit(RunStarted(str(device), self.n_train, len(data.y_val), self.steps_per_epoch, config.epochs,
                             count_parameters(self.model), self.settings.to_dict()))
        for callback in self.callbacks:
            callback.before_fit(self)
        result = RunResult(status="completed", device=str(device), settings=self.settings.to_dict())
        best_loss, best_state, since_best = math.inf, None, 0
        train_seconds, train_images = 0.0, 0
        self.model.train()
        try:
            for epoch in range(1, config.epochs + 1):
                self.epoch = epoch
                epoch_start = time.perf_counter()
                lr = self.optimizer.param_groups[0]["lr"]
                order = torch.randperm(self.n_train, device=device, generator=self.generator)
                loss_sum = torch.zeros((), device=device)
                correct = torch.zeros((), device=device, dtype=torch.long)
                seen = 0
                pending: list[torch.Tensor] = []
                stop = ""
                for i in range(self.steps_per_epoch):
                    self.batch = i
                    for callback in self.callbacks:
                        callback.before_batch(self)
                    idx = order[i * batch : (i + 1) * batch]
                    xb, yb = data.x_train[idx], data.y_train[idx]
                    if augmenting:
                        xb = augment.random_affine(xb, self.generator, config.aug_flip, config.aug_shift,
                                                   config.aug_rotation, config.aug_zoom)
                    if self.settings.channels_last:
                        xb = xb.contiguous(memory_format=torch.channels_last)
                    self.step += 1
                    reporting = self.step % self.report_every == 0 or i == self.steps_per_epoch - 1
                    loss, logits, grad_norm = train_step(
                        self.step_model, self.optimizer, xb, yb, self.params, config.l1, self.l1_weights,
                        config.clip_norm, measure_norm=reporting or self.measure_every_step,
                        autocast=self.settings.autocast, before_update=self._before_update)
                    for callback in self.callbacks:
                        callback.after_batch(self, loss)
                    pending.append(loss)
                    loss_sum += loss * len(idx)
                    correct += (logits.argmax(1) == yb).sum()
                    seen += len(idx)
                    if reporting:
                        losses = torch.stack(pending).tolist()  # the one host sync per report
                        pending.clear()
                        self.emit(StepReport(self.step, epoch, losses, lr, float(grad_norm)))
                        if result.first_report_seconds is None:
                            result.first_report_seconds = time.perf_counter() - started
                        if self.stop_on_nonfinite and not all(math.isfinite(v) for v in losses):
                            stop = "diverged"
                            break
                    if self.cancel.is_set():
                        stop = "cancelled"
                        break

                train_loss = loss_sum.item() / max(seen, 1)
                epoch_train_seconds = time.perf_counter() - epoch_start
                train_seconds += epoch_train_seconds
                train_images += seen
                if stop == "cancelled":
                    result.status, result.message = "cancelled", f"cancelled during epoch {epoch}"
                    break
                if not self.validate:
                    continue
                if stop == "diverged" or not math.isfinite(train_loss):
                    # Keras' TerminateOnNaN logs the epoch too: the curve shows where it blew up.
                    self._epoch_row(epoch, train_loss, correct.item() / max(seen, 1), math.nan, math.nan, lr,
                                    time.perf_counter() - epoch_start, seen / max(epoch_train_seconds, 1e-9), result)
                    result.status = "diverged"
                    result.message = f"the training loss became NaN or infinite by step {self.step} (epoch {epoch})"
                    break
                val_loss, val_acc = evaluate(self.model, data.x_val, data.y_val)
                self._epoch_row(epoch, train_loss, correct.item() / seen, val_loss, val_acc, lr,
                                time.perf_counter() - epoch_start, seen / max(epoch_train_seconds, 1e-9), result)
                if not math.isfinite(val_loss):
                    result.status = "diverged"
                    result.message = f"the validation loss became {val_loss} at epoch {epoch}"
                    break
                self.schedule.step(val_loss)
                if val_loss < best_loss:
                    best_loss, since_best, result.best_epoch = val_loss, 0, epoch
                    if config.early_stopping and config.restore_best:
                        best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                else:
                    since_best += 1
                if config.early_stopping and since_best >= config.patience and epoch < config.epochs:
                    result.stopped_early = True
                    result.message = (
                        f"stopped early after epoch {epoch}: no better validation loss for {since_best} epochs "
                        f"(best {best_loss:.4f} at epoch {result.best_epoch})"
                    )
                    break
                if self.cancel.is_set():
                    result.status, result.message = "cancelled", f"cancelled after epoch {epoch}"
                    break
        except StopFit as reason:
            result.message = str(reason)

        if best_state is not None and result.stopped_early:
            self.model.load_state_dict(best_state)
            result.restored_val_loss, _ = evaluate(self.model, data.x_val, data.y_val)
            result.message += f"; restored the best weights (validation loss {result.restored_val_loss:.4f})"
        if result.status == "completed" and data.x_test is not None:
            result.test_loss, result.test_accuracy = evaluate(self.model, data.x_test, data.y_test)
        result.seconds = time.perf_counter() - started
        result.images_per_second = train_images / max(train_seconds, 1e-9)
        if result.status == "completed" and not result.message:
            result.message = f"completed {len(result.history)} epoch{'' if len(result.history) == 1 else 's'}"
        return result

    def _epoch_row(self, epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds, images_per_s,
                   result: RunResult) -> None:
        row = EpochEnd(epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds, images_per_s)
        result.history.append(row.to_row())
        self.emit(row)


def train(
    config: RunConfig,
    device: str | torch.device = "cpu",
    cancel: CancelToken | None = None,
    emit: EventSink = ignore,
    report_every: int = 10,
    data_dir=None,
    make_probe: ProbeFactory | None = None,
    probe_every: int = 50,
    probe_budget: float | None = None,
    data: PreparedData | None = None,
    amp: bool | None = None,
    fast: bool | None = None,
    callbacks: Sequence[Callback] = (),
) -> RunResult:
    """Train one run (see Loop.run).

    With make_probe, per-layer statistics on a fixed batch of validation images are emitted as
    ProbeReport at step 0, every `probe_every` steps and after the last step; with `probe_budget`
    (a fraction, e.g. PROBE_BUDGET) a probe step is skipped while probing would take more than that
    share of the time (see ProbeSchedule), and a short run may be probed more often than every
    `probe_every` steps (see PROBES_PER_RUN). `data` replaces the config's data set with tensors
    already prepared (the bench's synthetic images); `amp` and `fast` override $TUNELAB_AMP and
    $TUNELAB_FAST (see core/training/device.py)."""
    device = torch.device(device)
    data = data if data is not None else prepare_data(config, device, data_dir)
    hooks = [ProbeCallback(make_probe, probe_every, probe_budget)] if make_probe else []
    loop = Loop(config, device, data, cancel or _NeverCancelled(), emit, report_every, [*hooks, *callbacks],
                amp, fast)
    return loop.run()
