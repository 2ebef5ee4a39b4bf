"""One-knob sweeps (values, grouping, same initial weights and data order) and the learning-rate range
test (a sensible suggestion, an edge, robust to NaN and noise)."""
from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys

import pytest
import torch

from core.config import RunConfig
from core.errors import ConfigError
from core.store import RunStore
from core.sweep import (
    analyse_range_test, group_runs, log_space, lr_range_test, lr_schedule, parse_values, queue_sweep, run_sweep,
    sweep_configs,
)
from tests.conftest import ROOT

TINY = dict(dataset="digits", model="mlp", depth=1, width=16, batch_size=256, epochs=2)


def tiny(**changes) -> RunConfig:
    return RunConfig(**{**TINY, **changes})


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True,
                          env=os.environ.copy(), timeout=240)


def tiny_flags(**changes) -> list[str]:
    flags = []
    for name, value in {**TINY, **changes}.items():
        flags += ["--" + name.replace("_", "-"), str(value)]
    return flags


# ---- building a sweep --------------------------------------------------------------------------------
def test_values_are_parsed_in_the_settings_type_and_every_config_keeps_the_seed():
    base = tiny(seed=7)
    configs = sweep_configs(base, "lr", "1e-4, 1e-3,1e-2")
    assert [c.lr for c in configs] == [1e-4, 1e-3, 1e-2]
    assert all(c.seed == 7 and c.differences(base).keys() <= {"lr"} for c in configs)
    assert [c.batch_norm for c in sweep_configs(base, "batch_norm", "false,true")] == [False, True]
    assert [c.depth for c in sweep_configs(base, "depth", [1, "2", 3.0])] == [1, 2, 3]
    assert [c.activation for c in sweep_configs(base, "activation", "all")] == [
        "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu"]
    assert len(sweep_configs(base, "optimizer", "all")) == 7


@pytest.mark.parametrize("param, values, field, words", [
    ("learning_rate", "1e-3", "param", "must be one of the settings"),
    ("lr", "1e-3,fast", "lr", "must be a number"),
    ("lr", "1e-3,-1", "lr", "greater than 0"),
    ("lr", "1e-3,1e-3", "values", "given twice"),
    ("lr", " , ", "values", "at least one value"),
    ("lr", "all", "values", "'all' works only for"),
    ("activation", "relu,swish", "activation", "must be one of"),
    ("depth", "2,2.5", "depth", "whole number"),
])
def test_a_bad_sweep_names_the_field(param, values, field, words):
    with pytest.raises(ConfigError) as err:
        sweep_configs(tiny(), param, values)
    assert err.value.field == field and words in str(err.value)


def test_log_space_includes_both_ends_and_is_evenly_spaced_in_log():
    values = log_space(1e-4, 1e-1, 4)
    assert values == [1e-4, 1e-3, 1e-2, 1e-1]
    five = log_space(1e-3, 1e-1, 5)
    assert five[0] == 1e-3 and five[-1] == 1e-1 and five[2] == pytest.approx(1e-2)
    ratios = [b / a for a, b in zip(five, five[1:])]
    assert max(ratios) / min(ratios) < 1.001
    assert parse_values("lr", log_space(1e-4, 1e-2, 3)) == [1e-4, 1e-3, 1e-2]
    for args in [(0, 1, 3), (1e-3, 1e-1, 1), (-1, 1, 3)]:
        with pytest.raises(ConfigError, match="values"):
            log_space(*args)


