"""`python -m core bench`: TuneLab's trainer against the usual tutorial loop and the compute floor, on
synthetic CIFAR-shaped images (it measures speed only: the pixels are noise, the labels random).

In one process, the seeds' simple CNN with the same initial weights, batch size 64 and Adam (lr 1e-3)
is trained three ways over the same N images:
  (a) TuneLab: core.training.loop.train itself, handed the images as prepared tensors (the whole set on the
      device, normalized; index-slice batches; flip and shift on the device; losses read every 10 steps);
  (b) the tutorial loop: a torchvision-style Dataset of uint8 images, a PIL image per item, DataLoader
      (shuffle, num_workers=0), RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor + Normalize
      per sample, loss.item() after every step;
  (c) the compute floor: forward, backward and step on one fixed batch already on the device, once
      per step setting the bench knows (default; channels_last; bf16 autocast; each with and without
      torch.compile), the floor being the fastest of them ("a floor is the best any setting
      reaches"). The JSON says which settings the floor's best and the trainer used, and which of
      the settings that keep the numbers (no bf16) is fastest: the trainer's choice per device in
      core/training/device.py is what this shows.
The first 10 steps of each way are warm-up, not timed. The timed steps run interleaved, 10 at a time
(each time the trainer reports, the other two take as many steps), so that load from other processes
hits all three alike. Then a queue of short runs of the real trainer goes one after another, and then
a few at a time on threads (on CUDA each thread on its own stream).
"""
from __future__ import annotations

import functools
import math
import os
import resource
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from core.catalog.models import count_parameters
from core.catalog.optimizers import build_optimizer
from core.config import RunConfig
from core.runs.store import RunStore
from core.runs.worker import Worker
from core.training.data import PreparedData, standardized
from core.training.device import StepSettings, accelerate
from core.training.events import StepReport
from core.training.loop import train
from core.training.model import build_initialized_model

BATCH = 64
SHAPE = (3, 32, 32)
CLASSES = 10
SEED = 0
WARMUP_STEPS = 10  # also the trainer's report_every here: its first report ends the warm-up
MIN_IMAGES = 2 * WARMUP_STEPS * BATCH  # at least as many timed steps as warm-up steps
DEFAULT_IMAGES = 50_000
QUEUE_RUNS = 8
NUM_WORKERS = 0  # the tutorial's DataLoader workers by default: on a 2-core box the model needs both cores


def bench_config(seed: int = SEED) -> RunConfig:
    """The seeds' simple CNN with Adam at 1e-3 and batch 64; flip plus shifts of up to 4 of 32 pixels,
    the counterpart of the tutorial's RandomHorizontalFlip and RandomCrop(32, padding=4)."""
    return RunConfig(dataset="cifar10", model="simple_cnn", optimizer="adam", lr=1e-3, batch_size=BATCH,
                     epochs=1, aug_flip=True, aug_shift=4 / 32, seed=seed)


def synthetic_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n random uint8 images (N, H, W, C) as torchvision's CIFAR10.data holds them, and random labels."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, SHAPE[1], SHAPE[2], SHAPE[0]), dtype=np.uint8)
    return images, rng.integers(0, CLASSES, size=n).astype(np.int64)


def _nchw(x_hwc: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x_hwc.transpose(0, 3, 1, 2)))


