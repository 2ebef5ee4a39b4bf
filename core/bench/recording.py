"""What the Curve Doctor's benchmarks share: training a run the way the dashboard does, keeping every
step's loss and the per-layer probes, and scoring the families it diagnosed against the labels
(per-class precision, recall and F1, macro-F1, and false alarms on healthy runs)."""
from __future__ import annotations

from collections.abc import Iterable

from core.config import RunConfig
from core.training.events import ProbeReport, RunResult, StepReport
from core.training.loop import train
from core.training.probes import make_probe


def train_recorded(config: RunConfig, probes: bool = True,
                   **options) -> tuple[RunResult, list[dict], dict[int, list[dict]]]:
    """Train on the CPU with per-step losses ({step, epoch, loss}) and, if asked, the probes by step."""
    steps: list[dict] = []
    probed: dict[int, list[dict]] = {}

    def emit(event) -> None:
        if isinstance(event, StepReport):
            first = event.step - len(event.losses) + 1
            steps.extend({"step": first + i, "epoch": event.epoch, "loss": v} for i, v in enumerate(event.losses))
        elif isinstance(event, ProbeReport):
            probed[event.step] = event.layers

    result = train(config, "cpu", emit=emit, make_probe=make_probe if probes else None, **options)
    return result, steps, probed


def scores(pairs: list[tuple[str, str | None]], labels: Iterable[str], present_only: bool = False) -> dict:
    """Per-label precision/recall/F1 of (true, predicted) pairs; macro-F1 over every label, or only
    over the labels that occur (present_only); accuracy; the false-alarm rate on healthy runs."""
    per = {}
    for lab in labels:
        tp = sum(1 for t, p in pairs if t == lab and p == lab)
        fp = sum(1 for t, p in pairs if t != lab and p == lab)
        fn = sum(1 for t, p in pairs if t == lab and p != lab)
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[lab] = {"precision": round(prec, 3), "recall": round(rec, 3), "f1": round(f1, 3), "support": tp + fn}
    counted = [lab for lab in per if per[lab]["support"]] if present_only else list(per)
    healthy = [p for t, p in pairs if t == "healthy"]
    return {
        "per_class": per,
        "macro_f1": round(sum(per[lab]["f1"] for lab in counted) / max(1, len(counted)), 3),
        "false_alarm_rate": round(sum(p != "healthy" for p in healthy) / len(healthy), 3) if healthy else None,
        "accuracy": round(sum(t == p for t, p in pairs) / len(pairs), 3) if pairs else None,
        # the share of runs given a cause at all ("not judged" is None): an abstention counts as not right
        "coverage": round(sum(p is not None for _, p in pairs) / len(pairs), 3) if pairs else None,
        "runs": len(pairs),
    }
