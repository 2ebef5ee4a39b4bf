"""The learning-rate range test: a callback on the one training loop that reproduces the standalone
range test it replaced (golden, same seed, one thread), survives NaN steps, and whose analysis reads a
noisy curve where the curve says."""
from __future__ import annotations

import json
import math
import random

import pytest
import torch

from core.training.loop import train
from core.training.lr_finder import analyse_range_test, lr_range_test, lr_schedule
from tests.golden.replay import LR_FINDER, replay_range_test
from tests.numerics import RECORDED_RTOL, worst_gap
from tests.runs.test_sweeps import cli, tiny, tiny_flags

STOP_SLACK = 3  # steps: where a ramp that ends on a rounding-sensitive event stops, give or take


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", list(LR_FINDER))
def test_the_range_test_on_the_one_loop_gives_the_old_standalone_loops_numbers(name, one_thread):
    """The recorded range tests (tests/golden/), within the tolerance for numbers from another machine.
    The learning rates are plain float arithmetic: exact everywhere. The losses are compared while the
    run is still learning (up to the recorded edge, where the loss starts to climb); past it a ramp to
    1e6 amplifies rounding without bound (one CPU's NaN is another's huge finite loss), so there only
    the stop is checked: the same kind of stop, after the edge."""
    case, got = LR_FINDER[name], replay_range_test(name)
    n = min(len(got["lrs"]), len(case["lrs"]))
    assert got["lrs"][:n] == case["lrs"][:n]
    tame = next(i for i, lr in enumerate(case["lrs"]) if lr >= case["edge_lr"])
    assert worst_gap(got["losses"][:tame], case["losses"][:tame]) <= RECORDED_RTOL
    assert got["suggested_lr"] == pytest.approx(case["suggested_lr"], rel=0.05)
    assert got["edge_lr"] == pytest.approx(case["edge_lr"], rel=0.25)
    if "NaN" in case["stop_reason"]:  # chaotic past the edge: any blow-up, past the edge
        assert got["stop_reason"].startswith(("the loss was NaN", "reached the end")) and len(got["lrs"]) > tame
    else:
        assert got["stop_reason"] == case["stop_reason"]
        assert abs(len(got["lrs"]) - len(case["lrs"])) <= STOP_SLACK


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_lr_range_test_suggests_a_sensible_rate_for_the_simple_mlp_on_digits(optimizer):
    result = lr_range_test(tiny(optimizer=optimizer))
    assert 1e-4 <= result.suggested_lr <= 1e-1, result.to_dict()
    assert result.edge_lr is not None and result.edge_lr > result.suggested_lr
    assert result.min_loss_lr > result.suggested_lr
    assert result.lrs == lr_schedule(1e-7, 10.0, 200)[: len(result.lrs)]
    # training at the suggestion for two epochs does far better than at a hundredth of it
    good = train(tiny(optimizer=optimizer, lr=result.suggested_lr)).history[-1]["val_loss"]
    slow = train(tiny(optimizer=optimizer, lr=result.suggested_lr / 100)).history[-1]["val_loss"]
    assert good < slow


def test_lr_range_test_on_sgd_ramped_to_1e3_stops_and_reports_the_edge():
    result = lr_range_test(tiny(optimizer="sgd"), end=1e3)
    assert len(result.lrs) < 200 and "4x its minimum" in result.stop_reason
    assert result.edge_lr is not None and result.edge_lr <= result.lrs[-1]
    assert 1e-4 <= result.suggested_lr <= 1e-1
    json.dumps(result.to_dict(), allow_nan=False)  # strict JSON, NaN as null


def test_lr_range_test_survives_a_real_nan_and_stops_on_it():
    """A deep net with momentum ramped on towards 1e30 with the 4x rule switched off (570 steps: the
    same 15 steps a decade as the usual ramp): float32 ends at 3.4e38, so the weights overflow to inf
    and the loss to NaN on every CPU (ramped only to 1e6, one CPU's loss overflowed and another's stayed
    huge but finite). The test stops after three NaN steps, without an exception, and still has its
    answer."""
    result = lr_range_test(tiny(depth=4, width=64, optimizer="momentum"), end=1e30, steps=570,
                           diverge_factor=math.inf)
    assert "NaN or infinite for 3 steps" in result.stop_reason and result.nan_steps >= 3
    assert all(math.isnan(v) for v in result.losses[-3:])
    assert result.edge_lr is not None and result.edge_lr <= result.lrs[-3]
    assert 1e-4 <= result.suggested_lr <= 1e-1
    json.dumps(result.to_dict(), allow_nan=False)


