"""Checking a preset's lesson: train the preset on a seed (the CPU, one thread), measure every quantity
its claims name, run the Curve Doctor, apply its first hint's Try it change and train that too. Used by
`python -m core presets --check` and tests/test_presets.py."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from core.bench.recording import train_recorded
from core.catalog.datasets import classes_of
from core.config import RunConfig
from core.doctor.diagnose import diagnose
from core.presets import PRESETS, Preset
from core.training.loop import train
from core.training.probes import probe_at_init


@dataclass
class Check:
    preset: str
    seed: int
    shortened: bool
    values: dict = field(default_factory=dict)  # quantity -> measured value
    passed: dict = field(default_factory=dict)  # quantity -> the claim holds
    first_hint: dict | None = None
    history: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(self.passed.values())


def _best(history: list[dict], key: str, start: int = 0) -> float | None:
    values = [row[key] for row in history[start:] if row.get(key) is not None and math.isfinite(row[key])]
    return max(values) if values else None


def check(preset: Preset, seed: int, shortened: bool = False) -> Check:
    """Train the preset (its short form if asked and it has one) and check each claim."""
    changes = {**preset.changes, **(preset.short if shortened else {}), "seed": seed}
    config = RunConfig(**changes)
    chance = math.log(classes_of(config.dataset))
    wanted = {c.quantity for c in preset.claims}
    result, steps, probes = train_recorded(config)
    history = result.history
    hints = diagnose(history, steps, probes, classes_of(config.dataset), config.to_dict(), config.epochs)
    out = Check(preset.key, seed, shortened, history=history,
                first_hint=hints[0].to_dict() if hints else None)
    v = out.values
    v["best_val_accuracy"] = _best(history, "val_accuracy")
    v["late_best_val_accuracy"] = _best(history, "val_accuracy", start=1)
    v["first_loss_over_chance"] = history[0]["loss"] / chance
    first_epoch = [s["loss"] for s in steps if s["epoch"] == 1 and math.isfinite(s["loss"])]
    v["first_epoch_peak_over_chance"] = max(first_epoch) / chance if first_epoch else None
    v["final_train_loss"] = history[-1]["loss"]
    val = [row["val_loss"] for row in history]
    v["val_rise_after_min"] = val[-1] / min(val) - 1
    v["val_min_epoch"] = history[val.index(min(val))]["epoch"]
    v["val_loss_falls"] = sum(b < a for a, b in zip(val, val[1:])) / max(1, len(val) - 1)
    v["final_val_loss_over_chance"] = val[-1] / chance
    v["accuracy_gap"] = history[-1]["accuracy"] - history[-1]["val_accuracy"]
    v["doctor_family"] = hints[0].family if hints else None
    if "epoch_time_vs_baseline" in wanted:  # the baseline CNN for one epoch on the same images, same seed
        baseline = next(p for p in PRESETS.values() if p.key == "baseline")
        same = {k: changes[k] for k in ("train_subset", "seed", "dataset") if k in changes}
        quick = train(RunConfig(**{**baseline.changes, **same, "epochs": 1}), "cpu")
        mine = sum(row["seconds"] for row in history) / len(history)
        v["epoch_time_vs_baseline"] = mine / quick.history[0]["seconds"]
    if "saturated_share_at_init" in wanted:
        layers = probe_at_init(config)
        v["saturated_share_at_init"] = min(layer["saturated_fraction"] or 0.0 for layer in layers)
    if "try_it_best_val_accuracy" in wanted:
        change = hints[0].change if hints else {}
        v["try_it_change"] = change
        v["try_it_best_val_accuracy"] = (
            _best(train(config.replace(**change), "cpu").history, "val_accuracy") if change else None)
    out.passed = {c.quantity: c.holds(v.get(c.quantity)) for c in preset.claims}
    return out


def one_thread() -> int:
    """Set torch to one thread (1 and 2 threads round differently); returns what it was."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    return before


def restore_threads(count: int) -> None:
    torch.set_num_threads(count)
