"""Hooks on the one training loop (fastai's callback pattern): the per-layer probes and the
learning-rate range test are callbacks, not loops of their own."""
from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from core.config import RunConfig
from core.training.data import PreparedData
from core.training.events import EventSink


class Loop(Protocol):
    """The run's state as callbacks see it (core.training.loop.Loop holds it)."""

    config: RunConfig
    data: PreparedData
    model: nn.Module
    optimizer: torch.optim.Optimizer
    emit: EventSink
    step: int  # global step, from 1
    epoch: int  # from 1
    batch: int  # the step's index within its epoch
    steps_per_epoch: int
    # switches a callback may flip in before_fit (the range test does)
    validate: bool
    stop_on_nonfinite: bool
    measure_every_step: bool

    @property
    def last_step_of_run(self) -> bool: ...




class StopFit(Exception):
    """Raised by a callback to end the run early; the message says why."""


class Callback:
    """Override what you need; every hook gets the loop, whose attributes (config, model, optimizer,
    data, step, epoch, batch, steps_per_epoch, emit) are the run's state."""

    def before_fit(self, loop: Loop) -> None:
        """After the model, optimizer and data are ready, before the first step."""

    def before_batch(self, loop: Loop) -> None:
        """Before each step (the range test sets the learning rate here)."""

    def before_update(self, loop: Loop, loss: torch.Tensor, grad_norm: torch.Tensor | None) -> bool:
        """Between backward and the optimizer's update; return False to skip the update."""
        return True

    def after_batch(self, loop: Loop, loss: torch.Tensor) -> None:
        """After the update of each step."""
