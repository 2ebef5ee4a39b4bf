"""Per-layer probes for the boiling-water lab: activation spread, histograms, saturated and dead
units, gradient norms and update ratios, measured on one fixed batch without disturbing training.

A "layer" is one activation module (every hidden Linear/Conv is followed by one); its weight is the
Linear/Conv just before it.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass
from typing import Callable, Protocol

import torch
from torch import nn
from torch.nn import functional as F

from core.catalog.activations import ACTIVATIONS, Activation
from core.config import RunConfig
from core.training.callbacks import Callback, Loop
from core.training.data import prepare_data
from core.training.events import ProbeReport
from core.training.model import build_initialized_model

HIST_BINS = 24
# A saturating unit is "saturated" within this distance of either end of its output range:
# sigmoid below 0.01 or above 0.99, tanh beyond +-0.99.
SATURATION_MARGIN = 0.01
# Histogram range for unbounded sides: activations beyond it fall into the end bins.
UNBOUNDED_LOW, UNBOUNDED_HIGH = -1.0, 4.0
# ReLU's first histogram bin, [0, ZERO_BIN_WIDTH), counts the units that are off.
ZERO_BIN_WIDTH = 1e-6
# Mean, std, saturated fraction and histogram of big conv outputs use an evenly spaced subset of
# this many values (cheap, and no random draw); dense layers of up to 256 units on 256 images are
# counted whole. Dead units always look at every value.
SAMPLE_MAX_VALUES = 65_536


@dataclass(frozen=True)
class _Kind:
    name: str  # registry name: sigmoid, relu...
    family: str
    output_range: tuple[float, float]


def _activation_kinds() -> dict[type, _Kind]:
    kinds: dict[type, _Kind] = {}
    for entry in ACTIVATIONS:
        act: Activation = entry.factory
        kinds.setdefault(type(act.make()), _Kind(entry.name, act.family, act.output_range))
    return kinds


_KINDS = _activation_kinds()


def hist_range(output_range: tuple[float, float]) -> tuple[float, float]:
    low, high = output_range
    return (low if math.isfinite(low) else UNBOUNDED_LOW, high if math.isfinite(high) else UNBOUNDED_HIGH)


def _uniform(low: float, high: float, bins: int) -> list[float]:
    return [low + (high - low) * i / bins for i in range(bins + 1)]


def hist_edges(activation: str) -> list[float]:
    """The HIST_BINS + 1 fixed bin edges of every histogram of this activation (registry name).

    Bins are [edge_i, edge_i+1). For sigmoid and tanh the first and last bins are exactly the
    saturated zones (within SATURATION_MARGIN of either end), so the histogram's end bins hold the
    saturated fraction; for ReLU the first bin holds exactly the zeros. The other bins are uniform."""
    act = ACTIVATIONS.get(activation).factory
    low, high = hist_range(act.output_range)
    if act.family == "saturating":
        return [low] + _uniform(low + SATURATION_MARGIN, high - SATURATION_MARGIN, HIST_BINS - 2) + [high]
    if act.family == "rectifier" and act.output_range[0] == 0.0:
        return [low] + _uniform(ZERO_BIN_WIDTH, high, HIST_BINS - 1)
    return _uniform(low, high, HIST_BINS)


@dataclass
class _Layer:
    index: int  # 1-based
    name: str
    kind: _Kind
    activation: nn.Module
    weight: torch.Tensor
    inner_edges: torch.Tensor  # the histogram's edges without the two outer ones


def find_layers(model: nn.Module) -> list[_Layer]:
    """Every activation module in forward order, paired with the Linear/Conv weight before it."""
    layers: list[_Layer] = []
    last_weight: tuple[str, torch.Tensor] | None = None
    counts = {"dense": 0, "conv": 0}
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            kind = "dense" if isinstance(module, nn.Linear) else "conv"
            counts[kind] += 1
            last_weight = (f"{kind} {counts[kind]}", module.weight)
        elif type(module) in _KINDS and last_weight is not None:
            act = _KINDS[type(module)]
            label, weight = last_weight
            edges = torch.tensor(hist_edges(act.name)[1:-1], device=weight.device)
            layers.append(_Layer(len(layers) + 1, f"{label} · {act.name}", act, module, weight, edges))
            last_weight = None
    return layers


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


class LayerProbe:
    """The trainer's Probe: before_update snapshots weights, measure() gathers per-layer statistics
    on the fixed probe batch (eval mode; gradients through autograd.grad, so .grad is untouched)."""

    def __init__(self, model: nn.Module, x_probe: torch.Tensor, y_probe: torch.Tensor):
        self.layers = find_layers(model)
        self.x = x_probe
        self.y = y_probe
        self._before: list[torch.Tensor] | None = None

    def before_update(self, model: nn.Module) -> None:
        with torch.no_grad():
            self._before = [layer.weight.detach().clone() for layer in self.layers]

    def measure(self, model: nn.Module) -> list[dict]:
        outputs: dict[int, torch.Tensor] = {}
        hooks = [
            layer.activation.register_forward_hook(
                lambda mod, inp, out, i=layer.index: outputs.__setitem__(i, out)
            )
            for layer in self.layers
        ]
        was_training = model.training
        model.eval()  # dropout off (no generator drawn), batch norm reads but never updates its stats
        try:
            with torch.enable_grad():
                logits = model(self.x)
                loss = F.cross_entropy(logits.float(), self.y)
                weights = [layer.weight for layer in self.layers]
                acts = [outputs[layer.index] for layer in self.layers]
                grads = torch.autograd.grad(loss, weights + acts, allow_unused=True)
        finally:
            for hook in hooks:
                hook.remove()
            model.train(was_training)
        n = len(self.layers)
        with torch.no_grad():
            stats = self._stats(acts, grads[:n], grads[n:])
        self._before = None
        return stats

    def _stats(self, acts, weight_grads, act_grads) -> list[dict]:
        rows: list[dict] = []
        numbers: list[torch.Tensor] = []  # gathered and read back to the host in one sync
        hists: list[torch.Tensor] = []
        for layer, out, w_grad, a_grad in zip(self.layers, acts, weight_grads, act_grads):
            out = out.detach().float()
            flat = out.reshape(-1)
            sample = flat[:: max(1, math.ceil(flat.numel() / SAMPLE_MAX_VALUES))]
            low, high = hist_range(layer.kind.output_range)
            family = layer.kind.family
            zero = out.new_zeros(())
            nan = out.new_full((), math.nan)
            if family == "saturating":
                lo, hi = layer.kind.output_range
                saturated = ((sample < lo + SATURATION_MARGIN) | (sample > hi - SATURATION_MARGIN)).float().mean()
            else:
                saturated = nan
            if family == "rectifier":
                # a unit (a feature, or a conv channel) is dead when it outputs <= 0 for every input
                other_dims = [d for d in range(out.dim()) if d != 1]
                dead = (out.amax(dim=other_dims) <= 0).float().mean()
            else:
                dead = nan
            if self._before is not None:
                before = self._before[layer.index - 1]
                ratio = torch.linalg.vector_norm(layer.weight.detach() - before) / torch.linalg.vector_norm(before)
            else:
                ratio = nan
            numbers.append(torch.stack([
                sample.mean(), sample.std(), saturated, dead,
                torch.linalg.vector_norm(w_grad) if w_grad is not None else zero,
                torch.linalg.vector_norm(a_grad) / math.sqrt(a_grad.numel()) if a_grad is not None else zero,
                ratio.float(),
            ]))
            bins = torch.bucketize(sample.clamp(low, high), layer.inner_edges.to(sample.dtype), right=True)
            hists.append(torch.bincount(bins, minlength=HIST_BINS))
        values = torch.stack(numbers).cpu().tolist()
        counts = torch.stack(hists).cpu().tolist()
        for layer, v, hist in zip(self.layers, values, counts):
            mean, std, saturated, dead, grad_norm, act_grad_rms, ratio = v
            rows.append({
                "layer": layer.index,
                "name": layer.name,
                "activation": layer.kind.name,
                "family": layer.kind.family,
                "act_mean": _finite(mean),
                "act_std": _finite(std),
                "saturated_fraction": None if math.isnan(saturated) else saturated,
                "dead_fraction": None if math.isnan(dead) else dead,
                "grad_norm": _finite(grad_norm),
                "act_grad_rms": _finite(act_grad_rms),
                "update_ratio": _finite(ratio),
                "hist": hist,
            })
        return rows


def make_probe(model: nn.Module, x_probe: torch.Tensor, y_probe: torch.Tensor) -> LayerProbe:
    """The factory the worker hands to the trainer."""
    return LayerProbe(model, x_probe, y_probe)


# ---- when the trainer probes ---------------------------------------------------------------------
class Probe(Protocol):
    """Per-layer measurements (LayerProbe implements it). At a probe step the trainer calls
    before_update(model) after backward and before the optimizer step (the probe may snapshot
    weights), then measure(model) after the step. measure() must not change the model or draw from
    the run's random generator (use eval mode)."""

    def before_update(self, model: nn.Module) -> None: ...

    def measure(self, model: nn.Module) -> list[dict]: ...


