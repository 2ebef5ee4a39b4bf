"""Optimizer registry: each entry builds a torch optimizer from a RunConfig's settings."""
from __future__ import annotations

from typing import Callable, Iterable, Protocol

import torch
from torch import nn

from core.catalog.registry import Registry



class OptimizerSettings(Protocol):
    """What an optimizer factory reads of a RunConfig."""

    lr: float
    momentum: float
    beta1: float
    beta2: float
    eps: float
    rho: float
    l2: float

OptimizerFactory = Callable[[list[dict], OptimizerSettings], torch.optim.Optimizer]

OPTIMIZERS: Registry[OptimizerFactory] = Registry("optimizer", "optimizer")

# Where each optimizer usually starts: the libraries' own default learning rates (Keras: SGD 0.01,
# RMSprop and Adam 0.001; PyTorch: Adagrad 0.01). Advice that moves the learning rate by a factor
# goes to this value instead when the factor would still leave it more than 10x away from it.
USUAL_LR = {"sgd": 0.01, "momentum": 0.01, "nesterov": 0.01, "adagrad": 0.01, "rmsprop": 0.001, "adam": 0.001,
            "adamw": 0.001}


def usual_lr(name: str | None) -> float | None:
    """The usual starting learning rate of an optimizer (None for an unknown one)."""
    return USUAL_LR.get(name or "")


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weights (matrices and kernels) get L2 weight decay; biases and batch-norm scales do not,
    as with Keras' kernel_regularizer."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim > 1 else no_decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def regularized_weights(model: nn.Module) -> Iterable[torch.Tensor]:
    """The parameters that L1 and L2 penalties apply to."""
    return (p for p in model.parameters() if p.requires_grad and p.ndim > 1)


OPTIMIZERS.register(
    "sgd",
    lambda groups, c: torch.optim.SGD(groups, lr=c.lr),
    "Plain stochastic gradient descent: w -= lr * grad. Simple and noisy; needs a well-chosen learning rate.",
    "SGD",
    knobs=("lr",),
)
OPTIMIZERS.register(
    "momentum",
    lambda groups, c: torch.optim.SGD(groups, lr=c.lr, momentum=c.momentum),
    "SGD with momentum: steps follow a running average of gradients, rolling through noise and "
    "narrow valleys (momentum 0.9 is typical).",
    "SGD + momentum",
    knobs=("lr", "momentum"),
)
OPTIMIZERS.register(
    "nesterov",
    lambda groups, c: torch.optim.SGD(groups, lr=c.lr, momentum=c.momentum, nesterov=True),
    "Nesterov momentum: looks ahead along the momentum before taking the gradient; a little more "
    "stable than plain momentum.",
    "SGD + Nesterov",
    knobs=("lr", "momentum"),
)
OPTIMIZERS.register(
    "adagrad",
    lambda groups, c: torch.optim.Adagrad(groups, lr=c.lr, eps=c.eps),
    "AdaGrad: each weight's step shrinks with the sum of its past squared gradients; good for sparse "
    "features, but the steps can shrink to nothing.",
    "AdaGrad",
    knobs=("lr", "eps"),
)
OPTIMIZERS.register(
    "rmsprop",
    lambda groups, c: torch.optim.RMSprop(groups, lr=c.lr, alpha=c.rho, eps=c.eps, momentum=0.0),
    "RMSProp: divides each step by a moving average (rho) of squared gradients, so the steps do not "
    "shrink forever as in AdaGrad.",
    "RMSProp",
    knobs=("lr", "rho", "eps"),
)
OPTIMIZERS.register(
    "adam",
    lambda groups, c: torch.optim.Adam(groups, lr=c.lr, betas=(c.beta1, c.beta2), eps=c.eps),
    "Adam: momentum (beta1) plus RMSProp scaling (beta2); works well out of the box with lr 1e-3.",
    "Adam",
    knobs=("lr", "beta1", "beta2", "eps"),
)
OPTIMIZERS.register(
    "adamw",
    lambda groups, c: torch.optim.AdamW(groups, lr=c.lr, betas=(c.beta1, c.beta2), eps=c.eps),
    "AdamW: Adam with weight decay applied directly to the weights instead of through the gradient; "
    "the L2 setting becomes decoupled weight decay.",
    "AdamW",
    knobs=("lr", "beta1", "beta2", "eps"),
)


def build_optimizer(model: nn.Module, config: OptimizerSettings) -> torch.optim.Optimizer:
    return OPTIMIZERS.get(config.optimizer).factory(param_groups(model, config.l2), config)
