"""Curve Doctor: read a run's curves the way a teacher does and say what went wrong, why, and what to try.

`diagnose()` is a pure function of a per-epoch history (plus per-step losses, per-layer probe statistics
and the number of classes when it has them). It returns hints, each with a stable id, the epoch where
the symptom starts, its evidence in numbers, a concrete next setting and a confidence.

The rules are scale-free (losses relative to chance = ln K, slopes of log loss, residuals compared with
the noise floor that per-step losses show), need persistence (one uptick is not a symptom) and wait
until there is enough data to tell. Sources, cited where used:
  [cs231n]   Karpathy, CS231n "Neural Networks Part 3": loss at init ~ ln K, update/weight ratio ~1e-3,
             the learning-rate curve shapes (too high: explodes or plateaus high; too low: linear-ish).
  [recipe]   Karpathy, "A Recipe for Training Neural Networks" (2019): verify the loss at init.
  [playbook] Google Research, "Deep Learning Tuning Playbook": instability shows as spikes; look at the
             training curve's noise before blaming the data; overfitting = validation rising.
  [AUTOTRAINER] Zhang et al., ICSE 2021: oscillation from local extrema of accuracy, vanishing gradient
             when first/last layer gradient norms differ by 1e-3, dying ReLU at 70% zero gradients.
  [UMLAUT]   Schoop et al., CHI 2021: NaN loss; val loss up while train loss down (per epoch).
  [DeepDiagnosis] Wardat et al., ICSE 2022: saturated activations, dead nodes, unchanged/exploding
             weights, loss not decreasing.
  [SageMaker] Amazon SageMaker Debugger built-in rules: loss_not_decreasing, overfit (val/train ratio),
             vanishing_gradient, exploding_tensor, dead_relu, saturated_activation, poor_weight_initialization.
Where these papers fire on one epoch or a fixed absolute threshold, we add persistence, a noise floor
and relative (chance-normalised) levels: that is what keeps false alarms on healthy runs low.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

from core.catalog.activations import ACTIVATIONS
from core.catalog.datasets import classes_of

# The version of the rules below: stored diagnoses carry it, and a stored run shown after the rules
# changed is diagnosed again (core/runs/lifecycle.py).
RULES_VERSION = "2"
HINT_IDS = ("divergence", "bad_init", "oscillation", "overfitting", "too_small_lr", "healthy")
SEVERITIES = ("info", "warning", "error")
_SEVERITY_RANK = {"error": 2, "warning": 1, "info": 0}

# Gates and thresholds, all relative (fractions of chance loss, or changes of log loss).
MIN_EPOCHS_HEALTHY = 3
MIN_EPOCHS_SLOW = 6  # two epochs per third at least
FLAT_PER_EPOCH = 0.006  # |d log loss| per epoch below which a loss is "flat"
STUCK_EPOCHS = 3
STUCK_NEAR_CHANCE = 0.05  # within 5% of ln K counts as "at chance"
HIGH_START = 2.0  # first-batch loss above 2 x ln K: the network starts confidently wrong [cs231n][recipe]
BLOWUP = 1.5  # an epoch's mean training loss above 1.5 x ln K after a sane start: divergence
OSC_MIN_RISE = 0.10  # an epoch-level rise of the training loss must exceed 10% (log 0.095) ...
OSC_FLOOR_FACTOR = 1.0  # ... and the wobble batch sampling alone explains (an upper bound: an epoch sees every example)
OVERFIT_RISE = 0.10  # validation loss 10% above its minimum ...
OVERFIT_PERSIST = 3  # ... for at least 3 epochs (or 2 epochs and 25%)
SLOW_STILL_FALLING = 0.003  # still falling (0.3% per epoch or more) at the end
SLOW_NO_DECELERATION = 0.35  # late slope / early slope of log loss above this: it has not slowed down
FRONT_LOADED = 0.55  # a healthy curve makes most of its drop in the first third of the epochs
UPDATE_RATIO_GOOD = 1e-3  # [cs231n]


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


# ---- input shaping -----------------------------------------------------------------------------
def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def _column(rows: list[dict], *keys: str) -> np.ndarray:
    out = np.full(len(rows), np.nan)
    for i, row in enumerate(rows):
        for key in keys:
            if row.get(key) is not None:
                out[i] = _num(row[key])
                break
    return out


@dataclass
class _Curves:
    epochs: np.ndarray  # 1-based epoch numbers
    loss: np.ndarray
    val_loss: np.ndarray
    acc: np.ndarray
    val_acc: np.ndarray
    lr: np.ndarray
    chance: float | None  # ln K
    classes: int | None
    first_step_loss: float | None
    step_noise: float | None  # typical relative spread of one batch's loss within an epoch
    steps_per_epoch: float | None
    step_nonfinite_epoch: int | None
    first_epoch_peak: float | None = None  # the highest single-batch loss of the first epoch

    @property
    def n(self) -> int:
        return len(self.epochs)

    def at(self, i: int) -> int:
        return int(self.epochs[i])


def _step_table(steps: list[dict]) -> np.ndarray | None:
    """(step, epoch, loss) rows as floats, in step order; None/garbage become NaN."""
    triples = [(s.get("step"), s.get("epoch"), s.get("loss")) for s in steps if isinstance(s, dict)]
    try:
        table = np.array(triples, dtype=float).reshape(-1, 3)
    except (TypeError, ValueError):
        table = np.array([[_num(v) for v in t] for t in triples], dtype=float).reshape(-1, 3)
    table = table[np.isfinite(table[:, 0])]
    if len(table) > 1 and np.any(np.diff(table[:, 0]) < 0):
        table = table[np.argsort(table[:, 0], kind="stable")]
    return table


def _prepare(history: list[dict], steps: list[dict] | None, classes: int | None) -> _Curves:
    rows = sorted((r for r in history if r.get("epoch") is not None and math.isfinite(_num(r["epoch"]))),
                  key=lambda r: _num(r["epoch"]))
    dedup: dict[int, dict] = {}
    for row in rows:
        dedup[int(_num(row["epoch"]))] = row
    rows = [dedup[k] for k in sorted(dedup)]
    chance = math.log(classes) if classes and classes >= 2 else None
    first, noise, per_epoch, bad_epoch, peak = None, None, None, None, None
    table = _step_table(steps) if steps else None
    if table is not None and len(table):
        step, epoch_of, losses = table[:, 0], table[:, 1], table[:, 2]
        if math.isfinite(losses[0]):
            first = float(losses[0])
        bad = ~np.isfinite(losses)
        if bad.any() and math.isfinite(epoch_of[int(np.argmax(bad))]):
            bad_epoch = int(epoch_of[int(np.argmax(bad))]) or None
        ok = np.isfinite(losses) & np.isfinite(epoch_of)
        first_epoch = ok & (epoch_of == epoch_of[ok].min()) if ok.any() else ok
        if first_epoch.any():
            peak = float(losses[first_epoch].max())
        if ok.any():
            keys, inverse = np.unique(epoch_of[ok], return_inverse=True)
            count = np.bincount(inverse)
            total = np.bincount(inverse, weights=losses[ok])
            squares = np.bincount(inverse, weights=losses[ok] ** 2)
            mean = total / count
            usable = (count >= 3) & (mean > 0)
            if usable.any():
                var = np.maximum(squares[usable] / count[usable] - mean[usable] ** 2, 0.0)
                # spread of single batches around their epoch's mean (coefficient of variation)
                noise = float(np.median(np.sqrt(var) / mean[usable]))
            span = step[-1] - step[0] + 1
            if math.isfinite(span) and span > 0:
                per_epoch = max(1.0, float(span) / len(keys))
    return _Curves(
        epochs=_column(rows, "epoch"),
        loss=_column(rows, "loss"),
        val_loss=_column(rows, "val_loss"),
        acc=_column(rows, "accuracy", "acc"),
        val_acc=_column(rows, "val_accuracy", "val_acc"),
        lr=_column(rows, "lr"),
        chance=chance,
        classes=classes if classes and classes >= 2 else None,
        first_step_loss=first,
        step_noise=noise,
        steps_per_epoch=per_epoch,
        step_nonfinite_epoch=bad_epoch,
        first_epoch_peak=peak,
    )


def _min(a: np.ndarray) -> float:
    """Smallest finite value, inf when there is none (no warnings on all-NaN slices)."""
    finite = a[np.isfinite(a)]
    return float(finite.min()) if len(finite) else math.inf


# ---- formatting ----------------------------------------------------------------------------------
def _g(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "NaN"
    return f"{x:.3g}"


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.0f}%"


def _lr_now(c: _Curves, config: dict | None) -> float | None:
    finite = c.lr[np.isfinite(c.lr)]
    if len(finite):
        return float(finite[-1])
    if config and isinstance(config.get("lr"), (int, float)):
        return float(config["lr"])
    return None


def _lr_target(verb: str, factor: float, lr: float | None) -> float | None:
    if not lr:
        return None
    return float(f"{lr / factor if verb == 'divide' else lr * factor:.1g}")


def _lr_advice(verb: str, factor: float, lr: float | None) -> str:
    target = _lr_target(verb, factor, lr)
    return f"{verb} the learning rate by {factor:g}" + (f": {target:g}" if target is not None else "")


def _lr_change(verb: str, factor: float, lr: float | None) -> dict[str, Any]:
    target = _lr_target(verb, factor, lr)
    return {} if target is None else {"lr": target}


def _confidence(strength: float, base: float = 0.55, top: float = 0.97) -> float:
    """strength = measured / threshold (>= 1 when the rule fires): 1 -> base, 4 -> near top."""
    if not math.isfinite(strength):
        return top
    return round(min(top, base + (top - base) * (1.0 - math.exp(-max(0.0, strength - 1.0)))), 2)


# ---- probe statistics (confirm, never replace, a curve symptom) ----------------------------------
@dataclass
class _Probes:
    saturated: float | None = None  # worst layer's saturated fraction, at the first probe
    dead: float | None = None  # worst hidden layer's dead fraction, median over probes
    grad_ratio: float | None = None  # first / last layer gradient norm, median over probes
    update_ratio: float | None = None  # median update/weight ratio over layers and probes


def _probe_stats(probes: dict[int, list[dict]] | None) -> _Probes:
    out = _Probes()
    if not probes:
        return out
    try:
        items = sorted(((int(k), v) for k, v in probes.items() if isinstance(v, list) and v), key=lambda kv: kv[0])
    except (TypeError, ValueError):
        return out
    if not items:
        return out

    def values(layers: list[dict], key: str) -> list[float]:
        return [v for v in (_num(layer.get(key)) for layer in layers if isinstance(layer, dict)) if math.isfinite(v)]

    first = items[0][1]
    sat = values(first, "saturated_fraction")
    out.saturated = max(sat) if sat else None
    deads, ratios, updates = [], [], []
    for step, layers in items:
        d = values(layers, "dead_fraction")
        if d:
            deads.append(max(d))
        g = [_num(layer.get("grad_norm")) if isinstance(layer, dict) else math.nan for layer in layers]
        if len(g) >= 2 and math.isfinite(g[0]) and math.isfinite(g[-1]) and g[-1] > 0 and step > 0:
            ratios.append(g[0] / g[-1])
        if step > 0:
            updates += [u for u in values(layers, "update_ratio") if u >= 0]
    out.dead = float(np.median(deads)) if deads else None
    out.grad_ratio = float(np.median(ratios)) if ratios else None
    out.update_ratio = float(np.median(updates)) if updates else None
    return out


# ---- the rules -------------------------------------------------------------------------------------
def _first_nonfinite(c: _Curves) -> int | None:
    """First epoch whose loss (or validation loss) is NaN/inf/missing after that column had values; a
    history with no finite loss at all (a run that blew up in its first epoch) counts from epoch 1."""
    columns = [col for col in (c.loss, c.val_loss) if np.isfinite(col).any()]
    if not columns:
        return 0
    for i in range(c.n):
        if any(not math.isfinite(col[i]) and np.isfinite(col[:i]).any() or
               (i == 0 and not math.isfinite(col[0]) and col is c.loss) for col in columns):
            return i
    return None


def _divergence(c: _Curves, lr: float | None) -> Hint | None:
    hint = _divergence_found(c, lr)
    return replace(hint, change=_lr_change("divide", 10, lr)) if hint else None


def _divergence_found(c: _Curves, lr: float | None) -> Hint | None:
    """NaN [UMLAUT][AUTOTRAINER]; an epoch far above chance after a sane start; a collapse back to
    chance after learning; or a loss that keeps rising [seeds shape 6]."""
    advice = _lr_advice("divide", 10, lr) + "; if it still blows up, add gradient clipping (clip_norm 1.0)"
    i = _first_nonfinite(c)
    if i is not None or c.step_nonfinite_epoch is not None:
        epoch = c.at(i) if i is not None else c.step_nonfinite_epoch
        finite = c.loss[np.isfinite(c.loss)]
        last = f" (last finite value {_g(finite[-1])})" if len(finite) else ""
        return Hint("divergence", "Divergence: the loss became NaN", "error", epoch,
                    f"training loss became NaN or infinite at epoch {epoch}{last}", advice, 0.99)
    if c.n == 0:
        return None
    ref = c.chance
    if ref is not None:
        sane_start = c.first_step_loss is None or c.first_step_loss <= BLOWUP * ref
        for j in range(c.n):
            if c.loss[j] > BLOWUP * ref and sane_start:
                after = c.loss[j + 1:]
                if c.first_step_loss is None and j == 0 and (len(after) == 0 or _min(after) < (1 - STUCK_NEAR_CHANCE) * ref):
                    break  # no per-step data and it keeps learning: a bad start, not a blow-up (see _bad_init)
                if c.first_step_loss is None and j == 0 and len(after) < 2:
                    break  # too early to tell a blow-up from a bad start
                start = f"started at {_g(c.first_step_loss)} (chance {_g(ref)}) but " if c.first_step_loss else ""
                tail = ""
                if len(after) >= 2 and np.all(np.abs(after - ref) <= 0.1 * ref):
                    tail = f"; then it sat at chance level ({_g(after[-1])}): the network stopped learning"
                return Hint("divergence", "Divergence: the loss blew up", "error", c.at(j),
                            f"training loss {start}averaged {_g(c.loss[j])} in epoch {c.at(j)}, "
                            f"{c.loss[j] / ref:.1f}x the chance level ln {c.classes} = {_g(ref)}{tail}",
                            advice, _confidence(c.loss[j] / (BLOWUP * ref), 0.8))
        # a sane start, single batches far above chance in epoch 1, then every later epoch at chance:
        # one step was so large that the network collapsed (ReLU units that output zero for every
        # input stay dead) and it now predicts the same for every image [AUTOTRAINER dying ReLU][cs231n]
        later = c.loss[1:]
        if (sane_start and c.first_epoch_peak is not None and c.first_epoch_peak > BLOWUP * ref
                and len(later) >= STUCK_EPOCHS - 1 and np.all(np.abs(later - ref) <= STUCK_NEAR_CHANCE * ref)):
            acc = c.val_acc if np.isfinite(c.val_acc).any() else c.acc
            guessed = f"; accuracy {_pct(float(np.nanmax(acc[1:])))} at best, what guessing gives" if np.isfinite(
                acc[1:]).any() else ""
            start = f"from {_g(c.first_step_loss)} " if c.first_step_loss is not None else ""
            return Hint("divergence", "Divergence: the network collapsed to guessing", "error", c.at(0),
                        f"single batches in epoch {c.at(0)} jumped {start}to {_g(c.first_epoch_peak)}, "
                        f"{c.first_epoch_peak / ref:.1f}x the chance level ln {c.classes} = {_g(ref)}; since then "
                        f"every epoch has sat at chance ({_g(_min(later))} to {_g(float(np.nanmax(later)))}){guessed}: "
                        f"the steps were too large and the units it needs stopped responding", advice,
                        _confidence(c.first_epoch_peak / (BLOWUP * ref), 0.75))
        best = _min(c.loss)
        j_best = int(np.argmin(np.where(np.isfinite(c.loss), c.loss, np.inf)))
        tail = c.loss[j_best + 1:]
        if math.isfinite(best) and best < 0.5 * ref and len(tail) >= 2 and np.all(tail[-2:] >= 0.9 * ref):
            k = j_best + 1 + int(np.argmax(tail >= 0.9 * ref))
            return Hint("divergence", "Divergence: the network fell apart", "error", c.at(k),
                        f"training loss had reached {_g(best)} at epoch {c.at(j_best)} and climbed back to "
                        f"{_g(c.loss[-1])}, chance level ({_g(ref)}), by epoch {c.at(k)}", advice, 0.9)
    # a loss that rises epoch after epoch (3 rises in a row, 50% in all) [seeds shape 6]
    y = np.log(np.where(c.loss > 0, c.loss, np.nan))
    if c.n >= 4 and np.isfinite(y[-4:]).all():
        d = np.diff(y[-4:])
        ref = c.chance if c.chance is not None else c.loss[0]
        # a material rise (a tenth of chance), not a wobble of an already tiny loss (that is oscillation)
        if np.all(d > 0) and y[-1] - y[-4] > math.log(1.5) and c.loss[-1] - c.loss[-4] > 0.1 * ref:
            return Hint("divergence", "Divergence: the loss keeps rising", "error", c.at(c.n - 3),
                        f"training loss rose {c.n - 1 - (c.n - 4)} epochs in a row, from {_g(c.loss[-4])} to "
                        f"{_g(c.loss[-1])} (+{_pct(c.loss[-1] / c.loss[-4] - 1)})", advice,
                        _confidence((y[-1] - y[-4]) / math.log(1.5), 0.7))
    return None


def _init_fix(config: dict | None) -> str:
    """The initializer made for the activation: Xavier for the saturating ones (sigmoid, tanh), He
    for the rest (the ReLU family and its smooth cousins), as each activation's registry entry says."""
    act = (config or {}).get("activation")
    saturating = act in ACTIVATIONS and ACTIVATIONS.get(act).factory.family == "saturating"
    return "xavier_uniform" if saturating else "he_normal"


