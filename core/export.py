"""Export a stored run (history CSV, config JSON, TensorBoard event files, a standalone PyTorch script
that reproduces it) and import a config JSON.

The TensorBoard files are written here byte by byte (TFRecord framing with masked CRC32C around
hand-encoded Event protobufs), so exporting needs neither the tensorboard nor the protobuf package.
"""
from __future__ import annotations

import dis
import inspect
import json
import math
import re
import struct
import sys
import textwrap
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from core.config import RunConfig
from core.errors import ConfigError

FORMATS = ("csv", "json", "tensorboard", "script")
EPOCH_TAGS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")  # per epoch, step = epoch number
STEP_TAG = "step_loss"  # per training step, step = global step number (from 1)


# ---- reading a run --------------------------------------------------------------------------
def load_run(store, run_id: int):
    """The stored run, or ConfigError naming run_id when the store has no such run."""
    record = store.get(int(run_id))
    if record is None:
        raise ConfigError("run_id", f"no run {run_id} in {store.path}")
    return record


def export_run(store, run_id: int, formats: Iterable[str], out_dir: str | Path) -> list[Path]:
    """Write the chosen formats for one run into out_dir (created if missing); returns the paths."""
    formats = list(formats)
    for fmt in formats:
        if fmt not in FORMATS:
            raise ConfigError("format", f"must be one of {', '.join(FORMATS)} (got {fmt!r})")
    load_run(store, run_id)
    out = _folder(out_dir)
    writers: dict[str, Callable] = {
        "csv": write_history_csv, "json": write_config_json, "tensorboard": write_tensorboard, "script": write_script,
    }
    return [writers[fmt](store, run_id, out) for fmt in formats]


def _folder(path: str | Path) -> Path:
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_history_csv(store, run_id: int, out_dir: str | Path) -> Path:
    """run_<id>_history.csv: Keras CSVLogger's columns (epoch, loss, accuracy, val_loss, val_accuracy, lr)."""
    load_run(store, run_id)
    path = _folder(out_dir) / f"run_{run_id}_history.csv"
    path.write_text(store.history_csv(run_id), encoding="utf-8")
    return path


def write_config_json(store, run_id: int, out_dir: str | Path) -> Path:
    """run_<id>_config.json: the run's RunConfig, which import_config (and `train --config`) read back."""
    record = load_run(store, run_id)
    path = _folder(out_dir) / f"run_{run_id}_config.json"
    path.write_text(record.config.to_json() + "\n", encoding="utf-8")
    return path


def import_config(text: str | bytes) -> RunConfig:
    """A RunConfig from an exported (or hand-written) config JSON. Settings this version does not know
    are dropped, so configs of older and newer TuneLab versions open; a bad value raises ConfigError
    naming its field. An object that wraps the settings under "config" (as `probe --json` prints it)
    is unwrapped."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError("config", "is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError("config", f"is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ConfigError("config", "must be a JSON object of settings")
    known = {f.name for f in fields(RunConfig)}
    if isinstance(data.get("config"), dict) and not (set(data) & known):
        data = data["config"]
    if data and not (set(data) & known):
        raise ConfigError("config", f"has none of TuneLab's settings (found {', '.join(sorted(data)[:5])})")
    return RunConfig.from_dict(data, strict=False)


# ---- TensorBoard event files ------------------------------------------------------------------
def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1  # Castagnoli polynomial, reflected
        table.append(crc)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum TFRecord files use."""
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC: rotate right by 15 bits and add a constant (see tensorflow/core/lib/hash/crc32c.h)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data: bytes) -> bytes:
    """One TFRecord: uint64 length, masked CRC of the length, the data, masked CRC of the data (little endian)."""
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data))


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # int64 as protobuf writes it (negative numbers take 10 bytes)
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _length_delimited(field_number: int, payload: bytes) -> bytes:
    return _varint(field_number << 3 | 2) + _varint(len(payload)) + payload


