"""A training history as the checks read it (per-epoch arrays plus what chance looks like), and a finished run."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Curve:
    loss: list[float]
    accuracy: list[float]
    val_loss: list[float]
    val_accuracy: list[float]
    classes: int
    prior_loss: float  # the loss of predicting the training class frequencies (ln K when balanced)
    majority: float  # chance accuracy: the share of the largest class in the validation set

    @property
    def epochs(self) -> int:
        return len(self.loss)

    @property
    def finite(self) -> bool:
        return all(math.isfinite(v) for v in self.loss + self.val_loss)

    def best_val_accuracy(self) -> float:
        values = [v for v in self.val_accuracy if math.isfinite(v)]
        return max(values) if values else math.nan

    def final_val_accuracy(self) -> float:
        return self.val_accuracy[-1] if self.val_accuracy else math.nan


@dataclass
class Trained:
    """One finished training run: its curve, how many images it trained on, its wall time, and
    whatever its source needs to write the history file (rows, or the CSV text Keras wrote)."""

    curve: Curve
    train_size: int
    seconds: float
    payload: Any = None
    notes: list[str] = field(default_factory=list)


def sig6(value: float) -> str:
    """A float with 6 significant digits; NaN and infinities as Python spells them."""
    return f"{value:.6g}"
