"""One-knob sweeps (values, grouping, same initial weights and data order) and the learning-rate range
test (a sensible suggestion, an edge, robust to NaN and noise)."""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

import pytest
import torch

from core.config import RunConfig
from core.errors import ConfigError
from core.runs.store import RunStore
from core.runs import sweeps
from core.runs.sweeps import log_space, parse_values, queue_sweep, run_sweep, sweep_configs
from core.runs.worker import Worker
from core.training.loop import train
from core.training.model import build_initialized_model
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
    records = store.group(out["group_id"])
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
    # each run went through the one lifecycle: per-layer probes stored, diagnosis stored and in the JSON
    for run, record in zip(out["runs"], records):
        assert store.probes(record.id), record.id
        hints, rules = store.diagnosis(record.id)
        assert rules is not None and [h["id"] for h in hints] == [h["id"] for h in run["hints"]]


def test_a_sweep_of_real_rates_shares_the_start_and_then_goes_its_own_way(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    result = run_sweep(store, sweep_configs(tiny(), "lr", "1e-3,1e-2"), device="cpu")
    a, b = ([s["loss"] for s in store.steps(r.run_id)] for r in result.runs)
    assert a[0] == b[0] and a[1] != b[1]
    assert result.runs[1].history[-1]["loss"] < result.runs[0].history[-1]["loss"]
    # an activation sweep keeps the same initial weights too: the shapes do not change
    weights = [build_initialized_model(c, (1, 8, 8), 10, "cpu").state_dict()
               for c in sweep_configs(tiny(), "activation", "relu,tanh,elu")]
    assert all(torch.equal(weights[0][k], w[k]) for w in weights[1:] for k in weights[0])


def test_a_run_that_crashes_is_recorded_as_failed_and_the_sweep_goes_on(tmp_path, monkeypatch):
    def flaky(config, *args, **kwargs):
        if config.lr == 1e-2:
            raise RuntimeError("boom")
        return train(config, *args, **kwargs)

    monkeypatch.setattr(sweeps, "Training", functools.partial(sweeps.Training, trainer=flaky))
    store = RunStore(tmp_path / "runs.db")
    result = run_sweep(store, sweep_configs(tiny(epochs=1), "lr", "1e-2,1e-3"), device="cpu")
    assert [r.status for r in result.runs] == ["failed", "completed"]
    assert "boom" in store.get(result.runs[0].run_id).error


def test_queue_sweep_puts_the_group_on_the_worker(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    worker = Worker(store, device="cpu")
    try:
        result = queue_sweep(worker, sweep_configs(tiny(epochs=1), "optimizer", "sgd,adam"), session="s1")
        assert worker.wait_idle(timeout=120)
    finally:
        worker.shutdown()
    records = store.group(result.group_id)
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