ProbeFactory = Callable[[nn.Module, torch.Tensor, torch.Tensor], Probe]  # (model, x_probe, y_probe)
PROBE_BATCH = 256
# The dashboard's share of training time for probes. A probe is a forward and backward pass on
# PROBE_BATCH images; taken every 50 steps of batch 64 on a CPU it cost 10-15% of the speed.
PROBE_BUDGET = 0.05
# With a budget, a short run may be probed more often than every `probe_every` steps, up to this many
# times, so that the Saturation Lab's time slider has moments to show (the budget caps the cost).
PROBES_PER_RUN = 40


class ProbeSchedule:
    """Which steps are probed: every `every` steps; with a `budget`, only once enough time has passed
    since the last probe that probing takes at most that fraction of the run's time. Probes never
    change training, so a time-based choice of steps keeps runs reproducible."""

    def __init__(self, every: int, budget: float | None = None, clock: Callable[[], float] = time.perf_counter):
        self.every = every
        self.budget = budget
        self.clock = clock
        self._last_end = 0.0
        self._last_cost = 0.0

    def due(self, step: int) -> bool:
        if step % self.every:
            return False
        if self.budget is None:
            return True
        waited = self.clock() - self._last_end
        return waited * self.budget >= self._last_cost * (1 - self.budget)

    @contextlib.contextmanager
    def timed(self):
        start = self.clock()
        try:
            yield
        finally:
            self._last_end = self.clock()
            self._last_cost = self._last_end - start