def prepare(x_hwc: np.ndarray, y: np.ndarray, x_val_hwc: np.ndarray, y_val: np.ndarray,
            device: torch.device) -> PreparedData:
    """The trainer's own data preparation (core/training/data.py) for the synthetic images."""
    return standardized(_nchw(x_hwc), torch.from_numpy(y), _nchw(x_val_hwc), torch.from_numpy(y_val), None, None,
                        SHAPE, CLASSES, device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class PeakMemory:
    """Peak memory of one stretch of work, as growth over where it started: on CUDA from
    torch.cuda.max_memory_allocated; on a CPU from the process's peak RSS (ru_maxrss only ever rises,
    so a stretch shows what it adds above the highest point so far)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.mb = math.nan

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) / 2**20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def start(self) -> "PeakMemory":
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start_mb = torch.cuda.memory_allocated(self.device) / 2**20
        else:
            self.start_mb = self._now()
        return self

    def stop(self) -> float:
        self.mb = self._now() - self.start_mb
        return self.mb


@dataclass
class Tally:
    """Images and seconds of the timed steps of one way, in total and per stretch."""

    images: int = 0
    seconds: float = 0.0
    rates: list[float] = field(default_factory=list)  # images/s of each stretch

    def add(self, images: int, seconds: float) -> tuple[int, float]:
        self.images += images
        self.seconds += seconds
        if images:
            self.rates.append(images / seconds)
        return images, seconds

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else math.nan


# ---- (b) the tutorial loop ---------------------------------------------------------------------
class ImageArrayDataset(torch.utils.data.Dataset):
    """torchvision's CIFAR10 in miniature: uint8 (N, H, W, C) images; each item becomes a PIL image
    and goes through the transform."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Callable):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[index])), int(self.labels[index])


class TutorialLoop:
    """The usual loop, one epoch, run a few steps at a time:
        for inputs, targets in loader: to(device); zero_grad; forward; loss; backward; step; loss.item()"""

    def __init__(self, images: np.ndarray, labels: np.ndarray, device: torch.device, workers: int = NUM_WORKERS):
        from torchvision import transforms

        started = time.perf_counter()
        sample = images[:1000].astype(np.float32) / 255.0  # the per-channel constants tutorials hard-code
        mean, std = tuple(sample.mean(axis=(0, 1, 2)).tolist()), tuple(sample.std(axis=(0, 1, 2)).tolist())
        transform = transforms.Compose([
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(mean, std),
        ])
        loader = torch.utils.data.DataLoader(
            ImageArrayDataset(images, labels, transform), batch_size=BATCH, shuffle=True,
            num_workers=workers, generator=torch.Generator().manual_seed(SEED),
        )
        config = bench_config()
        self.device = device
        self.model = build_initialized_model(config, SHAPE, CLASSES, device)
        self.optimizer = build_optimizer(self.model, config)
        self.criterion = nn.CrossEntropyLoss()
        self.model.train()
        self.batches = iter(loader)
        self.running_loss = 0.0
        self.run(1)
        self.first_metric_s = time.perf_counter() - started  # the first loss.item() is in

    def run(self, steps: int) -> tuple[int, float]:
        """Up to `steps` steps (fewer at the end of the epoch): (images, seconds)."""
        images, t0 = 0, time.perf_counter()
        for _ in range(steps):
            batch = next(self.batches, None)
            if batch is None:
                break
            inputs, targets = batch[0].to(self.device), batch[1].to(self.device)
            self.optimizer.zero_grad()
            loss = self.criterion(self.model(inputs), targets)
            loss.backward()
            self.optimizer.step()
            self.running_loss += loss.item()
            images += len(targets)
        return images, time.perf_counter() - t0


# ---- (c) the compute floor ---------------------------------------------------------------------
class Floor:
    """Forward, backward and optimizer step on one fixed batch already on the device, with the given
    step settings; no augmentation, no metrics, no host sync inside a stretch of steps."""

    def __init__(self, images, labels, device: torch.device, settings: StepSettings):
        config = bench_config()
        self.device = device
        x = torch.from_numpy(np.ascontiguousarray(images[:BATCH].transpose(0, 3, 1, 2))).float().div_(255.0)
        x = (x - x.mean(dim=(0, 2, 3), keepdim=True)) / x.std(dim=(0, 2, 3), keepdim=True)
        self.model = build_initialized_model(config, SHAPE, CLASSES, device)
        self.settings = settings
        self.step_model = accelerate(self.model, device, settings)
        if settings.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        self.x, self.y = x.to(device), torch.from_numpy(labels[:BATCH]).to(device)
        self.optimizer = build_optimizer(self.model, config)
        self.model.train()

    def run(self, steps: int) -> tuple[int, float]:
        t0 = time.perf_counter()
        for _ in range(steps):
            with self.settings.autocast():
                loss = nn.functional.cross_entropy(self.step_model(self.x), self.y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        _sync(self.device)
        return steps * BATCH, time.perf_counter() - t0


def floor_variants(device: torch.device, compile_too: bool = True) -> dict[str, StepSettings]:
    """Every step setting the bench knows, by name: the two layouts, bf16 autocast (on the CPU too: it
    is part of the floor even though the trainer never picks it there), each also compiled."""
    out: dict[str, StepSettings] = {}
    for fast in ((False, True) if compile_too else (False,)):
        for amp in (False, True):
            for channels_last in (False, True):
                parts = [n for n, on in (("channels_last", channels_last), ("bf16", amp), ("compile", fast)) if on]
                out["+".join(parts) or "default"] = StepSettings(amp=amp, channels_last=channels_last, fast=fast,
                                                                 device_type=device.type)
    return out


def keeps_numbers(settings: StepSettings) -> bool:
    """Settings whose losses match the default's within float rounding: everything but bf16."""
    return not settings.amp


# ---- the three ways, interleaved ---------------------------------------------------------------
@dataclass
class Ways:
    tunelab: Tally
    tutorial: Tally
    floors: dict[str, Tally]  # one per step setting (floor_variants)
    floor_settings: dict[str, StepSettings]
    first_metric_s: float
    tutorial_first_metric_s: float
    peak_memory_mb: dict[str, float]
    settings: Any  # the trainer's own step settings
    parameters: int
    data_mb: float = math.nan  # TuneLab's prepared tensors (training and validation images, labels)
    prepare_s: float = math.nan  # of first_metric_s: preparing the data (scaling, standardizing, copying)

    def best_floor(self, among: Callable[[StepSettings], bool] = lambda s: True) -> str:
        """The name of the fastest floor variant (of those `among` accepts)."""
        names = [n for n in self.floors if among(self.floor_settings[n])]
        return max(names, key=lambda n: self.floors[n].images_per_s)


def _warm_up_torch(device: torch.device) -> None:
    """One-time costs of the process (thread pools, kernel selection) before anything is measured."""
    model = build_initialized_model(bench_config(), SHAPE, CLASSES, device)
    optimizer = build_optimizer(model, bench_config())
    x = torch.randn(BATCH, *SHAPE, device=device)
    y = torch.zeros(BATCH, dtype=torch.long, device=device)
    for _ in range(3):
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    _sync(device)


def run_ways(images, labels, val_images, val_labels, device: torch.device, fast: bool | None,
             workers: int = NUM_WORKERS, compile_floors: bool = True) -> Ways:
    """Set up and warm up the floors and the tutorial loop, then train TuneLab's run; each time it
    reports (every 10 steps, the first report ending its warm-up) run the others for as many steps
    as the trainer took since its last report. The trainer is timed from its first report to its last,
    leaving out the time spent in the others' stretches. Peak memory: each way's set-up and warm-up
    on its own (the floors together). With DataLoader workers, the tutorial's workers keep preparing
    batches while the others run: its rate is then an upper bound."""
    _warm_up_torch(device)
    memory: dict[str, float] = {}
    meter = PeakMemory(device).start()
    variants = floor_variants(device, compile_floors)
    floors = {name: Floor(images, labels, device, settings) for name, settings in variants.items()}
    for floor in floors.values():
        floor.run(WARMUP_STEPS)  # (compiles the compiled ones)
    memory["floor"] = meter.stop()
    meter = PeakMemory(device).start()
    tutorial = TutorialLoop(images, labels, device, workers)
    tutorial.run(WARMUP_STEPS - 1)
    memory["tutorial"] = meter.stop()

    n = len(labels)
    ways = Ways(Tally(), Tally(), {name: Tally() for name in floors}, variants, math.nan, tutorial.first_metric_s,
                memory, None, count_parameters(floors["default"].model))
    state = {"step": 0, "resumed": 0.0}

    def emit(event) -> None:
        if not isinstance(event, StepReport):  # reports come after the report's host sync: steps are done
            return
        now = time.perf_counter()
        if state["step"] == 0:
            memory["tunelab"] = meter.stop()
            ways.first_metric_s = now - started
        else:
            steps = event.step - state["step"]
            ways.tunelab.add(sum(min(BATCH, n - i * BATCH) for i in range(state["step"], event.step)),
                             now - state["resumed"])
            ways.tutorial.add(*tutorial.run(steps))
            for name, floor in floors.items():
                ways.floors[name].add(*floor.run(steps))
        state["step"] = event.step
        state["resumed"] = time.perf_counter()

    meter = PeakMemory(device).start()
    started = time.perf_counter()
    data = prepare(images, labels, val_images, val_labels, device)
    ways.prepare_s = time.perf_counter() - started
    ways.data_mb = sum(t.element_size() * t.nelement() for t in (data.x_train, data.y_train, data.x_val, data.y_val)) / 2**20
    result = train(bench_config(), device, emit=emit, report_every=WARMUP_STEPS, data=data, fast=fast)
    if result.status != "completed" or ways.tunelab.images == 0:
        raise RuntimeError(f"the bench run did not complete: {result.status} {result.message}")
    ways.settings = result.settings
    ways.tutorial.add(*tutorial.run(10**9))  # the rest of its epoch, if any
    return ways


# ---- the queue ---------------------------------------------------------------------------------
def run_queue(images, labels, val_images, val_labels, device: torch.device, fast: bool | None,
              runs: int, concurrency: int) -> tuple[float, float]:
    """Wall time of `runs` short runs (one epoch each, seeds 0..runs-1) through TuneLab's own worker
    and a throwaway run store: first with one slot (one after another), then `concurrency` slots
    (as many threads; on CUDA each with a stream of its own), as a server with TUNELAB_SLOTS does."""
    data = prepare(images, labels, val_images, val_labels, device)
    trainer = functools.partial(train, data=data, fast=fast)

    def drain(slots: int) -> float:
        with tempfile.TemporaryDirectory(prefix="tunelab-bench-queue-") as tmp:
            store = RunStore(os.path.join(tmp, "runs.db"))
            worker = Worker(store, device=str(device), slots=slots, report_every=WARMUP_STEPS, trainer=trainer)
            try:
                started = time.perf_counter()
                ids = [worker.submit(bench_config(seed)) for seed in range(runs)]
                worker.wait_idle()
                seconds = time.perf_counter() - started
            finally:
                worker.shutdown()
            for run_id in ids:
                record = store.get(run_id)
                if record.status != "completed":
                    raise RuntimeError(f"queued run {run_id} did not complete: {record.status} {record.error}")
            return seconds

    return drain(1), drain(concurrency)


# ---- the whole bench ---------------------------------------------------------------------------
def queue_images_per_run(n: int) -> int:
    """Short runs: a twentieth of the images, between 2 and 10 batches."""
    return max(2 * BATCH, min(10 * BATCH, n // 20 // BATCH * BATCH))


def paired_ratio(a: Tally, b: Tally) -> float:
    """Median over rounds of a's rate over b's in the same round: stretches that ran a second apart
    share the machine's load, so a burst of load elsewhere moves the ratio of one round only."""
    return statistics.median(x / y for x, y in zip(a.rates, b.rates))


def run_bench(device: torch.device, n_images: int = DEFAULT_IMAGES, concurrency: int = 4,
              fast: bool | None = None, workers: int = NUM_WORKERS,
              log: Callable[[str], None] = lambda line: None, compile_floors: bool = True) -> dict[str, Any]:
    """Run the three ways and the queue; return every number (the keys of `--json`)."""
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    n_val = max(BATCH, min(1000, n_images // 10))
    images, labels = synthetic_images(n_images + n_val, SEED)
    images, val_images = images[:n_images], images[n_images:]
    labels, val_labels = labels[:n_images], labels[n_images:]

    log(f"the three ways, interleaved every {WARMUP_STEPS} steps: {n_images} images each")
    with ThreadPoolExecutor(max_workers=1) as worker:  # on a worker thread, where TuneLab's worker runs runs
        ways = worker.submit(run_ways, images, labels, val_images, val_labels, device, fast, workers,
                             compile_floors).result()
    best = ways.best_floor()
    best_kept = ways.best_floor(keeps_numbers)
    floor_tally = ways.floors[best]
    tunelab, tutorial, floor = ways.tunelab.images_per_s, ways.tutorial.images_per_s, floor_tally.images_per_s
    log(f"    TuneLab {tunelab:.0f}, tutorial {tutorial:.0f}, floor {floor:.0f} images/s ({best})")

    queue_images = queue_images_per_run(n_images)
    log(f"queue: {QUEUE_RUNS} runs of {queue_images} images, one after another, then {concurrency} at a time")
    q_sequential, q_concurrent = run_queue(images[:queue_images], labels[:queue_images], val_images[:BATCH],
                                           val_labels[:BATCH], device, fast, QUEUE_RUNS, concurrency)
    log(f"    {q_sequential:.1f} s one after another, {q_concurrent:.1f} s {concurrency} at a time")
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(),
        "model": "simple_cnn",
        "parameters": ways.parameters,
        "images": n_images,
        "batch_size": BATCH,
        "optimizer": "adam lr 1e-3",
        "warmup_steps": WARMUP_STEPS,
        "amp_bf16": ways.settings["amp"],
        "channels_last": ways.settings["channels_last"],
        "fast_mode": ways.settings["fast"],
        "tunelab_settings": ways.settings,
        "floor_settings": ways.floor_settings[best].to_dict(),
        "floor_best": best,
        "floor_variants_images_per_s": {name: t.images_per_s for name, t in ways.floors.items()},
        "fastest_setting_that_keeps_the_numbers": best_kept,
        "fastest_setting_that_keeps_the_numbers_settings": ways.floor_settings[best_kept].to_dict(),
        "tutorial_num_workers": workers,
        "tunelab_images_per_s": tunelab,
        "tutorial_images_per_s": tutorial,
        "floor_images_per_s": floor,
        "tunelab_timed_images": ways.tunelab.images,
        "tutorial_timed_images": ways.tutorial.images,
        "floor_timed_images": floor_tally.images,
        "tunelab_to_tutorial_ratio": tunelab / tutorial,
        "tunelab_to_floor_ratio": tunelab / floor,
        "tunelab_to_tutorial_paired_median": paired_ratio(ways.tunelab, ways.tutorial),
        "tunelab_to_floor_paired_median": paired_ratio(ways.tunelab, floor_tally),
        "rounds": len(ways.tunelab.rates),
        "tunelab_epoch_s": n_images / tunelab,
        "first_metric_s": ways.first_metric_s,
        "first_metric_prepare_s": ways.prepare_s,
        "tutorial_first_metric_s": ways.tutorial_first_metric_s,
        "peak_memory_mb": ways.peak_memory_mb["tunelab"],
        "tunelab_data_mb": ways.data_mb,
        "tutorial_peak_memory_mb": ways.peak_memory_mb["tutorial"],
        "floor_peak_memory_mb": ways.peak_memory_mb["floor"],
        "peak_memory_kind": "cuda max_memory_allocated growth" if device.type == "cuda" else "peak RSS growth",
        "queue_runs": QUEUE_RUNS,
        "queue_images_per_run": queue_images,
        "queue_concurrency": concurrency,
        "queue_sequential_s": q_sequential,
        "queue_concurrent_s": q_concurrent,
        "seconds": time.perf_counter() - started,
        "load_average_1min": [load_before, os.getloadavg()[0]],  # before and after: other processes' share
    }


def format_table(r: dict[str, Any]) -> str:
    mem = r["peak_memory_kind"]
    rows = [
        ("(a) TuneLab trainer (data on the device, batched flip+shift)", r["tunelab_images_per_s"], r["peak_memory_mb"]),
        (f"(b) tutorial loop (DataLoader, num_workers={r['tutorial_num_workers']}, per-sample transforms)",
         r["tutorial_images_per_s"], r["tutorial_peak_memory_mb"]),
        (f"(c) compute floor (one fixed batch on the device; best setting: {r['floor_best']})",
         r["floor_images_per_s"], r["floor_peak_memory_mb"]),
    ]
    device = r["device"] if r["device"] == "cpu" else f"{r['device']} ({r['device_name']})"
    lines = [
        f"simple CNN ({r['parameters']:,} parameters), {r['images']:,} synthetic 32x32x3 images, batch {r['batch_size']}, "
        f"{r['optimizer']}, on {device}, {r['torch_threads']} torch threads; bf16 {'on' if r['amp_bf16'] else 'off'}, "
        f"channels_last {'on' if r['channels_last'] else 'off'}, fast mode {'on' if r['fast_mode'] else 'off'}",
        "",
        f"{'way':<78} {'images/s':>9}   peak memory ({mem})",
    ]
    lines += [f"{name:<78} {rate:>9.0f}   {memory:.0f} MB" for name, rate, memory in rows]
    lines += [f"      floor with {name:<64} {rate:>9.0f}" for name, rate in r["floor_variants_images_per_s"].items()]
    lines.append(f"fastest setting that keeps the numbers (no bf16): {r['fastest_setting_that_keeps_the_numbers']}; "
                 f"the trainer used {', '.join(k for k, v in r['tunelab_settings'].items() if v) or 'the default'}")
    lines += [
        "",
        f"TuneLab / tutorial: {r['tunelab_to_tutorial_ratio']:.2f}x    TuneLab / floor: {r['tunelab_to_floor_ratio']:.2f}    "
        f"(median of the {r['rounds']} rounds' own ratios: {r['tunelab_to_tutorial_paired_median']:.2f}x and "
        f"{r['tunelab_to_floor_paired_median']:.2f})",
        f"one epoch of {r['images']:,} images with TuneLab: {r['tunelab_epoch_s']:.1f} s; "
        f"TuneLab's tensors on the device: {r['tunelab_data_mb']:.0f} MB",
        f"time to the first metric: TuneLab {r['first_metric_s']:.2f} s (data preparation {r['first_metric_prepare_s']:.2f} s, "
        f"then the first {r['warmup_steps']} steps: losses arrive every {r['warmup_steps']} steps), "
        f"tutorial {r['tutorial_first_metric_s']:.2f} s (one step)",
        f"queue of {r['queue_runs']} runs x {r['queue_images_per_run']} images: one after another {r['queue_sequential_s']:.1f} s, "
        f"{r['queue_concurrency']} at a time {r['queue_concurrent_s']:.1f} s",
        f"(num_workers={r['tutorial_num_workers']}: {'the loader runs in the training process' if r['tutorial_num_workers'] == 0 else 'worker processes prefetch while the other ways run, so (b) is an upper bound'}; "
        f"the first {r['warmup_steps']} steps of each way are not timed; the three ways ran interleaved, "
        f"{r['warmup_steps']} steps at a time; memory: growth over each way's set-up and warm-up; whole bench {r['seconds']:.0f} s; "
        f"load average {r['load_average_1min'][0]:.1f} before, {r['load_average_1min'][1]:.1f} after, on {os.cpu_count()} cores)",
    ]
    return "\n".join(lines)
