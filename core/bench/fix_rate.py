"""Does the advice work? For every broken run of the corpus's TuneLab source: train it again as the
dashboard does (same seed, with per-step losses and per-layer probes), let the Curve Doctor diagnose
it with its settings, apply the first hint's "Try it" change, train that with the same seed, and
count it fixed when the new run is diagnosed healthy or reaches within 2 points of the validation
accuracy of the run's verified counterfactual. This is what a student gets by following the advice.

A one-off (it trains twice per run): `python -m core bench-diagnosis --fix-rate` writes
assets/diagnosis_corpus/fix_rate.json, which `bench-diagnosis` reads."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from core.bench.loso import CORPUS
from core.bench.recording import train_recorded
from core.catalog.datasets import classes_of
from core.config import RunConfig
from core.doctor.diagnose import diagnose, family_of_run
from core.errors import ConfigError

WITHIN = 0.02  # "trains well": within 2 points of the verified counterfactual's best validation accuracy


def _train(config: RunConfig) -> tuple[list[dict], list[dict], dict[int, list[dict]]]:
    result, steps, probes = train_recorded(config)
    return result.history, steps, probes


def _best(history: list[dict]) -> float | None:
    values = [r["val_accuracy"] for r in history if r.get("val_accuracy") is not None and math.isfinite(r["val_accuracy"])]
    return max(values) if values else None


def compute(folder: Path = CORPUS, log: Callable[[str], None] = print, limit: int | None = None) -> dict:
    index = pd.read_csv(folder / "index.csv")
    broken = index[(index.source == "tunelab") & (index.label != "healthy")]
    if limit:
        broken = broken.head(limit)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    runs = []
    started = time.perf_counter()
    try:
        for row in broken.itertuples():
            config = RunConfig.from_dict(json.loads(row.config))
            history, steps, probes = _train(config)
            hints = diagnose(history, steps, probes, classes_of(config.dataset), config.to_dict(), config.epochs)
            first = hints[0] if hints else None
            change = first.change if first else {}
            record = {"run_id": row.run_id, "label": row.label, "diagnosed": family_of_run(hints),
                      "change": change, "counterfactual_best_val_accuracy": row.counterfactual_best_val_accuracy}
            if change:
                try:
                    fixed = config.replace(**change)
                except ConfigError as exc:
                    record.update(fixed=False, why=f"the change is not an allowed setting: {exc}")
                else:
                    after, after_steps, after_probes = _train(fixed)
                    after_hints = diagnose(after, after_steps, after_probes, classes_of(fixed.dataset),
                                           fixed.to_dict(), fixed.epochs)
                    best = _best(after)
                    target = row.counterfactual_best_val_accuracy
                    healthy = family_of_run(after_hints) == "healthy"
                    close = best is not None and isinstance(target, float) and best >= target - WITHIN
                    record.update(fixed=bool(healthy or close), after_best_val_accuracy=best,
                                  after_diagnosis=family_of_run(after_hints),
                                  why="healthy after the change" if healthy else (
                                      f"within {WITHIN:.0%} of the verified fix's accuracy" if close else
                                      f"best validation accuracy {best} against the verified fix's {target}"))
            else:
                record.update(fixed=False, why="the first hint has no Try it change")
            runs.append(record)
            log(f"{row.run_id} {row.label:<13} -> {record['diagnosed']!s:<13} change {change} fixed {record['fixed']}")
    finally:
        torch.set_num_threads(before)
    per_label = {}
    for label in sorted({r["label"] for r in runs}):
        mine = [r for r in runs if r["label"] == label]
        per_label[label] = {"runs": len(mine), "fixed": sum(r["fixed"] for r in mine),
                            "rate": round(sum(r["fixed"] for r in mine) / len(mine), 3)}
    out = {"overall": round(sum(r["fixed"] for r in runs) / max(1, len(runs)), 3), "runs": len(runs),
           "per_label": per_label, "within": WITHIN, "seconds": round(time.perf_counter() - started),
           "details": runs}
    if not limit:
        (folder / "fix_rate.json").write_text(json.dumps(out, indent=1))
    return out
