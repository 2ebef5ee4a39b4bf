"""Learning-rate schedule registry: each entry builds a per-epoch schedule from a RunConfig."""
from __future__ import annotations

from typing import Callable, Protocol

import torch

from core.catalog.registry import Registry



class ScheduleSettings(Protocol):
    """What a schedule factory reads of a RunConfig."""

    epochs: int
    lr_decay: float
    lr_step_epochs: int
    plateau_patience: int
    min_lr: float


class EpochSchedule(Protocol):
    def step(self, val_loss: float) -> None:
        """Called once after every epoch with that epoch's validation loss."""


class _TorchSchedule:
    def __init__(self, scheduler):
        self.scheduler = scheduler

    def step(self, val_loss: float) -> None:
        self.scheduler.step()


class _Plateau:
    def __init__(self, scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau):
        self.scheduler = scheduler

    def step(self, val_loss: float) -> None:
        self.scheduler.step(val_loss)


class _Constant:
    def step(self, val_loss: float) -> None:
        pass


ScheduleFactory = Callable[[torch.optim.Optimizer, ScheduleSettings], EpochSchedule]
SCHEDULES: Registry[ScheduleFactory] = Registry("schedule", "schedule")

SCHEDULES.register(
    "constant",
    lambda opt, c: _Constant(),
    "The same learning rate for the whole run: the baseline to compare schedules against.",
    "Constant",
)
SCHEDULES.register(
    "step",
    lambda opt, c: _TorchSchedule(
        torch.optim.lr_scheduler.StepLR(opt, step_size=c.lr_step_epochs, gamma=c.lr_decay)
    ),
    "Multiply the learning rate by the decay factor every few epochs: big steps first, fine steps later.",
    "Step decay",
    knobs=("lr_decay", "lr_step_epochs"),
)
SCHEDULES.register(
    "exponential",
    lambda opt, c: _TorchSchedule(torch.optim.lr_scheduler.ExponentialLR(opt, gamma=c.lr_decay)),
    "Multiply the learning rate by the decay factor after every epoch: a smooth, steady decrease.",
    "Exponential decay",
    knobs=("lr_decay",),
)
SCHEDULES.register(
    "cosine",
    lambda opt, c: _TorchSchedule(
        torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=c.epochs, eta_min=c.min_lr)
    ),
    "Follow half a cosine from the learning rate down to the minimum at the last epoch.",
    "Cosine annealing",
    knobs=("min_lr",),
)
SCHEDULES.register(
    "plateau",
    lambda opt, c: _Plateau(
        torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="min", factor=c.lr_decay, patience=c.plateau_patience, min_lr=c.min_lr
        )
    ),
    "Reduce on plateau: multiply the learning rate by the decay factor when validation loss has not "
    "improved for a few epochs.",
    "Reduce on plateau",
    knobs=("lr_decay", "plateau_patience", "min_lr"),
)


def build_schedule(optimizer: torch.optim.Optimizer, config: ScheduleSettings) -> EpochSchedule:
    return SCHEDULES.get(config.schedule).factory(optimizer, config)
