"""Model registry: the seeds' simple CNN, their improved VGG-style CNN with batch norm, and a deep MLP.

The chosen activation, initializer, dropout and batch norm apply to every layer of every model,
as in the seeds' conv wrapper.
"""
from __future__ import annotations

from typing import Callable, Protocol

import torch
from torch import nn
from torch.nn import functional as F

from core.catalog.activations import ACTIVATIONS
from core.catalog.registry import Registry



class ModelSettings(Protocol):
    """What a model factory reads of a RunConfig."""

    activation: str
    batch_norm: bool
    dropout: float
    depth: int
    width: int

Shape = tuple[int, int, int]


class SeededDropout(nn.Dropout):
    """Dropout that draws its masks from the run's own generator when it has one, so a run's
    randomness never mixes with other threads' (the global RNG is shared by the whole process)."""

    generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.generator is None:
            return F.dropout(x, self.p, True)
        keep = 1.0 - self.p
        # drawn in the logical (contiguous) layout, so a channels_last batch gets the same mask
        mask = torch.empty(x.shape, dtype=x.dtype, device=x.device).bernoulli_(keep, generator=self.generator)
        return x * mask / keep


def _dropout(rate: float) -> list[nn.Module]:
    return [SeededDropout(rate)] if rate > 0 else []


def _conv_block(c_in: int, c_out: int, padding: int, c: ModelSettings) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=padding)]
    if c.batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(ACTIVATIONS.get(c.activation).factory.make())
    return layers


def _dense_block(n_in: int, n_out: int, c: ModelSettings, dropout: float) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Linear(n_in, n_out)]
    if c.batch_norm:
        layers.append(nn.BatchNorm1d(n_out))
    layers.append(ACTIVATIONS.get(c.activation).factory.make())
    return layers + _dropout(dropout)


def _flat_size(features: nn.Module, shape: Shape) -> int:
    with torch.no_grad():
        was_training = features.training
        features.eval()
        size = features(torch.zeros(1, *shape)).numel()
        features.train(was_training)
    return size


def simple_cnn(shape: Shape, classes: int, c: ModelSettings) -> nn.Sequential:
    """Conv32-Pool-Conv64-Pool-Conv64-Dense64 (the seeds' baseline). Inputs under 16 pixels use
    'same' padding so 8x8 digits still fit three convolutions."""
    padding = 0 if min(shape[1:]) >= 16 else 1
    features = nn.Sequential(
        *_conv_block(shape[0], 32, padding, c), nn.MaxPool2d(2), *_dropout(c.dropout / 2),
        *_conv_block(32, 64, padding, c), nn.MaxPool2d(2), *_dropout(c.dropout / 2),
        *_conv_block(64, 64, padding, c),
        nn.Flatten(),
    )
    flat = _flat_size(features, shape)
    return nn.Sequential(
        *features, *_dropout(c.dropout), *_dense_block(flat, 64, c, c.dropout), nn.Linear(64, classes)
    )


def vgg_bn(shape: Shape, classes: int, c: ModelSettings) -> nn.Sequential:
    """The seeds' improved CNN: two Conv64, two Conv128, two Conv256, each pair followed by pooling
    and dropout (half the rate), then Dense512 and dropout. Batch norm follows the batch_norm knob
    (the improved-CNN preset turns it on)."""
    layers: list[nn.Module] = []
    c_in = shape[0]
    for width in (64, 128, 256):
        layers += _conv_block(c_in, width, 1, c) + _conv_block(width, width, 1, c)
        layers += [nn.MaxPool2d(2), *_dropout(c.dropout / 2)]
        c_in = width
    features = nn.Sequential(*layers, nn.Flatten())
    flat = _flat_size(features, shape)
    return nn.Sequential(*features, *_dense_block(flat, 512, c, c.dropout), nn.Linear(512, classes))


def mlp(shape: Shape, classes: int, c: ModelSettings) -> nn.Sequential:
    """`depth` hidden layers of `width` units: deep ones show vanishing gradients and saturation."""
    n_in = shape[0] * shape[1] * shape[2]
    layers: list[nn.Module] = [nn.Flatten()]
    for _ in range(c.depth):
        layers += _dense_block(n_in, c.width, c, c.dropout)
        n_in = c.width
    return nn.Sequential(*layers, nn.Linear(n_in, classes))


ModelFactory = Callable[[Shape, int, ModelSettings], nn.Module]
MODELS: Registry[ModelFactory] = Registry("model", "model")
MODELS.register(
    "simple_cnn", simple_cnn,
    "The seeds' baseline: Conv32-Pool-Conv64-Pool-Conv64-Dense64; about 70% on CIFAR-10 in 10 epochs.",
    "Simple CNN",
)
MODELS.register(
    "vgg_bn", vgg_bn,
    "The seeds' improved CNN: Conv64x2, Conv128x2, Conv256x2 with pooling and dropout, Dense512; with "
    "batch norm and augmentation it beats the baseline but trains slower.",
    "Improved CNN (VGG-style)",
)
MODELS.register(
    "mlp", mlp,
    "A plain stack of dense layers with the depth and width you choose: the lab for initialization, "
    "saturation and vanishing gradients.",
    "MLP (dense layers)",
    knobs=("depth", "width"),
)


def build_model(config: ModelSettings, shape: Shape, classes: int) -> nn.Module:
    return MODELS.get(config.model).factory(shape, classes, config)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
