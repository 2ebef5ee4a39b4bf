"""The grid: what students vary, sampled with a fixed seed per source, and the interventions made on each setup.

A *setup* is one baseline network and task without its learning rate (the ladder in generate.py finds
that). Settings use TuneLab's RunConfig names throughout (optimizer, lr, init, init_std, activation,
dataset, model, depth, width, train_subset, dropout, batch_size, epochs, seed), plus `task` (which
labels: "10", "2-even-odd", "2-3-vs-8", "2-zero-vs-rest") and `output` (2-class: "softmax" = two
outputs with sparse categorical cross-entropy, "sigmoid" = one output with binary cross-entropy).

The grid (drawn per setup; each source has its own seed, so the sources cover similar, not equal, ground):
- dataset: digits (8x8, 1,797 images) 70%, mnist5k (28x28, 5,000) 30%
- task: 10-class 60%, else one of the three 2-class tasks (torch_loop and keras only; tunelab is 10-class)
- model: mlp 72% (depth 1-10, width 32-1024; 1024 only up to depth 2, <= 256 beyond depth 4), simple_cnn
  21% (Conv-Pool-Conv-Pool-Dense; keras: digits only), vgg_bn 7% (digits only: slow on this CPU)
- activation: relu 50%, tanh 30%, sigmoid 20% (CNNs: relu 80%, tanh 20%)
- optimizer: adam 30%, sgd 20%, momentum (0.9) 20%, rmsprop 15%, adagrad 15%
- init of the baseline: he_normal for relu, xavier_uniform otherwise (torch_loop: PyTorch's default 25%)
- batch size 16-256 (4 and 8 on training sets of at most 500 images); training subset: digits all or
  500-1000, mnist5k 1,000-4,000 (CNNs 500-1,000); epochs 8-30 (CNNs on mnist5k 5-6)
- dropout 0 (MLP 80%) or 0.2; CNN 0, 0.25 or 0.5
Interventions on each setup (the learning rate as a factor of the baseline's):
- baseline (healthy), and for 20% of setups one variant: another seed, batch x2 or /2, dropout 0.2-0.3, lr x2
- lr x10, x20 or x30, and lr x100, x300 or x1000 (oscillation or divergence, decided by the shape; at x100
  and more a net rarely oscillates: it goes NaN, blows up and dies at chance, or collapses)
- lr /30 (40%), /100 (32%), /300 (16%), /1000 (8%), /10,000 (4%) (too_small_lr)
- init: zeros; N(0, 1e-4..1e-3) in nets deeper than 3 layers or CNNs; N(0, 1..3) with sigmoid/tanh or
  deep ReLU nets (bad_init)
- a training subset of 100-500 images, no dropout, batch <= 16, 25-60 epochs (overfitting; not vgg_bn);
  the counterfactual: the baseline's training set (80%) or dropout 0.5 (20%)
Before the sampled setups come hand-made ones aimed at hard shapes (HARD below, seeds 11 and 12): deep
sigmoid/tanh MLPs with tiny, small (N(0, 0.03..0.1)) or N(0, 1..3) inits, momentum SGD at x10-x50, plain SGD at /30 and /100 over
25 epochs, dead (zeros) networks on the imbalanced zero-vs-rest task, VGG-like nets with batch norm.
"""
from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field

SOURCES = ("torch_loop", "keras", "tunelab")
SETUPS_PER_SOURCE = {"torch_loop": 85, "keras": 50, "tunelab": 60}
PREFIX = {"torch_loop": "tl", "keras": "kf", "tunelab": "tu"}
TWO_CLASS_TASKS = ("2-even-odd", "2-3-vs-8", "2-zero-vs-rest")
# The ladder for the baseline's learning rate, per optimizer, first rung first (see generate.find_baseline).
LADDER = {
    "sgd": (0.1, 0.3, 0.03),
    "momentum": (0.01, 0.03, 0.003),
    "adam": (1e-3, 3e-3, 3e-4),
    "rmsprop": (1e-3, 3e-4, 3e-3),
    "adagrad": (0.03, 0.1, 0.01),
}
BASE_INIT_STD = 0.02  # init_std of a baseline: unused by he_normal / xavier_uniform (RunConfig's default)


def _pick(rng: random.Random, weighted: dict):
    return rng.choices(list(weighted), weights=list(weighted.values()))[0]


