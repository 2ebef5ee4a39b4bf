"""RunConfig: every knob of the tuning guide with its default, validation and JSON round trip."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from core.catalog.datasets import DATASETS
from core.catalog.fields import REGISTRIES, declared_by, owners
from core.errors import ConfigError

# The order the tuning guide teaches; pages and the CLI's help group the knobs this way.
GROUPS = (
    "Learning rate and optimizer",
    "Initializer and activation",
    "Model and data",
    "Regularization and augmentation",
    "Schedule and early stopping",
    "Batch size, epochs and seed",
)


def knob(default: Any, group: str, help: str, **limits: Any) -> Any:
    """A RunConfig field: its default, its group in the tuning guide and a one-line help text."""
    return field(default=default, metadata={"group": group, "help": help, **limits})


LR, INIT, MODEL, REG, SCHED, LOOP = GROUPS


@dataclass(frozen=True)
class RunConfig:
    # Learning rate and optimizer
    optimizer: str = knob("adam", LR, "Update rule: how each step follows the gradient.")
    lr: float = knob(1e-3, LR, "Learning rate: the size of each step. The first knob to tune.", low=0.0, high=100.0, open_low=True)
    momentum: float = knob(0.9, LR, "Momentum for the momentum and nesterov optimizers.", low=0.0, high=1.0, open_high=True)
    beta1: float = knob(0.9, LR, "Adam's beta1: decay of the running mean of gradients.", low=0.0, high=1.0, open_high=True)
    beta2: float = knob(0.999, LR, "Adam's beta2: decay of the running mean of squared gradients.", low=0.0, high=1.0, open_high=True)
    eps: float = knob(1e-7, LR, "Small constant added to the denominator of adaptive optimizers (Keras uses 1e-7).", low=0.0, high=1.0, open_low=True)
    rho: float = knob(0.9, LR, "RMSProp's decay of the running mean of squared gradients.", low=0.0, high=1.0, open_high=True)
    # Initializer and activation
    init: str = knob("xavier_uniform", INIT, "How the weights start (Keras, as in the seeds, uses xavier_uniform).")
    init_std: float = knob(0.02, INIT, "Standard deviation for the normal and truncated_normal initializers.", low=0.0, high=10.0, open_low=True)
    activation: str = knob("relu", INIT, "Nonlinearity used in every hidden layer.")
    # Model and data
    dataset: str = knob("mnist5k", MODEL, "Training data: the built-in sets work offline, the others are downloaded.")
    model: str = knob("simple_cnn", MODEL, "Network: the seeds' simple CNN, their improved CNN, or a dense MLP.")
    depth: int = knob(3, MODEL, "Number of hidden layers of the mlp model.", low=1, high=50)
    width: int = knob(128, MODEL, "Units per hidden layer of the mlp model.", low=1, high=4096)
    train_subset: int = knob(0, MODEL, "Train on only this many images (0 = all); a small subset shows overfitting.", low=0, high=10_000_000)
    val_split: float = knob(0.2, MODEL, "Fraction of the training data held out for validation.", low=0.0, high=0.9, open_low=True)
    # Regularization and augmentation
    l1: float = knob(0.0, REG, "L1 penalty: adds l1 * sum|w| to the loss; pushes weights to exactly zero.", low=0.0, high=1.0)
    l2: float = knob(0.0, REG, "L2 penalty (weight decay): adds l2 * w to each weight's gradient.", low=0.0, high=1.0)
    dropout: float = knob(0.0, REG, "Dropout rate before the dense layers (half of it after conv blocks).", low=0.0, high=0.9)
    batch_norm: bool = knob(False, REG, "Batch normalization after every conv and hidden dense layer.")
    clip_norm: float = knob(0.0, REG, "Clip the gradient's global norm to this value (0 = off).", low=0.0, high=1e6)
    aug_flip: bool = knob(False, REG, "Random horizontal flips (not for digits: a flipped 2 is not a 2).")
    aug_shift: float = knob(0.0, REG, "Random shifts, as a fraction of the image size (0.1 = 10%).", low=0.0, high=0.5)
    aug_rotation: float = knob(0.0, REG, "Random rotations up to this many degrees.", low=0.0, high=180.0)
    aug_zoom: float = knob(0.0, REG, "Random zoom in or out by up to this fraction (0.1 = 10%).", low=0.0, high=0.5)
    # Schedule and early stopping
    schedule: str = knob("constant", SCHED, "How the learning rate changes over the epochs.")
    lr_decay: float = knob(0.5, SCHED, "Factor the learning rate is multiplied by (step, exponential, plateau).", low=0.0, high=1.0, open_low=True)
    lr_step_epochs: int = knob(3, SCHED, "Epochs between decays of the step schedule.", low=1, high=10_000)
    plateau_patience: int = knob(2, SCHED, "Epochs without improvement before reduce-on-plateau lowers the rate.", low=0, high=10_000)
    min_lr: float = knob(0.0, SCHED, "Lowest learning rate of the cosine and plateau schedules.", low=0.0, high=100.0)
    early_stopping: bool = knob(False, SCHED, "Stop when validation loss has not improved for `patience` epochs.")
    patience: int = knob(5, SCHED, "Epochs without a better validation loss before early stopping.", low=1, high=10_000,
                         needs="early_stopping")
    restore_best: bool = knob(True, SCHED, "After early stopping, go back to the weights of the best epoch.",
                              needs="early_stopping")
    # Batch size, epochs and seed
    batch_size: int = knob(64, LOOP, "Images per gradient step.", low=1, high=65_536)
    epochs: int = knob(5, LOOP, "Passes over the training data.", low=1, high=1_000)
    seed: int = knob(0, LOOP, "Random seed: the same seed gives the same weights, data order and curves.", low=0, high=2**31 - 1)

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any], strict: bool = True) -> "RunConfig":
        """Build from JSON-like values. strict=False drops settings this version does not know
        (configs stored by an older or newer TuneLab still open)."""
        if not isinstance(data, dict):
            raise ConfigError("config", "must be a JSON object of settings")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown and strict:
            raise ConfigError(unknown[0], f"is not a setting; known settings: {', '.join(known)}")
        return cls(**{name: coerce(known[name], value) for name, value in data.items() if name in known})

    @classmethod
    def from_json(cls, text: str, strict: bool = True) -> "RunConfig":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            where = f" at line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
            raise ConfigError("config", f"is not valid JSON ({getattr(exc, 'msg', exc)}{where})") from None
        return cls.from_dict(data, strict)

    def replace(self, **changes: Any) -> "RunConfig":
        return replace(self, **changes)

    def differences(self, other: "RunConfig") -> dict[str, tuple[Any, Any]]:
        """Settings whose values differ: name -> (self's value, other's value)."""
        return {
            f.name: (getattr(self, f.name), getattr(other, f.name))
            for f in fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        }

    def applies(self, knob: str) -> bool:
        """Whether a setting changes anything for this config (see knob_applies)."""
        return knob_applies(knob, self.to_dict())


def knob_applies(knob: str, values: dict[str, Any]) -> bool:
    """Whether a knob matters given the other settings: a knob that registry entries declare matters
    only when the chosen entry declares it (momentum only for SGD + momentum and Nesterov, init_std
    only for the normal initializers, depth and width only for the MLP, a flip only for data sets
    where a mirrored image keeps its meaning); a knob with `needs` only when that switch is on."""
    for owner in owners(knob):
        if knob not in declared_by(owner, values.get(owner, "")):
            return False
    needs = _FIELDS[knob].metadata.get("needs") if knob in _FIELDS else None
    return not needs or bool(values.get(needs))


_FIELDS = {f.name: f for f in fields(RunConfig)}


def config_fields() -> list:
    """RunConfig's fields in the order of the tuning guide, each with `metadata` group/help/limits."""
    return list(fields(RunConfig))


