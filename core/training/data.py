"""A run's data on its device: the seeded train/validation split, scaling to [0, 1] and per-channel
standardization with the training images' statistics. Batches are later index slices of these tensors."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from core.catalog import datasets
from core.config import RunConfig


@dataclass
class PreparedData:
    """Normalized float tensors on the device, split into train and validation (and test if any)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor | None
    y_test: torch.Tensor | None
    shape: tuple[int, int, int]
    classes: int


def split_indices(n: int, seed: int, val_split: float, train_subset: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, validation) indices: a permutation drawn with the seed (the same seed gives every run of
    a sweep the same split); the first val_split of it validates; train_subset > 0 keeps that many."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = max(1, round(n * val_split))
    val_idx, train_idx = order[:n_val], order[n_val:]
    if train_subset:
        train_idx = train_idx[:train_subset]
    return train_idx, val_idx


def standardized(x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor,
                 x_test: torch.Tensor | None, y_test: torch.Tensor | None, shape: tuple[int, int, int],
                 classes: int, device: torch.device) -> PreparedData:
    """uint8 images (N, C, H, W) scaled to [0, 1] and standardized per channel with the training
    images' mean and std, moved to the device with their labels."""
    x = x_train.float().div_(255.0)
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    std = x.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)

    def to_device(x_uint8: torch.Tensor) -> torch.Tensor:
        return ((x_uint8.float().div_(255.0) - mean) / std).to(device)

    return PreparedData(
        ((x - mean) / std).to(device),
        y_train.to(device),
        to_device(x_val),
        y_val.to(device),
        to_device(x_test) if x_test is not None else None,
        y_test.to(device) if y_test is not None else None,
        shape,
        classes,
    )


def prepare_data(config: RunConfig, device: torch.device, data_dir=None) -> PreparedData:
    """The config's data set, split with its seed, standardized, on the device."""
    spec = datasets.DATASETS.get(config.dataset).factory
    data = datasets.load(config.dataset, data_dir)
    train_idx, val_idx = split_indices(len(data.y_train), config.seed, config.val_split, config.train_subset)
    return standardized(data.x_train[train_idx], data.y_train[train_idx], data.x_train[val_idx], data.y_train[val_idx],
                        data.x_test, data.y_test, spec.shape, spec.classes, device)