def sample_setup(rng: random.Random, source: str) -> dict:
    dataset = "digits" if rng.random() < 0.7 else "mnist5k"
    task = "10"
    if source != "tunelab" and rng.random() >= 0.6:
        task = rng.choice(TWO_CLASS_TASKS)
    model = _pick(rng, {"mlp": 72, "simple_cnn": 21, "vgg_bn": 7})
    if model == "vgg_bn" or (model == "simple_cnn" and source == "keras"):
        dataset = "digits"  # Keras' fit on 28x28 conv nets is too slow for this CPU"
    setup = {"dataset": dataset, "task": task, "model": model, "depth": 3, "width": 128}
    if model == "mlp":
        setup["depth"] = rng.choice((1, 2, 2, 3, 3, 4, 5, 6, 8, 10))
        widths = (32, 64, 128, 256, 512, 1024) if setup["depth"] <= 2 else (32, 64, 128, 256, 512)
        if setup["depth"] > 4:  # deep and wide nets are slow on one CPU thread
            widths = (32, 64, 128, 256)
        setup["width"] = rng.choice(widths)
        setup["activation"] = _pick(rng, {"relu": 50, "tanh": 30, "sigmoid": 20})
        setup["dropout"] = 0.2 if rng.random() < 0.2 else 0.0
    else:
        setup["activation"] = _pick(rng, {"relu": 80, "tanh": 20})
        setup["dropout"] = rng.choice((0.0, 0.25, 0.5))
    setup["optimizer"] = _pick(rng, {"adam": 30, "sgd": 20, "momentum": 20, "rmsprop": 15, "adagrad": 15})
    setup["momentum"] = 0.9
    setup["init"] = "he_normal" if setup["activation"] == "relu" else "xavier_uniform"
    if source == "torch_loop" and rng.random() < 0.25:
        setup["init"] = "default"
    setup["init_std"] = BASE_INIT_STD
    if dataset == "digits":
        setup["train_subset"] = rng.choice((0, 0, 0, 500, 1000))
        setup["epochs"] = rng.choice((10, 15, 20, 30)) if model == "mlp" else rng.choice((8, 10, 12))
    elif model == "mlp":
        setup["train_subset"] = rng.choice((1000, 2000, 0))
        setup["epochs"] = rng.choice((8, 10, 15))
    else:
        setup["train_subset"] = rng.choice((500, 1000))
        setup["epochs"] = rng.choice((5, 6))
    if model == "vgg_bn":
        setup["epochs"] = rng.choice((5, 6, 8))
    batches = (16, 32, 32, 64, 64, 128, 256)
    if setup["train_subset"] and setup["train_subset"] <= 500 and model == "mlp":
        batches += (4, 8)
    setup["batch_size"] = rng.choice(batches)
    setup["seed"] = rng.randrange(10_000)
    if task != "10":
        setup["output"] = rng.choice(("softmax", "sigmoid"))
    return setup


def setups(source: str, n: int | None = None) -> list[dict]:
    rng = random.Random(f"tunelab-corpus-grid-{source}")
    return [sample_setup(rng, source) for _ in range(n or SETUPS_PER_SOURCE[source])]


@dataclass(frozen=True)
class RunSpec:
    """One run of the corpus: a setup, an intervention on it, the label it proposes and the counterfactual."""

    source: str
    setup: dict
    name: str  # the intervention's key, e.g. "lr_x30"
    proposed: str  # a label, or "oscillation|divergence" (the shape decides)
    change: dict  # settings changed from the baseline; "lr_factor" multiplies the baseline's lr
    words: str  # the intervention in words
    fix: tuple = ()  # settings the counterfactual sets back to the baseline's (empty: healthy, none)
    fix_to: dict = field(default_factory=dict)  # counterfactual values not taken from the baseline

    @property
    def run_id(self) -> str:
        key = json.dumps([self.source, self.setup, self.name, self.change], sort_keys=True)
        return f"{PREFIX[self.source]}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"

    def config(self, base_lr: float) -> dict:
        changes = {k: v for k, v in self.change.items() if k != "lr_factor"}
        return {**self.setup, "lr": _round_lr(base_lr * self.change.get("lr_factor", 1.0)), **changes}

    def counterfactual(self, base_lr: float) -> tuple[dict, dict]:
        """(the counterfactual's settings, the settings set back) for a run with a baseline lr."""
        config = self.config(base_lr)
        back = {}
        for key in self.fix:
            back[key] = base_lr if key == "lr" else self.setup[key]
        back.update(self.fix_to)
        return {**config, **back}, back