def encode_event(wall_time: float, step: int = 0, file_version: str | None = None,
                 scalars: dict[str, float] | None = None) -> bytes:
    """An Event protobuf (tensorflow/core/util/event.proto): wall_time (1, double), step (2, int64),
    file_version (3, string) or summary (5, Summary); Summary.value (1) holds Value{tag (1, string),
    simple_value (2, float)} per scalar."""
    out = bytearray(b"\x09" + struct.pack("<d", wall_time))
    if step:
        out += b"\x10" + _varint(step)
    if file_version is not None:
        out += _length_delimited(3, file_version.encode())
    if scalars:
        summary = b"".join(
            _length_delimited(1, _length_delimited(1, tag.encode()) + b"\x15" + struct.pack("<f", value))
            for tag, value in scalars.items()
        )
        out += _length_delimited(5, summary)
    return bytes(out)


def read_tfrecords(path: str | Path) -> Iterator[bytes]:
    """The records of a TFRecord file, each checked against both its CRCs (ValueError if one is wrong)."""
    data = Path(path).read_bytes()
    pos = 0
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError(f"truncated record header at byte {pos}")
        header = data[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (header_crc,) = struct.unpack("<I", data[pos + 8 : pos + 12])
        if header_crc != masked_crc32c(header):
            raise ValueError(f"bad length CRC at byte {pos}")
        body = data[pos + 12 : pos + 12 + length]
        if len(body) != length or pos + 16 + length > len(data):
            raise ValueError(f"truncated record at byte {pos}")
        (body_crc,) = struct.unpack("<I", data[pos + 12 + length : pos + 16 + length])
        if body_crc != masked_crc32c(body):
            raise ValueError(f"bad data CRC at byte {pos}")
        yield body
        pos += 16 + length


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
        elif wire == 1:
            value, pos = data[pos : pos + 8], pos + 8
        elif wire == 2:
            size, pos = _read_varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = data[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def decode_event(data: bytes) -> dict:
    """The parts of an Event that encode_event writes: {wall_time, step, file_version?, scalars}."""
    event: dict[str, Any] = {"wall_time": 0.0, "step": 0, "scalars": {}}
    for number, wire, value in _fields(data):
        if number == 1 and wire == 1:
            event["wall_time"] = struct.unpack("<d", value)[0]
        elif number == 2 and wire == 0:
            event["step"] = value
        elif number == 3 and wire == 2:
            event["file_version"] = value.decode()
        elif number == 5 and wire == 2:
            for vnum, _, summary_value in _fields(value):
                if vnum != 1:
                    continue
                tag, simple = None, None
                for n, w, v in _fields(summary_value):
                    if n == 1 and w == 2:
                        tag = v.decode()
                    elif n == 2 and w == 5:
                        simple = struct.unpack("<f", v)[0]
                if tag is not None and simple is not None:
                    event["scalars"][tag] = simple
    return event


def tensorboard_events(record, history: list[dict], steps: list[dict]) -> list[bytes]:
    """The run's events: the file-version header, then per epoch the EPOCH_TAGS scalars (step = epoch)
    and per training step the loss (STEP_TAG, step = global step). Wall times are the run's real start
    plus its recorded epoch durations (steps spread evenly through their epoch); missing values
    (a diverged epoch's NaN) are left out."""
    start = record.started_at or record.created_at
    events = [encode_event(start, file_version="brain.Event:2")]
    epoch_start: dict[int, float] = {}
    epoch_seconds: dict[int, float] = {}
    clock = start
    for row in history:
        epoch_start[row["epoch"]] = clock
        epoch_seconds[row["epoch"]] = row.get("seconds") or 0.0
        clock += epoch_seconds[row["epoch"]]
        values = {tag: float(row[tag]) for tag in EPOCH_TAGS if row.get(tag) is not None}
        if values:
            events.append(encode_event(clock, row["epoch"], scalars=values))
    per_epoch: dict[int, int] = {}
    for row in steps:
        per_epoch[row["epoch"]] = per_epoch.get(row["epoch"], 0) + 1
    seen: dict[int, int] = {}
    for row in steps:
        if row["loss"] is None:
            continue
        epoch = row["epoch"]
        seen[epoch] = seen.get(epoch, 0) + 1
        begin = epoch_start.get(epoch, clock)
        wall = begin + epoch_seconds.get(epoch, 0.0) * seen[epoch] / per_epoch[epoch]
        events.append(encode_event(wall, row["step"], scalars={STEP_TAG: float(row["loss"])}))
    return events


def write_tensorboard(store, run_id: int, out_dir: str | Path) -> Path:
    """out_dir/run_<id>/events.out.tfevents.<start>.tunelab: `tensorboard --logdir out_dir` shows each
    exported run as its own run. Exporting again replaces the file."""
    record = load_run(store, run_id)
    folder = _folder(Path(out_dir) / f"run_{run_id}")
    for old in folder.glob("events.out.tfevents.*"):
        old.unlink()
    start = int(record.started_at or record.created_at)
    path = folder / f"events.out.tfevents.{start}.tunelab"
    events = tensorboard_events(record, store.history(run_id), store.steps(run_id))
    path.write_bytes(b"".join(tfrecord(e) for e in events))
    return path


# ---- the standalone script --------------------------------------------------------------------
# What the script inlines comes from TuneLab's modules by inspect.getsource, with the module-level
# functions, classes and constants it uses; the model TuneLab builds is written out layer by layer.
# Before a script is written, export runs its definitions and checks that they give the same initial
# weights, optimizer settings and learning-rate schedule as TuneLab's own code.

def _code_objects(obj: Any) -> Iterator[Any]:
    if inspect.isclass(obj):
        for value in vars(obj).values():
            func = getattr(value, "__func__", value)
            if inspect.isfunction(func):
                yield from _code_objects(func)
        return
    stack = [inspect.unwrap(obj).__code__]  # through decorators such as @torch.no_grad()
    while stack:
        code = stack.pop()
        yield code
        stack += [c for c in code.co_consts if inspect.iscode(c)]


def inline_sources(*objects: Any) -> str:
    """Source of the given TuneLab functions and classes, preceded by the module-level functions,
    classes and UPPER_CASE constants of the same module that they use (dependencies first)."""
    done: dict[str, tuple[Any, str]] = {}

    def visit(obj: Any) -> None:
        name = obj.__name__
        if name in done:
            if done[name][0] is not obj:
                raise RuntimeError(f"two inlined objects are both called {name}")
            return
        done[name] = (obj, "")  # placeholder: breaks cycles
        module = sys.modules[obj.__module__]
        used: list[str] = []
        for code in _code_objects(obj):
            # global names only: co_names also holds attribute names (model.train() is not train())
            used += [i.argval for i in dis.get_instructions(code)
                     if i.opname in ("LOAD_GLOBAL", "LOAD_NAME") and i.argval not in used]
        for dep_name in used:
            value = module.__dict__.get(dep_name)
            if value is None or value is obj:
                continue
            if (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == module.__name__:
                visit(value)
            elif dep_name.isupper() and isinstance(value, (int, float, str)) and dep_name not in done:
                done[dep_name] = (value, f"{dep_name} = {value!r}\n")
        source = textwrap.dedent(inspect.getsource(obj))
        where = module.__name__.replace(".", "/") + ".py"
        del done[name]
        done[name] = (obj, f"# from {where}\n{source}")

    for obj in objects:
        visit(obj)
    return "\n\n".join(text.rstrip("\n") for _, text in done.values()) + "\n"


def _layer_code(module) -> str:
    """One layer of TuneLab's model as the PyTorch expression that builds it."""
    from torch import nn

    from core.models import SeededDropout

    if isinstance(module, SeededDropout):
        return f"SeededDropout({module.p!r})"
    if isinstance(module, nn.Linear):
        return f"nn.Linear({module.in_features}, {module.out_features}, bias={module.bias is not None})"
    if isinstance(module, nn.Conv2d):
        return (f"nn.Conv2d({module.in_channels}, {module.out_channels}, {module.kernel_size!r}, "
                f"stride={module.stride!r}, padding={module.padding!r}, bias={module.bias is not None})")
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return f"nn.{type(module).__name__}({module.num_features}, eps={module.eps!r}, momentum={module.momentum!r})"
    if isinstance(module, nn.MaxPool2d):
        return f"nn.MaxPool2d({module.kernel_size!r}, stride={module.stride!r}, padding={module.padding!r})"
    if isinstance(module, nn.Flatten):
        return f"nn.Flatten({module.start_dim}, {module.end_dim})"
    if isinstance(module, nn.LeakyReLU):
        return f"nn.LeakyReLU({module.negative_slope!r})"
    if isinstance(module, nn.ELU):
        return f"nn.ELU({module.alpha!r})"
    if isinstance(module, nn.GELU):
        return f"nn.GELU(approximate={module.approximate!r})"
    if type(module) in (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.Identity):
        return f"nn.{type(module).__name__}()"
    raise ConfigError("format", f"the script export does not know the layer {type(module).__name__} yet")


def _model_code(model) -> str:
    from torch import nn

    if not isinstance(model, nn.Sequential):
        raise ConfigError("format", f"the script export needs a plain nn.Sequential model (got {type(model).__name__})")
    lines = ",\n        ".join(_layer_code(layer) for layer in model)
    return f"nn.Sequential(\n        {lines},\n    )"


def _optimizer_code(optimizer) -> str:
    """torch.optim.<Class>(groups, lr=..., <every setting that differs from the class's default>)."""
    cls = type(optimizer)
    signature = inspect.signature(cls)
    args = [f"lr={optimizer.defaults['lr']!r}"]
    for name, param in signature.parameters.items():
        if name in ("params", "lr", "weight_decay") or name not in optimizer.defaults:
            continue
        value = optimizer.defaults[name]
        if param.default is inspect.Parameter.empty or value != param.default:
            args.append(f"{name}={value!r}")
    return f"torch.optim.{cls.__name__}(groups, {', '.join(args)})"


def _schedule_code(config: RunConfig) -> str:
    """The expression building core/schedules.py's scheduler for the config (None: constant rate)."""
    c = config
    sched = "torch.optim.lr_scheduler"
    table = {
        "constant": "None",
        "step": f"{sched}.StepLR(optimizer, step_size={c.lr_step_epochs}, gamma={c.lr_decay!r})",
        "exponential": f"{sched}.ExponentialLR(optimizer, gamma={c.lr_decay!r})",
        "cosine": f"{sched}.CosineAnnealingLR(optimizer, T_max={c.epochs}, eta_min={c.min_lr!r})",
        "plateau": (f'{sched}.ReduceLROnPlateau(optimizer, mode="min", factor={c.lr_decay!r}, '
                    f"patience={c.plateau_patience}, min_lr={c.min_lr!r})"),
    }
    if c.schedule not in table:
        raise ConfigError("schedule", f"the script export does not know the schedule {c.schedule!r} yet")
    return table[c.schedule]


def _loader_code(config: RunConfig) -> tuple[list, str, list[str]]:
    """(TuneLab objects to inline, source defining load_data(data_dir) -> ImageData, packages it needs)."""
    from core import datasets

    spec = datasets.DATASETS.get(config.dataset).factory
    if spec.builtin:
        loader = spec.load
        packages = sorted({m.group(1) for m in re.finditer(r"^\s*from (\w+)", inspect.getsource(loader), re.M)})
        body = f'''
def load_data(data_dir: str) -> ImageData:
    """{config.dataset} ships inside an installed package: no download, data_dir is not used."""
    return {loader.__name__}(data_dir, False)
'''
        return [datasets.ImageData, loader], body, packages
    cls_name = inspect.getclosurevars(spec.load).nonlocals.get("cls_name")
    if not cls_name:
        raise ConfigError("dataset", f"the script export cannot load {config.dataset} yet")
    body = f'''
def load_data(data_dir: str) -> ImageData:
    """torchvision's {cls_name} in data_dir (TuneLab's data folder has torchvision's layout); downloaded if missing."""
    import torchvision.datasets as tvd

    train = tvd.{cls_name}(root=data_dir, train=True, download=True)
    test = tvd.{cls_name}(root=data_dir, train=False, download=True)
    return ImageData(*_as_tensors(train), *_as_tensors(test))
'''
    return [datasets.ImageData, datasets._as_tensors], body, ["torchvision"]


def _initializer_code(config: RunConfig) -> tuple[list, str]:
    """(TuneLab objects to inline, an initialize(model, generator) drawing the numbers in the order
    core.initializers.initialize draws them)."""
    from core.initializers import INITIALIZERS, _uniform, fans

    fill = INITIALIZERS.get(config.init).factory.fill
    if config.init == "default":
        objects = [fill, fans, _uniform]
        bias = ("fan_in, _ = fans(module.weight)\n"
                "            _uniform(module.bias, 1.0 / math.sqrt(fan_in), generator)")
    else:
        objects = [fill]
        bias = "nn.init.zeros_(module.bias)"
    body = f'''
def initialize(model: nn.Module, generator: torch.Generator) -> None:
    """core.initializers.initialize with init={config.init!r}: every Linear and Conv2d weight in turn
    from the seeded generator; batch-norm layers keep weight 1 and bias 0."""
    with torch.no_grad():
        for module in model.modules():
            if not isinstance(module, (nn.Linear, nn.Conv2d)):
                continue
            {fill.__name__}(module.weight, CONFIG["init_std"], generator)
            if module.bias is None:
                continue
            {bias}
'''
    return objects, body


def weights_checksum(model) -> float:
    """Sum of |w| over every parameter, in float64: the script prints it next to TuneLab's."""
    return float(sum(p.detach().double().abs().sum().item() for p in model.parameters()))


def _literal(value: Any) -> str:
    """A Python literal for JSON-like values, NaN and infinities as None."""
    if isinstance(value, float) and not math.isfinite(value):
        return "None"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    return repr(value)


def _block(items: Iterable[str], open_: str, close: str) -> str:
    """One item per line, indented: a dict or list literal a reader can scan."""
    lines = [f"    {item}," for item in items]
    return open_ + ("\n" + "\n".join(lines) + "\n" if lines else "") + close


def script_source(record, history: list[dict]) -> str:
    """The standalone script for one stored run (see write_script)."""
    import torch

    from core import augment, datasets, models, optimizers, train
    from core.optimizers import build_optimizer
    from core.schedules import build_schedule

    config: RunConfig = record.config
    spec = datasets.DATASETS.get(config.dataset).factory
    model = train.build_initialized_model(config, spec.shape, spec.classes, torch.device("cpu"))
    optimizer = build_optimizer(model, config)
    schedule_expr = _schedule_code(config)
    schedule_note = {"constant": ": the same learning rate for every epoch",
                     "plateau": ", stepped after every epoch with the validation loss"}.get(
        config.schedule, ", stepped once after every epoch")
    loader_objects, loader_body, packages = _loader_code(config)
    init_objects, init_body = _initializer_code(config)
    augmenting = augment.is_active(config.aug_flip, config.aug_shift, config.aug_rotation, config.aug_zoom)
    helpers = inline_sources(
        *loader_objects, models.SeededDropout, *init_objects, optimizers.param_groups,
        optimizers.regularized_weights, train._steps_per_epoch, train.evaluate,
        *((augment.random_affine,) if augmenting else ()),
    )
    original = [{k: row.get(k) for k in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr")}
                for row in history]
    needs = ", ".join(["torch"] + [p for p in packages if p != "torch"])
    title = f"#{record.id}" + (f" ({record.name})" if record.name else "")
    augment_block = ('''if augmenting:
                xb = random_affine(xb, run_gen, CONFIG["aug_flip"], CONFIG["aug_shift"], CONFIG["aug_rotation"],
                                   CONFIG["aug_zoom"])
            ''' if augmenting else "")
    text = f'''#!/usr/bin/env python3
"""Reproduce TuneLab run {title}: {config.model} on {config.dataset}, {config.optimizer} at lr {config.lr:g}, \
{config.epochs} epoch{"s" if config.epochs != 1 else ""}, seed {config.seed}.

Standalone: it needs only {needs} (no TuneLab). Run `python {f"run_{record.id}.py"}`; add --json for one
JSON object with the history, --epochs N to stop earlier, --device cuda for a GPU (a GPU draws other random
numbers and rounds differently, so only the CPU gives TuneLab's CPU numbers again).

Written by `python -m core export {record.id} --format script`: the helpers below are TuneLab's own code
(copied from core/*.py), the model is the one TuneLab built, written out layer by layer, and the loop
is core/train.py's loop without the live reporting. The same seed gives the same initial weights
(generator seeded with seed), the same validation split (seed) and the same batch order, augmentation
and dropout masks (one generator seeded with seed + 1).
"""
from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# The run's settings, as TuneLab stored them.
CONFIG = {_block((f"{k!r}: {_literal(v)}" for k, v in config.to_dict().items()), "{", "}")}

# What TuneLab recorded for this run, per epoch (None: not a number).
ORIGINAL_HISTORY = {_block((_literal(row) for row in original), "[", "]")}

# Sum of |w| over the initial weights TuneLab drew for this run.
ORIGINAL_INITIAL_CHECKSUM = {weights_checksum(model)!r}


# ---- TuneLab's helpers ----------------------------------------------------------------------------
{helpers}

{loader_body}

{init_body}

# ---- this run -------------------------------------------------------------------------------------
def prepare_data(device: torch.device, data_dir: str):
    """core.train.prepare_data: split with the seed, scale to [0, 1], standardize per channel with the
    training images' statistics."""
    data = load_data(data_dir)
    split_gen = torch.Generator().manual_seed(CONFIG["seed"])
    order = torch.randperm(len(data.y_train), generator=split_gen)
    n_val = max(1, round(len(order) * CONFIG["val_split"]))
    val_idx, train_idx = order[:n_val], order[n_val:]
    if CONFIG["train_subset"]:
        train_idx = train_idx[: CONFIG["train_subset"]]

    x_train = data.x_train[train_idx].float().div_(255.0)
    mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
    std = x_train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)

    def to_device(x_uint8: torch.Tensor) -> torch.Tensor:
        return ((x_uint8.float().div_(255.0) - mean) / std).to(device)

    x_test = to_device(data.x_test) if data.x_test is not None else None
    y_test = data.y_test.to(device) if data.y_test is not None else None
    return (((x_train - mean) / std).to(device), data.y_train[train_idx].to(device),
            to_device(data.x_train[val_idx]), data.y_train[val_idx].to(device), x_test, y_test)


def build_model() -> nn.Sequential:
    """{config.model} for {config.dataset} {"x".join(map(str, spec.shape))} images, {spec.classes} classes."""
    return {_model_code(model)}


def build_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    groups = param_groups(model, CONFIG["l2"])  # L2 on weights, not on biases and batch-norm scales
    return {_optimizer_code(optimizer)}


def build_schedule(optimizer: torch.optim.Optimizer):
    """schedule={config.schedule!r}{schedule_note}."""
    return {schedule_expr}


def weights_checksum(model: nn.Module) -> float:
    return float(sum(p.detach().double().abs().sum().item() for p in model.parameters()))


def fmt(value) -> str:
    return "nan" if value is None or not math.isfinite(value) else f"{{value:.6f}}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--epochs", type=int, default=CONFIG["epochs"], help="epochs to train (default: the run's)")
    parser.add_argument("--data-dir", default=os.environ.get("TUNELAB_DATA_DIR", os.path.expanduser("~/.tunelab/data")),
                        help="folder of downloaded data sets (torchvision's layout)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    args = parser.parse_args()
    device = torch.device(args.device)
    epochs = min(args.epochs, CONFIG["epochs"])

    x_train, y_train, x_val, y_val, x_test, y_test = prepare_data(device, args.data_dir)
    model = build_model()
    initialize(model, torch.Generator().manual_seed(CONFIG["seed"]))  # the initial weights
    model = model.to(device)
    checksum = weights_checksum(model)
    run_gen = torch.Generator(device=device).manual_seed(CONFIG["seed"] + 1)  # order, augmentation, dropout
    for module in model.modules():
        if isinstance(module, SeededDropout):
            module.generator = run_gen
    params = [p for p in model.parameters() if p.requires_grad]
    l1_weights = list(regularized_weights(model)) if CONFIG["l1"] > 0 else []
    optimizer = build_optimizer(model)
    schedule = build_schedule(optimizer)
    augmenting = {augmenting!r}

    n_train = len(y_train)
    batch = min(CONFIG["batch_size"], n_train)
    steps_per_epoch = _steps_per_epoch(n_train, batch)
    if not args.json:
        same = "same as TuneLab's" if abs(checksum - ORIGINAL_INITIAL_CHECKSUM) <= 1e-9 * ORIGINAL_INITIAL_CHECKSUM \\
            else f"TuneLab's was {{ORIGINAL_INITIAL_CHECKSUM!r}}"
        print(f"{{n_train}} training and {{len(y_val)}} validation images, {{steps_per_epoch}} steps per epoch; "
              f"initial weights checksum {{checksum!r}} ({{same}})")

    history, status = [], "completed"
    best_loss, best_state, since_best, best_epoch, stopped_early = math.inf, None, 0, None, False
    model.train()
    for epoch in range(1, epochs + 1):
        lr = optimizer.param_groups[0]["lr"]
        order = torch.randperm(n_train, device=device, generator=run_gen)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        for i in range(steps_per_epoch):
            idx = order[i * batch : (i + 1) * batch]
            xb, yb = x_train[idx], y_train[idx]
            {augment_block}logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            objective = loss
            if l1_weights:
                objective = loss + CONFIG["l1"] * sum(w.abs().sum() for w in l1_weights)
            optimizer.zero_grad(set_to_none=True)
            objective.backward()
            if CONFIG["clip_norm"] > 0:
                nn.utils.clip_grad_norm_(params, CONFIG["clip_norm"])
            optimizer.step()
            loss = loss.detach()
            loss_sum += loss * len(idx)
            correct += (logits.detach().argmax(1) == yb).sum()
            seen += len(idx)
        train_loss, train_acc = loss_sum.item() / seen, correct.item() / seen
        if math.isfinite(train_loss):
            val_loss, val_acc = evaluate(model, x_val, y_val)
        else:
            val_loss, val_acc = math.nan, math.nan
        row = {{"epoch": epoch, "loss": train_loss, "accuracy": train_acc, "val_loss": val_loss,
               "val_accuracy": val_acc, "lr": lr}}
        history.append(row)
        if not args.json:
            was = next((r for r in ORIGINAL_HISTORY if r["epoch"] == epoch), None)
            note = f"   (TuneLab: loss {{fmt(was['loss'])}}, val_loss {{fmt(was['val_loss'])}})" if was else ""
            print(f"epoch {{epoch}}/{{epochs}}  loss {{fmt(train_loss)}}  accuracy {{train_acc:.4f}}  "
                  f"val_loss {{fmt(val_loss)}}  val_accuracy {{val_acc:.4f}}  lr {{lr:.3g}}{{note}}")
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            status = "diverged"
            break
        if isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
            schedule.step(val_loss)
        elif schedule is not None:
            schedule.step()
        if val_loss < best_loss:
            best_loss, since_best, best_epoch = val_loss, 0, epoch
            if CONFIG["early_stopping"] and CONFIG["restore_best"]:
                best_state = {{k: v.detach().clone() for k, v in model.state_dict().items()}}
        else:
            since_best += 1
        if CONFIG["early_stopping"] and since_best >= CONFIG["patience"] and epoch < CONFIG["epochs"]:
            stopped_early = True
            break
    if best_state is not None and stopped_early:
        model.load_state_dict(best_state)
    test = None
    if status == "completed" and x_test is not None:
        test = evaluate(model, x_test, y_test)
    if args.json:
        print(json.dumps({{"status": status, "initial_checksum": checksum, "history": history,
                          "best_epoch": best_epoch, "stopped_early": stopped_early,
                          "test_loss": test[0] if test else None, "test_accuracy": test[1] if test else None}}))
    else:
        print(f"{{status}}" + (f"; stopped early, best epoch {{best_epoch}}" if stopped_early else "")
              + (f"; test loss {{test[0]:.4f}}, test accuracy {{test[1]:.4f}}" if test else ""))


if __name__ == "__main__":
    main()
'''
    _check_script(text, config, spec.shape, model, optimizer, build_schedule)
    return text


def _check_script(text: str, config: RunConfig, shape: tuple[int, ...], model, optimizer,
                  build_schedule: Callable) -> None:
    """Run the script's definitions (not its main) and compare them with TuneLab's own objects: the same
    initial weights, the same optimizer settings, the same learning rate after every epoch. A mismatch is
    a bug in this exporter, so it raises instead of writing a script that would not reproduce the run."""
    import types
    import warnings

    import torch

    module = types.ModuleType("tunelab_exported_script")  # dataclasses look their module up in sys.modules
    sys.modules[module.__name__] = module
    try:
        exec(compile(text, "<exported script>", "exec"), module.__dict__)
    finally:
        del sys.modules[module.__name__]
    namespace = module.__dict__
    mine = namespace["build_model"]()
    namespace["initialize"](mine, torch.Generator().manual_seed(config.seed))
    if repr(mine) != repr(model):
        raise RuntimeError("the exported script builds another model than TuneLab")
    theirs, ours = model.state_dict(), mine.state_dict()
    if theirs.keys() != ours.keys() or not all(torch.equal(theirs[k], ours[k]) for k in theirs):
        raise RuntimeError("the exported script draws other initial weights than TuneLab")
    # the helpers the loop calls run at all (a missing name would only show when the script trains)
    x = torch.zeros(3, *shape)
    namespace["evaluate"](mine, x, torch.zeros(3, dtype=torch.long))
    list(namespace["regularized_weights"](mine))
    namespace["_steps_per_epoch"](10, 3)
    if "random_affine" in namespace:
        namespace["random_affine"](x, torch.Generator().manual_seed(0), False, 0.1, 10.0, 0.1)
    opt = namespace["build_optimizer"](mine)
    if type(opt) is not type(optimizer) or _settings(opt) != _settings(optimizer):
        raise RuntimeError("the exported script builds another optimizer than TuneLab")
    sched_mine = namespace["build_schedule"](opt)
    sched_ours = build_schedule(optimizer, config)
    val_losses = [1.0, 0.9, 0.95, 0.97, 0.99, 1.1, 0.8] * (1 + config.epochs // 7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "lr_scheduler.step() before optimizer.step()": no training here
        for _, val_loss in zip(range(config.epochs), val_losses):
            if isinstance(sched_mine, torch.optim.lr_scheduler.ReduceLROnPlateau):
                sched_mine.step(val_loss)
            elif sched_mine is not None:
                sched_mine.step()
            sched_ours.step(val_loss)
            if [g["lr"] for g in opt.param_groups] != [g["lr"] for g in optimizer.param_groups]:
                raise RuntimeError("the exported script's learning-rate schedule differs from TuneLab's")


def _settings(optimizer) -> list[dict]:
    return [{k: v for k, v in group.items() if k != "params"} | {"n": len(group["params"])}
            for group in optimizer.param_groups]


def write_script(store, run_id: int, out_dir: str | Path) -> Path:
    """run_<id>.py: a standalone PyTorch script that trains the run again, from the same initial weights
    with the same data split and order, and prints its per-epoch losses next to TuneLab's."""
    record = load_run(store, run_id)
    path = _folder(out_dir) / f"run_{run_id}.py"
    path.write_text(script_source(record, store.history(run_id)), encoding="utf-8")
    return path
