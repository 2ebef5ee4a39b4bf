"""What the trainer reports while it runs: plain dataclasses, handed to an event sink callable."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Union

# Per-epoch metric names, as in Keras' CSVLogger and TuneLab's CSV export.
HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr")


@dataclass(frozen=True)
class RunStarted:
    device: str
    train_images: int
    val_images: int
    steps_per_epoch: int
    epochs: int
    parameters: int
    settings: dict = field(default_factory=dict)  # the step settings used (core/training/device.py)


@dataclass(frozen=True)
class StepReport:
    """Every `report_every` steps: the loss of each step since the last report (one host sync)."""

    step: int  # global step number of the last loss, counting from 1
    epoch: int  # 1-based epoch these steps belong to
    losses: list[float]  # one per step, oldest first; the last one belongs to `step`
    lr: float
    grad_norm: float  # global L2 norm of the gradient at `step` (before clipping)


@dataclass(frozen=True)
class EpochEnd:
    epoch: int  # 1-based
    loss: float  # mean training cross-entropy over the epoch (dropout on, as Keras reports it)
    accuracy: float
    val_loss: float
    val_accuracy: float
    lr: float  # the learning rate used during this epoch
    seconds: float  # wall time of the epoch, validation included
    images_per_s: float  # training images per second (validation excluded)

    def to_row(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ProbeReport:
    """Per-layer statistics on the fixed probe batch (see core/training/probes.py); step 0 is the initial state."""

    step: int
    epoch: int
    layers: list[dict]


Event = Union[RunStarted, StepReport, EpochEnd, ProbeReport]
EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """An event sink that drops everything."""


@dataclass
class RunResult:
    status: str  # completed, diverged or cancelled (failures are raised, and recorded by the caller)
    device: str
    history: list[dict] = field(default_factory=list)
    images_per_second: float = 0.0
    seconds: float = 0.0
    first_report_seconds: float | None = None  # from the call to the first StepReport
    best_epoch: int | None = None
    stopped_early: bool = False
    message: str = ""  # why it stopped, in words
    test_loss: float | None = None
    test_accuracy: float | None = None
    settings: dict = field(default_factory=dict)  # the step settings used (core/training/device.py)
    restored_val_loss: float | None = None  # after early stopping restored the best weights