def _bad_init(c: _Curves, p: _Probes, config: dict | None) -> Hint | None:
    hint = _bad_init_found(c, p, config)
    return replace(hint, change={"init": _init_fix(config)} if config else {}) if hint else None


def _bad_init_found(c: _Curves, p: _Probes, config: dict | None) -> Hint | None:
    """Stuck at chance, flat then a sudden drop [seeds shape 5], or a first loss far above chance
    [cs231n][recipe]; probes (saturation, dead units, vanishing gradient ratio) confirm
    [DeepDiagnosis][AUTOTRAINER][SageMaker poor_weight_initialization]."""
    fix = _init_fix(config)
    current = (config or {}).get("init")
    advice = f"change the initializer to {fix}" + (f" (now {current})" if current and current != fix else "")
    confirm, bonus = _probe_confirmation(p)
    # (1) a first batch far above chance: the weights are too large and the outputs confidently wrong
    if c.chance is not None and c.n >= 1:
        start = c.first_step_loss
        start_is_step = start is not None
        if start is None and c.n >= 3 and np.isfinite(c.loss[:3]).all():
            # no per-step data: epoch 1 far above chance and still learning after it (a blow-up would sit at chance)
            if c.loss[0] > HIGH_START * c.chance and _min(c.loss[1:]) < (1 - STUCK_NEAR_CHANCE) * c.chance:
                start = c.loss[0]
        if start is not None and start > HIGH_START * c.chance:
            where = "the first batch's loss" if start_is_step else "epoch 1's mean training loss"
            return Hint("bad_init", "Bad initialization: the network starts far above chance", "warning", 1,
                        f"{where} was {_g(start)}, {start / c.chance:.1f}x the chance level ln {c.classes} = "
                        f"{_g(c.chance)}: the initial weights are too large, so the outputs start confidently "
                        f"wrong{confirm}", advice + (f" or lower init_std (now {config['init_std']:g})"
                                                     if config and current in ("normal", "truncated_normal") else ""),
                        min(0.97, _confidence(start / (HIGH_START * c.chance), 0.7) + bonus))
    # (2) flat from the start: at chance if we know it, else no change at all
    y = np.log(np.where(c.loss > 0, c.loss, np.nan))
    if c.n < STUCK_EPOCHS or not np.isfinite(y[:STUCK_EPOCHS]).all():
        return None
    flat = 0
    for i in range(1, c.n):
        if not math.isfinite(y[i]) or abs(y[i] - y[0]) > FLAT_PER_EPOCH * i + 0.01:
            break
        flat = i
    near = c.chance is None or abs(c.loss[0] - c.chance) <= STUCK_NEAR_CHANCE * c.chance
    if flat + 1 < STUCK_EPOCHS or not near:
        return None
    acc = c.val_acc if np.isfinite(c.val_acc).any() else c.acc
    acc_txt = ""
    span = acc[: flat + 1]
    if np.isfinite(span).sum() >= 2:
        if np.nanmax(span) - span[np.isfinite(span)][0] > 0.05:
            return None  # the loss barely moves but accuracy climbs: it is learning, slowly (see _too_small_lr)
        acc_txt = f"; accuracy stayed at {_pct(float(np.nanmax(span)))}"
        if c.classes:
            acc_txt += f", what guessing among {c.classes} classes gives"
    level = f"at chance level (ln {c.classes} = {_g(c.chance)})" if c.chance is not None else "flat"
    if flat == c.n - 1:
        evidence = (f"training loss has stayed {level} for {c.n} epochs, {_g(c.loss[0])} -> {_g(c.loss[-1])}"
                    f"{acc_txt}{confirm}")
        if p.update_ratio is not None and p.update_ratio < 1e-5 and not bonus:
            return None  # the weights barely move but nothing is dead or saturated: a learning-rate problem
        return Hint("bad_init", "Bad initialization: stuck at chance", "error", 1, evidence,
                    advice + "; zeros (or tiny) weights make every unit the same, so none can learn",
                    min(0.97, _confidence(1 + c.n / STUCK_EPOCHS - 1, 0.6) + bonus))
    drop = c.loss[flat] / _min(c.loss[flat:]) - 1
    return Hint("bad_init", "Bad initialization: a flat start, then a sudden drop", "warning", 1,
                f"training loss sat {level} for {flat + 1} epochs, then fell {_pct(drop / (1 + drop))} after "
                f"epoch {c.at(flat)}{confirm}: the signal barely got through "
                f"the initial weights", advice, min(0.95, _confidence(1 + flat / 2, 0.6) + bonus))


