"""The trainer: a RunConfig in, events out. Data sits on the device as tensors, batches are index
slices, augmentation is batched on the device, and the loss is read back only every few steps.

It never touches Streamlit, files or threads; the caller gives it a device, a cancel token and an
event sink. All randomness comes from generators seeded by the config, so the same seed gives the
same history on the CPU whatever other threads do.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass
from typing import Callable, Protocol

import torch
from torch import nn
from torch.nn import functional as F

from core import augment, datasets
from core.config import RunConfig
from core.events import EpochEnd, EventSink, ProbeReport, RunResult, RunStarted, StepReport, ignore
from core.initializers import initialize
from core.models import SeededDropout, build_model, count_parameters
from core.optimizers import build_optimizer, regularized_weights
from core.schedules import build_schedule

EVAL_BATCH = 1024


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


class Probe(Protocol):
    """Per-layer measurements taken every `probe_every` steps (core/probes.py implements it).

    At a probe step the trainer calls before_update(model) after backward and before the optimizer
    step (the probe may snapshot weights), then measure(model) after the step. measure() must not
    change the model or draw from the run's random generator (use eval mode)."""

    def before_update(self, model: nn.Module) -> None: ...

    def measure(self, model: nn.Module) -> list[dict]: ...


ProbeFactory = Callable[[nn.Module, torch.Tensor, torch.Tensor], Probe]  # (model, x_probe, y_probe)
PROBE_BATCH = 256
# The dashboard's share of training time for probes. A probe is a forward and backward pass on
# PROBE_BATCH images; taken every 50 steps of batch 64 on a CPU it cost 10-15% of the speed.
PROBE_BUDGET = 0.05
# With a budget, a short run may be probed more often than every `probe_every` steps, up to this many
# times, so that the Saturation Lab's time slider has moments to show (the budget caps the cost).
PROBES_PER_RUN = 40


class ProbeSchedule:
    """Which steps are probed: every `every` steps; with a `budget`, only once enough time has passed
    since the last probe that probing takes at most that fraction of the run's time. Probes never
    change training, so a time-based choice of steps keeps runs reproducible."""

    def __init__(self, every: int, budget: float | None = None):
        self.every = every
        self.budget = budget
        self._last_end = 0.0
        self._last_cost = 0.0

    def due(self, step: int) -> bool:
        if step % self.every:
            return False
        if self.budget is None:
            return True
        waited = time.perf_counter() - self._last_end
        return waited * self.budget >= self._last_cost * (1 - self.budget)

    @contextlib.contextmanager
    def timed(self):
        start = time.perf_counter()
        try:
            yield
        finally:
            self._last_end = time.perf_counter()
            self._last_cost = self._last_end - start


class _NeverCancelled:
    def is_set(self) -> bool:
        return False


def resolve_device(name: str = "auto") -> torch.device:
    """auto -> cuda when a GPU is usable, else cpu. Asking for cuda without one is a user error."""
    from core.errors import ConfigError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device", "cuda was asked for but no CUDA GPU is available; use auto or cpu")
        return torch.device("cuda")
    raise ConfigError("device", f"must be one of auto, cpu, cuda (got {name!r})")


