"""`python -m tests.training.fast_mode_check MODEL`: train one small run in eager mode and in fast
mode (torch.compile) and print both runs' step losses as JSON. Run in a subprocess by
tests/training/test_device.py: compiling imports triton, whose nanobind extension prints a leak
report ("nanobind: leaked 64 types!") when the interpreter that imported it exits, so it is kept out
of the test process."""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from core.config import RunConfig  # noqa: E402
from core.training.callbacks import Callback  # noqa: E402
from core.training.events import StepReport  # noqa: E402
from core.training.loop import train  # noqa: E402


class StepModel(Callback):
    def before_fit(self, loop):
        self.step_model = loop.step_model


def run(model: str, fast: bool) -> dict:
    # 640 digits with shifts: 10 steps, losses read every 5
    config = RunConfig(dataset="digits", model=model, depth=2, width=64, train_subset=640, epochs=1,
                       aug_shift=0.1, seed=3)
    events, seen = [], StepModel()
    result = train(config, "cpu", emit=events.append, report_every=5, fast=fast, callbacks=[seen])
    return {"losses": [loss for e in events if isinstance(e, StepReport) for loss in e.losses],
            "val_loss": result.history[0]["val_loss"], "fast": result.settings["fast"],
            "compiled": isinstance(seen.step_model, torch._dynamo.eval_frame.OptimizedModule)}


if __name__ == "__main__":
    torch.set_num_threads(1)
    name = sys.argv[1]
    json.dump({"eager": run(name, False), "fast": run(name, True)}, sys.stdout)