def _round_lr(lr: float) -> float:
    return float(f"{lr:.3g}")


def interventions(source: str, setup: dict) -> list[RunSpec]:
    rng = random.Random(json.dumps([source, setup], sort_keys=True))
    runs = [RunSpec(source, setup, "baseline", "healthy", {}, "none: the baseline (its lr from the ladder)")]

    def add(name, proposed, change, words, fix=(), fix_to=None):
        runs.append(RunSpec(source, setup, name, proposed, change, words, tuple(fix), fix_to or {}))

    if rng.random() < 0.2:
        kind = rng.choice(("seed", "batch", "dropout", "lr"))
        if kind == "seed":
            add("healthy_seed", "healthy", {"seed": setup["seed"] + 1}, "another seed")
        elif kind == "batch":
            b = setup["batch_size"] * 2 if setup["batch_size"] <= 64 else setup["batch_size"] // 2
            add(f"healthy_batch{b}", "healthy", {"batch_size": b}, f"batch size {setup['batch_size']} -> {b}")
        elif kind == "dropout" and setup["dropout"] == 0:
            d = rng.choice((0.2, 0.3))
            add(f"healthy_dropout{d}", "healthy", {"dropout": d}, f"dropout 0 -> {d}")
        else:
            add("healthy_lr_x2", "healthy", {"lr_factor": 2.0}, "learning rate x2")
    for factors in ((10, 20, 30), (100, 300, 1000)):
        f = rng.choice(factors)
        add(f"lr_x{f}", "oscillation|divergence", {"lr_factor": float(f)}, f"learning rate raised x{f}", ("lr",))
    f = _pick(rng, {30: 5, 100: 4, 300: 2, 1000: 1, 10_000: 0.5})
    add(f"lr_div{f}", "too_small_lr", {"lr_factor": 1.0 / f}, f"learning rate lowered /{f}", ("lr",))

    deep = setup["model"] != "mlp" or setup["depth"] >= 4
    options = ["zeros"]
    if deep:
        options.append("tiny")
    if setup["activation"] in ("sigmoid", "tanh") and (setup["model"] != "mlp" or setup["depth"] >= 2) or (
            setup["model"] == "mlp" and setup["depth"] >= 4):
        options.append("large")
    kind = rng.choice(options)
    if kind == "zeros":
        add("init_zeros", "bad_init", {"init": "zeros"}, f"init {setup['init']} -> zeros", ("init", "init_std"))
    else:
        std = rng.choice((1e-4, 3e-4, 1e-3)) if kind == "tiny" else rng.choice((1.0, 2.0, 3.0))
        add(f"init_normal{std:g}", "bad_init", {"init": "normal", "init_std": std},
            f"init {setup['init']} -> N(0, {std:g})", ("init", "init_std"))

    if setup["model"] != "vgg_bn":
        subset = rng.choice((100, 150, 200, 300) if setup["dataset"] == "digits" else (200, 300, 500))
        if setup["model"] == "mlp":
            epochs = rng.choice((50, 60)) if setup["dataset"] == "digits" else 40
        else:
            epochs = rng.choice((30, 40)) if setup["dataset"] == "digits" else 25
        change = {"train_subset": subset, "dropout": 0.0, "epochs": epochs,
                  "batch_size": min(setup["batch_size"], 16)}
        words = f"training subset {subset} images, no dropout, {epochs} epochs"
        if rng.random() < 0.2:
            add(f"overfit{subset}_e{epochs}", "overfitting", change, words, fix_to={"dropout": 0.5})
        else:
            add(f"overfit{subset}_e{epochs}", "overfitting", change, words, ("train_subset",))
    return runs


# Setups aimed at the hard shapes a sampled grid seldom hits, run before the sampled ones (two seeds each):
# a deep sigmoid MLP with a tiny init (stuck at chance) or a small one, N(0, 0.03..0.1) (flat, then a drop), momentum SGD at a high rate (learns,
# then collapses), plain SGD at a small rate over 25 epochs (still falling), a dead network on an
# imbalanced 2-class task (stuck at the class-prior loss; not tunelab: 10-class only) and batch-norm nets
# (a first-epoch validation spike in a healthy run).
def _mlp(depth, width, activation, optimizer, epochs, task="10", dataset="digits", batch=32, init=None):
    setup = {"dataset": dataset, "task": task, "model": "mlp", "depth": depth, "width": width,
             "activation": activation, "dropout": 0.0, "optimizer": optimizer, "momentum": 0.9,
             "init": init or ("he_normal" if activation == "relu" else "xavier_uniform"), "init_std": BASE_INIT_STD,
             "train_subset": 0, "epochs": epochs, "batch_size": batch}
    if task != "10":
        setup["output"] = "sigmoid"
    return setup