# ---- running a sweep ---------------------------------------------------------------------------------
def test_a_cli_sweep_of_three_learning_rates_leaves_three_grouped_runs_with_the_same_data_order(tmp_path):
    """The rates are tiny (SGD at 1e-8..1e-6), so the weights hardly move and each step's loss is set by
    which images are in that step's batch: equal per-step losses across the runs, while the loss differs
    from batch to batch, mean every run saw the same batches in the same order, epoch after epoch."""
    db = tmp_path / "runs.db"
    done = cli("sweep", "--param", "lr", "--values", "1e-8,1e-7,1e-6", *tiny_flags(optimizer="sgd"),
               "--device", "cpu", "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)  # stdout is one JSON object
    assert len(out["runs"]) == 3 and out["param"] == "lr"
    assert [r["status"] for r in out["runs"]] == ["completed"] * 3
    assert all([h["epoch"] for h in r["history"]] == [1, 2] for r in out["runs"])
    assert set(out["runs"][0]["history"][0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"}

    store = RunStore(db)
    records = group_runs(store, out["group_id"])
    assert [r.id for r in records] == [r["run_id"] for r in out["runs"]]
    assert len(store.runs()) == 3 and {r.group_id for r in store.runs()} == {out["group_id"]}
    assert all(r.status == "completed" and r.tag == "sweep" for r in records)
    assert [r.config.lr for r in records] == [1e-8, 1e-7, 1e-6] and [r.name for r in records] == [
        "lr=1e-08", "lr=1e-07", "lr=1e-06"]
    assert len({r.config.seed for r in records}) == 1

    losses = [[s["loss"] for s in store.steps(r.id)] for r in records]
    assert all(len(run) == 12 for run in losses)  # 2 epochs of 6 batches
    assert losses[0][0] == losses[1][0] == losses[2][0]  # same initial weights, same first batch: bit for bit
    for step in range(12):
        assert max(run[step] for run in losses) - min(run[step] for run in losses) < 1e-4 * losses[0][step]
    assert max(losses[0]) - min(losses[0]) > 1e-2  # ...while the loss tells the batches apart
    # progress on stderr names each run's value
    assert any("lr=1e-07" in line and "epoch 2/2" in line for line in done.stderr.splitlines())


def test_a_sweep_of_real_rates_shares_the_start_and_then_goes_its_own_way(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    result = run_sweep(store, sweep_configs(tiny(), "lr", "1e-3,1e-2"), device="cpu")
    a, b = ([s["loss"] for s in store.steps(r.run_id)] for r in result.runs)
    assert a[0] == b[0] and a[1] != b[1]
    assert result.runs[1].history[-1]["loss"] < result.runs[0].history[-1]["loss"]
    # an activation sweep keeps the same initial weights too: the shapes do not change
    from core.train import build_initialized_model

    weights = [build_initialized_model(c, (1, 8, 8), 10, "cpu").state_dict()
               for c in sweep_configs(tiny(), "activation", "relu,tanh,elu")]
    assert all(torch.equal(weights[0][k], w[k]) for w in weights[1:] for k in weights[0])


def test_a_run_that_crashes_is_recorded_as_failed_and_the_sweep_goes_on(tmp_path, monkeypatch):
    import core.train

    real = core.train.train

    def flaky(config, *args, **kwargs):
        if config.lr == 1e-2:
            raise RuntimeError("boom")
        return real(config, *args, **kwargs)

    monkeypatch.setattr(core.train, "train", flaky)
    store = RunStore(tmp_path / "runs.db")
    result = run_sweep(store, sweep_configs(tiny(epochs=1), "lr", "1e-2,1e-3"), device="cpu")
    assert [r.status for r in result.runs] == ["failed", "completed"]
    assert "boom" in store.get(result.runs[0].run_id).error


def test_queue_sweep_puts_the_group_on_the_worker(tmp_path):
    from core.worker import Worker

    store = RunStore(tmp_path / "runs.db")
    worker = Worker(store, device="cpu")
    try:
        result = queue_sweep(worker, sweep_configs(tiny(epochs=1), "optimizer", "sgd,adam"), session="s1")
        assert worker.wait_idle(timeout=120)
    finally:
        worker.shutdown()
    records = group_runs(store, result.group_id)
    assert [r.name for r in records] == ["optimizer=sgd", "optimizer=adam"]
    assert all(r.status == "completed" and r.tag == "sweep" and r.session == "s1" for r in records)


def test_cli_sweep_errors_exit_2_with_one_line(tmp_path):
    db = tmp_path / "runs.db"
    for args, field in [
        (["--param", "lr", "--values", "1e-3,fast"], "lr"),
        (["--param", "lr", "--values", "1e-3", "--lr", "0.1"], "lr"),
    ]:
        done = cli("sweep", *args, *tiny_flags(), "--db", str(db))
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and field in lines[0] and "Traceback" not in done.stderr, done.stderr
    assert not db.exists() or RunStore(db).runs() == []  # nothing half-made is stored
    for command in ("sweep", "lr-find"):
        done = cli(command, "--help")
        assert done.returncode == 0 and "usage:" in done.stdout and "--lr" in done.stdout


# ---- learning-rate range test ------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_lr_range_test_suggests_a_sensible_rate_for_the_simple_mlp_on_digits(optimizer):
    result = lr_range_test(tiny(optimizer=optimizer))
    assert 1e-4 <= result.suggested_lr <= 1e-1, result.to_dict()
    assert result.edge_lr is not None and result.edge_lr > result.suggested_lr
    assert result.min_loss_lr > result.suggested_lr
    assert result.lrs == lr_schedule(1e-7, 10.0, 200)[: len(result.lrs)]
    # training at the suggestion for two epochs does far better than at a hundredth of it
    from core.train import train

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
    """A deep net with momentum ramped to 1e6 with the 4x rule switched off: the loss overflows to inf
    and NaN. The test stops after three NaN steps, without an exception, and still has its answer."""
    result = lr_range_test(tiny(depth=4, width=64, optimizer="momentum"), end=1e6,
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
