"""Activation registry: each entry builds an nn.Module and says how the function can fail to learn."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from core.catalog.registry import Registry


@dataclass(frozen=True)
class Activation:
    make: Callable[[], nn.Module]
    # "saturating": flat tails where the gradient vanishes (sigmoid, tanh);
    # "rectifier": a flat zero side where units can die (ReLU family); "smooth": neither.
    family: str
    output_range: tuple[float, float]


ACTIVATIONS: Registry[Activation] = Registry("activation", "activation")

ACTIVATIONS.register(
    "sigmoid",
    Activation(nn.Sigmoid, "saturating", (0.0, 1.0)),
    "Squashes to (0, 1); its slope is at most 0.25 and near zero in both tails, so deep sigmoid nets "
    "lose their gradient when inputs grow large.",
    "Sigmoid",
)
ACTIVATIONS.register(
    "tanh",
    Activation(nn.Tanh, "saturating", (-1.0, 1.0)),
    "Zero-centred sigmoid in (-1, 1); slope 1 at zero, but it saturates just the same for large inputs.",
    "Tanh",
)
ACTIVATIONS.register(
    "relu",
    Activation(nn.ReLU, "rectifier", (0.0, float("inf"))),
    "max(0, x): no saturation for positive inputs, cheap and the usual default; a unit whose input "
    "stays negative is dead and never learns again.",
    "ReLU",
)
ACTIVATIONS.register(
    "leaky_relu",
    Activation(lambda: nn.LeakyReLU(0.01), "rectifier", (float("-inf"), float("inf"))),
    "ReLU with a small slope (0.01) for negative inputs, so no unit is ever completely dead.",
    "Leaky ReLU",
)
ACTIVATIONS.register(
    "elu",
    Activation(nn.ELU, "smooth", (-1.0, float("inf"))),
    "Like ReLU for positive inputs, a smooth curve down to -1 for negative ones: mean activations "
    "closer to zero, which often speeds learning.",
    "ELU",
)
ACTIVATIONS.register(
    "gelu",
    Activation(nn.GELU, "smooth", (-0.17, float("inf"))),
    "x times the Gaussian CDF of x: a smooth ReLU used by transformers; behaves much like ReLU here.",
    "GELU",
)
