"""A run's model and its randomness: the network built and initialized from the config's seed, the
run's one generator for data order, augmentation and dropout, and evaluation on a whole tensor set."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from core.catalog.initializers import initialize
from core.catalog.models import SeededDropout, build_model
from core.config import RunConfig

EVAL_BATCH = 1024


def build_initialized_model(config: RunConfig, shape, classes: int, device: torch.device) -> nn.Module:
    """The config's model with the config's initializer, drawn from a generator seeded by the config."""
    model = build_model(config, shape, classes)
    initialize(model, config.init, config.init_std, torch.Generator().manual_seed(config.seed))
    return model.to(device)


def run_generator(model: nn.Module, config: RunConfig, device: torch.device) -> torch.Generator:
    """The run's generator for data order, augmentation and dropout (seeded config.seed + 1), handed
    to every SeededDropout of the model. Nothing else draws from it, so other threads using the global
    generator never change a run."""
    generator = torch.Generator(device=device).manual_seed(config.seed + 1)
    for module in model.modules():
        if isinstance(module, SeededDropout):
            module.generator = generator
    return generator


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
