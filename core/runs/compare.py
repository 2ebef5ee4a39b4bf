"""Comparing runs: what each run reached, which settings differ between them, seed groups as a mean
with a band, and whether the difference between two groups is larger than seed-to-seed noise.
Pure functions over RunRecords and their histories; the Compare page draws them."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, fields

from core.config import RunConfig
from core.runs.store import RunRecord


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    label: str
    status: str
    epochs: int
    best_val_accuracy: float | None
    best_epoch: int | None
    final_loss: float | None
    final_val_loss: float | None
    seconds: float | None


def _finite(value) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None


def summarize(run: RunRecord, history: list[dict]) -> RunSummary:
    scored = [(row["val_accuracy"], row["epoch"]) for row in history if _finite(row.get("val_accuracy")) is not None]
    best = max(scored, default=(None, None))
    last = history[-1] if history else {}
    seconds = (run.finished_at - run.started_at) if run.finished_at and run.started_at else None
    return RunSummary(run.id, run.label, run.status, len(history), best[0], best[1],
                      _finite(last.get("loss")), _finite(last.get("val_loss")), seconds)


def differing_settings(configs: list[RunConfig]) -> list[str]:
    """The names of the settings that are not the same in every config where they apply, in the
    tuning guide's order: init_std is no difference between two Xavier runs, momentum none between an
    Adam and an SGD run (the optimizer is)."""
    if len(configs) < 2:
        return []
    return [f.name for f in fields(RunConfig)
            if len({repr(getattr(c, f.name)) for c in configs if c.applies(f.name)}) > 1]


@dataclass(frozen=True)
class GroupCurve:
    """Per epoch over the runs of a group: mean, std, min and max of one metric, and how many runs had it."""
    epochs: list[int]
    mean: list[float]
    std: list[float]
    low: list[float]
    high: list[float]
    count: list[int]


def group_curve(histories: list[list[dict]], column: str) -> GroupCurve:
    by_epoch: dict[int, list[float]] = {}
    for history in histories:
        for row in history:
            value = _finite(row.get(column))
            if value is not None:
                by_epoch.setdefault(int(row["epoch"]), []).append(value)
    epochs = sorted(by_epoch)
    values = [by_epoch[e] for e in epochs]
    return GroupCurve(
        epochs=epochs,
        mean=[statistics.fmean(v) for v in values],
        std=[statistics.stdev(v) if len(v) > 1 else 0.0 for v in values],
        low=[min(v) for v in values],
        high=[max(v) for v in values],
        count=[len(v) for v in values],
    )


def final_values(histories: list[list[dict]], column: str = "val_accuracy") -> list[float]:
    """Each run's best value of the column (max for accuracy, min for a loss), the number a person
    would report for it."""
    pick = min if "loss" in column else max
    out = []
    for history in histories:
        values = [v for v in (_finite(row.get(column)) for row in history) if v is not None]
        if values:
            out.append(pick(values))
    return out


@dataclass(frozen=True)
class GroupComparison:
    verdict: str  # "real", "noise" or "too few runs"
    difference: float  # mean of b minus mean of a
    spread: float  # the seed-to-seed spread it is weighed against
    text: str


def compare_groups(a: list[float], b: list[float], name_a: str = "A", name_b: str = "B",
                   metric: str = "best validation accuracy") -> GroupComparison:
    """Is the difference between two groups of seeds larger than their seed-to-seed spread?

    The rule, said in the words a class can check: the difference of the means must be larger than
    twice the standard error of that difference (Welch's: sqrt(sa²/na + sb²/nb)), about a 95% test
    for a handful of seeds, and the two groups' ranges must not overlap. With fewer than 2 runs in a
    group there is no spread to weigh it against, and the answer says so."""
    if len(a) < 2 or len(b) < 2:
        diff = (statistics.fmean(b) - statistics.fmean(a)) if a and b else 0.0
        return GroupComparison("too few runs", diff, math.nan,
                               f"Repeat each run with at least 2 seeds (now {len(a)} and {len(b)}) to tell a real "
                               f"difference from seed noise.")
    mean_a, mean_b = statistics.fmean(a), statistics.fmean(b)
    diff = mean_b - mean_a
    se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    overlap = min(max(a), max(b)) >= max(min(a), min(b))
    b_is_better = diff > 0 if "loss" not in metric else diff < 0
    better, worse = (name_b, name_a) if b_is_better else (name_a, name_b)
    pct = metric.endswith("accuracy")
    fmt = (lambda v: f"{v * 100:.1f} points") if pct else (lambda v: f"{v:.3g}")
    ranges = (f"{name_a}: {min(a):.3f}–{max(a):.3f} over {len(a)} seeds; "
              f"{name_b}: {min(b):.3f}–{max(b):.3f} over {len(b)} seeds")
    if abs(diff) > 2 * se and not overlap:
        return GroupComparison("real", diff, se,
                               f"{better} is better by {fmt(abs(diff))} of {metric}, more than twice the seed-to-seed "
                               f"uncertainty ({fmt(se)}), and the seeds do not overlap ({ranges}): a real difference.")
    return GroupComparison("noise", diff, se,
                           f"The difference, {fmt(abs(diff))} of {metric} in favour of {better}, is within seed-to-seed "
                           f"noise (uncertainty {fmt(se)}; {ranges}): do not call {worse} worse yet.")
