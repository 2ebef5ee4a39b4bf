"""Presets from the seeds: named starting points that each show one lesson of the tuning guide.

A lesson's numbers are not typed into its text: each preset lists its claims (what a run of it shows,
as a measured quantity and a bound), the text is formatted from them, and `python -m core presets
--check` (and tests/test_presets.py, on three seeds) trains the preset and checks every claim.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from core.catalog.datasets import DATASETS
from core.catalog.models import build_model, count_parameters
from core.config import RunConfig
from core.errors import ConfigError

# What a claim can measure (core/bench/lessons.py computes each from a run):
QUANTITIES = {
    "best_val_accuracy": "the best validation accuracy of the run",
    "late_best_val_accuracy": "the best validation accuracy from epoch 2 on",
    "first_loss_over_chance": "epoch 1's training loss over the chance loss ln K",
    "first_epoch_peak_over_chance": "the highest single-batch loss of epoch 1 over ln K",
    "saturated_share_at_init": "the smallest saturated share of a hidden layer at initialization",
    "final_train_loss": "the last epoch's training loss",
    "val_rise_after_min": "how far the last validation loss is above its minimum (a fraction)",
    "val_min_epoch": "the epoch of the lowest validation loss",
    "val_loss_falls": "the share of epochs whose validation loss is lower than the epoch before",
    "final_val_loss_over_chance": "the last validation loss over ln K",
    "accuracy_gap": "training minus validation accuracy at the last epoch",
    "epoch_time_vs_baseline": "its epochs' training time over the baseline's on the same images",
    "doctor_family": "the family of the Curve Doctor's first hint",
    "try_it_best_val_accuracy": "the best validation accuracy after the first hint's Try it change",
}
OPS = {"<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b, "==": lambda a, b: a == b}


@dataclass(frozen=True)
class Claim:
    quantity: str  # a key of QUANTITIES
    op: str  # <=, >= or ==
    bound: float | str

    def holds(self, value) -> bool:
        return value is not None and OPS[self.op](value, self.bound)


@dataclass(frozen=True)
class Preset:
    key: str  # what `train --preset` takes
    name: str
    text: str  # the lesson, with {quantity} where a claim's bound goes
    changes: dict
    claims: tuple[Claim, ...] = ()
    # a shortened run with the same lesson, for the tests (the full improved CNN runs ~28 s an epoch here)
    short: dict = field(default_factory=dict)

    def config(self, seed: int | None = None) -> RunConfig:
        return RunConfig(**{**self.changes, **({} if seed is None else {"seed": seed})})

    @property
    def lesson(self) -> str:
        return self.text.format(**{c.quantity: _said(c) for c in self.claims}, **_computed(self))


def _computed(preset: "Preset") -> dict[str, str]:
    """Numbers a lesson states that are facts of the settings, computed here (never typed in)."""
    if "{weights_vs_baseline}" not in preset.text:
        return {}
    def weights(changes: dict) -> int:
        config = RunConfig(**changes)
        spec = DATASETS.get(config.dataset).factory
        return count_parameters(build_model(config, spec.shape, spec.classes))
    baseline = next(p for p in PRESETS.values() if p.key == "baseline")
    return {"weights_vs_baseline": f"{weights(preset.changes) / weights(baseline.changes):.0f}"}


FAMILY_WORDS = {"healthy": "healthy", "bad_init": "a bad initialization", "divergence": "divergence",
                "too_small_lr": "a learning rate too small", "overfitting": "overfitting", "oscillation": "oscillation"}


def _said(claim: Claim) -> str:
    if isinstance(claim.bound, str):
        return FAMILY_WORDS.get(claim.bound, claim.bound)
    if "accuracy" in claim.quantity or claim.quantity in ("val_rise_after_min", "val_loss_falls", "accuracy_gap",
                                                           "saturated_share_at_init"):
        return f"{claim.bound:.0%}"
    return f"{claim.bound:g}"


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "baseline", "Baseline simple CNN",
            "The seeds' starting point: Conv32-Pool-Conv64-Pool-Conv64-Dense64 with Adam at 1e-3. In 5 epochs "
            "on the built-in digits it reaches at least {best_val_accuracy} validation accuracy and the Curve "
            "Doctor calls it {doctor_family}. Train it first and keep it as the reference every change is "
            "compared with.",
            dict(model="simple_cnn", optimizer="adam", lr=1e-3, activation="relu", init="xavier_uniform",
                 epochs=5, batch_size=64),
            (Claim("best_val_accuracy", ">=", 0.95), Claim("doctor_family", "==", "healthy")),
        ),
        Preset(
            "improved", "Improved CNN (batch norm, dropout, augmentation)",
            "The seeds' improved network: {weights_vs_baseline} times the baseline's weights, batch norm, dropout "
            "and shifted/rotated/zoomed images. An epoch takes at least {epoch_time_vs_baseline} times the baseline's, "
            "but it does not memorize: at the end, training accuracy is at most {accuracy_gap} above validation "
            "accuracy.",
            dict(model="vgg_bn", batch_norm=True, dropout=0.5, aug_shift=0.1, aug_rotation=15.0, aug_zoom=0.1,
                 optimizer="adam", lr=1e-3, epochs=5, early_stopping=True, patience=3),
            (Claim("epoch_time_vs_baseline", ">=", 3.0), Claim("accuracy_gap", "<=", 0.05)),
            short=dict(train_subset=2000, epochs=2),
        ),
        Preset(
            "saturated-sigmoid", "Saturated sigmoid (bad init)",
            "A 5-layer sigmoid network whose weights start at N(0, 3²), a flame far too big: at the start at "
            "least {saturated_share_at_init} of every hidden layer's units sit in the flat ends of the sigmoid "
            "(the water boils), epoch 1's loss is over {first_loss_over_chance} times the loss of guessing (the "
            "outputs are confidently wrong) and the validation accuracy never passes {best_val_accuracy} in 8 "
            "epochs. The Curve Doctor calls it {doctor_family}; its Try it, the initializer xavier_uniform, "
            "makes the same network learn: at least {try_it_best_val_accuracy} in the same 8 epochs.",
            dict(model="mlp", depth=5, width=128, activation="sigmoid", init="normal", init_std=3.0,
                 optimizer="adam", lr=1e-3, epochs=8),
            (Claim("saturated_share_at_init", ">=", 0.8), Claim("first_loss_over_chance", ">=", 2.0),
             Claim("best_val_accuracy", "<=", 0.2), Claim("doctor_family", "==", "bad_init"),
             Claim("try_it_best_val_accuracy", ">=", 0.85)),
        ),
        Preset(
            "lr-too-high", "Learning rate too high",
            "Adam at 0.1, a hundred times its usual rate: in epoch 1 single batches jump above the loss of "
            "guessing ({first_epoch_peak_over_chance} times it or more), then the network collapses and only "
            "guesses: from epoch 2 on the validation accuracy stays at most {late_best_val_accuracy}. The Curve "
            "Doctor calls it {doctor_family}; its Try it divides the learning rate by 10 and the run reaches at "
            "least {try_it_best_val_accuracy}.",
            dict(model="simple_cnn", optimizer="adam", lr=0.1, epochs=6),
            (Claim("first_epoch_peak_over_chance", ">=", 1.5), Claim("late_best_val_accuracy", "<=", 0.15),
             Claim("doctor_family", "==", "divergence"), Claim("try_it_best_val_accuracy", ">=", 0.9)),
        ),
        Preset(
            "lr-too-small", "Learning rate too small",
            "Plain SGD at 1e-3: the validation loss falls in at least {val_loss_falls} of the epochs, but so "
            "slowly that after 6 epochs it is still at least {final_val_loss_over_chance} times the loss of "
            "guessing. The Curve Doctor calls it {doctor_family}; its Try it raises the learning rate and the "
            "same 6 epochs reach at least {try_it_best_val_accuracy}.",
            dict(model="simple_cnn", optimizer="sgd", lr=1e-3, epochs=6),
            (Claim("val_loss_falls", ">=", 1.0), Claim("final_val_loss_over_chance", ">=", 0.8),
             Claim("doctor_family", "==", "too_small_lr"), Claim("try_it_best_val_accuracy", ">=", 0.8)),
        ),
        Preset(
            "overfit", "Overfit a small subset",
            "A wide network on only 200 training images and no regularization: the training loss falls to "
            "{final_train_loss} or less while the validation loss turns (its lowest by epoch {val_min_epoch}) "
            "and ends at least {val_rise_after_min} above its minimum. The Curve Doctor calls it "
            "{doctor_family}; its Try it trains on all the data, and the validation accuracy reaches at least "
            "{try_it_best_val_accuracy}.",
            dict(model="mlp", depth=3, width=256, train_subset=200, batch_size=32, optimizer="adam", lr=1e-3,
                 epochs=40),
            (Claim("final_train_loss", "<=", 0.01), Claim("val_min_epoch", "<=", 12),
             Claim("val_rise_after_min", ">=", 0.1), Claim("doctor_family", "==", "overfitting"),
             Claim("try_it_best_val_accuracy", ">=", 0.9)),
        ),
    )
}
BY_KEY: dict[str, Preset] = {p.key: p for p in PRESETS.values()}


def preset_named(name: str) -> Preset:
    """A preset by its key (lr-too-high) or its full name; ConfigError naming `preset` otherwise."""
    found = BY_KEY.get(name) or PRESETS.get(name)
    if found is None:
        raise ConfigError("preset", f"must be one of {', '.join(BY_KEY)} (got {name!r})")
    return found