class ProbeCallback(Callback):
    """The trainer's per-layer probes: at step 0 (the initial state), at the steps the schedule picks,
    and after the run's last step, each emitted as a ProbeReport."""

    def __init__(self, make_probe: ProbeFactory, every: int = 50, budget: float | None = None,
                 clock: Callable[[], float] = time.perf_counter):
        self.make_probe, self.every, self.budget, self.clock = make_probe, every, budget, clock
        self.probe: Probe | None = None
        self.schedule: ProbeSchedule | None = None
        self._probing = False

    def before_fit(self, loop: Loop) -> None:
        every = self.every
        if self.budget is not None:
            every = min(every, max(1, loop.steps_per_epoch * loop.config.epochs // PROBES_PER_RUN))
        self.schedule = ProbeSchedule(every, self.budget, self.clock)
        self.probe = self.make_probe(loop.model, loop.data.x_val[:PROBE_BATCH], loop.data.y_val[:PROBE_BATCH])
        # (not timed: a first call's one-off set-up is no measure of the next ones)
        loop.emit(ProbeReport(0, 0, self.probe.measure(loop.model)))

    def before_update(self, loop: Loop, loss, grad_norm) -> bool:
        self._probing = self.schedule.due(loop.step) or loop.last_step_of_run
        if self._probing:
            self.probe.before_update(loop.model)
        return True

    def after_batch(self, loop: Loop, loss) -> None:
        if self._probing:
            with self.schedule.timed():
                loop.emit(ProbeReport(loop.step, loop.epoch, self.probe.measure(loop.model)))
            self._probing = False


def probe_at_init(config: RunConfig, n_samples: int = 256, data_dir=None) -> list[dict]:
    """Per-layer statistics of the config's freshly initialized model on the first `n_samples`
    validation images of its data set (the same fixed batch the trainer probes)."""
    device = torch.device("cpu")
    data = prepare_data(config, device, data_dir)
    model = build_initialized_model(config, data.shape, data.classes, device)
    probe = make_probe(model, data.x_val[:n_samples], data.y_val[:n_samples])
    return probe.measure(model)