def _probe_confirmation(p: _Probes) -> tuple[str, float]:
    notes = []
    if p.saturated is not None and p.saturated > 0.3:
        notes.append(f"{_pct(p.saturated)} of a layer's activations saturated at the start")
    if p.dead is not None and p.dead > 0.5:
        notes.append(f"{_pct(p.dead)} of a hidden layer's units dead (the same output for every input)")
    if p.grad_ratio is not None and p.grad_ratio < 1e-3:  # [AUTOTRAINER] beta_1 = 1e-3
        notes.append(f"first-layer gradient {p.grad_ratio:.1e} of the last layer's (vanishing)")
    if not notes:
        return "", 0.0
    return "; probes agree: " + ", ".join(notes), 0.1


def _noise_floor(c: _Curves) -> float | None:
    """Expected epoch-to-epoch wobble of the mean training loss from batch sampling alone (as a change of
    log loss): one batch's relative spread over sqrt(batches per epoch) [playbook: noise before trend]."""
    if c.step_noise is None or not c.steps_per_epoch:
        return None
    return math.log1p(c.step_noise / math.sqrt(c.steps_per_epoch))


def _oscillation(c: _Curves, p: _Probes, lr: float | None) -> Hint | None:
    """Training loss that goes up again and again, well beyond the batch noise [cs231n][playbook]
    (AUTOTRAINER counts accuracy extrema instead; the training loss is the more direct signal)."""
    if c.n < 4:
        return None
    y = np.log(np.where(c.loss > 0, c.loss, np.nan))
    floor = _noise_floor(c)
    threshold = max(math.log1p(OSC_MIN_RISE), OSC_FLOOR_FACTOR * floor if floor else 0.0)
    rises = [(i, y[i] - y[i - 1]) for i in range(2, c.n) if math.isfinite(y[i]) and math.isfinite(y[i - 1])
             and y[i] - y[i - 1] > threshold]
    # validation loss zigzags (up then down again by more than 15%) count as support, not as proof
    v = np.log(np.where(c.val_loss > 0, c.val_loss, np.nan))
    zigzags = 0
    for i in range(1, c.n - 1):
        if np.isfinite(v[i - 1: i + 2]).all() and v[i] - v[i - 1] > math.log(1.15) and v[i] - v[i + 1] > math.log(1.15):
            zigzags += 1
    if len(rises) < 2 and not (len(rises) == 1 and zigzags >= 2):
        return None
    biggest = max(r for _, r in rises)
    epochs = ", ".join(str(c.at(i)) for i, _ in rises[:6])
    floor_txt = (f", {math.expm1(biggest) / math.expm1(floor):.0f}x the {_pct(math.expm1(floor))} wobble that "
                 f"batch sampling explains" if floor and floor > 0 else "")
    evidence = (f"training loss went up {len(rises)} times (epochs {epochs}), by up to "
                f"{_pct(math.expm1(biggest))}{floor_txt}")
    if zigzags:
        evidence += f"; validation loss zigzagged {zigzags} times"
    bonus = 0.0
    if p.update_ratio is not None and p.update_ratio > 10 * UPDATE_RATIO_GOOD:
        evidence += f"; probes agree: updates are {p.update_ratio:.0e} of the weights (about 1e-3 is healthy)"
        bonus = 0.1
    factor = 10 if biggest > math.log(1.5) else 3
    strength = (len(rises) + zigzags) / 2 * biggest / threshold
    return Hint("oscillation", "Oscillation: the learning rate is too high", "warning", c.at(rises[0][0]),
                evidence, _lr_advice("divide", factor, lr) + " (or lower it over time: schedule cosine)",
                min(0.97, _confidence(strength, 0.55) + bonus), _lr_change("divide", factor, lr))


