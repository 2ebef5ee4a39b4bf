"""Replaying the recorded golden cases with today's code: the training histories of
histories_before_restructure.json and the LR range tests of lr_finder_before_restructure.json, on the
CPU with the thread count they were recorded with. The golden tests compare one replay with the
record; `python -m tests.golden.drift` replays them under other CPU kernels and under mutants.

`python -m tests.golden.replay` prints one replay as JSON (what drift.py runs in a subprocess, with
ATEN_CPU_CAPABILITY set to pick the kernels another CPU would run)."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
HISTORIES = json.loads((HERE / "histories_before_restructure.json").read_text())
LR_FINDER = json.loads((HERE / "lr_finder_before_restructure.json").read_text())
HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")


def replay_history(name: str) -> dict:
    """One recorded training case, trained again: status, best epoch, the history's columns and the
    first 30 step losses (the recording reported every 10 steps)."""
    from core.config import RunConfig
    from core.training.events import StepReport
    from core.training.loop import train

    case = HISTORIES["cases"][name]
    steps: list[float] = []
    result = train(RunConfig(**case["config"]), "cpu", report_every=10,
                   emit=lambda e: steps.extend(e.losses) if isinstance(e, StepReport) else None)
    return {"status": result.status, "best_epoch": result.best_epoch,
            "history": [{k: row[k] for k in HISTORY_KEYS} for row in result.history],
            "first_steps": steps[:30], "channels_last": result.settings["channels_last"]}


def replay_range_test(name: str) -> dict:
    """One recorded LR range test, run again."""
    from core.config import RunConfig
    from core.training.lr_finder import lr_range_test

    case = LR_FINDER[name]
    kwargs = {k: (math.inf if v == "inf" else v) for k, v in case["kwargs"].items()}
    result = lr_range_test(RunConfig(**case["config"]), **kwargs)
    return {"lrs": result.lrs, "losses": [None if math.isnan(v) else v for v in result.losses],
            "stop_reason": result.stop_reason, "suggested_lr": result.suggested_lr, "edge_lr": result.edge_lr}


def replay_all() -> dict:
    import torch

    torch.set_num_threads(HISTORIES["threads"])
    return {"capability": torch.backends.cpu.get_cpu_capability(),
            "histories": {name: replay_history(name) for name in HISTORIES["cases"]},
            "range_tests": {name: replay_range_test(name) for name in LR_FINDER}}


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1]))
    json.dump(replay_all(), sys.stdout)