@dataclass
class PreparedData:
    """Normalized float tensors on the device, split into train and validation (and test if any)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor | None
    y_test: torch.Tensor | None
    shape: tuple[int, int, int]
    classes: int


def prepare_data(config: RunConfig, device: torch.device, data_dir=None) -> PreparedData:
    """Split with the config's seed (the same seed gives the same split and order for every run of a
    sweep), scale to [0, 1], standardize per channel with training statistics, move to the device."""
    spec = datasets.DATASETS.get(config.dataset).factory
    data = datasets.load(config.dataset, data_dir)
    split_gen = torch.Generator().manual_seed(config.seed)
    order = torch.randperm(len(data.y_train), generator=split_gen)
    n_val = max(1, round(len(order) * config.val_split))
    val_idx, train_idx = order[:n_val], order[n_val:]
    if config.train_subset:
        train_idx = train_idx[: config.train_subset]

    x_train = data.x_train[train_idx].float().div_(255.0)
    mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
    std = x_train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)

    def to_device(x_uint8: torch.Tensor) -> torch.Tensor:
        return ((x_uint8.float().div_(255.0) - mean) / std).to(device)

    x_test = to_device(data.x_test) if data.x_test is not None else None
    y_test = data.y_test.to(device) if data.y_test is not None else None
    return PreparedData(
        ((x_train - mean) / std).to(device),
        data.y_train[train_idx].to(device),
        to_device(data.x_train[val_idx]),
        data.y_train[val_idx].to(device),
        x_test,
        y_test,
        spec.shape,
        spec.classes,
    )


def build_initialized_model(config: RunConfig, shape, classes: int, device: torch.device) -> nn.Module:
    """The config's model with the config's initializer, drawn from a generator seeded by the config."""
    model = build_model(config, shape, classes)
    initialize(model, config.init, config.init_std, torch.Generator().manual_seed(config.seed))
    return model.to(device)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over a whole tensor set, in eval mode, in large batches."""
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=x.device)
    correct = torch.zeros((), device=x.device, dtype=torch.long)
    for start in range(0, len(y), EVAL_BATCH):
        logits = model(x[start : start + EVAL_BATCH])
        target = y[start : start + EVAL_BATCH]
        loss_sum += F.cross_entropy(logits.float(), target, reduction="sum")
        correct += (logits.argmax(1) == target).sum()
    model.train(was_training)
    return loss_sum.item() / len(y), correct.item() / len(y)


def _grad_norm(params: list[torch.Tensor]) -> torch.Tensor:
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def _steps_per_epoch(n_train: int, batch_size: int) -> int:
    # Keep a final partial batch unless it would hold a single image (batch norm cannot use it).
    full, rest = divmod(n_train, batch_size)
    return max(1, full + (1 if rest > 1 else 0))


