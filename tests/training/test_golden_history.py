"""Behaviour kept: the restructured trainer gives the histories recorded with the code before core/
became packages (tests/golden/, same seed, one torch thread, CPU), within the tolerance for numbers
recorded on another machine (tests/numerics.py says why and how much); and a run is bit for bit
itself when it is trained again on this machine."""
from __future__ import annotations

import pytest

from tests.golden.replay import HISTORIES, HISTORY_KEYS, replay_history
from tests.numerics import RECORDED_ACCURACY_ATOL, RECORDED_RTOL, history_gaps, within_recorded_tolerance, worst_gap


@pytest.fixture(scope="module")
def replayed(one_torch_thread):
    """Each case trained once for the module (the comparisons below read it several times), with the
    one thread it was recorded with (tests/conftest.py's one_torch_thread)."""
    assert HISTORIES["threads"] == 1
    return {name: replay_history(name) for name in HISTORIES["cases"]}


@pytest.mark.parametrize("name", list(HISTORIES["cases"]))
def test_the_history_recorded_before_the_move_comes_out_again(name, replayed):
    case, got = HISTORIES["cases"][name], replayed[name]
    assert got["status"] == case["status"]
    assert len(got["history"]) == len(case["history"])
    gaps = history_gaps(got["history"], case["history"], HISTORY_KEYS)
    assert within_recorded_tolerance(gaps), (gaps, RECORDED_RTOL, RECORDED_ACCURACY_ATOL)
    assert worst_gap(got["first_steps"], case["first_steps"]) <= RECORDED_RTOL
    assert got["best_epoch"] == case["best_epoch"]


@pytest.mark.parametrize("name", list(HISTORIES["cases"]))
def test_no_case_sits_on_a_rounding_edge(name):
    """Status, length and best epoch are compared exactly above: fair only if no epoch's validation loss
    is within twice the tolerance of the best before it (else another CPU could count it as a new best,
    moving the best epoch, the patience count and the early stop)."""
    losses = [row["val_loss"] for row in HISTORIES["cases"][name]["history"]]
    for i in range(1, len(losses)):  # each epoch against the best so far: the comparison the trainer makes
        best = min(losses[:i])
        assert abs(losses[i] - best) > 2 * RECORDED_RTOL * best, (name, i + 1, losses)


def test_a_run_trained_twice_on_this_machine_is_bit_for_bit_itself(replayed):
    name = "mlp_overfit_early_stop_restore"  # early stopping, restore and 4 epochs of Adam
    assert replay_history(name) == replayed[name]


def test_the_cases_cover_both_kinds_of_step_settings():
    from core.config import RunConfig
    from core.training.loop import train

    layouts = {train(RunConfig(**{**case["config"], "epochs": 1}), "cpu").settings["channels_last"]
               for case in HISTORIES["cases"].values()}
    assert layouts == {True, False}
