"""Where and how the training step runs: the device, and the step settings chosen per device.

The settings are the ones `python -m core bench` measures fastest for TuneLab's models; the trainer
turns on automatically only those that leave the numbers the same up to float rounding:
  - channels_last (NHWC) for conv models, on CUDA and on the CPU: on a 2-core CPU the simple CNN's
    step ran 20-50% faster with it (batch 64; 32x32x3, 28x28x1 and 8x8x1 inputs, with and without
    batch norm), and losses agree with the default layout within float rounding (rel. 1e-7 over two
    epochs). Except on the CPU with batch norm: there PyTorch's channels_last batch-norm kernel
    computes the batch variance another way (1e-6 apart on the first step), and batch norm with Adam
    grows that to 1e-2 within two epochs, so such runs keep the default layout on the CPU.
  - bf16 autocast on CUDA (switch: $TUNELAB_AMP=0): faster on tensor cores, but it rounds to 8 bits of
    mantissa. On the CPU it is off unless asked for ($TUNELAB_AMP=1): the losses then differ beyond
    float rounding, and it pays only on CPUs with bf16 units (on this 2-core machine's, the simple CNN's
    fixed-batch step ran 1.3x faster with it on top of channels_last; without such units it is slower).
  - torch.compile ("fast mode", $TUNELAB_FAST=1): off by default, because its first step compiles for
    tens of seconds, which a student clicking Start does not wait for.
The run records which settings it used (RunStarted.settings, the store's step_settings column).
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import torch
from torch import nn

from core.errors import ConfigError

AMP_ENV = "TUNELAB_AMP"  # "0" turns bf16 autocast off on CUDA (default on), "1" on on the CPU (default off)
FAST_ENV = "TUNELAB_FAST"  # "1" turns the fast mode on (default off)
# Fast mode changes only how the same float operations are scheduled and fused, so its per-step losses
# match eager mode's within this relative tolerance (checked on the CPU by tests/training/test_device.py).
FAST_MODE_RTOL = 1e-3


def resolve_device(name: str = "auto") -> torch.device:
    """auto -> cuda when a GPU is usable, else cpu. Asking for cuda without one is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("device", "cuda was asked for but no CUDA GPU is available; use auto or cpu")
        return torch.device("cuda")
    raise ConfigError("device", f"must be one of auto, cpu, cuda (got {name!r})")


def _switch(value: bool | None, env: str, default: bool) -> bool:
    if value is not None:
        return value
    raw = os.environ.get(env, "").strip().lower()
    return default if not raw else raw not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class StepSettings:
    """How the training step runs on its device."""

    amp: bool = False  # bf16 autocast for the forward pass and the loss (by default on CUDA only)
    channels_last: bool = False  # NHWC weights and batches for conv models
    fast: bool = False  # the step calls torch.compile(model)
    device_type: str = field(default="cuda", compare=False)  # where autocast applies

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device_type, dtype=torch.bfloat16) if self.amp else contextlib.nullcontext()

    def to_dict(self) -> dict[str, bool]:
        return {"amp": self.amp, "channels_last": self.channels_last, "fast": self.fast}


def has_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def has_batch_norm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def step_settings(model: nn.Module, device: torch.device, amp: bool | None = None, fast: bool | None = None,
                  channels_last: bool | None = None) -> StepSettings:
    """The settings the trainer uses on this device (see the module's docstring). amp/fast/channels_last:
    True or False to force one (the bench tries each), None for the measured default."""
    cuda = device.type == "cuda"
    return StepSettings(
        amp=_switch(amp, AMP_ENV, cuda),
        channels_last=has_conv(model) and (
            channels_last if channels_last is not None else cuda or not has_batch_norm(model)),
        fast=_switch(fast, FAST_ENV, False),
        device_type=device.type,
    )


def accelerate(model: nn.Module, device: torch.device, settings: StepSettings) -> nn.Module:
    """Apply the settings to the model; return what the training step calls: the model itself, or in
    fast mode its compiled wrapper, which shares its parameters (evaluation, probes and saved weights
    keep using the plain model)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    if settings.channels_last:
        model.to(memory_format=torch.channels_last)
    if settings.fast:
        return torch.compile(model, dynamic=False)
    return model
