"""Source `tunelab`: TuneLab's own trainer (core.training.train) on its
built-in 10-class data sets, configured by RunConfig.

This is the one place the corpus imports TuneLab's training code. Histories are written as TuneLab's
CSV export writes them: epoch,loss,accuracy,val_loss,val_accuracy,lr, epochs from 1, empty cells for NaN.
"""
from __future__ import annotations

import csv
import io
import math
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch

from core.bench.corpus.curve import Curve, Trained
from core.bench.corpus.tasks import _images
from core.config import RunConfig
from core.training import train as tunelab_train

NAME = "tunelab"
COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr")
_FIELDS = {f.name for f in fields(RunConfig)}


def run_config(config: dict) -> RunConfig:
    """The corpus' settings (already in RunConfig's names) as a RunConfig; task/output have no place there.
    vgg_bn gets batch_norm on (TuneLab's improved-CNN preset), as the other sources' VGG-like nets have it."""
    if config.get("task", "10") != "10":
        raise ValueError("TuneLab's data sets are 10-class only")
    settings = {k: v for k, v in config.items() if k in _FIELDS}
    if settings.get("model") == "vgg_bn":
        settings.setdefault("batch_norm", True)
    return RunConfig(**settings)


def native_config(config: dict) -> dict:
    """What the index records: exactly RunConfig(...).to_dict(), so the run can be re-trained."""
    return run_config(config).to_dict()


def native_change(change: dict) -> dict:
    return {k: v for k, v in change.items() if k in _FIELDS}


def _prior(dataset: str) -> tuple[float, float]:
    """The class-prior loss and chance accuracy from the whole data set's class frequencies (TuneLab's
    split is not redone here; its subsets differ from these by a few percent at most)."""
    _, y = _images(dataset)
    p = np.bincount(y, minlength=10) / len(y)
    return float(-sum(q * math.log(q) for q in p if q > 0)), float(p.max())


def train(config: dict) -> Trained:
    torch.set_num_threads(1)
    started = time.perf_counter()
    cfg = run_config(config)
    result = tunelab_train(cfg, "cpu", report_every=10)
    rows = [{c: row[c] for c in COLUMNS} for row in result.history]
    prior, majority = _prior(cfg.dataset)
    nan = math.nan
    curve = Curve([float(r["loss"]) for r in rows], [float(r["accuracy"]) for r in rows],
                  [nan if r["val_loss"] is None else float(r["val_loss"]) for r in rows],
                  [nan if r["val_accuracy"] is None else float(r["val_accuracy"]) for r in rows],
                  10, prior, majority)
    n_all = len(_images(cfg.dataset)[1])
    n_train = n_all - max(1, round(n_all * cfg.val_split))
    if cfg.train_subset:
        n_train = min(n_train, cfg.train_subset)
    return Trained(curve, n_train, time.perf_counter() - started, rows, [result.status])


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def write_csv(trained: Trained, path: Path) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in trained.payload:
        writer.writerow([_cell(row[c]) for c in COLUMNS])
    Path(path).write_text(out.getvalue(), encoding="utf-8")
