"""Weight-initializer registry: each entry fills a weight in place and knows the spread it gives."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from core.catalog.registry import Registry

# Values beyond this many standard deviations are redrawn (Keras' TruncatedNormal does the same).
TRUNCATE_AT = 2.0
# Standard deviation of N(0, 1) truncated to [-2, 2]: sqrt(1 - 2*2*phi(2)/(2*Phi(2)-1)).
_TRUNCATED_STD_FACTOR = 0.8796256610342398


@dataclass(frozen=True)
class Initializer:
    # fill(weight, std, generator) overwrites the weight in place
    fill: Callable[[torch.Tensor, float, torch.Generator | None], None]
    # expected_std(fan_in, fan_out, std) is the standard deviation of the weights it draws
    expected_std: Callable[[int, int, float], float]


def fans(weight: torch.Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) of a Linear or Conv weight, counting the kernel's receptive field."""
    return nn.init._calculate_fan_in_and_fan_out(weight)


def _uniform(weight: torch.Tensor, bound: float, generator: torch.Generator | None) -> None:
    nn.init.uniform_(weight, -bound, bound, generator=generator)


def _zeros(weight, std, generator):
    nn.init.zeros_(weight)


def _normal(weight, std, generator):
    nn.init.normal_(weight, 0.0, std, generator=generator)


def _truncated_normal(weight, std, generator):
    nn.init.trunc_normal_(weight, 0.0, std, -TRUNCATE_AT * std, TRUNCATE_AT * std, generator=generator)


def _uniform_fan_in(weight, std, generator):
    fan_in, _ = fans(weight)
    _uniform(weight, 1.0 / math.sqrt(fan_in), generator)


def _xavier_uniform(weight, std, generator):
    fan_in, fan_out = fans(weight)
    _uniform(weight, math.sqrt(6.0 / (fan_in + fan_out)), generator)


def _xavier_normal(weight, std, generator):
    fan_in, fan_out = fans(weight)
    nn.init.normal_(weight, 0.0, math.sqrt(2.0 / (fan_in + fan_out)), generator=generator)


def _he_uniform(weight, std, generator):
    fan_in, _ = fans(weight)
    _uniform(weight, math.sqrt(6.0 / fan_in), generator)


def _he_normal(weight, std, generator):
    fan_in, _ = fans(weight)
    nn.init.normal_(weight, 0.0, math.sqrt(2.0 / fan_in), generator=generator)


INITIALIZERS: Registry[Initializer] = Registry("initializer", "init")

INITIALIZERS.register(
    "default",
    Initializer(_uniform_fan_in, lambda fi, fo, s: 1.0 / math.sqrt(3.0 * fi)),
    "PyTorch's default for Linear and Conv layers: weights and biases from U(-1/sqrt(fan_in), "
    "1/sqrt(fan_in)) (kaiming_uniform with a=sqrt(5)), the same spread as uniform_fan_in.",
    "PyTorch default",
)
INITIALIZERS.register(
    "zeros",
    Initializer(_zeros, lambda fi, fo, s: 0.0),
    "Every weight 0: all units of a layer compute the same thing and get the same update, so the "
    "symmetry never breaks and the net cannot learn.",
    "Zeros",
)
INITIALIZERS.register(
    "normal",
    Initializer(_normal, lambda fi, fo, s: s),
    "N(0, std^2) with the std you choose: too small and signals fade layer by layer, too large "
    "(std 1) and sigmoid/tanh saturate.",
    "Normal",
    knobs=("init_std",),
)
INITIALIZERS.register(
    "truncated_normal",
    Initializer(_truncated_normal, lambda fi, fo, s: _TRUNCATED_STD_FACTOR * s),
    "Normal with the std you choose (0.02 in the seeds), values beyond 2 std redrawn: no rare huge "
    "weights; the resulting spread is 0.88 of the std.",
    "Truncated normal",
    knobs=("init_std",),
)
INITIALIZERS.register(
    "uniform_fan_in",
    Initializer(_uniform_fan_in, lambda fi, fo, s: 1.0 / math.sqrt(3.0 * fi)),
    "U(-1/sqrt(n), 1/sqrt(n)), the 'standard' init of Glorot & Bengio (2010): variance 1/(3n), too "
    "small to keep a deep tanh net's signal alive.",
    "Uniform 1/sqrt(fan_in)",
)
INITIALIZERS.register(
    "xavier_uniform",
    Initializer(_xavier_uniform, lambda fi, fo, s: math.sqrt(2.0 / (fi + fo))),
    "Glorot/Xavier: variance 2/(fan_in+fan_out) keeps activations and gradients the same size "
    "through tanh layers (sigmoid's slope of at most 0.25 still shrinks the gradient layer by layer); "
    "Keras' default.",
    "Xavier uniform",
)
INITIALIZERS.register(
    "xavier_normal",
    Initializer(_xavier_normal, lambda fi, fo, s: math.sqrt(2.0 / (fi + fo))),
    "Glorot/Xavier from a normal distribution: the same variance 2/(fan_in+fan_out).",
    "Xavier normal",
)
INITIALIZERS.register(
    "he_uniform",
    Initializer(_he_uniform, lambda fi, fo, s: math.sqrt(2.0 / fi)),
    "He/Kaiming: variance 2/fan_in makes up for ReLU zeroing half its inputs, so deep ReLU nets keep "
    "their signal.",
    "He uniform",
)
INITIALIZERS.register(
    "he_normal",
    Initializer(_he_normal, lambda fi, fo, s: math.sqrt(2.0 / fi)),
    "He/Kaiming from a normal distribution: variance 2/fan_in, the choice for ReLU networks.",
    "He normal",
)


def initialize(model: nn.Module, name: str, std: float, generator: torch.Generator | None) -> None:
    """Apply one initializer to every Linear and Conv layer of a model, as the seeds' wrapper does.

    Biases start at zero, except with `default`, which keeps PyTorch's uniform bias.
    Batch-norm layers keep weight 1 and bias 0.
    """
    fill = INITIALIZERS.get(name).factory.fill
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, (nn.Linear, nn.Conv2d)):
                continue
            fill(module.weight, std, generator)
            if module.bias is None:
                continue
            if name == "default":
                fan_in, _ = fans(module.weight)
                _uniform(module.bias, 1.0 / math.sqrt(fan_in), generator)
            else:
                nn.init.zeros_(module.bias)
