"""The standalone PyTorch script that trains a stored run again: TuneLab's own helpers copied in (the
one training step, data preparation, initializers, dropout, augmentation), the model TuneLab built
written out layer by layer, and a plain loop. The same seed gives the same initial weights, split,
batch order, augmentation and dropout masks, so on the CPU it prints TuneLab's numbers again.

User text (the run's name) goes into the script only as a Python literal (repr); the docstrings and
comments hold only registry names and numbers, checked against SAFE_TEXT. Before a script is handed
out it is run in a subprocess, in an empty folder without TuneLab on its path and with a time limit:
`python run_N.py --check` must report the same model, initial weights, optimizer settings and
learning-rate schedule as TuneLab's own objects. Nothing is ever exec'd in the server.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from core.catalog import datasets
from core.catalog.initializers import INITIALIZERS, _uniform, fans
from core.catalog.models import SeededDropout
from core.catalog.optimizers import build_optimizer, param_groups, regularized_weights
from core.catalog.schedules import build_schedule
from core.config import RunConfig
from core.errors import ConfigError
from core.export.files import folder, load_run
from core.export.inline import inline_sources
from core.runs.store import RunRecord, RunStore
from core.training import augment
from core.training.data import PreparedData, split_indices, standardized
from core.training.model import build_initialized_model, evaluate
from core.training.step import steps_per_epoch, train_step

CHECK_TIMEOUT_S = 180  # importing torch in a fresh process takes seconds on a busy laptop
# What may stand in the script's docstrings and comments: registry names and numbers, never user text.
SAFE_TEXT = re.compile(r"[A-Za-z0-9_.,:;()+\-= x]*")
# Validation losses fed to the schedule in the self-check (they make the plateau schedule act).
CHECK_VAL_LOSSES = (1.0, 0.9, 0.95, 0.97, 0.99, 1.1, 0.8)


class ScriptCheckFailed(RuntimeError):
    """The generated script does not reproduce TuneLab's objects: a bug in this exporter, never
    handed out."""


def _safe(text: str) -> str:
    if not SAFE_TEXT.fullmatch(str(text)):
        raise ScriptCheckFailed(f"refusing to put {text!r} into the script's text")
    return str(text)


# ---- the run-specific parts ----------------------------------------------------------------------
def _layer_code(module) -> str:
    """One layer of TuneLab's model as the PyTorch expression that builds it."""
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
    """The expression building core/catalog/schedules.py's scheduler for the config (None: constant rate)."""
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
    spec = datasets.DATASETS.get(config.dataset).factory
    if spec.builtin:
        loader = spec.load
        packages = sorted({m.group(1) for m in re.finditer(r"^\s*from (\w+)", inspect.getsource(loader), re.M)})
        body = f'''
def load_data(data_dir: str) -> ImageData:
    """{_safe(config.dataset)} ships inside an installed package: no download, data_dir is not used."""
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
    core.catalog.initializers.initialize draws them)."""
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
    """core.catalog.initializers.initialize with init={_safe(config.init)}: every Linear and Conv2d weight in turn
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


# ---- the script's fixed part (no formatting: it is copied as it is) ---------------------------------
_MAIN = """
def prepare_data(device: torch.device, data_dir: str) -> PreparedData:
    \"\"\"core.training.data.prepare_data: the seeded split, scaled to [0, 1], standardized with the
    training images' statistics, on the device.\"\"\"
    data = load_data(data_dir)
    train_idx, val_idx = split_indices(len(data.y_train), CONFIG["seed"], CONFIG["val_split"], CONFIG["train_subset"])
    return standardized(data.x_train[train_idx], data.y_train[train_idx], data.x_train[val_idx],
                        data.y_train[val_idx], data.x_test, data.y_test, SHAPE, CLASSES, device)


def weights_checksum(model: nn.Module) -> float:
    return float(sum(p.detach().double().abs().sum().item() for p in model.parameters()))


def weights_digest(model: nn.Module) -> str:
    \"\"\"SHA-256 of every parameter and buffer, in order: equal only for bit-identical weights.\"\"\"
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def optimizer_settings(optimizer: torch.optim.Optimizer) -> list:
    return [{k: v for k, v in group.items() if k != "params"} | {"n": len(group["params"])}
            for group in optimizer.param_groups]


def step_schedule(schedule, val_loss: float) -> None:
    if isinstance(schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
        schedule.step(val_loss)
    elif schedule is not None:
        schedule.step()


def fmt(value) -> str:
    return "nan" if value is None or not math.isfinite(value) else f"{value:.6f}"


def self_check() -> dict:
    \"\"\"What TuneLab compares before it hands this script out (`--check`): the model, its initial
    weights, the optimizer's settings and the learning rate after each epoch; then every helper the
    loop calls runs once on a tiny batch, so a missing name shows now and not after an hour.\"\"\"
    model = build_model()
    initialize(model, torch.Generator().manual_seed(CONFIG["seed"]))
    digest = weights_digest(model)
    optimizer = build_optimizer(model)
    settings = optimizer_settings(optimizer)  # (before the schedule adds its initial_lr)
    schedule = build_schedule(optimizer)
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "lr_scheduler.step() before optimizer.step()": no training here
        for epoch in range(CONFIG["epochs"]):
            step_schedule(schedule, CHECK_VAL_LOSSES[epoch % len(CHECK_VAL_LOSSES)])
            lrs.append([group["lr"] for group in optimizer.param_groups])
    x, y = torch.zeros(3, *SHAPE), torch.zeros(3, dtype=torch.long)
    if AUGMENTING:
        x = random_affine(x, torch.Generator().manual_seed(0), False, 0.1, 10.0, 0.1)
    fresh = build_model()
    params = [p for p in fresh.parameters() if p.requires_grad]
    train_step(fresh, build_optimizer(fresh), x, y, params, CONFIG["l1"], list(regularized_weights(fresh)),
               CONFIG["clip_norm"], measure_norm=True)
    evaluate(fresh, x, y)
    steps_per_epoch(10, 3)
    return {"model": repr(model), "weights": digest, "optimizer": settings, "lrs": lrs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--epochs", type=int, default=CONFIG["epochs"], help="epochs to train (default: the run's)")
    parser.add_argument("--data-dir", default=os.environ.get("TUNELAB_DATA_DIR", os.path.expanduser("~/.tunelab/data")),
                        help="folder of downloaded data sets (torchvision's layout)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    parser.add_argument("--check", action="store_true", help="print what TuneLab checks (no training)")
    args = parser.parse_args()
    if args.check:
        print(json.dumps(self_check()))
        return
    device = torch.device(args.device)
    epochs = min(args.epochs, CONFIG["epochs"])

    data = prepare_data(device, args.data_dir)
    model = build_model()
    initialize(model, torch.Generator().manual_seed(CONFIG["seed"]))  # the initial weights
    model = model.to(device)
    checksum = weights_checksum(model)
    if CHANNELS_LAST:  # TuneLab trained this run in the channels_last layout (same numbers up to rounding)
        model = model.to(memory_format=torch.channels_last)
    run_gen = torch.Generator(device=device).manual_seed(CONFIG["seed"] + 1)  # order, augmentation, dropout
    for module in model.modules():
        if isinstance(module, SeededDropout):
            module.generator = run_gen
    params = [p for p in model.parameters() if p.requires_grad]
    l1_weights = list(regularized_weights(model)) if CONFIG["l1"] > 0 else []
    optimizer = build_optimizer(model)
    schedule = build_schedule(optimizer)

    n_train = len(data.y_train)
    batch = min(CONFIG["batch_size"], n_train)
    per_epoch = steps_per_epoch(n_train, batch)
    if not args.json:
        same = ("same as TuneLab's" if abs(checksum - ORIGINAL_INITIAL_CHECKSUM) <= 1e-9 * ORIGINAL_INITIAL_CHECKSUM
                else f"TuneLab's was {ORIGINAL_INITIAL_CHECKSUM!r}")
        print(f"TuneLab run #{RUN_ID} {RUN_NAME!r}: {n_train} training and {len(data.y_val)} validation images, "
              f"{per_epoch} steps per epoch; initial weights checksum {checksum!r} ({same})")

    history, status = [], "completed"
    best_loss, best_state, since_best, best_epoch, stopped_early = math.inf, None, 0, None, False
    model.train()
    for epoch in range(1, epochs + 1):
        lr = optimizer.param_groups[0]["lr"]
        order = torch.randperm(n_train, device=device, generator=run_gen)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        seen = 0
        for i in range(per_epoch):
            idx = order[i * batch : (i + 1) * batch]
            xb, yb = data.x_train[idx], data.y_train[idx]
            if AUGMENTING:
                xb = random_affine(xb, run_gen, CONFIG["aug_flip"], CONFIG["aug_shift"], CONFIG["aug_rotation"],
                                   CONFIG["aug_zoom"])
            if CHANNELS_LAST:
                xb = xb.contiguous(memory_format=torch.channels_last)
            loss, logits, _ = train_step(model, optimizer, xb, yb, params, CONFIG["l1"], l1_weights, CONFIG["clip_norm"])
            loss_sum += loss * len(idx)
            correct += (logits.argmax(1) == yb).sum()
            seen += len(idx)
        train_loss, train_acc = loss_sum.item() / seen, correct.item() / seen
        if math.isfinite(train_loss):
            val_loss, val_acc = evaluate(model, data.x_val, data.y_val)
        else:
            val_loss, val_acc = math.nan, math.nan
        row = {"epoch": epoch, "loss": train_loss, "accuracy": train_acc, "val_loss": val_loss,
               "val_accuracy": val_acc, "lr": lr}
        history.append(row)
        if not args.json:
            was = next((r for r in ORIGINAL_HISTORY if r["epoch"] == epoch), None)
            note = f"   (TuneLab: loss {fmt(was['loss'])}, val_loss {fmt(was['val_loss'])})" if was else ""
            print(f"epoch {epoch}/{epochs}  loss {fmt(train_loss)}  accuracy {train_acc:.4f}  "
                  f"val_loss {fmt(val_loss)}  val_accuracy {val_acc:.4f}  lr {lr:.3g}{note}")
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            status = "diverged"
            break
        step_schedule(schedule, val_loss)
        if val_loss < best_loss:
            best_loss, since_best, best_epoch = val_loss, 0, epoch
            if CONFIG["early_stopping"] and CONFIG["restore_best"]:
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            since_best += 1
        if CONFIG["early_stopping"] and since_best >= CONFIG["patience"] and epoch < CONFIG["epochs"]:
            stopped_early = True
            break
    if best_state is not None and stopped_early:
        model.load_state_dict(best_state)
    test = None
    if status == "completed" and data.x_test is not None:
        test = evaluate(model, data.x_test, data.y_test)
    if args.json:
        print(json.dumps({"status": status, "initial_checksum": checksum, "history": history,
                          "best_epoch": best_epoch, "stopped_early": stopped_early,
                          "test_loss": test[0] if test else None, "test_accuracy": test[1] if test else None}))
    else:
        print(f"{status}" + (f"; stopped early, best epoch {best_epoch}" if stopped_early else "")
              + (f"; test loss {test[0]:.4f}, test accuracy {test[1]:.4f}" if test else ""))


if __name__ == "__main__":
    main()
"""

_IMPORTS = """from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
"""


def weights_checksum(model: nn.Module) -> float:
    """Sum of |w| over every parameter, in float64: the script prints it next to TuneLab's."""
    return float(sum(p.detach().double().abs().sum().item() for p in model.parameters()))


def _settings(optimizer: torch.optim.Optimizer) -> list[dict]:
    return [{k: v for k, v in group.items() if k != "params"} | {"n": len(group["params"])}
            for group in optimizer.param_groups]


def _digest(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def script_source(record: RunRecord, history: list[dict]) -> str:
    """The standalone script for one stored run (see write_script); not yet checked."""
    config: RunConfig = record.config
    spec = datasets.DATASETS.get(config.dataset).factory
    model = build_initialized_model(config, spec.shape, spec.classes, torch.device("cpu"))
    optimizer = build_optimizer(model, config)
    loader_objects, loader_body, packages = _loader_code(config)
    init_objects, init_body = _initializer_code(config)
    augmenting = augment.is_active(config.aug_flip, config.aug_shift, config.aug_rotation, config.aug_zoom)
    helpers = inline_sources(
        *loader_objects, PreparedData, split_indices, standardized, SeededDropout, *init_objects, param_groups,
        regularized_weights, steps_per_epoch, train_step, evaluate,
        *((augment.random_affine,) if augmenting else ()),
    )
    original = [{k: row.get(k) for k in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr")}
                for row in history]
    needs = ", ".join(["torch"] + [p for p in packages if p != "torch"])
    schedule_note = {"constant": ": the same learning rate for every epoch",
                     "plateau": ", stepped after every epoch with the validation loss"}.get(
        config.schedule, ", stepped once after every epoch")
    plural = "s" if config.epochs != 1 else ""
    docstring = f'''#!/usr/bin/env python3