def test_an_isolated_nan_step_is_left_out_and_the_test_goes_on(monkeypatch):
    """One step's loss is NaN (step 60, lr ~1e-3), then every loss from step 150 (lr ~0.1) on. The
    single NaN is skipped (no update, no smoothing) and the test carries on; the run of NaNs stops it,
    and the edge is where that run began."""
    from torch.nn import functional as F

    real = F.cross_entropy
    calls = {"n": 0}

    def sometimes_nan(logits, target, *args, **kwargs):
        calls["n"] += 1
        loss = real(logits, target, *args, **kwargs)
        return loss * math.nan if calls["n"] == 60 or calls["n"] >= 150 else loss

    monkeypatch.setattr(F, "cross_entropy", sometimes_nan)
    result = lr_range_test(tiny(), diverge_factor=math.inf)
    assert len(result.lrs) == 152 and math.isnan(result.losses[59]) and result.nan_steps == 4
    assert all(math.isfinite(v) for v in result.losses[60:149])  # the weights survived the NaN step
    assert "3 steps in a row" in result.stop_reason
    assert result.edge_lr <= result.lrs[149]
    assert 1e-4 <= result.suggested_lr <= 1e-1


@pytest.mark.parametrize("seed", range(5))
def test_the_analysis_reads_a_noisy_curve_with_spikes_and_nans_where_the_curve_says(seed):
    """A known curve: flat at 2.3, falling fastest near 1e-2, lowest near 0.08, then blowing up. With 15%
    multiplicative noise, one wild batch and scattered NaNs, the answers stay where the clean curve puts
    them, while fastai's causal smoothing (beta 0.98) puts the minimum several times too far right."""
    lrs = lr_schedule(1e-7, 10.0, 200)

    def curve(lr: float) -> float:
        x = math.log10(lr)
        return 2.3 - 2.0 / (1.0 + math.exp(-3.0 * (x + 2.0))) + math.exp(4.0 * (x + 0.5))

    clean = [curve(lr) for lr in lrs]
    i_min = min(range(200), key=lambda i: clean[i])
    threshold = max(clean[i_min] + 0.25 * (clean[0] - clean[i_min]), 1.5 * clean[i_min])
    true_edge = next(lrs[i] for i in range(i_min, 200) if clean[i] >= threshold)
    slopes = [(clean[i + 1] - clean[i]) / math.log10(lrs[i + 1] / lrs[i]) for i in range(199)]
    true_steep = lrs[min(range(199), key=lambda i: slopes[i])]

    rng = random.Random(seed)
    losses = [c * math.exp(rng.gauss(0.0, 0.15)) for c in clean]
    losses[80] = 50.0  # one wild batch
    for i in (30, 95, 120):
        losses[i] = math.nan
    result = analyse_range_test(lrs, losses)
    assert result.nan_steps == 3 and all(math.isfinite(v) for v in result.trend)
    assert lrs[i_min] / 1.5 <= result.min_loss_lr <= lrs[i_min] * 1.5
    assert true_edge / 1.5 <= result.edge_lr <= true_edge * 1.5
    assert true_steep / 3 <= result.steep_lr <= true_steep * 3
    assert 1e-3 <= result.suggested_lr <= 3e-2

    avg, n, lagged = 0.0, 0, []
    for v in losses:
        if math.isfinite(v):
            n += 1
            avg = 0.98 * avg + 0.02 * v
        lagged.append(avg / (1 - 0.98 ** n) if n else math.inf)
    assert lrs[min(range(200), key=lambda i: lagged[i])] > 3 * lrs[i_min]


def test_a_loss_that_never_falls_gives_no_suggestion_but_says_why():
    lrs = lr_schedule(1e-7, 1e-4, 100)
    result = analyse_range_test(lrs, [2.3 + 0.01 * math.sin(i) for i in range(100)])
    assert result.suggested_lr is None and "never fell" in result.note


def test_cli_lr_find_prints_the_suggestion_and_the_edge():
    done = cli("lr-find", *tiny_flags(), "--device", "cpu", "--start", "1e-5", "--steps", "100", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert 1e-4 <= out["suggested_lr"] <= 1e-1 and out["edge_lr"] > out["suggested_lr"]
    assert out["steps"] == len(out["points"]) and set(out["points"][0]) == {"lr", "loss", "smoothed", "trend"}
    bad = cli("lr-find", *tiny_flags(), "--start", "1", "--end", "0.1")
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: end:")
