"""The step settings per device: which the trainer picks (and records), the CUDA step's bf16 and
channels_last path on a CPU stand-in, and the fast mode (torch.compile) matching eager mode."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.catalog.models import build_model
from core.config import RunConfig
from core.training import loop as trainer
from core.training.device import FAST_MODE_RTOL, StepSettings, accelerate, step_settings
from core.training.events import StepReport
from core.training.loop import train

ROOT = Path(__file__).resolve().parents[2]
CPU, CUDA = torch.device("cpu"), torch.device("cuda")  # only the decision is tested: no GPU needed


def models():
    return {
        "conv": build_model(RunConfig(dataset="cifar10"), (3, 32, 32), 10),
        "conv_bn": build_model(RunConfig(dataset="cifar10", batch_norm=True), (3, 32, 32), 10),
        "dense": build_model(RunConfig(dataset="digits", model="mlp"), (1, 8, 8), 10),
    }


def test_the_trainer_picks_per_device_what_keeps_the_numbers(monkeypatch):
    monkeypatch.delenv("TUNELAB_AMP", raising=False)
    monkeypatch.delenv("TUNELAB_FAST", raising=False)
    m = models()
    # CPU: channels_last for conv nets (faster, same numbers up to rounding), not with batch norm
    # (its channels_last kernel computes the variance another way), bf16 only when asked for
    assert step_settings(m["conv"], CPU) == StepSettings(amp=False, channels_last=True, fast=False)
    assert step_settings(m["conv_bn"], CPU) == StepSettings(amp=False, channels_last=False, fast=False)
    assert step_settings(m["dense"], CPU) == StepSettings()
    assert step_settings(m["conv"], CPU, amp=True).amp is True
    # CUDA: bf16 autocast and channels_last for every conv net
    assert step_settings(m["conv"], CUDA) == StepSettings(amp=True, channels_last=True, fast=False)
    assert step_settings(m["conv_bn"], CUDA).channels_last is True
    assert step_settings(m["dense"], CUDA) == StepSettings(amp=True, channels_last=False, fast=False)
    monkeypatch.setenv("TUNELAB_AMP", "0")
    monkeypatch.setenv("TUNELAB_FAST", "1")
    assert step_settings(m["conv"], CUDA).amp is False and step_settings(m["conv"], CUDA).fast is True
    monkeypatch.setenv("TUNELAB_AMP", "1")
    assert step_settings(m["conv"], CPU).amp is True and step_settings(m["dense"], CPU).amp is True
    assert step_settings(m["conv"], CUDA, amp=True, fast=False) == StepSettings(amp=True, channels_last=True, fast=False)


def test_a_run_records_the_settings_it_used():
    conv = train(RunConfig(dataset="digits", model="simple_cnn", train_subset=64, epochs=1), "cpu")
    dense = train(RunConfig(dataset="digits", model="mlp", train_subset=64, epochs=1), "cpu")
    assert conv.settings == {"amp": False, "channels_last": True, "fast": False}
    assert dense.settings == {"amp": False, "channels_last": False, "fast": False}


BF16_RTOL = 1e-2  # bf16 keeps 8 bits of mantissa: the first steps' losses agree to well under 1%


def test_the_gpu_step_runs_through_the_trainer_on_a_cpu_stand_in(monkeypatch):
    # No GPU here: the trainer's CUDA step (bf16 autocast, channels_last batches and weights) runs with
    # the CPU's bf16 autocast in place of CUDA's, against the plain fp32 step.
    config = RunConfig(dataset="digits", model="simple_cnn", train_subset=640, epochs=1, aug_shift=0.1, seed=3)

    def losses():
        events = []
        result = train(config, "cpu", emit=events.append, report_every=5)
        return [loss for e in events if isinstance(e, StepReport) for loss in e.losses], result

    fp32, fp32_result = losses()
    monkeypatch.setattr(trainer, "step_settings", lambda model, device, amp=None, fast=None: StepSettings(
        amp=True, channels_last=True, fast=False, device_type="cpu"))
    bf16, bf16_result = losses()
    assert bf16_result.status == "completed" and len(bf16) == len(fp32) == 10
    assert bf16_result.settings["amp"] is True
    assert bf16 != fp32 and bf16 == pytest.approx(fp32, rel=BF16_RTOL)
    assert bf16_result.history[0]["val_loss"] == pytest.approx(fp32_result.history[0]["val_loss"], rel=BF16_RTOL)


def test_accelerate_compiles_only_in_fast_mode():
    model = models()["dense"]
    assert accelerate(model, CPU, StepSettings()) is model
    compiled = accelerate(model, CPU, StepSettings(fast=True))
    assert isinstance(compiled, torch._dynamo.eval_frame.OptimizedModule) and compiled._orig_mod is model


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")  # in CI nothing here may skip
COMPILER = shutil.which("cc") or shutil.which("gcc") or shutil.which("g++")
# A cold torch.compile of the simple CNN takes about 40 s on a 2-core CPU: it runs in CI or when asked for.
CNN = pytest.param("simple_cnn", marks=[pytest.mark.slow, pytest.mark.skipif(
    not IN_CI and os.environ.get("TUNELAB_TEST_COMPILE_CNN") != "1",
    reason="set TUNELAB_TEST_COMPILE_CNN=1 (about 40 s cold)")])


@pytest.mark.skipif(not COMPILER and not IN_CI, reason="torch.compile on a CPU needs a C++ compiler")
@pytest.mark.parametrize("model", ["mlp", CNN])
def test_fast_mode_compiles_and_matches_eager_mode(model):
    """In a subprocess (tests/training/fast_mode_check.py): compiling imports triton, which prints a
    leak report when its interpreter exits; the test process never imports it."""
    done = subprocess.run([sys.executable, "-m", "tests.training.fast_mode_check", model], cwd=ROOT,
                          capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = json.loads(done.stdout)
    eager, fast = runs["eager"], runs["fast"]
    assert fast["compiled"] and not eager["compiled"]
    assert fast["fast"] is True
    assert len(eager["losses"]) == len(fast["losses"]) == 10
    assert fast["losses"] == pytest.approx(eager["losses"], rel=FAST_MODE_RTOL)
    assert fast["val_loss"] == pytest.approx(eager["val_loss"], rel=FAST_MODE_RTOL)


def test_triton_stays_out_of_the_test_process():
    """tests/conftest.py marks triton absent (its leak report would follow pytest's summary): an
    optimizer's step, which imports torch._inductor, leaves it so, and training works without it."""
    result = train(RunConfig(dataset="digits", model="mlp", train_subset=64, epochs=1), "cpu")
    assert result.status == "completed"
    assert sys.modules.get("triton", "missing") is None