"""Reproduce TuneLab run {record.id}: {_safe(config.model)} on {_safe(config.dataset)}, {_safe(config.optimizer)} \\
at lr {config.lr:g}, {config.epochs} epoch{plural}, seed {config.seed}.

Standalone: it needs only {_safe(needs)} (no TuneLab). Run `python run_{record.id}.py`; add --json for one JSON
object with the history, --epochs N to stop earlier, --device cuda for a GPU (a GPU draws other random
numbers and rounds differently, so only the CPU gives TuneLab's CPU numbers again).

Written by `python -m core export {record.id} --format script`: the helpers below are TuneLab's own code
(copied from core/), among them the one training step TuneLab runs (core/training/step.py); the model
is the one TuneLab built, written out layer by layer. The same seed gives the same initial weights
(generator seeded with seed), the same validation split (seed) and the same batch order,
augmentation and dropout masks (one generator seeded with seed + 1).
"""
'''
    constants = "\n".join([
        "# The run, as TuneLab stored it.",
        f"RUN_ID = {record.id!r}",
        f"RUN_NAME = {record.name!r}",
        "CONFIG = " + _block((f"{k!r}: {_literal(v)}" for k, v in config.to_dict().items()), "{", "}"),
        f"SHAPE = {tuple(spec.shape)!r}",
        f"CLASSES = {spec.classes!r}",
        f"AUGMENTING = {augmenting!r}",
        f"CHANNELS_LAST = {bool(record.step_settings.get('channels_last'))!r}",
        f"CHECK_VAL_LOSSES = {CHECK_VAL_LOSSES!r}",
        "",
        "# What TuneLab recorded for this run, per epoch (None: not a number).",
        "ORIGINAL_HISTORY = " + _block((_literal(row) for row in original), "[", "]"),
        "",
        "# Sum of |w| over the initial weights TuneLab drew for this run.",
        f"ORIGINAL_INITIAL_CHECKSUM = {weights_checksum(model)!r}",
    ])
    run_part = f'''
