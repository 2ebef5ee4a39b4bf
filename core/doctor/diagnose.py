"""Curve Doctor: read a run's curves the way a teacher does and say what went wrong, why, and what to try.

`diagnose()` is a pure function of a per-epoch history (plus per-step losses, per-layer probe statistics
and the number of classes when it has them; without the number it is inferred where the curves show
it). It returns hints (core/doctor/hints.py), most severe first: each with a stable id and the family
of the six shapes it belongs to, the epoch where it starts, the evidence in numbers, the advice and the
advice as settings to try. The rules are in core/doctor/rules.py. Every finished run of three epochs or
more gets a hint: "healthy" needs its own evidence (a low loss, reached and kept), and a run that
stopped far from a low loss is a plateau or stuck, never healthy; "too early to tell" ([]) only for
fewer than three epochs.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from core.catalog.datasets import classes_of
from core.doctor import rules
from core.doctor.curves import Classes, prepare, summarize_probes
from core.doctor.hints import FAMILIES, FAMILY_OF, HINT_IDS, Hint
from core.doctor.history_io import LoadedHistory

# The version of the rules: stored diagnoses carry it, and a stored run shown after the rules changed
# is diagnosed again (core/runs/lifecycle.py).
RULES_VERSION = "5"
_SEVERITY_RANK = {"error": 2, "warning": 1, "info": 0}

__all__ = ["FAMILIES", "FAMILY_OF", "HINT_IDS", "Hint", "RULES_VERSION", "diagnose", "diagnose_loaded", "primary",
           "family_of_run", "classes_seen"]


def diagnose(
    history: list[dict],
    steps: list[dict] | None = None,
    probes: dict[int, list[dict]] | None = None,
    classes: int | None = None,
    config: dict | None = None,
    epochs_planned: int | None = None,
    regression: bool = False,
    thresholds: rules.Thresholds = rules.DEFAULT,
    columns: set[str] | None = None,
) -> list[Hint]:
    """Hints for one run, most severe and most certain first; [] when it is too early to tell.

    history: per-epoch rows (epoch 1-based, loss, accuracy, val_loss, val_accuracy, lr; None/NaN allowed).
    steps: per-step rows (step, epoch, loss, ...). probes: step -> per-layer statistics.
    classes: number of classes (chance loss = ln K); None: inferred from the curves where they show it,
    or from the config's data set. config: a RunConfig dict, for concrete advice. epochs_planned: the
    run's planned epochs; a run still going is only "healthy so far". regression: the file's loss is a
    regression loss (the doctor says it cannot judge it). thresholds: the rules' levels (the benchmark
    fits them per fold). columns: which of our keys a file had columns for (history_io's mapping); then
    a loss that is missing everywhere means no loss column, else (a stored run) it means NaN."""
    with np.errstate(all="ignore"):  # inf/NaN inputs are symptoms to report, not warnings to print
        return _diagnose(history, steps, probes, classes, config, epochs_planned, regression, thresholds, columns)


def _diagnose(history, steps, probes, classes, config, epochs_planned, regression, t, columns) -> list[Hint]:
    if classes is None and config and isinstance(config.get("dataset"), str):
        classes = classes_of(config["dataset"])
    c = prepare(history or [], steps, classes, columns)
    if c.n == 0:
        return []
    if regression:
        return [rules.not_judged("a regression loss", "this file's loss is a regression loss (such as mean "
                                 "squared error): the shapes the doctor knows are read off a classifier's "
                                 "cross-entropy and its chance level, so it does not guess here")]
    if columns is not None and not ({"loss", "val_loss"} & set(columns)):
        return [rules.not_judged("no loss", "this file has no loss column, only accuracy: the doctor reads "
                                 "its shapes off the loss")]
    negative = rules.negative_loss(c)
    if negative is not None:
        return [negative]
    if not c.has("loss") and c.has("val_loss") and columns is not None and "loss" not in columns:
        return _validation_only(history, steps, probes, classes, config, epochs_planned, t)
    x = rules.context(c, summarize_probes(probes), config, epochs_planned, t)
    div = rules.divergence(c, x)
    if div is not None:
        return [div]
    if c.n < t.flat_epochs and not (c.chance is not None and c.has("loss")):
        return []
    init = rules.bad_init(c, x)
    if init is not None and init.id == "stuck":
        return [init]
    if c.n < t.flat_epochs:
        return [init] if init is not None else []
    hints = [h for h in (init, rules.oscillation(c, x)) if h is not None]
    if c.has("val_loss"):
        over = rules.overfitting(c, x)
        if over is not None:
            hints.append(over)
            osc = next((h for h in hints if h.id == "oscillation"), None)
            if osc is not None and rules.memorized(c, t):
                # it ends memorizing the training set: the rises were a phase, overfitting is what is left
                hints = [over] + [h for h in hints if h is not over and h is not osc] + [osc]
                return hints
    if not hints:
        hints = [h for h in (rules.too_small_lr(c, x),) if h is not None]
    if not hints:
        hints = [h for h in (rules.plateau(c, x), rules.healthy(c, x)) if h is not None][:1]
    if not hints:
        if not c.has("val_loss"):
            return [rules.not_judged("no validation curve", "this file has no validation loss: the doctor "
                                     "finds no divergence, bad start or oscillation in the training loss, and "
                                     "without validation it cannot tell overfitting or a good fit")]
        hints = [rules.fallback(c, x)]
    return sorted(hints, key=lambda h: (-_SEVERITY_RANK[h.severity], -h.confidence))


def _validation_only(history, steps, probes, classes, config, epochs_planned, t) -> list[Hint]:
    """A file with a validation loss and no training loss is read on the axis it has: the shape rules
    run on the validation loss, and every sentence says that is what they read."""
    rows = [{**row, "loss": row.get("val_loss"), "accuracy": row.get("val_accuracy"), "val_loss": None,
             "val_accuracy": None} for row in history]
    hints = _diagnose(rows, steps, probes, classes, config, epochs_planned, False, t, {"loss", "accuracy"})
    return [_on_validation(h) for h in hints]


def _on_validation(hint: Hint) -> Hint:
    def say(text: str) -> str:
        return text.replace("training loss", "validation loss").replace("training accuracy", "validation accuracy")

    marks = [{**m, "series": {"loss": "val_loss", "accuracy": "val_accuracy"}.get(m["series"], m["series"])}
             for m in hint.marks]
    return replace(hint, title=say(hint.title), marks=marks,
                   evidence=say(hint.evidence) + " (read off the validation loss: the file has no training loss)")


def diagnose_loaded(loaded: LoadedHistory, classes: int | None = None,
                    thresholds: rules.Thresholds = rules.DEFAULT) -> list[Hint]:
    """diagnose() for a history read from a file: its columns say what a missing value means, and a
    regression loss is said, not judged."""
    return diagnose(loaded.history, classes=classes, regression=loaded.regression,
                    columns=set(loaded.mapping.values()) if loaded.mapping else None, thresholds=thresholds)


def classes_seen(history: list[dict], classes: int | None = None) -> Classes:
    """The class count diagnose() works with: given, inferred from the curves (and how), or unknown."""
    return prepare(history or [], None, classes).classes


def primary(hints: list[Hint]) -> str:
    """The run's one-word diagnosis: the first problem hint's id, else healthy."""
    for hint in hints:
        if hint.id != "healthy":
            return hint.id
    return "healthy"


def family_of_run(hints: list[Hint]) -> str | None:
    """The family of the run's first hint (what the benchmarks score); None for no hint or not judged."""
    for hint in hints:
        if hint.family is not None:
            return hint.family
    return None
