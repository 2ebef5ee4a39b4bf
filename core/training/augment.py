"""Batched, on-device data augmentation: one random affine transform per image, applied in one
grid_sample call (flip, shift, rotation and zoom together), as Keras' ImageDataGenerator does per image."""
from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def is_active(flip: bool, shift: float, rotation: float, zoom: float) -> bool:
    return bool(flip or shift > 0 or rotation > 0 or zoom > 0)


def random_affine(
    x: torch.Tensor,
    generator: torch.Generator | None,
    flip: bool = False,
    shift: float = 0.0,
    rotation: float = 0.0,
    zoom: float = 0.0,
) -> torch.Tensor:
    """Augment a batch (N, C, H, W). shift and zoom are fractions of the image size, rotation in degrees.
    Pixels moved in from outside repeat the nearest edge pixel (Keras' default fill_mode='nearest')."""
    n = x.shape[0]
    dev, dtype = x.device, x.dtype

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, device=dev, dtype=dtype, generator=generator) * (high - low) + low

    angle = uniform(-rotation, rotation) * (math.pi / 180.0) if rotation > 0 else torch.zeros(n, device=dev, dtype=dtype)
    scale = uniform(1.0 - zoom, 1.0 + zoom) if zoom > 0 else torch.ones(n, device=dev, dtype=dtype)
    if flip:
        mirror = torch.where(torch.rand(n, device=dev, generator=generator) < 0.5, -1.0, 1.0).to(dtype)
    else:
        mirror = torch.ones(n, device=dev, dtype=dtype)
    # grid coordinates span [-1, 1], so a shift by a fraction f of the image is 2f
    tx = uniform(-2 * shift, 2 * shift) if shift > 0 else torch.zeros(n, device=dev, dtype=dtype)
    ty = uniform(-2 * shift, 2 * shift) if shift > 0 else torch.zeros(n, device=dev, dtype=dtype)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos * mirror, -sin, tx], dim=1), torch.stack([sin * mirror, cos, ty], dim=1)], dim=1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