def _overfitting(c: _Curves, config: dict | None) -> Hint | None:
    hint = _overfitting_found(c, config)
    return replace(hint, change=_overfit_change(config)) if hint else None


def _overfitting_found(c: _Curves, config: dict | None) -> Hint | None:
    """Validation loss rising from its minimum for several epochs while training loss keeps falling
    [seeds shape 3][UMLAUT, with persistence], or training accuracy near 100% far above validation
    [seeds shape 2][SageMaker overfit]."""
    valid = np.isfinite(c.val_loss) & np.isfinite(c.loss)
    if c.n < 4 or valid.sum() < 4:
        return None
    v = np.where(valid, c.val_loss, np.inf)
    m = int(np.argmin(v))
    after = c.val_loss[m + 1:]
    after = after[np.isfinite(after)]
    advice = _overfit_advice(config, c.at(m))
    if len(after) >= 2:
        above = after >= c.val_loss[m] * (1 + OVERFIT_RISE / 2)
        rise = c.val_loss[-1] / c.val_loss[m] - 1
        train_drop = 1 - c.loss[-1] / c.loss[m] if c.loss[m] > 0 else 0.0
        persistent = (len(after) >= OVERFIT_PERSIST and above.mean() >= 0.75) or (len(after) >= 2 and rise >= 0.25
                                                                                  and above.all())
        post = c.loss[m:]
        post = post[np.isfinite(post)]
        falling = float(np.mean(np.diff(post) < 0)) if len(post) >= 2 else 0.0
        # "while training loss keeps falling": a trend over the span, not two endpoints of a noisy curve
        if rise >= OVERFIT_RISE and persistent and train_drop >= 0.1 and above[-2:].all() and falling >= 2 / 3:
            gap = ""
            if math.isfinite(c.acc[-1]) and math.isfinite(c.val_acc[-1]):
                gap = f"; training accuracy {_pct(c.acc[-1])} vs validation {_pct(c.val_acc[-1])}"
            return Hint("overfitting", "Overfitting: validation loss rises while training loss falls", "warning",
                        c.at(m) + 1,
                        f"validation loss rose {_pct(rise)} from its minimum at epoch {c.at(m)} "
                        f"({_g(c.val_loss[m])} -> {_g(c.val_loss[-1])}) while training loss fell "
                        f"{_pct(train_drop)}{gap}", advice,
                        _confidence(rise / OVERFIT_RISE * min(1.0, len(after) / OVERFIT_PERSIST), 0.6))
    # shape 2: training accuracy ~100%, validation far below it, for the last 3 epochs
    if c.n >= 5 and np.isfinite(c.acc[-3:]).all() and np.isfinite(c.val_acc[-3:]).all():
        gap = c.acc[-3:] - c.val_acc[-3:]
        if np.all(c.acc[-3:] >= 0.99) and np.all(gap >= 0.15):
            first = next(i for i in range(c.n) if math.isfinite(c.acc[i]) and c.acc[i] >= 0.99)
            return Hint("overfitting", "Overfitting: the training set is memorized", "warning", c.at(first),
                        f"training accuracy {_pct(c.acc[-1])} but validation accuracy {_pct(c.val_acc[-1])} "
                        f"for the last 3 epochs; validation loss {c.val_loss[-1] / c.loss[-1]:.0f}x the training loss"
                        if c.loss[-1] > 0 else "training accuracy near 100% far above validation",
                        advice, _confidence(float(gap.mean()) / 0.15, 0.55))
    return None


