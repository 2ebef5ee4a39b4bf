"""The Curve Doctor on curves as they happen outside a lab, each case a recorded real log of
assets/diagnosis_corpus/real/ (its repository and commit in sources.csv) or a curve made to isolate one
regime: a validation loss that stays flat before it climbs, a long noisy run, a loss below zero, a file
with only a validation loss."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from core.doctor.diagnose import diagnose, diagnose_loaded
from core.doctor.history_io import read_histories
from core.doctor.rules import DEFAULT

CURVES = Path(__file__).resolve().parents[2] / "assets" / "diagnosis_corpus" / "real" / "curves"


def real(name: str):
    return read_histories((CURVES / name).read_bytes(), name)[-1]


def test_a_validation_loss_flat_after_its_minimum_then_climbing_is_overfitting():
    """r063 (labelled overfitting, high): valid_loss lowest 0.296 at epoch 4, flat for three epochs (less
    than 5% above it, so 'most epochs since the minimum are up' fails), then +53% by the end while the
    training loss falls 0.27 -> 0.043: every epoch of the last fifth is above the minimum."""
    [first] = diagnose_loaded(real("r063.csv"))[:1]
    assert first.id == "overfitting"
    assert "rose 53% from its lowest, 0.296 at epoch 4, to 0.452" in first.evidence


def rows(loss, val):
    return [{"epoch": e + 1, "loss": a, "accuracy": None, "val_loss": b, "val_accuracy": None, "lr": None}
            for e, (a, b) in enumerate(zip(loss, val))]


def test_a_few_bumps_in_a_long_run_are_noise_and_the_same_in_a_short_run_are_oscillation():
    """Rises needed grow with the run (10% of its epochs). r001 (labelled healthy): 50 epochs of a
    ResNet whose training loss levels off near 0.035 and bumps twice by more than 10% (0.046 -> 0.062,
    0.034 -> 0.049): what a long noisy run shows, read as oscillation before. In 10 epochs, three
    such rises are oscillation."""
    every_run = replace(DEFAULT, rise_density=0.0)  # the rule as it was
    assert diagnose_loaded(real("r001.csv"), classes=2, thresholds=every_run)[0].id == "oscillation"
    assert diagnose_loaded(real("r001.csv"), classes=2)[0].id == "healthy"
    short_loss = [2.0, 1.2, 0.8, 0.95, 0.6, 0.75, 0.5, 0.62, 0.45, 0.4]
    assert diagnose(rows(short_loss, [v * 1.1 for v in short_loss]), classes=10)[0].id == "oscillation"


def test_a_loss_below_zero_is_read_as_a_loss_that_does_not_fit_its_targets():
    """r010 (labelled divergence): CSVLogger, loss -3.4e4 -> -6.5e7 (an internal error before)."""
    [hint] = diagnose_loaded(real("r010.log"))
    assert hint.family == "divergence" and hint.title.startswith("The loss is below zero")
    assert "epoch 1" in hint.evidence and "epoch 70" in hint.evidence and "never below 0" in hint.evidence


def test_a_file_with_only_a_validation_loss_is_read_on_that_axis_and_says_so():
    """r059: val_loss and accuracy columns, no training loss (an All-NaN error before)."""
    hints = diagnose_loaded(real("r059.csv"))
    said = " (read off the validation loss: the file has no training loss)"
    assert hints and all(h.evidence.endswith(said) for h in hints)
    assert all("training loss" not in h.evidence[:-len(said)] + h.title for h in hints)
    assert all(m["series"] in ("val_loss", "val_accuracy", "step_loss") for h in hints for m in h.marks)