def _lr(f: float) -> tuple:
    up = f > 1
    return (f"lr_x{f:g}" if up else f"lr_div{1 / f:g}", "oscillation|divergence" if up else "too_small_lr",
            {"lr_factor": float(f)}, f"learning rate {'raised x' if up else 'lowered /'}{f if up else 1 / f:g}", ("lr",))


def _init(std: float | None) -> tuple:
    if std is None:
        return ("init_zeros", "bad_init", {"init": "zeros"}, "init -> zeros", ("init", "init_std"))
    return (f"init_normal{std:g}", "bad_init", {"init": "normal", "init_std": std}, f"init -> N(0, {std:g})",
            ("init", "init_std"))


HARD = (
    (_mlp(6, 128, "sigmoid", "adam", 30), (_init(1e-3), _init(1e-4), _init(3.0))),
    (_mlp(8, 64, "sigmoid", "rmsprop", 30), (_init(1e-3), _init(3e-4), _init(2.0))),
    (_mlp(5, 128, "tanh", "adam", 25), (_init(1e-4), _init(1.0))),
    (_mlp(3, 256, "relu", "momentum", 12), (_lr(10), _lr(20), _lr(30), _lr(50))),
    (_mlp(2, 128, "relu", "momentum", 10, dataset="mnist5k", batch=64), (_lr(10), _lr(20), _lr(30))),
    (_mlp(2, 128, "tanh", "sgd", 25), (_lr(1 / 30), _lr(1 / 100))),
    (_mlp(1, 256, "relu", "sgd", 25, batch=64), (_lr(1 / 30), _lr(1 / 100))),
    (_mlp(2, 128, "relu", "sgd", 20, task="2-zero-vs-rest"), (_init(None),)),
    (_mlp(3, 64, "tanh", "momentum", 20, task="2-zero-vs-rest", dataset="mnist5k"), (_init(None),)),
    ({**_mlp(3, 128, "relu", "adam", 6), "model": "vgg_bn"}, ()),
    # a small, not tiny, init in a deep sigmoid net: flat at chance for a few epochs, then a slow drop
    (_mlp(7, 96, "sigmoid", "adam", 40), (_init(0.1), _init(0.05), _init(0.03))),
)
HARD_SEEDS = (11, 12)


def hard_setups(source: str) -> list[tuple[dict, list[RunSpec]]]:
    out = []
    for base, changes in HARD:
        if source == "tunelab" and base["task"] != "10":
            continue
        for seed in HARD_SEEDS:
            setup = {**base, "seed": seed}
            runs = [RunSpec(source, setup, "baseline", "healthy", {}, "none: the baseline (its lr from the ladder)")]
            runs += [RunSpec(source, setup, *change) for change in changes]
            out.append((setup, runs))
    return out


def too_slow(source: str, setup: dict) -> bool:
    """Keras' fit costs a few ms per step here: it skips sampled mnist5k setups on the whole 4,000-image
    training set or with batches of 16 or less (thousands of steps per run, and more for the overfitting
    counterfactual's 40 epochs)."""
    return source == "keras" and setup["dataset"] == "mnist5k" and (
        setup["train_subset"] == 0 or setup["batch_size"] <= 16)


def too_slow_hard(source: str, setup: dict) -> bool:
    """Keras also skips the hard setups of 25 and more epochs on deep tanh/sigmoid nets after the first two
    (the machine was shared while it ran: they took minutes each)."""
    return (source == "keras" and setup["epochs"] >= 25 and setup["activation"] in ("tanh", "sigmoid")
            and setup["depth"] in (5, 7))


def plan(source: str) -> list[tuple[dict, list[RunSpec]]]:
    """Every setup of a source with its runs: the hard-shape setups, then the sampled grid (less those too
    slow for the source). (torch_loop ran its sampled setups first; the order changes no run_id.)"""
    sampled = [s for s in setups(source) if not too_slow(source, s)]
    hard = [(setup, runs) for setup, runs in hard_setups(source) if not too_slow_hard(source, setup)]
    return hard + [(setup, interventions(source, setup)) for setup in sampled]
