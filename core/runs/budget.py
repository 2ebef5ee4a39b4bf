"""How long a run will take on this server, before it runs: the class's budget per run is in these
estimated seconds.

A run's estimate is (seconds per training step, measured here) x (its steps: epochs x training
images / batch size, as the trainer counts them). The seconds per step come from a quick calibration
on the server's own device: a handful of real training steps of the run's model, with its batch size
and optimizer, on a batch of its data set, after two warm-up steps; cached per (data set, model,
batch size, and the MLP's depth and width, batch norm) for the life of the server. It leaves out
validation, probes and loading the data (a few per cent on the models here), and fast mode's compile:
an estimate, not a promise, which is why the class may also set a wall-clock time limit.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import torch

from core.catalog import datasets
from core.catalog.optimizers import build_optimizer
from core.config import RunConfig
from core.errors import UserError
from core.training.device import accelerate, step_settings
from core.training.model import build_initialized_model
from core.training.step import steps_per_epoch, train_step


class OverBudget(UserError):
    """A run's estimated time is over the class's budget per run."""


def format_seconds(seconds: float) -> str:
    """A duration for people: "45 s", "2 min", "7 min 40 s", "1 h 5 min"; tenths under 10 s."""
    if seconds < 10 and round(seconds, 1) != round(seconds):
        return f"{seconds:.1f} s"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def train_images(config: RunConfig, data_dir=None) -> int:
    """How many images a run trains on: its data set less the validation split, or train_subset
    (what prepare_data keeps, counted without drawing the split)."""
    n = len(datasets.load(config.dataset, data_dir).y_train)
    n_train = n - max(1, round(n * config.val_split))
    return min(n_train, config.train_subset) if config.train_subset else n_train


@dataclass(frozen=True)
class Estimate:
    """A run's estimated seconds on this server, and what they are made of."""

    seconds_per_step: float
    steps_per_epoch: int
    epochs: int

    @property
    def seconds_per_epoch(self) -> float:
        return self.seconds_per_step * self.steps_per_epoch

    @property
    def seconds(self) -> float:
        return self.seconds_per_epoch * self.epochs

    def epochs_within(self, budget: float) -> int:
        """The most epochs of this run that fit in `budget` seconds."""
        return int(budget // self.seconds_per_epoch) if self.seconds_per_epoch > 0 else self.epochs


def cost_key(config: RunConfig) -> tuple:
    """What sets the cost of one training step: data set, model, batch size, the MLP's shape, batch norm."""
    shape = (config.depth, config.width) if config.model == "mlp" else ()
    return (config.dataset, config.model, config.batch_size, config.batch_norm, *shape)


class StepTimer:
    """The server's calibration: seconds per training step of a config's model on its data set, on
    this device, measured once per cost_key and cached. Thread-safe; tests replace `measure`."""

    def __init__(self, device: torch.device | str = "cpu", data_dir=None, steps: int = 5, warmup: int = 2):
        self.device = torch.device(device)
        self.data_dir = data_dir
        self.steps = steps
        self.warmup = warmup
        self._cache: dict[tuple, float] = {}
        self._lock = threading.Lock()

    def seconds_per_step(self, config: RunConfig) -> float:
        key = cost_key(config)
        with self._lock:  # (one calibration at a time: two at once would slow each other down)
            if key not in self._cache:
                self._cache[key] = self.measure(config)
            return self._cache[key]

    def train_images(self, config: RunConfig) -> int:
        return train_images(config, self.data_dir)

    def estimate(self, config: RunConfig) -> Estimate:
        n_train = self.train_images(config)
        return Estimate(self.seconds_per_step(config), steps_per_epoch(n_train, min(config.batch_size, n_train)),
                        config.epochs)

    def measure(self, config: RunConfig) -> float:
        """Time `steps` real training steps (after `warmup`) of the config's model on one batch of its
        data set; the seconds per step."""
        spec = datasets.DATASETS.get(config.dataset).factory
        data = datasets.load(config.dataset, self.data_dir)
        n = min(config.batch_size, len(data.y_train))
        x = data.x_train[:n].float().div_(255.0).to(self.device)
        y = data.y_train[:n].to(self.device)
        model = build_initialized_model(config, spec.shape, spec.classes, self.device)
        settings = step_settings(model, self.device, fast=False)
        step_model = accelerate(model, self.device, settings)
        if settings.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        optimizer = build_optimizer(model, config)
        params = [p for p in model.parameters() if p.requires_grad]

        def steps(k: int) -> None:
            for _ in range(k):
                loss, _, _ = train_step(step_model, optimizer, x, y, params, clip_norm=config.clip_norm,
                                        autocast=settings.autocast)
            loss.item()  # waits for the device

        model.train()
        steps(self.warmup)
        started = time.perf_counter()
        steps(self.steps)
        return (time.perf_counter() - started) / self.steps


def check_budget(estimate: Estimate, budget: float, label: str = "") -> None:
    """Raise OverBudget naming the limit and what would fit when the estimate is over `budget` seconds."""
    if estimate.seconds <= budget:
        return
    fits = estimate.epochs_within(budget)
    if fits >= 1:
        advice = f"at most {fits} epoch{'s' if fits != 1 else ''} of this model would fit"
    else:
        advice = (f"not even one epoch of this model fits (one takes about {format_seconds(estimate.seconds_per_epoch)}): "
                  "try a smaller model or fewer images (train_subset)")
    prefix = f"{label}: " if label else ""
    raise OverBudget(f"{prefix}estimated {format_seconds(estimate.seconds)}, the class allows "
                     f"{format_seconds(budget)} per run: {advice}")

