"""Hooks on the one training loop (fastai's callback pattern): the per-layer probes and the
learning-rate range test are callbacks, not loops of their own."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from core.training.loop import Loop


class StopFit(Exception):
    """Raised by a callback to end the run early; the message says why."""


class Callback:
    """Override what you need; every hook gets the loop, whose attributes (config, model, optimizer,
    data, step, epoch, batch, steps_per_epoch, emit) are the run's state."""

    def before_fit(self, loop: "Loop") -> None:
        """After the model, optimizer and data are ready, before the first step."""

    def before_batch(self, loop: "Loop") -> None:
        """Before each step (the range test sets the learning rate here)."""

    def before_update(self, loop: "Loop", loss: torch.Tensor, grad_norm: torch.Tensor | None) -> bool:
        """Between backward and the optimizer's update; return False to skip the update."""
        return True

    def after_batch(self, loop: "Loop", loss: torch.Tensor) -> None:
        """After the update of each step."""
