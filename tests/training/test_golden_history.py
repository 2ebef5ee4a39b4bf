"""Behaviour kept: the restructured trainer gives the histories recorded with the code before core/
became packages (tests/golden/, same seed, one torch thread, CPU). Exact where the run uses the same
step settings as then; within 1e-5 where it now trains in the channels_last layout, which rounds
differently (the run records which settings it used)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from core.config import RunConfig
from core.training.events import StepReport
from core.training.loop import train

GOLDEN = json.loads((Path(__file__).parents[1] / "golden" / "histories_before_restructure.json").read_text())
KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")
ROUNDING = 1e-5


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(GOLDEN["threads"])
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", list(GOLDEN["cases"]))
def test_the_history_recorded_before_the_move_comes_out_again(name, one_thread):
    case = GOLDEN["cases"][name]
    steps: list[float] = []
    result = train(RunConfig(**case["config"]), "cpu", report_every=10,
                   emit=lambda e: steps.extend(e.losses) if isinstance(e, StepReport) else None)
    assert result.status == case["status"]
    assert result.best_epoch == case["best_epoch"]
    assert len(result.history) == len(case["history"])
    got = [[row[k] for k in KEYS] for row in result.history]
    want = [[row[k] for k in KEYS] for row in case["history"]]
    if result.settings["channels_last"]:
        assert got == [pytest.approx(row, rel=ROUNDING) for row in want]
        assert steps[:30] == pytest.approx(case["first_steps"], rel=ROUNDING)
    else:
        assert got == want
        assert steps[:30] == case["first_steps"]


def test_the_cases_cover_both_kinds_of_step_settings():
    layouts = {train(RunConfig(**{**case["config"], "epochs": 1}), "cpu").settings["channels_last"]
               for case in GOLDEN["cases"].values()}
    assert layouts == {True, False}
