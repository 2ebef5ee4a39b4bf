"""What the Curve Doctor says: a hint (stable id, the family of the six it belongs to, where it starts,
the evidence in numbers, the advice and the advice as settings to try, the points on the chart the
evidence quotes), and how numbers are written for people."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from core.catalog.activations import ACTIVATIONS
from core.catalog.optimizers import OPTIMIZERS, usual_lr

# The six shapes the tuning guide teaches, and what each newer id belongs to.
FAMILIES = ("divergence", "bad_init", "oscillation", "overfitting", "too_small_lr", "healthy")
FAMILY_OF = {**{f: f for f in FAMILIES}, "stuck": "bad_init", "plateau": "bad_init"}
NOT_JUDGED = "not_judged"  # a file the doctor cannot read a shape from (no family)
HINT_IDS = (*FAMILIES, "stuck", "plateau", NOT_JUDGED)
SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True)
class Hint:
    id: str
    title: str
    severity: str  # info, warning or error
    epoch: int | None  # 1-based epoch where the symptom starts
    evidence: str
    advice: str
    confidence: float  # 0..1
    # the advice as settings to change (RunConfig field -> value), for a "try it" button; {} when the
    # advice is not one concrete setting (healthy, or no config to compute it from)
    change: dict[str, Any] = field(default_factory=dict)
    family: str | None = None  # one of FAMILIES (None: NOT_JUDGED)
    # the points the evidence quotes, for the charts to show: {"epoch", "series", "value", "label"} (see mark)
    marks: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.family is None and self.id in FAMILY_OF:
            object.__setattr__(self, "family", FAMILY_OF[self.id])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Hint":
        """A stored hint back (keys another version added are dropped, missing ones get defaults)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("title", str(values.get("id", "")))
        for key, default in (("severity", "info"), ("epoch", None), ("evidence", ""), ("advice", ""),
                             ("confidence", 0.5)):
            values.setdefault(key, default)
        values["confidence"] = values["confidence"] if isinstance(values["confidence"], (int, float)) else 0.5
        return cls(**values)


def mark(epoch: float, series: str, value: float, label: str | None = None) -> dict[str, Any]:
    """A point a hint's evidence quotes: series is a history column (loss, val_loss, accuracy,
    val_accuracy) at a whole epoch, or "step_loss" for a single batch's loss somewhere in an epoch."""
    return {"epoch": float(epoch), "series": series, "value": float(value), "label": label or num(value)}


# ---- numbers for people ------------------------------------------------------------------------------
def num(x: float | None) -> str:
    """A measured value: 3 significant digits; powers of ten beyond 1e5 (no 11608712808620514.0)."""
    if x is None or not math.isfinite(x):
        return "NaN" if x is None or math.isnan(x) else ("infinite" if x > 0 else "-infinite")
    if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
        mantissa, exponent = f"{x:.2e}".split("e")
        return f"{float(mantissa):g}e{int(exponent)}"
    return f"{x:.3g}"


def times(ratio: float) -> str:
    """How many times: '1.4x', '18x', '1,200x', or a power of ten for huge ratios."""
    if not math.isfinite(ratio):
        return "infinitely many times"
    if ratio >= 1e5:
        return f"about 10^{math.floor(math.log10(ratio))} times"
    if ratio >= 100:
        return f"{ratio:,.0f}x"
    return f"{ratio:.2g}x" if ratio < 10 else f"{ratio:.0f}x"


def pct(fraction: float) -> str:
    """A share or a change as a percentage, without false precision ('0.4%', '12%', '1,600%')."""
    if not math.isfinite(fraction):
        return "NaN"
    value = 100 * fraction
    if abs(value) >= 1000:
        return f"{value:,.0f}%"
    return f"{value:.1f}%" if abs(value) < 1 else f"{value:.0f}%"


# ---- advice as settings --------------------------------------------------------------------------------
FAR = 10  # how far from the optimizer's usual learning rate a moved one may still be


def _moved(verb: str, factor: float, lr: float) -> float:
    return float(f"{lr / factor if verb == 'divide' else lr * factor:.1g}")


def lr_target(verb: str, factor: float, lr: float | None, optimizer: str | None = None) -> float | None:
    """The learning rate `factor` times smaller ('divide') or larger ('multiply'); the optimizer's usual
    one instead when that would still be more than FAR times too large (or too small) next to it."""
    if not lr:
        return None
    target, usual = _moved(verb, factor, lr), usual_lr(optimizer)
    if usual and (target > FAR * usual if verb == "divide" else target < usual / FAR):
        return usual
    return target


def lr_advice(verb: str, factor: float, lr: float | None, optimizer: str | None = None) -> str:
    target = lr_target(verb, factor, lr, optimizer)
    if target is not None and target != _moved(verb, factor, lr):  # the usual one: say why
        far = lr / target if verb == "divide" else target / lr
        title = OPTIMIZERS.get(optimizer).title
        return (f"{verb} the learning rate by more than {factor:g}: {lr:g} is {times(far)} "
                f"{'above' if verb == 'divide' else 'below'} {title}'s usual {target:g}; start from {target:g}")
    return f"{verb} the learning rate by {factor:g}" + (f": {target:g}" if target is not None else "")


def lr_change(verb: str, factor: float, lr: float | None, optimizer: str | None = None) -> dict[str, Any]:
    target = lr_target(verb, factor, lr, optimizer)
    return {} if target is None else {"lr": target}


def init_fix(config: dict | None) -> str:
    """The initializer made for the activation: Xavier for the saturating ones (sigmoid, tanh), He
    for the rest (the ReLU family and its smooth cousins), as each activation's registry entry says."""
    act = (config or {}).get("activation")
    saturating = act in ACTIVATIONS and ACTIVATIONS.get(act).factory.family == "saturating"
    return "xavier_uniform" if saturating else "he_normal"


def overfit_change(config: dict | None) -> dict[str, Any]:
    """The first of overfit_advice's suggestions, as settings."""
    if not config:
        return {}
    if config.get("train_subset"):
        return {"train_subset": 0}
    if not config.get("dropout"):
        return {"dropout": 0.3}
    if not config.get("l2"):
        return {"l2": 1e-4}
    return {"aug_shift": 0.1, "early_stopping": True, "patience": 3}


def overfit_advice(config: dict | None, best_epoch: int) -> str:
    stop = f"stop at epoch {best_epoch} (early_stopping on, patience 3)"
    if not config:
        return f"add regularization (dropout 0.3 or L2 1e-4), use more data, or {stop}"
    if config.get("train_subset"):
        return f"train on more data (train_subset 0 = all, now {config['train_subset']}), or {stop}"
    if not config.get("dropout"):
        return f"add dropout 0.3 (now 0), or {stop}"
    if not config.get("l2"):
        return f"add L2 1e-4 (now 0), or {stop}"
    return f"{stop}; add augmentation (aug_shift 0.1)"


def confidence(strength: float, base: float = 0.55, top: float = 0.97) -> float:
    """strength = measured / threshold (>= 1 when the rule fires): 1 -> base, 4 -> near top."""
    if not math.isfinite(strength):
        return top
    return round(min(top, base + (top - base) * (1.0 - math.exp(-max(0.0, strength - 1.0)))), 2)