def _overfit_change(config: dict | None) -> dict[str, Any]:
    """The first of _overfit_advice's suggestions, as settings."""
    if not config:
        return {}
    if config.get("train_subset"):
        return {"train_subset": 0}
    if not config.get("dropout"):
        return {"dropout": 0.3}
    if not config.get("l2"):
        return {"l2": 1e-4}
    return {"aug_shift": 0.1, "early_stopping": True, "patience": 3}


def _overfit_advice(config: dict | None, best_epoch: int) -> str:
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


def _slopes(y: np.ndarray) -> tuple[float, float] | None:
    """Mean change of log loss per epoch over the first and the last third of the curve."""
    y = y[np.isfinite(y)]
    if len(y) < MIN_EPOCHS_SLOW:
        return None
    k = max(2, len(y) // 3)
    return (y[k] - y[0]) / k, (y[-1] - y[-1 - k]) / k


def _too_small_lr(c: _Curves, p: _Probes, lr: float | None, epochs_planned: int | None = None) -> Hint | None:
    """Both losses fall slowly and steadily and are still falling [seeds shape 4]. [cs231n]: a low rate
    gives a nearly linear decay, a good one an exponential-looking one that front-loads the drop. So:
    still falling at the end, the log-loss slope has not slowed down, and less than FRONT_LOADED of
    the drop so far (from ln K, the loss before any training, when K is known) came in the first third."""
    if c.n < MIN_EPOCHS_SLOW:
        return None
    if epochs_planned and c.n < epochs_planned and c.n < epochs_planned // 2:
        return None  # live: "still falling at the end" is a judgement for the second half of a run
    series = c.val_loss if np.isfinite(c.val_loss).sum() >= MIN_EPOCHS_SLOW else c.loss
    name = "validation" if series is c.val_loss else "training"
    finite = series[np.isfinite(series) & (series > 0)]
    s = _slopes(np.log(finite))
    if s is None:
        return None
    early, late = s
    if late > -SLOW_STILL_FALLING or early >= 0:
        return None
    ratio = late / early
    if ratio < SLOW_NO_DECELERATION:
        return None
    start = c.chance if c.chance is not None and c.chance > finite[0] else float(finite[0])
    third = max(1, len(finite) // 3)
    total = start - float(finite[-1])
    front = (start - float(finite[third - 1 if c.chance is not None else third])) / total if total > 0 else 1.0
    if front >= FRONT_LOADED:
        return None
    evidence = (f"{name} loss is still falling {_pct(-math.expm1(late))} per epoch at epoch {c.at(c.n - 1)} "
                f"({_g(finite[0])} -> {_g(finite[-1])}) and the first third of the run brought only {_pct(front)} of "
                f"the drop: a nearly straight, unhurried decline that has not begun to level off")
    bonus = 0.0
    if p.update_ratio is not None and p.update_ratio < 0.1 * UPDATE_RATIO_GOOD:
        evidence += f"; probes agree: updates are only {p.update_ratio:.0e} of the weights (about 1e-3 is healthy)"
        bonus = 0.1
    factor = 10 if front < 0.4 else 3
    return Hint("too_small_lr", "Slow progress: the learning rate is too small", "info", 1, evidence,
                _lr_advice("multiply", factor, lr) + ", or train for more epochs",
                min(0.95, _confidence(FRONT_LOADED / max(front, 0.05) * min(1.0, ratio / SLOW_NO_DECELERATION), 0.5) + bonus),
                _lr_change("multiply", factor, lr))


def _healthy(c: _Curves, epochs_planned: int | None) -> Hint | None:
    if c.n < MIN_EPOCHS_HEALTHY:
        return None
    series = c.val_loss if np.isfinite(c.val_loss).any() else c.loss
    name = "validation" if series is c.val_loss else "training"
    finite = series[np.isfinite(series)]
    if len(finite) < MIN_EPOCHS_HEALTHY:
        return None
    best = float(finite.min())
    start = c.chance if c.chance is not None else float(finite[0])
    if start <= 0 or best > 0.7 * start:  # (a loss at 0 from the start has nothing to fall from)
        return None  # not much learned yet: too early to call it healthy
    i_best = int(np.nanargmin(np.where(np.isfinite(series), series, np.nan)))
    acc = c.val_acc if name == "validation" else c.acc
    acc_txt = f", accuracy {_pct(float(acc[i_best]))}" if math.isfinite(acc[i_best]) else ""
    ref = f"chance level {_g(c.chance)}" if c.chance is not None else f"its first value {_g(start)}"
    running = epochs_planned is not None and c.n < epochs_planned
    return Hint("healthy", "Healthy so far" if running else "Healthy training", "info", None,
                f"{name} loss fell to {_g(best)} at epoch {c.at(i_best)} ({_pct(1 - best / start)} below {ref})"
                f"{acc_txt}, with no oscillation, overfitting or slow-down beyond the noise",
                "keep these settings; to go further, tune one knob at a time (learning rate first)",
                _confidence(c.n / MIN_EPOCHS_HEALTHY, 0.6, 0.9))


# ---- entry point -----------------------------------------------------------------------------------
def diagnose(
    history: list[dict],
    steps: list[dict] | None = None,
    probes: dict[int, list[dict]] | None = None,
    classes: int | None = None,
    config: dict | None = None,
    epochs_planned: int | None = None,
) -> list[Hint]:
    """Hints for one run, most severe and most certain first; [] when it is too early to tell.

    history: per-epoch rows (epoch 1-based, loss, accuracy, val_loss, val_accuracy, lr; None/NaN allowed).
    steps: per-step rows (step, epoch, loss, ...). probes: step -> per-layer statistics.
    classes: number of classes (chance loss = ln classes). config: a RunConfig dict, for concrete advice.
    epochs_planned: the run's planned epochs; a run still going is only "healthy so far".
    """
    with np.errstate(all="ignore"):  # inf/NaN inputs are symptoms to report, not warnings to print
        return _diagnose(history, steps, probes, classes, config, epochs_planned)


def _diagnose(history, steps, probes, classes, config, epochs_planned) -> list[Hint]:
    if classes is None and config and isinstance(config.get("dataset"), str):
        classes = classes_of(config["dataset"])
    c = _prepare(history or [], steps, classes)
    if c.n == 0:
        return []
    p = _probe_stats(probes)
    lr = _lr_now(c, config)
    div = _divergence(c, lr)
    if div is not None:
        return [div]
    init = _bad_init(c, p, config)
    if init is not None and init.title.endswith("stuck at chance"):
        return [init]
    hints = [h for h in (init, _oscillation(c, p, lr)) if h is not None]
    over = _overfitting(c, config)
    if over is not None:
        if any(h.id == "oscillation" for h in hints):
            over = Hint(**{**over.to_dict(), "confidence": round(over.confidence * 0.6, 2)})
        hints.append(over)
    if not hints:
        slow = _too_small_lr(c, p, lr, epochs_planned)
        hints = [slow] if slow is not None else []
    if not hints:
        healthy = _healthy(c, epochs_planned)
        return [healthy] if healthy else []
    return sorted(hints, key=lambda h: (-_SEVERITY_RANK[h.severity], -h.confidence))


def primary(hints: list[Hint]) -> str:
    """The run's one-word diagnosis: the first problem hint's id, else healthy."""
    for hint in hints:
        if hint.id != "healthy":
            return hint.id
    return "healthy"
