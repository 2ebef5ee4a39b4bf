"""The speed bench prints consistent numbers (no timing is asserted): the three ways time the same
steps, the floor is the best of every step setting it tried, and the JSON says which settings the
floor and the trainer used."""
from __future__ import annotations

import json
import math

import pytest

from core.bench import speed as bench
from core.cli import bench as bench_cli
from core.cli import main

RATES = ("tunelab_images_per_s", "tutorial_images_per_s", "floor_images_per_s")


def test_bench_prints_one_json_object_with_consistent_numbers(capsys):
    assert main(["bench", "--device", "cpu", "--images", str(bench.MIN_IMAGES), "--concurrency", "2",
                 "--no-compile-floor", "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    r = json.loads(out)
    assert r["device"] == "cpu" and r["images"] == bench.MIN_IMAGES and r["batch_size"] == 64
    assert r["parameters"] == 122_570 and r["tutorial_num_workers"] == 0
    # the simple CNN without batch norm trains in the channels_last layout on a CPU, in fp32, eager
    assert r["tunelab_settings"] == {"amp": False, "channels_last": True, "fast": False}
    assert (r["amp_bf16"], r["channels_last"], r["fast_mode"]) == (False, True, False)
    # the floor is the fastest of the four eager variants, and says which
    variants = r["floor_variants_images_per_s"]
    assert set(variants) == {"default", "channels_last", "bf16", "channels_last+bf16"}
    assert r["floor_images_per_s"] == max(variants.values()) == variants[r["floor_best"]]
    assert r["floor_settings"] == {"amp": "bf16" in r["floor_best"], "channels_last": "channels_last" in r["floor_best"],
                                   "fast": False}
    kept = r["fastest_setting_that_keeps_the_numbers"]
    assert kept in ("default", "channels_last") and variants[kept] == max(variants["default"], variants["channels_last"])
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
        floor_best="channels_last", floor_variants_images_per_s={"default": 1.0, "channels_last": 1.0},
        fastest_setting_that_keeps_the_numbers="channels_last",
        tunelab_settings={"amp": False, "channels_last": True, "fast": False},
        tunelab_to_tutorial_ratio=1.0, tunelab_to_floor_ratio=1.0, rounds=1,
        tunelab_to_tutorial_paired_median=1.0, tunelab_to_floor_paired_median=1.0, tunelab_epoch_s=1.0, tunelab_data_mb=1.0,
        first_metric_s=1.0, first_metric_prepare_s=0.5, tutorial_first_metric_s=1.0, warmup_steps=10, peak_memory_mb=1.0,
        tutorial_peak_memory_mb=1.0, floor_peak_memory_mb=1.0, peak_memory_kind="peak RSS growth",
        queue_runs=8, queue_images_per_run=128, queue_concurrency=4, queue_sequential_s=1.0,
        queue_concurrent_s=1.0, seconds=1.0, load_average_1min=[0.5, 0.5],
    )
    table = bench.format_table(fake)
    for words in ("(a) TuneLab", "(b) tutorial", "num_workers=0", "(c) compute floor", "TuneLab / tutorial",
                  "TuneLab / floor", "first metric", "queue of 8 runs", "floor with channels_last",
                  "the trainer used channels_last"):
        assert words in table


@pytest.mark.parametrize("args, field", [(["--images", "100"], "images"), (["--concurrency", "0"], "concurrency"),
                                          (["--workers", "-1"], "workers"), (["--device", "tpu"], "device")])
def test_bad_bench_arguments_are_one_line_errors(capsys, args, field):
    assert main(["bench", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and field in err


def test_the_cli_default_image_count_is_the_benchs():
    assert bench_cli.DEFAULT_IMAGES == bench.DEFAULT_IMAGES
