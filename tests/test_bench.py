"""The speed bench prints consistent numbers (no timing is asserted); the GPU path's switches apply on
CUDA only, its bf16/channels_last step keeps the trainer's results (checked on a CPU stand-in), and the
fast mode matches eager mode within FAST_MODE_RTOL."""
from __future__ import annotations

import json
import math
import os
import shutil

import pytest
import torch

from core import bench
from core.cli import main
from core.config import RunConfig
from core.events import StepReport
from core.models import build_model
from core.train import FAST_MODE_RTOL, StepSettings, step_settings, train

RATES = ("tunelab_images_per_s", "tutorial_images_per_s", "floor_images_per_s")


def test_bench_prints_one_json_object_with_consistent_numbers(capsys):
    assert main(["bench", "--device", "cpu", "--images", str(bench.MIN_IMAGES), "--concurrency", "2", "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    r = json.loads(out)
    assert r["device"] == "cpu" and r["images"] == bench.MIN_IMAGES and r["batch_size"] == 64
    assert r["parameters"] == 122_570 and r["tutorial_num_workers"] == 0
    assert not (r["amp_bf16"] or r["channels_last"] or r["fast_mode"])  # the CPU path is the plain one
    for key in RATES + ("first_metric_s", "first_metric_prepare_s", "tutorial_first_metric_s", "queue_sequential_s",
                        "queue_concurrent_s", "tunelab_epoch_s", "tunelab_data_mb", "seconds"):
        assert math.isfinite(r[key]) and r[key] > 0, key
    for key in ("peak_memory_mb", "tutorial_peak_memory_mb", "floor_peak_memory_mb"):
        assert math.isfinite(r[key]) and r[key] >= 0, key
    assert r["tunelab_to_tutorial_ratio"] == pytest.approx(r["tunelab_images_per_s"] / r["tutorial_images_per_s"])
    assert r["tunelab_to_floor_ratio"] == pytest.approx(r["tunelab_images_per_s"] / r["floor_images_per_s"])
    assert r["tunelab_epoch_s"] == pytest.approx(r["images"] / r["tunelab_images_per_s"])
    assert r["rounds"] >= 1 and r["tunelab_to_tutorial_paired_median"] > 0 and r["tunelab_to_floor_paired_median"] > 0
    # the warm-up steps are left out, and the three ways time the same number of steps
    timed = bench.MIN_IMAGES - bench.WARMUP_STEPS * 64
    assert r["tunelab_timed_images"] == r["tutorial_timed_images"] == r["floor_timed_images"] == timed
    assert r["queue_runs"] == 8 and r["queue_concurrency"] == 2 and r["queue_images_per_run"] >= 128


def test_the_table_names_every_way():
    fake = {k: 1.0 for k in RATES}
    fake.update(
        device="cpu", device_name="cpu", torch_threads=2, parameters=122_570, images=1280, batch_size=64,
        optimizer="adam lr 1e-3", amp_bf16=False, channels_last=False, fast_mode=False, tutorial_num_workers=0,
        tunelab_to_tutorial_ratio=1.0, tunelab_to_floor_ratio=1.0, rounds=1,
        tunelab_to_tutorial_paired_median=1.0, tunelab_to_floor_paired_median=1.0, tunelab_epoch_s=1.0, tunelab_data_mb=1.0,
        first_metric_s=1.0, first_metric_prepare_s=0.5, tutorial_first_metric_s=1.0, warmup_steps=10, peak_memory_mb=1.0,
        tutorial_peak_memory_mb=1.0, floor_peak_memory_mb=1.0, peak_memory_kind="peak RSS growth",
        queue_runs=8, queue_images_per_run=128, queue_concurrency=4, queue_sequential_s=1.0,
        queue_concurrent_s=1.0, seconds=1.0, load_average_1min=[0.5, 0.5],
    )
    table = bench.format_table(fake)
    for words in ("(a) TuneLab", "(b) tutorial", "num_workers=0", "(c) compute floor", "TuneLab / tutorial",
                  "TuneLab / floor", "first metric", "queue of 8 runs"):
        assert words in table


@pytest.mark.parametrize("args, field", [(["--images", "100"], "images"), (["--concurrency", "0"], "concurrency"),
                                          (["--workers", "-1"], "workers"), (["--device", "tpu"], "device")])
def test_bad_bench_arguments_are_one_line_errors(capsys, args, field):
    assert main(["bench", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and field in err


def test_gpu_switches_apply_only_on_cuda(monkeypatch):
    conv = build_model(RunConfig(dataset="cifar10"), (3, 32, 32), 10)
    dense = build_model(RunConfig(dataset="digits", model="mlp"), (1, 8, 8), 10)
    cuda, cpu = torch.device("cuda"), torch.device("cpu")  # only the decision is tested: no GPU needed
    monkeypatch.delenv("TUNELAB_AMP", raising=False)
    monkeypatch.delenv("TUNELAB_FAST", raising=False)
    assert step_settings(conv, cuda) == StepSettings(amp=True, channels_last=True, fast=False)
    assert step_settings(dense, cuda).channels_last is False
    assert step_settings(conv, cpu, amp=True) == StepSettings(amp=False, channels_last=False, fast=False)
    monkeypatch.setenv("TUNELAB_AMP", "0")
    monkeypatch.setenv("TUNELAB_FAST", "1")
    assert step_settings(conv, cuda).amp is False and step_settings(conv, cuda).fast is True
    assert step_settings(conv, cuda, amp=True, fast=False) == StepSettings(amp=True, channels_last=True, fast=False)


BF16_RTOL = 1e-2  # bf16 keeps 8 bits of mantissa: the first steps' losses agree to well under 1%


def test_the_gpu_step_runs_through_the_trainer_on_a_cpu_stand_in(monkeypatch):
    # No GPU here: the trainer's CUDA step (bf16 autocast, channels_last batches and weights) runs with
    # the CPU's bf16 autocast in place of CUDA's, against the plain fp32 step.
    import core.train as trainer

    class CpuStandIn(StepSettings):
        def autocast(self):
            return torch.autocast("cpu", dtype=torch.bfloat16)

    config = RunConfig(dataset="digits", model="simple_cnn", train_subset=640, epochs=1, aug_shift=0.1, seed=3)

    def losses():
        events = []
        result = train(config, "cpu", emit=events.append, report_every=5)
        return [loss for e in events if isinstance(e, StepReport) for loss in e.losses], result

    fp32, fp32_result = losses()
    monkeypatch.setattr(trainer, "step_settings",
                        lambda model, device, amp=None, fast=None: CpuStandIn(amp=True, channels_last=True, fast=False))
    bf16, bf16_result = losses()
    assert bf16_result.status == "completed" and len(bf16) == len(fp32) == 10
    assert bf16 != fp32 and bf16 == pytest.approx(fp32, rel=BF16_RTOL)
    assert bf16_result.history[0]["val_loss"] == pytest.approx(fp32_result.history[0]["val_loss"], rel=BF16_RTOL)


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")  # in CI nothing here may skip
COMPILER = shutil.which("cc") or shutil.which("gcc") or shutil.which("g++")
# A cold torch.compile of the simple CNN takes about 40 s on a 2-core CPU: it runs in CI or when asked for.
CNN = pytest.param("simple_cnn", marks=pytest.mark.skipif(
    not IN_CI and os.environ.get("TUNELAB_TEST_COMPILE_CNN") != "1",
    reason="set TUNELAB_TEST_COMPILE_CNN=1 (about 40 s cold)"))


@pytest.mark.skipif(not COMPILER and not IN_CI, reason="torch.compile on a CPU needs a C++ compiler")
@pytest.mark.parametrize("model", ["mlp", CNN])
def test_fast_mode_matches_eager_mode(model):
    # 640 digits with shifts: 10 steps, losses read every 5
    config = RunConfig(dataset="digits", model=model, depth=2, width=64, train_subset=640, epochs=1,
                       aug_shift=0.1, seed=3)

    def losses(fast: bool):
        events = []
        result = train(config, "cpu", emit=events.append, report_every=5, fast=fast)
        return [loss for e in events if isinstance(e, StepReport) for loss in e.losses], result

    eager, eager_result = losses(False)
    fast, fast_result = losses(True)
    assert len(eager) == len(fast) == 10
    assert fast == pytest.approx(eager, rel=FAST_MODE_RTOL)
    assert fast_result.history[0]["val_loss"] == pytest.approx(eager_result.history[0]["val_loss"], rel=FAST_MODE_RTOL)