def build_model() -> nn.Sequential:
    """{_safe(config.model)} for {_safe(config.dataset)} {"x".join(map(str, spec.shape))} images, {spec.classes} classes."""
    return {_model_code(model)}


def build_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    groups = param_groups(model, CONFIG["l2"])  # L2 on weights, not on biases and batch-norm scales
    return {_optimizer_code(optimizer)}


def build_schedule(optimizer: torch.optim.Optimizer):
    """schedule={_safe(config.schedule)}{schedule_note}."""
    return {_schedule_code(config)}
'''
    return "\n".join([
        docstring + _IMPORTS, constants, "",
        "# ---- TuneLab's helpers " + "-" * 75, helpers, loader_body, init_body,
        "# ---- this run " + "-" * 84, run_part, _MAIN,
    ])


def expected_check(record: RunRecord) -> dict:
    """What the script's --check must print: TuneLab's own model, initial weights, optimizer settings
    and learning rates, through the same JSON round trip."""
    config = record.config
    spec = datasets.DATASETS.get(config.dataset).factory
    model = build_initialized_model(config, spec.shape, spec.classes, torch.device("cpu"))
    optimizer = build_optimizer(model, config)
    settings = _settings(optimizer)  # (before the schedule adds its initial_lr)
    schedule = build_schedule(optimizer, config)
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "lr_scheduler.step() before optimizer.step()": no training here
        for epoch in range(config.epochs):
            schedule.step(CHECK_VAL_LOSSES[epoch % len(CHECK_VAL_LOSSES)])
            lrs.append([group["lr"] for group in optimizer.param_groups])
    return json.loads(json.dumps({"model": repr(model), "weights": _digest(model), "optimizer": settings, "lrs": lrs}))


def check_script(text: str, record: RunRecord, timeout: float = CHECK_TIMEOUT_S) -> None:
    """Run `python script --check` in a fresh process, in an empty folder with nothing of TuneLab on
    its path (so the script is standalone), under a time limit, and compare what it prints with
    TuneLab's own objects. Raises ScriptCheckFailed naming what differs."""
    with tempfile.TemporaryDirectory(prefix="tunelab-script-check-") as tmp:
        path = Path(tmp) / f"run_{record.id}.py"
        path.write_text(text, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        try:
            done = subprocess.run([sys.executable, "-I", str(path), "--check"], cwd=tmp, env=env,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ScriptCheckFailed(f"the script's self-check took more than {timeout:g} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ScriptCheckFailed(f"the script's self-check exited with {done.returncode}: {last}")
    try:
        theirs = json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        raise ScriptCheckFailed("the script's self-check printed no JSON") from None
    ours = expected_check(record)
    for key, what in (("model", "another model"), ("weights", "other initial weights"),
                      ("optimizer", "another optimizer"), ("lrs", "another learning-rate schedule")):
        if theirs.get(key) != ours[key]:
            raise ScriptCheckFailed(f"the exported script builds {what} than TuneLab")


def write_script(store: RunStore, run_id: int, out_dir: str | Path, check: bool = True) -> Path:
    """run_<id>.py: a standalone PyTorch script that trains the run again, from the same initial weights
    with the same data split and order, and prints its per-epoch losses next to TuneLab's. Checked
    before it is written (see check_script)."""
    record = load_run(store, run_id)
    text = script_source(record, store.history(run_id))
    if check:
        check_script(text, record)
    path = folder(out_dir) / f"run_{run_id}.py"
    path.write_text(text, encoding="utf-8")
    return path