def run_generator(model: nn.Module, config: RunConfig, device: torch.device) -> torch.Generator:
    """The run's generator for data order, augmentation and dropout (seeded config.seed + 1), handed
    to every SeededDropout of the model."""
    generator = torch.Generator(device=device).manual_seed(config.seed + 1)
    for module in model.modules():
        if isinstance(module, SeededDropout):
            module.generator = generator
    return generator


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
) -> RunResult:
    """Train one run to the end, to divergence, to early stopping or until `cancel` is set.

    With make_probe, per-layer statistics on a fixed batch of validation images are emitted as
    ProbeReport at step 0, every `probe_every` steps and after the last step; with `probe_budget`
    (a fraction, e.g. PROBE_BUDGET) a probe step is skipped while probing would take more than that
    share of the time (see ProbeSchedule), and a short run may be probed more often than every
    `probe_every` steps (see PROBES_PER_RUN). `data` replaces the
    config's data set with tensors already prepared (the bench's synthetic images); `amp` and `fast`
    override $TUNELAB_AMP and $TUNELAB_FAST (see step_settings)."""
    started = time.perf_counter()
    device = torch.device(device)
    cancel = cancel or _NeverCancelled()
    data = data if data is not None else prepare_data(config, device, data_dir)
    model = build_initialized_model(config, data.shape, data.classes, device)
    settings = step_settings(model, device, amp, fast)
    step_model = accelerate(model, device, settings)
    run_gen = run_generator(model, config, device)
    params = [p for p in model.parameters() if p.requires_grad]
    l1_weights = list(regularized_weights(model)) if config.l1 > 0 else []
    optimizer = build_optimizer(model, config)
    schedule = build_schedule(optimizer, config)
    augmenting = augment.is_active(config.aug_flip, config.aug_shift, config.aug_rotation, config.aug_zoom)

    n_train = len(data.y_train)
    batch = min(config.batch_size, n_train)
    steps_per_epoch = _steps_per_epoch(n_train, batch)
    emit(RunStarted(str(device), n_train, len(data.y_val), steps_per_epoch, config.epochs, count_parameters(model)))

    probe = make_probe(model, data.x_val[:PROBE_BATCH], data.y_val[:PROBE_BATCH]) if make_probe else None
    if probe_budget is not None:
        probe_every = min(probe_every, max(1, steps_per_epoch * config.epochs // PROBES_PER_RUN))
    probe_schedule = ProbeSchedule(probe_every, probe_budget)
    if probe is not None:  # (not timed: a first call's one-off set-up is no measure of the next ones)
        emit(ProbeReport(0, 0, probe.measure(model)))
    result = RunResult(status="completed", device=str(device))
    best_loss, best_state, since_best = math.inf, None, 0
    step, train_seconds, train_images = 0, 0.0, 0
    model.train()
    for epoch in range(1, config.epochs + 1):
        epoch_start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        order = torch.randperm(n_train, device=device, generator=run_gen)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        pending: list[torch.Tensor] = []
        stop = ""
        for i in range(steps_per_epoch):
            idx = order[i * batch : (i + 1) * batch]
            xb, yb = data.x_train[idx], data.y_train[idx]
            if augmenting:
                xb = augment.random_affine(
                    xb, run_gen, config.aug_flip, config.aug_shift, config.aug_rotation, config.aug_zoom
                )
            if settings.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with settings.autocast():
                logits = step_model(xb)
                loss = F.cross_entropy(logits, yb)
            objective = loss
            if l1_weights:
                objective = loss + config.l1 * sum(w.abs().sum() for w in l1_weights)
            optimizer.zero_grad(set_to_none=True)
            objective.backward()
            step += 1
            reporting = step % report_every == 0 or i == steps_per_epoch - 1
            grad_norm = None
            if config.clip_norm > 0:
                grad_norm = nn.utils.clip_grad_norm_(params, config.clip_norm)
            elif reporting:
                grad_norm = _grad_norm(params)
            probing = probe is not None and (probe_schedule.due(step) or (
                epoch == config.epochs and i == steps_per_epoch - 1))
            if probing:
                probe.before_update(model)
            optimizer.step()
            if probing:
                with probe_schedule.timed():
                    emit(ProbeReport(step, epoch, probe.measure(model)))
            loss = loss.detach()
            pending.append(loss)
            loss_sum += loss * len(idx)
            correct += (logits.detach().argmax(1) == yb).sum()
            seen += len(idx)
            if reporting:
                losses = torch.stack(pending).tolist()  # the one host sync per report
                pending.clear()
                emit(StepReport(step, epoch, losses, lr, float(grad_norm)))
                if result.first_report_seconds is None:
                    result.first_report_seconds = time.perf_counter() - started
                if not all(math.isfinite(v) for v in losses):
                    stop = "diverged"
                    break
            if cancel.is_set():
                stop = "cancelled"
                break

        train_loss = loss_sum.item() / max(seen, 1)
        epoch_train_seconds = time.perf_counter() - epoch_start
        train_seconds += epoch_train_seconds
        train_images += seen
        if stop == "cancelled":
            result.status, result.message = "cancelled", f"cancelled during epoch {epoch}"
            break
        if stop == "diverged" or not math.isfinite(train_loss):
            # Keras' TerminateOnNaN logs the epoch too: the curve shows where it blew up.
            emit(_epoch_row(epoch, train_loss, correct.item() / max(seen, 1), math.nan, math.nan, lr,
                            time.perf_counter() - epoch_start, seen / max(epoch_train_seconds, 1e-9), result))
            result.status = "diverged"
            result.message = f"the training loss became NaN or infinite by step {step} (epoch {epoch})"
            break
        val_loss, val_acc = evaluate(model, data.x_val, data.y_val)
        emit(_epoch_row(epoch, train_loss, correct.item() / seen, val_loss, val_acc, lr,
                        time.perf_counter() - epoch_start, seen / max(epoch_train_seconds, 1e-9), result))
        if not math.isfinite(val_loss):
            result.status = "diverged"
            result.message = f"the validation loss became {val_loss} at epoch {epoch}"
            break
        schedule.step(val_loss)
        if val_loss < best_loss:
            best_loss, since_best, result.best_epoch = val_loss, 0, epoch
            if config.early_stopping and config.restore_best:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            since_best += 1
        if config.early_stopping and since_best >= config.patience and epoch < config.epochs:
            result.stopped_early = True
            result.message = (
                f"stopped early after epoch {epoch}: no better validation loss for {since_best} epochs "
                f"(best {best_loss:.4f} at epoch {result.best_epoch})"
            )
            break
        if cancel.is_set():
            result.status, result.message = "cancelled", f"cancelled after epoch {epoch}"
            break

    if best_state is not None and result.stopped_early:
        model.load_state_dict(best_state)
        result.message += "; restored the best weights"
    if result.status == "completed" and data.x_test is not None:
        result.test_loss, result.test_accuracy = evaluate(model, data.x_test, data.y_test)
    result.seconds = time.perf_counter() - started
    result.images_per_second = train_images / max(train_seconds, 1e-9)
    if result.status == "completed" and not result.message:
        result.message = f"completed {len(result.history)} epoch{'' if len(result.history) == 1 else 's'}"
    return result


def _epoch_row(epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds, images_per_s, result: RunResult) -> EpochEnd:
    row = EpochEnd(epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds, images_per_s)
    result.history.append(row.to_row())
    return row


# ---- GPU path. On CUDA: bf16 autocast (switchable), channels_last for conv models and cuDNN's
# autotuner. Anywhere, when asked: a fast mode that compiles the model with torch.compile. With the
# defaults on a CPU, none of this applies and the step is the plain eager step. ----
AMP_ENV = "TUNELAB_AMP"  # "0" turns bf16 autocast off on CUDA (default on)
FAST_ENV = "TUNELAB_FAST"  # "1" turns the fast mode on (default off)
# Fast mode changes only how the same float operations are scheduled and fused, so its per-step losses
# match eager mode's within this relative tolerance (checked on the CPU by tests/test_bench.py).
FAST_MODE_RTOL = 1e-3


def _switch(value: bool | None, env: str, default: bool) -> bool:
    if value is not None:
        return value
    raw = os.environ.get(env, "").strip().lower()
    return default if not raw else raw not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class StepSettings:
    """How the training step runs on its device."""

    amp: bool  # bf16 autocast for the forward pass and the loss (CUDA only)
    channels_last: bool  # NHWC weights and batches for conv models (CUDA only)
    fast: bool  # the step calls torch.compile(model)

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else contextlib.nullcontext()


def step_settings(model: nn.Module, device: torch.device, amp: bool | None = None, fast: bool | None = None) -> StepSettings:
    """amp/fast: True or False, or None to read $TUNELAB_AMP (default on) and $TUNELAB_FAST (default off)."""
    cuda = device.type == "cuda"
    conv = any(isinstance(m, nn.Conv2d) for m in model.modules())
    return StepSettings(cuda and _switch(amp, AMP_ENV, True), cuda and conv, _switch(fast, FAST_ENV, False))


def accelerate(model: nn.Module, device: torch.device, settings: StepSettings) -> nn.Module:
    """Apply the settings to the model; return what the training step calls: the model itself, or in
    fast mode its compiled wrapper, which shares its parameters (evaluation, probes and saved weights
    keep using the plain model)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if settings.channels_last:
        model.to(memory_format=torch.channels_last)
    if settings.fast:
        return torch.compile(model, dynamic=False)
    return model