def _type_of(f) -> type:
    return {"str": str, "float": float, "int": int, "bool": bool}[f.type if isinstance(f.type, str) else f.type.__name__]


def coerce(f, value: Any) -> Any:
    """Turn a value from JSON, a form or the command line into the field's type, or say why not."""
    kind = _type_of(f)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            return value.lower() in ("true", "1", "yes", "on")
        raise ConfigError(f.name, f"must be true or false (got {value!r})")
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f.name, f"must be a name (got {value!r})")
        return value
    if isinstance(value, bool):
        raise ConfigError(f.name, f"must be a number (got {value!r})")
    if kind is int:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value).strip()) if not isinstance(value, int) else value
        except ValueError:
            raise ConfigError(f.name, f"must be a whole number (got {value!r})") from None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f.name, f"must be a number (got {value!r})") from None


def _describe_range(meta: dict) -> str:
    low, high = meta["low"], meta["high"]
    left = f"greater than {low:g}" if meta.get("open_low") else f"at least {low:g}"
    right = f"less than {high:g}" if meta.get("open_high") else f"at most {high:g}"
    return f"{left} and {right}"


def validate(config: RunConfig) -> None:
    """Raise ConfigError naming the first field whose value is not allowed, and what is allowed."""
    for f in fields(config):
        value = getattr(config, f.name)
        kind = _type_of(f)
        if kind is bool:
            if not isinstance(value, bool):
                raise ConfigError(f.name, f"must be true or false (got {value!r})")
            continue
        if kind is str:
            if not isinstance(value, str):
                raise ConfigError(f.name, f"must be a name (got {value!r})")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f.name, f"must be a number (got {value!r})")
        if kind is int and not float(value).is_integer():
            raise ConfigError(f.name, f"must be a whole number (got {value!r})")
        meta = f.metadata
        if "low" not in meta:
            continue
        if not math.isfinite(value):
            raise ConfigError(f.name, f"must be a finite number {_describe_range(meta)} (got {value!r})")
        too_low = value <= meta["low"] if meta.get("open_low") else value < meta["low"]
        too_high = value >= meta["high"] if meta.get("open_high") else value > meta["high"]
        if too_low or too_high:
            raise ConfigError(f.name, f"must be {_describe_range(meta)} (got {value:g})")

    for name, registry in REGISTRIES.items():
        registry.get(getattr(config, name))  # raises ConfigError naming the field and the allowed names

    spec = DATASETS.get(config.dataset).factory
    if config.aug_flip and not config.applies("aug_flip"):
        allowed = ", ".join(d.name for d in DATASETS if "aug_flip" in d.knobs)
        raise ConfigError(
            "aug_flip",
            f"horizontal flips change what {config.dataset} images mean (a mirrored 2 is not a 2); "
            f"allowed only for {allowed}",
        )
    if config.train_subset and config.train_subset < 2 * spec.classes:
        raise ConfigError("train_subset", f"must be 0 (all) or at least {2 * spec.classes} images for {config.dataset}")
