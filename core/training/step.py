"""The one training step: forward, cross-entropy (plus the L1 penalty), backward, the gradient's norm
(clipped when asked), then the update. The trainer, the learning-rate range test and the exported
script all run this function (the script has its source inlined)."""
from __future__ import annotations

import contextlib
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Batches per epoch: a final partial batch is kept unless it would hold a single image (batch
    norm cannot use it)."""
    full, rest = divmod(n_train, batch_size)
    return max(1, full + (1 if rest > 1 else 0))


def global_grad_norm(params: list[torch.Tensor]) -> torch.Tensor:
    """L2 norm of every gradient together, as one tensor (no host sync)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


def train_step(
    model: Callable[[torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    xb: torch.Tensor,
    yb: torch.Tensor,
    params: list[torch.Tensor],
    l1: float = 0.0,
    l1_weights: list[torch.Tensor] | tuple = (),
    clip_norm: float = 0.0,
    measure_norm: bool = False,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    before_update: Callable[[torch.Tensor, torch.Tensor | None], bool] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """One step on one batch; returns (loss, logits, grad_norm), detached, still on the device.

    grad_norm is the gradient's norm before clipping when clip_norm > 0 (clip_grad_norm_ returns it),
    else when measure_norm, else None (measuring costs a pass over the gradients). before_update(loss,
    grad_norm) runs between backward and the update (the probes snapshot weights there; the range test
    skips the update of a non-finite step by returning False)."""
    with autocast():
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
    objective = loss
    if l1_weights:
        objective = loss + l1 * sum(w.abs().sum() for w in l1_weights)
    optimizer.zero_grad(set_to_none=True)
    objective.backward()
    grad_norm = None
    if clip_norm > 0:
        grad_norm = nn.utils.clip_grad_norm_(params, clip_norm)
    elif measure_norm:
        grad_norm = global_grad_norm(params)
    if before_update is None or before_update(loss, grad_norm):
        optimizer.step()
    return loss.detach(), logits.detach(), grad_norm
