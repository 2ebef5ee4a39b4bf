"""Source `torch_loop`: a plain PyTorch training loop written for the corpus, sharing no code with core/.

Own models (an MLP, a Keras-tutorial CNN Conv-Pool-Conv-Pool-Dense, a small VGG-like net with batch
norm), own initializers, torch.optim optimizers, an index-permutation shuffle, and Keras-style logging:
per epoch the running mean of the training loss and accuracy over the epoch's batches (dropout on), then
validation loss and accuracy in eval mode; epochs counted from 0. The CSV is written as Keras' CSVLogger
writes it (keys sorted: epoch,accuracy,loss,val_accuracy,val_loss), rounded to 6 significant digits.
A batch whose loss is NaN or infinite ends the run after that epoch is logged (as TerminateOnNaN does).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from core.bench.corpus.curve import Curve, Trained, sig6
from core.bench.corpus.tasks import load_task

NAME = "torch_loop"
COLUMNS = ("epoch", "accuracy", "loss", "val_accuracy", "val_loss")
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def _act(name: str) -> nn.Module:
    return ACTIVATIONS[name]()


def build_model(config: dict, height: int, width: int, outputs: int) -> nn.Sequential:
    act, drop = config["activation"], config.get("dropout", 0.0)
    kind = config["model"]
    if kind == "mlp":
        layers: list[nn.Module] = [nn.Flatten()]
        n_in = height * width
        for _ in range(config["depth"]):
            layers += [nn.Linear(n_in, config["width"]), _act(act)]
            if drop:
                layers.append(nn.Dropout(drop))
            n_in = config["width"]
        return nn.Sequential(*layers, nn.Linear(n_in, outputs))
    pad = 1 if height < 16 else 0  # 8x8 digits keep their size through the convolutions
    if kind == "simple_cnn":  # the Keras MNIST tutorial's convnet
        layers = [nn.Conv2d(1, 32, 3, padding=pad), _act(act), nn.MaxPool2d(2),
                  nn.Conv2d(32, 64, 3, padding=pad), _act(act), nn.MaxPool2d(2), nn.Flatten()]
    elif kind == "vgg_bn":  # two blocks of two conv + batch norm, then a dense layer with batch norm
        layers = []
        c_in = 1
        for c in (16, 32):
            for _ in range(2):
                layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), _act(act)]
                c_in = c
            layers.append(nn.MaxPool2d(2))
        layers.append(nn.Flatten())
    else:
        raise ValueError(f"unknown model {kind!r}")
    features = nn.Sequential(*layers)
    with torch.no_grad():
        flat = features(torch.zeros(1, 1, height, width)).shape[1]
    head: list[nn.Module] = []
    if kind == "vgg_bn":
        head += [nn.Linear(flat, 64), nn.BatchNorm1d(64), _act(act)]
        flat = 64
    if drop:
        head.append(nn.Dropout(drop))
    return nn.Sequential(*layers, *head, nn.Linear(flat, outputs))


def initialize(model: nn.Module, name: str, std: float, generator: torch.Generator) -> None:
    """Fill every Linear and Conv weight by the named scheme and set its bias to zero (Keras'
    defaults); `default` keeps PyTorch's own initialization."""
    if name == "default":
        return
    for module in model.modules():
        if not isinstance(module, (nn.Linear, nn.Conv2d)):
            continue
        w = module.weight
        receptive = w[0][0].numel() if w.dim() > 2 else 1
        fan_in, fan_out = w.shape[1] * receptive, w.shape[0] * receptive
        with torch.no_grad():
            if name == "zeros":
                w.zero_()
            elif name == "normal":
                w.normal_(0.0, std, generator=generator)
            elif name == "xavier_uniform":
                bound = math.sqrt(6.0 / (fan_in + fan_out))
                w.uniform_(-bound, bound, generator=generator)
            elif name == "he_normal":
                w.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
            else:
                raise ValueError(f"unknown init {name!r}")
            module.bias.zero_()


def build_optimizer(params, config: dict) -> torch.optim.Optimizer:
    name, lr = config["optimizer"], config["lr"]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=config.get("momentum", 0.9))
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, eps=1e-7)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-7)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, initial_accumulator_value=0.1, eps=1e-7)
    raise ValueError(f"unknown optimizer {name!r}")


def _loss_and_correct(logits: torch.Tensor, y: torch.Tensor, sigmoid: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if sigmoid:
        z = logits.squeeze(1)
        return F.binary_cross_entropy_with_logits(z, y.float()), ((z > 0).long() == y).sum()
    return F.cross_entropy(logits, y), (logits.argmax(1) == y).sum()


def train(config: dict) -> Trained:
    """Train one run described by `config` (see specs.py) on one CPU thread; deterministic by its seed."""
    torch.set_num_threads(1)
    started = time.perf_counter()
    seed = config["seed"]
    data = load_task(config["dataset"], config["task"], config["train_subset"], seed)
    sigmoid = data.classes == 2 and config.get("output") == "sigmoid"
    x_tr, y_tr = torch.from_numpy(data.x_train).unsqueeze(1), torch.from_numpy(data.y_train)
    x_va, y_va = torch.from_numpy(data.x_val).unsqueeze(1), torch.from_numpy(data.y_val)
    torch.manual_seed(seed)  # dropout masks
    model = build_model(config, x_tr.shape[2], x_tr.shape[3], 1 if sigmoid else data.classes)
    initialize(model, config["init"], config.get("init_std", 0.0), torch.Generator().manual_seed(seed))
    optimizer = build_optimizer(model.parameters(), config)
    shuffle = torch.Generator().manual_seed(seed + 1)
    n, batch = len(y_tr), config["batch_size"]
    rows: list[dict] = []
    for epoch in range(config["epochs"]):
        model.train()
        order = torch.randperm(n, generator=shuffle)
        loss_sum, correct, seen, blown = 0.0, 0, 0, False
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            if len(idx) < 2 and config["model"] == "vgg_bn":
                continue  # batch norm cannot normalize a single image
            loss, right = _loss_and_correct(model(x_tr[idx]), y_tr[idx], sigmoid)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            value = loss.item()
            loss_sum += value * len(idx)
            correct += int(right)
            seen += len(idx)
            if not math.isfinite(value):
                blown = True
                break
        model.eval()
        with torch.no_grad():
            val_loss, val_right = _loss_and_correct(model(x_va), y_va, sigmoid)
        rows.append({"epoch": epoch, "accuracy": correct / max(seen, 1), "loss": loss_sum / max(seen, 1),
                     "val_accuracy": int(val_right) / len(y_va), "val_loss": float(val_loss)})
        if blown:
            break
    curve = Curve([r["loss"] for r in rows], [r["accuracy"] for r in rows], [r["val_loss"] for r in rows],
                  [r["val_accuracy"] for r in rows], data.classes, data.prior_loss, data.majority)
    return Trained(curve, n, time.perf_counter() - started, rows)


def csv_text(trained: Trained) -> str:
    lines = [",".join(COLUMNS)]
    for row in trained.payload:
        lines.append(",".join([str(row["epoch"])] + [sig6(row[c]) for c in COLUMNS[1:]]))
    return "\n".join(lines) + "\n"


def write_csv(trained: Trained, path: Path) -> None:
    Path(path).write_text(csv_text(trained), encoding="utf-8")
