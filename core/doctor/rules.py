"""The Curve Doctor's rules: each reads one shape off a run's curves and, when it is there, says so with
the numbers it saw and the fix to try. All levels are relative (to the loss of guessing, ln K, when the
number of classes is known or inferred; else to the run's own start), a symptom must persist (one
uptick is not oscillation, a spike in the first validation epoch is not either), and "healthy" is a
claim with its own evidence, never what is left when nothing else fits.

The thresholds are one dataclass, so the benchmark can fit them on some sources of curves and score
them on another (leave-one-source-out, core/bench/diagnosis.py). Sources cited where a rule comes from:
  [cs231n] Karpathy, CS231n "Neural Networks Part 3": loss at init ~ ln K, the learning-rate shapes.
  [recipe] Karpathy, "A Recipe for Training Neural Networks" (2019): verify the loss at init.
  [playbook] Google Research, "Deep Learning Tuning Playbook": instability, noise before trend.
  [AUTOTRAINER] Zhang et al., ICSE 2021; [UMLAUT] Schoop et al., CHI 2021; [DeepDiagnosis] Wardat et
  al., ICSE 2022; [SageMaker] Amazon SageMaker Debugger built-in rules; [seeds] the tuning guide's six
  curve shapes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
import numpy as np

from core.doctor.curves import (Curves, ProbeSummary, falling_fit, falling_share, finite_min, flat_start, log_of,
                                rises, thirds_slopes)
from core.doctor.hints import (NOT_JUDGED, Hint, confidence, init_fix, lr_advice, lr_change, mark, num,
                               overfit_advice, overfit_change, pct, times)

UPDATE_RATIO_GOOD = 1e-3  # [cs231n]: updates about 1e-3 of the weights
ABSOLUTE_HIGH = 8.0  # with the classes unknown: an epoch-1 loss above ln 1000 + 1 is far above any chance


@dataclass(frozen=True)
class Thresholds:
    rise: float = 0.10  # an epoch-to-epoch rise of the training loss counts above 10% ...
    rise_floor: float = 0.02  # ... and above 2% of chance (an absolute 0.02 when the classes are unknown)
    rises_needed: int = 2  # one uptick is not oscillation
    val_rises_needed: int = 2  # or one rise of the training loss and this many of the validation loss
    rise_density: float = 0.10  # in a long run the rises needed grow with it: at least this share of its epochs
    overfit_rise: float = 0.10  # the validation loss ends 10% above its minimum ...
    overfit_after: int = 2  # ... at least this many epochs after it, with the training loss still falling
    overfit_tail: float = 0.20  # or the last fifth of the run (at least overfit_after epochs) all sit above it
    gap: float = 0.10  # or training accuracy this far above validation accuracy ...
    gap_train: float = 0.99  # ... with training accuracy at least this (memorized), for the last 3 epochs
    low: float = 0.35  # learned: the best validation loss below this share of chance ...
    learned_acc: float = 0.80  # ... or (chance unknown) a best validation accuracy above this ...
    learned_drop: float = 0.70  # ... or (neither) a loss this far below its first value
    slow: float = 0.001  # still falling: the last third falls at least 0.1% per epoch (log), epoch after epoch ...
    decel: float = 0.35  # ... and has not slowed down to less than 35% of the first third's fall
    accelerating: float = 2.5  # a fall that speeds up (last third 2.5x the first's) from a flat start: bad init
    flat: float = 0.03  # flat: within 3% (log) of the first epoch ...
    flat_epochs: int = 3  # ... for at least 3 epochs
    stuck_total: float = 0.03  # stuck: the loss never moves more than 3% from where it started
    drop_after_flat: float = 0.20  # a flat start, then a fall of at least 20% within 2 epochs
    high_start: float = 2.0  # epoch 1 (or the first batch) above 2x chance: confidently wrong outputs
    blowup: float = 1.5  # after a sane start, an epoch above 1.5x chance: it blew up
    rise_end: float = 0.5  # the training loss rises 3 epochs in a row and 50% in all: diverging
    plateau_flat: float = 0.01  # plateau: the last third moves less than 1% per epoch
    near_chance: float = 0.05  # at chance: within 5% of ln K
    collapse_band: float = 0.02  # collapsed: every epoch after the first within 2% of ln K
    low_abs: float = 0.8  # (classes unknown) learned: a best validation loss below this ...


DEFAULT = Thresholds()


@dataclass
class Context:
    """What the rules know besides the curves."""

    t: Thresholds
    probes: ProbeSummary
    config: dict | None
    lr: float | None
    epochs_planned: int | None

    @property
    def live(self) -> bool:
        return self.epochs_planned is not None

    @property
    def optimizer(self) -> str | None:
        return (self.config or {}).get("optimizer")


# ---- helpers ---------------------------------------------------------------------------------------------
def reference(c: Curves) -> float:
    """The scale of a loss that matters: chance (ln K) when known, else where the run started (at least
    1: a cross-entropy of 1 is about a third of the probability on the right class)."""
    if c.chance is not None:
        return c.chance
    first = c.loss[np.isfinite(c.loss)]
    return max(1.0, float(first[0])) if len(first) and first[0] < ABSOLUTE_HIGH else 1.0


def chance_txt(c: Curves) -> str:
    return f"the loss of guessing, ln {c.k} = {num(c.chance)}{c.classes.said()}"


def at_chance(c: Curves, value: float, t: Thresholds) -> bool:
    return c.chance is not None and math.isfinite(value) and abs(value - c.chance) <= t.near_chance * c.chance


def learned(c: Curves, t: Thresholds) -> tuple[bool, str]:
    """Whether the run reached a low loss, and the evidence either way."""
    series = c.val_loss if c.has("val_loss") else c.loss
    name = "validation" if series is c.val_loss else "training"
    if not np.isfinite(series).any():
        return False, f"the {name} loss has no finite value"
    best = finite_min(series)
    acc = c.val_acc if c.has("val_acc") else c.acc
    best_acc = float(np.nanmax(acc)) if np.isfinite(acc).any() else None
    acc_txt = f", accuracy {pct(best_acc)} at best" if best_acc is not None else ""
    if c.chance is not None:
        ok = best <= t.low * c.chance
        return ok, f"the best {name} loss is {num(best)}, {pct(best / c.chance)} of {chance_txt(c)}{acc_txt}"
    # classes unknown: a cross-entropy above ~0.8 means well under half the probability on the right
    # class, whatever K is; the accuracy, when the file has it, must agree
    first = series[np.isfinite(series)][0]
    low = best <= t.low_abs or best <= (1 - t.learned_drop) * first
    if best_acc is not None:
        return low and best_acc >= t.learned_acc, f"the best {name} loss is {num(best)}{acc_txt}"
    return low, f"the {name} loss fell from {num(first)} to {num(best)}"


def _probe_confirmation(p: ProbeSummary) -> tuple[str, float]:
    notes = []
    if p.saturated is not None and p.saturated > 0.3:
        notes.append(f"{pct(p.saturated)} of a layer's activations saturated at the start")
    if p.dead is not None and p.dead > 0.5:
        notes.append(f"{pct(p.dead)} of a hidden layer's units dead (the same output for every input)")
    if p.grad_ratio is not None and p.grad_ratio < 1e-3:  # [AUTOTRAINER] beta_1 = 1e-3
        notes.append(f"the first layer's gradient is {p.grad_ratio:.0e} of the last layer's (vanishing)")
    if not notes:
        return "", 0.0
    return "; the per-layer probes agree: " + ", ".join(notes), 0.1


# ---- divergence [UMLAUT][AUTOTRAINER][seeds shape 6] -------------------------------------------------------
def divergence(c: Curves, x: Context) -> Hint | None:
    hint = _divergence(c, x)
    return replace(hint, change=lr_change("divide", 10, x.lr, x.optimizer)) if hint else None


def _divergence(c: Curves, x: Context) -> Hint | None:
    t = x.t
    advice = lr_advice("divide", 10, x.lr, x.optimizer) + "; if it still blows up, add gradient clipping (clip_norm 1.0)"
    i = _first_nonfinite(c)
    if i is not None or c.step_nonfinite_epoch is not None:
        epoch = c.at(i) if i is not None else c.step_nonfinite_epoch
        finite = c.loss[np.isfinite(c.loss)]
        last = f" (the last finite value was {num(finite[-1])})" if len(finite) else ""
        marks = [mark(c.at(int(np.flatnonzero(np.isfinite(c.loss))[-1])), "loss", finite[-1])] if len(finite) else []
        return Hint("divergence", "Divergence: the loss became NaN", "error", epoch,
                    f"the training loss became NaN or infinite at epoch {epoch}{last}", advice, 0.99, marks=marks)
    if c.n == 0:
        return None
    loss = c.loss
    ref = c.chance
    if ref is not None:
        sane = c.first_step_loss is None or c.first_step_loss <= t.blowup * ref
        # an epoch far above chance after the run had been lower: it blew up
        end_up = math.isfinite(loss[-1]) and loss[-1] > t.blowup * ref  # (a spike it recovers from is oscillation)
        for j in range(1, c.n):
            before = finite_min(loss[:j])
            stays = bool(np.all(loss[j:] >= 0.9 * loss[j]))  # (it blew up and never came down)
            if math.isfinite(loss[j]) and loss[j] > t.blowup * ref and sane and end_up and (
                    loss[j] > 2 * before or (loss[j] > 1.5 * before and stays)):
                return Hint("divergence", "Divergence: the loss blew up", "error", c.at(j),
                            f"the training loss rose from {num(before)} to {num(loss[j])} in epoch {c.at(j)}, "
                            f"{times(loss[j] / ref)} {chance_txt(c)}", advice,
                            confidence(loss[j] / (t.blowup * ref), 0.8), marks=[mark(c.at(j), "loss", loss[j])])
        # far worse than guessing at first, then guessing to the end: it blew up at once and collapsed [cs231n]
        collapse = _collapsed(c, t)
        if collapse is not None:
            j, peak, by_step = collapse
            later = loss[j:]
            acc = c.val_acc if c.has("val_acc") else c.acc
            guessed = (f"; accuracy {pct(float(np.nanmax(acc[j:])))} at best since, what guessing gives"
                       if np.isfinite(acc[j:]).any() else "")
            what = ("single batches of epoch 1 reached" if by_step else
                    "epoch 1's training loss averaged" if j == 1 else f"the training loss reached")
            since = "since then every epoch" if j == 1 else f"from epoch {c.at(j)} on every epoch"
            return Hint("divergence", "Divergence: the network collapsed to guessing", "error", c.at(0),
                        f"{what} {num(peak)}, {times(peak / ref)} {chance_txt(c)}; {since} "
                        f"has sat at chance ({num(finite_min(later))} to {num(float(np.nanmax(later)))}){guessed}: "
                        "the steps were so large that the units it needs stopped responding", advice,
                        confidence(peak / ref / 1.05, 0.7),
                        marks=[mark(0.5, "step_loss", peak) if by_step else
                               mark(c.at(int(np.nanargmax(loss[:j]))), "loss", peak)])
        # it had learned, then fell back to chance and stayed there
        j_best = int(np.nanargmin(np.where(np.isfinite(loss), loss, np.nan)))
        tail = loss[j_best + 1:]
        if loss[j_best] < 0.6 * ref and len(tail) >= 2 and all(v >= (1 - t.near_chance) * ref for v in tail[-2:]):
            k = j_best + 1 + int(np.argmax(tail >= (1 - t.near_chance) * ref))
            return Hint("divergence", "Divergence: the network fell apart", "error", c.at(k),
                        f"the training loss had reached {num(loss[j_best])} at epoch {c.at(j_best)} and climbed "
                        f"back to {num(loss[-1])}, {chance_txt(c)}, by epoch {c.at(k)}", advice, 0.9,
                        marks=[mark(c.at(j_best), "loss", loss[j_best]), mark(c.at(k), "loss", loss[k])])
    else:
        # classes unknown: a loss that climbs far above where the run started
        end_up = math.isfinite(loss[-1]) and loss[-1] > 1.2 * loss[0] and loss[-1] > 1.0
        for j in range(1, c.n):
            before = finite_min(loss[:j])
            stays = bool(np.all(loss[j:] >= 0.9 * loss[j]))
            if math.isfinite(loss[j]) and loss[j] > 1.2 * loss[0] and loss[j] > 1.0 and end_up and (
                    loss[j] > 2 * before or (loss[j] > 1.5 * before and stays)):
                return Hint("divergence", "Divergence: the loss blew up", "error", c.at(j),
                            f"the training loss rose from {num(before)} to {num(loss[j])} in epoch {c.at(j)}, "
                            f"above the {num(loss[0])} it started at", advice,
                            confidence(loss[j] / (2 * before), 0.75), marks=[mark(c.at(j), "loss", loss[j])])
        acc = c.val_acc if c.has("val_acc") else c.acc
        if np.isfinite(acc).sum() >= 4:
            j = int(np.nanargmax(acc))
            tail = acc[j + 1:]
            tail = tail[np.isfinite(tail)]
            if acc[j] >= 0.5 and len(tail) >= 2 and np.all(tail[-2:] <= 0.5 * acc[j]) and np.ptp(tail[-2:]) <= 0.02:
                return Hint("divergence", "Divergence: the network fell apart", "error", c.at(j + 1),
                            f"the accuracy had reached {pct(acc[j])} at epoch {c.at(j)} and fell to "
                            f"{pct(tail[-1])}, where it stays", advice, 0.85,
                            marks=[mark(c.at(j), "val_accuracy" if acc is c.val_acc else "accuracy", acc[j])])
    # a loss that rises epoch after epoch at the end
    y = log_of(loss)
    if c.n >= 4 and np.isfinite(y[-4:]).all():
        d = np.diff(y[-4:])
        base = ref if ref is not None else loss[0]
        earlier = loss[1:-4][np.isfinite(loss[1:-4])]
        new_high = not len(earlier) or loss[-1] > earlier.max()  # (an oscillating run ends on an up-swing too)
        if np.all(d > 0) and y[-1] - y[-4] > math.log1p(t.rise_end) and loss[-1] - loss[-4] > 0.1 * base and new_high:
            return Hint("divergence", "Divergence: the loss keeps rising", "error", c.at(c.n - 3),
                        f"the training loss rose 3 epochs in a row, from {num(loss[-4])} to {num(loss[-1])} "
                        f"(+{pct(loss[-1] / loss[-4] - 1)})", advice,
                        confidence((y[-1] - y[-4]) / math.log1p(t.rise_end), 0.7),
                        marks=[mark(c.at(c.n - 4), "loss", loss[-4]), mark(c.at(c.n - 1), "loss", loss[-1])])
    return None


def _collapsed(c: Curves, t: Thresholds) -> tuple[int, float, bool] | None:
    """(first epoch index at chance, the peak before it, whether the peak is a single batch's) when the
    loss sat at chance from an early epoch to the end (at least half the run, 2+ epochs) after being far
    above it: above 1.5x chance in a batch or an epoch, or (epoch 1's mean, from an untrained net's ln K)
    just above ln K followed at once by chance."""
    ref, loss = c.chance, c.loss
    uniform = math.log(c.k) if c.k else ref
    for j in range(1, c.n // 2 + 1):
        later = loss[j:]
        if len(later) < t.flat_epochs - 1:
            break
        band = t.collapse_band if j == 1 else t.near_chance
        if not all(math.isfinite(v) and abs(v - ref) <= band * ref for v in later):
            continue
        acc = c.val_acc if c.has("val_acc") else c.acc
        tail_acc = acc[j:][np.isfinite(acc[j:])]
        if c.k and c.classes.majority is None and len(tail_acc) and tail_acc.max() > 1 / c.k + 0.05:
            return None  # (it still learns something: a descent from a high start, not a collapse)
        before = loss[:j][np.isfinite(loss[:j])]
        top = float(before.max()) if len(before) else -math.inf
        if c.first_epoch_peak is not None and c.first_epoch_peak > max(t.blowup * ref, top):
            return j, c.first_epoch_peak, True
        if top > t.blowup * ref or (j == 1 and top > (1 + t.collapse_band) * max(ref, uniform)):
            return j, top, False
        return None
    return None


def _first_nonfinite(c: Curves) -> int | None:
    """First epoch whose loss or validation loss is NaN/inf/missing after that column had values; a
    history with no finite training loss at all (a run that blew up in epoch 1) counts from epoch 1."""
    columns = [col for name, col in (("loss", c.loss), ("val_loss", c.val_loss)) if name in c.columns]
    if not columns or not c.n:
        return None
    if any(not np.isfinite(col).any() for col in columns):
        return 0  # a loss that was never a number: NaN from epoch 1
    for i in range(c.n):
        for col in columns:
            if not math.isfinite(col[i]) and (np.isfinite(col[:i]).any() or (i == 0 and col is c.loss)):
                return i
    return None


# ---- bad initialization [seeds shape 5][cs231n][recipe][DeepDiagnosis] --------------------------------------
def bad_init(c: Curves, x: Context) -> Hint | None:
    hint = _bad_init(c, x)
    return replace(hint, change={"init": init_fix(x.config)} if x.config else {}) if hint else None


def _bad_init(c: Curves, x: Context) -> Hint | None:
    t = x.t
    fix = init_fix(x.config)
    current = (x.config or {}).get("init")
    advice = f"change the initializer to {fix}" + (f" (now {current})" if current and current != fix else "")
    confirm, bonus = _probe_confirmation(x.probes)
    loss = c.loss
    if not np.isfinite(loss).any():
        return None
    first = loss[np.isfinite(loss)][0]
    # (1) the first batch (or epoch 1) far above chance, and coming down from there: too large weights
    start = c.first_step_loss if c.first_step_loss is not None else first
    where = "the first batch's loss" if c.first_step_loss is not None else "epoch 1's training loss"
    falls_after = c.n >= 2 and math.isfinite(loss[1]) and loss[1] < loss[0]
    high = (start > t.high_start * c.chance) if c.chance is not None else start > ABSOLUTE_HIGH
    unsteady = _unsteady(c, t, start=2)
    if high and (falls_after or c.first_step_loss is not None) and not unsteady:
        vs = (f"{times(start / c.chance)} {chance_txt(c)}" if c.chance is not None else
              f"above ln 1000 + 1 = {num(ABSOLUTE_HIGH)}, more than guessing among a thousand classes gives")
        std = (x.config or {}).get("init_std")
        extra = (f" or lower init_std (now {std:g})"
                 if x.config and current in ("normal", "truncated_normal") and isinstance(std, (int, float)) else "")
        return Hint("bad_init", "Bad initialization: the network starts far above chance", "warning", 1,
                    f"{where} was {num(start)}, {vs}: the initial weights are too large, so the outputs start "
                    f"confidently wrong{confirm}", advice + extra,
                    min(0.97, confidence(start / (t.high_start * (c.chance or ABSOLUTE_HIGH / t.high_start)), 0.7) + bonus),
                    marks=[mark(0, "step_loss", start) if c.first_step_loss is not None else mark(1, "loss", first)])
    if c.n < t.flat_epochs:
        return None
    y = log_of(loss)
    flat = flat_start(y, t.flat)
    acc = c.val_acc if c.has("val_acc") else c.acc
    near = c.chance is None or at_chance(c, loss[0], t) or at_chance(c, float(np.nanmin(loss[:flat] if flat else loss[:1])), t)
    level = (f"at the loss of guessing ({chance_txt(c)})" if c.chance is not None and near
             else f"flat at {num(loss[0])}")
    span = acc[:max(flat, 1)]
    acc_txt = ""
    if np.isfinite(span).sum() >= 2:
        acc_txt = f"; accuracy stayed between {pct(float(np.nanmin(span)))} and {pct(float(np.nanmax(span)))}"
    # (2) stuck for the whole run: the loss never moved
    moved = float(np.nanmax(np.abs(y - y[0]))) if math.isfinite(y[0]) else 0.0
    if moved <= t.stuck_total and c.n >= t.flat_epochs and (near or _acc_constant(acc)):
        finite_y = y[np.isfinite(y)]
        steady = falling_share(loss) >= 0.8 and len(finite_y) > 0 and (y[0] - finite_y[-1]) > 0.002
        if not steady:  # (a loss that creeps down every epoch is a learning rate too small)
            if x.probes.update_ratio is not None and x.probes.update_ratio < 1e-5 and not bonus:
                return None  # the weights barely move and nothing is dead or saturated: the learning rate
            return Hint("stuck", "Stuck from the start: the network does not learn", "error", 1,
                        f"the training loss has stayed {level} for all {c.n} epochs, moving at most "
                        f"{pct(math.expm1(moved))}{acc_txt}{confirm}",
                        advice + "; zeros (or tiny) weights make every unit the same, so none can learn",
                        min(0.97, confidence(c.n / t.flat_epochs, 0.6) + bonus),
                        marks=[mark(1, "loss", loss[0]), mark(c.at(c.n - 1), "loss", loss[-1])])
    # (2b) the accuracy never moves: the network gives every input the same class, whatever the loss
    # does (an imbalanced task's loss can fall a long way just by learning the class shares)
    one_class = _one_class(c, t)
    if one_class is not None and too_small_lr(c, x) is None:  # (a steady crawl is a learning rate too small)
        said_acc, value = one_class
        prior = ""
        if c.k == 2 and 0.5 < value < 1:
            p_loss = -(value * math.log(value) + (1 - value) * math.log(1 - value))
            prior = (f"; answering with the class shares alone gives a loss of {num(p_loss)}, and the loss "
                     f"ended at {num(loss[-1])}")
        return Hint("stuck", "Stuck: it gives every input the same class", "error", 1,
                    f"{said_acc} for all {c.n} epochs: the network answers the same class for every input"
                    f"{prior}{confirm}",
                    advice + "; zeros (or tiny) weights make every unit the same, so none can learn",
                    min(0.95, confidence(c.n / t.flat_epochs, 0.6) + bonus),
                    marks=[mark(c.at(c.n - 1), "val_accuracy" if c.has("val_acc") else "accuracy",
                                (c.val_acc if c.has("val_acc") else c.acc)[-1])])
    # (3) flat at first, then a sudden drop; or a start that barely moves, then a fall that speeds up
    s = thirds_slopes(y)
    if s is not None and c.n >= 6 and near and s[0] > -0.02 and s[1] < t.accelerating * min(s[0], 0.0) \
            and s[1] < -0.05 and flat < t.flat_epochs:
        ok, said = learned(c, t)
        return Hint("bad_init", "Bad initialization: a slow start that speeds up", "warning", 1,
                    f"in the first third of the run the training loss fell only {pct(-math.expm1(s[0]))} per epoch "
                    f"from {level}, in the last third {pct(-math.expm1(s[1]))} per epoch: the signal needed epochs to "
                    f"get through the initial weights{acc_txt}{confirm}", advice,
                    min(0.9, confidence(s[1] / min(s[0] - 1e-3, -1e-3) / t.accelerating, 0.55) + bonus),
                    marks=[mark(1, "loss", loss[0])])
    if flat >= t.flat_epochs and flat < c.n and near:
        after = loss[flat: flat + 2]
        after = after[np.isfinite(after)]
        if len(after) and after.min() <= (1 - t.drop_after_flat) * loss[flat - 1] and not _made_up(c, t, flat):
            drop = 1 - after.min() / loss[flat - 1]
            tail = ""
            rest = loss[flat:]
            if len(rest) >= 4:
                ok, said = learned(c, t)
                if not ok:
                    tail = f"; it then stopped far from a low loss: {said}"
            return Hint("bad_init", "Bad initialization: a flat start, then a sudden drop", "warning", 1,
                        f"the training loss sat {level} for {flat} epochs, then fell {pct(drop)} after epoch "
                        f"{c.at(flat - 1)}{acc_txt}{tail}{confirm}: the signal barely got through the initial "
                        "weights", advice, min(0.95, confidence(1 + flat / 3, 0.6) + bonus),
                        marks=[mark(c.at(flat - 1), "loss", loss[flat - 1])])
        # a flat start, then a fall that is steady but many times faster than the flat part's creep
        before = (y[flat - 1] - y[0]) / max(flat - 1, 1)
        rest = y[flat - 1:]
        rest = rest[np.isfinite(rest)]
        if len(rest) >= 3:
            pace = (rest[-1] - rest[0]) / (len(rest) - 1)
            if pace < -0.01 and pace < t.accelerating * min(before, -1e-3) and rest[-1] - rest[0] < math.log(0.9) \
                    and not learned(c, t)[0]:  # (a delay it made up for is not worth a hint)
                return Hint("bad_init", "Bad initialization: a long flat start", "warning", 1,
                            f"the training loss sat {level} for {flat} epochs (moving {pct(-math.expm1(before))} "
                            f"per epoch), then fell {pct(-math.expm1(pace))} per epoch from epoch {c.at(flat - 1)} on"
                            f"{acc_txt}{confirm}: the signal needed epochs to get through the initial weights",
                            advice, min(0.9, confidence(pace / min(before, -1e-3) / t.accelerating, 0.55) + bonus),
                            marks=[mark(c.at(flat - 1), "loss", loss[flat - 1])])
    return None


def _one_class(c: Curves, t: Thresholds) -> tuple[str, float] | None:
    """(what the accuracies did, the last one) when every accuracy column the run has stays at one
    value below 99% for at least five epochs and the whole run: the same answer for every input."""
    said, value = [], None
    for name, acc in (("training", c.acc), ("validation", c.val_acc)):
        finite = acc[np.isfinite(acc)]
        if not len(finite):
            continue
        if len(finite) < max(5, t.flat_epochs) or float(np.ptp(finite)) > 0.005 or finite.max() >= 0.99:
            return None
        if c.k and c.k > 2 and finite[-1] > 2 / c.k:
            return None  # (one class of K balanced ones is about 1/K of the answers)
        said.append(f"{name} accuracy fixed at {pct(float(finite[-1]))}")
        value = float(finite[-1])
    if not said:
        return None
    return " and ".join(said).capitalize()[:1].lower() + " and ".join(said)[1:], value


def _made_up(c: Curves, t: Thresholds, flat: int) -> bool:
    """A short flat start (under a quarter of the run) that ended at a low loss: a delay it made up for."""
    return flat * 4 <= c.n and learned(c, t)[0]


def _acc_constant(acc: np.ndarray) -> bool:
    finite = acc[np.isfinite(acc)]
    return len(finite) >= 3 and float(np.ptp(finite)) <= 0.01


# ---- oscillation [cs231n][playbook] --------------------------------------------------------------------------
def _noise_floor(c: Curves) -> float | None:
    """Expected epoch-to-epoch wobble of the mean training loss from batch sampling alone (as a relative
    change): one batch's relative spread over sqrt(batches per epoch) [playbook: noise before trend]."""
    if c.step_noise is None or not c.steps_per_epoch:
        return None
    return c.step_noise / math.sqrt(c.steps_per_epoch)


def _unsteady(c: Curves, t: Thresholds, start: int = 1) -> bool:
    """The loss goes up again and again: the oscillation rule's test, from epoch `start` + 1."""
    up = rises(c.loss, t.rise, t.rise_floor * reference(c), start=start)
    val_up = rises(c.val_loss, t.rise, t.rise_floor * reference(c), start=start)
    return _enough(c, t, len(up), len(val_up))


def _enough(c: Curves, t: Thresholds, up: int, val_up: int) -> bool:
    """Enough rises for oscillation: two of the training loss, or one and two of the validation loss;
    in a long run, as many as t.rise_density of its epochs (a hundred noisy epochs have a few bumps)."""
    scaled = math.ceil(t.rise_density * c.n)
    return up >= max(t.rises_needed, scaled) or (up >= 1 and val_up >= max(t.val_rises_needed, scaled))


def oscillation(c: Curves, x: Context) -> Hint | None:
    t = x.t
    if c.n < 4:
        return None
    floor = _noise_floor(c)
    rel = max(t.rise, floor or 0.0)
    ref = reference(c)
    up = rises(c.loss, rel, t.rise_floor * ref, start=1)
    val_up = rises(c.val_loss, t.rise, t.rise_floor * ref, start=1)
    peaks = len(val_up)
    if not _enough(c, t, len(up), peaks):
        return None
    biggest = max((r for _, r in up), default=0.0)
    shown = up[:4]
    epochs = ", ".join(f"epoch {c.at(i)}: {num(c.loss[i - 1])} -> {num(c.loss[i])}" for i, _ in shown)
    more = f" and {len(up) - len(shown)} more" if len(up) > len(shown) else ""
    evidence = (f"the training loss went up {len(up)} time{'s' if len(up) != 1 else ''} by more than "
                f"{pct(rel)} ({epochs}{more}), by up to {pct(biggest)}")
    if floor:
        evidence += f", beyond the {pct(floor)} wobble that batch sampling explains"
    if peaks:
        evidence += f"; the validation loss went up {peaks} time{'s' if peaks != 1 else ''} too"
    fit = falling_fit(log_of(c.loss))
    above = float(np.nanmax(log_of(c.loss) - fit)) if np.isfinite(fit).any() else 0.0
    if above > 0:
        evidence += f" (at worst {pct(math.expm1(above))} above the curve's falling trend)"
    bonus = 0.0
    if x.probes.update_ratio is not None and x.probes.update_ratio > 10 * UPDATE_RATIO_GOOD:
        evidence += (f"; the per-layer probes agree: updates are {x.probes.update_ratio:.0e} of the weights "
                     "(about 1e-3 is healthy)")
        bonus = 0.1
    factor = 10 if biggest > 0.5 else 3
    strength = (len(up) + peaks) / 2 * max(biggest, rel) / rel
    return Hint("oscillation", "Oscillation: the learning rate is too high", "warning", c.at(up[0][0]), evidence,
                lr_advice("divide", factor, x.lr, x.optimizer) + " (or lower it over time: schedule cosine)",
                min(0.97, confidence(strength, 0.55) + bonus), lr_change("divide", factor, x.lr, x.optimizer),
                marks=[mark(c.at(i), "loss", c.loss[i]) for i, _ in shown])


# ---- overfitting [seeds shapes 2, 3][UMLAUT, with persistence][SageMaker overfit] -----------------------------
def overfitting(c: Curves, x: Context) -> Hint | None:
    hint = _overfitting(c, x)
    return replace(hint, change=overfit_change(x.config)) if hint else None


def _overfitting(c: Curves, x: Context) -> Hint | None:
    t = x.t
    valid = np.isfinite(c.val_loss) & np.isfinite(c.loss)
    if c.n < 4 or valid.sum() < 4:
        return None
    v = np.where(valid, c.val_loss, np.inf)
    m = int(np.argmin(v))
    advice = overfit_advice(x.config, c.at(m))
    after = c.val_loss[m + 1:]
    after = after[np.isfinite(after)]
    if len(after) >= t.overfit_after:
        rise = c.val_loss[-1] / c.val_loss[m] - 1
        above = after >= c.val_loss[m] * (1 + t.overfit_rise / 2)
        tail = max(t.overfit_after, math.ceil(t.overfit_tail * c.n))
        # it stays up: most epochs since the minimum, or (a flat stretch before the climb) every one of the last
        persistent = float(np.mean(above)) >= 0.75 or (t.overfit_tail > 0 and len(above) >= tail
                                                       and bool(np.all(above[-tail:])))
        train_drop = 1 - c.loss[-1] / c.loss[m] if c.loss[m] > 0 else 0.0
        if rise >= t.overfit_rise and persistent and train_drop >= 0.1 and falling_share(c.loss[m:]) >= 0.6:
            gap = ""
            if math.isfinite(c.acc[-1]) and math.isfinite(c.val_acc[-1]):
                gap = f"; training accuracy {pct(c.acc[-1])} against validation {pct(c.val_acc[-1])}"
            return Hint("overfitting", "Overfitting: validation loss rises while training loss falls", "warning",
                        c.at(m) + 1,
                        f"the validation loss rose {pct(rise)} from its lowest, {num(c.val_loss[m])} at epoch "
                        f"{c.at(m)}, to {num(c.val_loss[-1])} while the training loss fell {pct(train_drop)}{gap}",
                        advice, confidence(rise / t.overfit_rise * min(1.0, len(after) / 3), 0.6),
                        marks=[mark(c.at(m), "val_loss", c.val_loss[m]), mark(c.at(c.n - 1), "val_loss", c.val_loss[-1])])
    # shape 2: training accuracy near 100%, validation far below it, for the last 3 epochs
    if np.isfinite(c.acc[-3:]).all() and np.isfinite(c.val_acc[-3:]).all():
        gap = c.acc[-3:] - c.val_acc[-3:]
        if np.all(c.acc[-3:] >= t.gap_train) and np.all(gap >= t.gap):
            first = next(i for i in range(c.n) if math.isfinite(c.acc[i]) and c.acc[i] >= t.gap_train)
            ratio = (f"; the validation loss is {times(c.val_loss[-1] / c.loss[-1])} the training loss"
                     if c.loss[-1] > 0 and math.isfinite(c.val_loss[-1]) else "")
            return Hint("overfitting", "Overfitting: the training set is memorized", "warning", c.at(first),
                        f"training accuracy {pct(c.acc[-1])} but validation accuracy {pct(c.val_acc[-1])} for the "
                        f"last 3 epochs{ratio}", advice, confidence(float(gap.mean()) / t.gap, 0.55),
                        marks=[mark(c.at(c.n - 1), "val_accuracy", c.val_acc[-1])])
    return None


# ---- too small a learning rate [seeds shape 4][cs231n] ----------------------------------------------------------
def too_small_lr(c: Curves, x: Context) -> Hint | None:
    """Both losses fall slowly and steadily and are still falling, far from a low loss. [cs231n]: a low
    rate gives a nearly linear decay; a good one front-loads the drop and levels off."""
    t = x.t
    if c.n < 4 or (x.live and c.n < (x.epochs_planned or 0) // 2):
        return None  # live: "still falling at the end" is a judgement for the second half of a run
    series = c.val_loss if np.isfinite(c.val_loss).sum() >= 4 else c.loss
    name = "validation" if series is c.val_loss else "training"
    y = log_of(series)
    s = thirds_slopes(y)
    if s is None:
        return None
    early, late = s
    ok, said = learned(c, t)
    if ok or late > -t.slow:
        return None
    if early < 0 and late / early < t.decel:
        return None  # it has slowed down: not a steady crawl
    if late < (early if early < 0 else 0) * t.accelerating and late < -10 * t.slow:
        return None  # it speeds up: a slow start that is catching on (bad_init's slow start)
    k = max(2, c.n // 2)
    if falling_share(series[-k:]) < 0.8:
        return None
    finite = series[np.isfinite(series)]
    factor = 10 if late / min(early, -1e-9) >= 0.7 or early >= 0 else 3
    bonus = 0.0
    evidence = (f"the {name} loss is still falling {pct(-math.expm1(late))} per epoch at epoch {c.at(c.n - 1)} "
                f"({num(finite[0])} -> {num(finite[-1])}) and has not slowed down, far from a low loss: {said}")
    if x.probes.update_ratio is not None and x.probes.update_ratio < 0.1 * UPDATE_RATIO_GOOD:
        evidence += f"; the per-layer probes agree: updates are only {x.probes.update_ratio:.0e} of the weights"
        bonus = 0.1
    ratio = late / early if early < 0 else 1.0
    return Hint("too_small_lr", "Slow progress: the learning rate is too small", "info", 1, evidence,
                lr_advice("multiply", factor, x.lr, x.optimizer) + ", or train for more epochs",
                min(0.95, confidence(ratio / t.decel, 0.5) + bonus), lr_change("multiply", factor, x.lr, x.optimizer),
                marks=[mark(c.at(c.n - 1), "val_loss" if series is c.val_loss else "loss", finite[-1])])


# ---- a plateau far from a low loss -------------------------------------------------------------------------------
def plateau(c: Curves, x: Context) -> Hint | None:
    """It stopped learning without getting anywhere near a low loss (the deep sigmoid nets of the
    saturation lab do this after a drop) [DeepDiagnosis: loss not decreasing][SageMaker]."""
    t = x.t
    if c.n < 2 * t.flat_epochs:
        return None
    ok, said = learned(c, t)
    if ok:
        return None
    series = c.val_loss if np.isfinite(c.val_loss).sum() >= 4 else c.loss
    s = thirds_slopes(log_of(series))
    if s is None or abs(s[1]) > t.plateau_flat:
        return None
    k = max(2, c.n // 3)
    if falling_share(series[-k:]) >= 0.8 and s[1] < 0:
        return None  # a crawl, epoch after epoch: a learning rate too small
    confirm, bonus = _probe_confirmation(x.probes)
    fix = init_fix(x.config)
    return Hint("plateau", "Plateau: it stopped learning far from a low loss", "warning", c.at(c.n - k),
                f"for the last {k} epochs the loss moved less than {pct(t.plateau_flat)} per epoch while {said}"
                f"{confirm}", f"check the initializer ({fix} for this activation) and the learning rate; "
                "a deep sigmoid or tanh net often needs batch norm or fewer layers",
                min(0.9, confidence(t.plateau_flat / max(abs(s[1]), 1e-6), 0.5) + bonus),
                {"init": fix} if x.config and x.config.get("init") != fix else {},
                marks=[mark(c.at(c.n - 1), "val_loss" if series is c.val_loss else "loss", series[-1])])


# ---- healthy: a claim with its evidence --------------------------------------------------------------------------
def healthy(c: Curves, x: Context) -> Hint | None:
    t = x.t
    if c.n < t.flat_epochs or not c.has("val_loss"):
        return None  # (without a validation curve a good fit cannot be told)
    ok, said = learned(c, t)
    if not ok:
        return None
    series = c.val_loss
    i_best = int(np.nanargmin(np.where(np.isfinite(series), series, np.nan)))
    end = series[np.isfinite(series)][-1]
    settled = end <= 1.15 * series[i_best]
    running = x.live and c.n < (x.epochs_planned or 0)
    s = thirds_slopes(log_of(series))
    still = s is not None and s[1] < -0.02
    title = "Healthy so far" if running else ("Healthy, still improving" if still else "Healthy training")
    advice = ("keep these settings; it is still improving, so more epochs should help" if still else
              "keep these settings; to go further, tune one knob at a time (learning rate first)")
    return Hint("healthy", title, "info", None,
                f"{said}, reached at epoch {c.at(i_best)}; the last epoch is within {pct(end / series[i_best] - 1)} "
                f"of it, and no oscillation, overfitting or slow-down shows" if settled else
                f"{said}, at epoch {c.at(i_best)}", advice, confidence(c.n / t.flat_epochs, 0.6, 0.9),
                marks=[mark(c.at(i_best), "val_loss" if series is c.val_loss else "loss", series[i_best])])


# ---- a loss below zero -----------------------------------------------------------------------------------
NEGATIVE = -1e-3  # a cross-entropy is never below 0; a little below is rounding in a logged mean


def negative_loss(c: Curves) -> Hint | None:
    """A loss below zero is not a cross-entropy of these targets: labels outside [0, 1] fed to a
    binary cross-entropy, or a sign flipped. What it does says nothing about learning."""
    for series, values, name in (("loss", c.loss, "training loss"), ("val_loss", c.val_loss, "validation loss")):
        below = np.flatnonzero(np.isfinite(values) & (values < NEGATIVE))
        if len(below):
            j = int(below[0])
            lowest = int(np.argmin(np.where(np.isfinite(values), values, np.inf)))
            return Hint(
                "divergence", "The loss is below zero: it does not fit its targets", "error", c.at(j),
                f"the {name} is {num(values[j])} at epoch {c.at(j)} and reaches {num(values[lowest])} at epoch "
                f"{c.at(lowest)}; a cross-entropy is never below 0, so the targets do not fit this loss (labels "
                "outside 0 and 1 fed to a binary cross-entropy, or a sign flipped), and where the curve goes "
                "says nothing about learning",
                "check the targets against the loss: class indices with a sparse categorical cross-entropy, "
                "one-hot rows with a categorical one, 0/1 labels with a binary one and a sigmoid output",
                0.95, marks=[mark(c.at(j), series, values[j]), mark(c.at(lowest), series, values[lowest])])
    return None


def not_judged(reason: str, what: str) -> Hint:
    return Hint(NOT_JUDGED, f"Not judged: {reason}", "info", None, what,
                "the Curve Doctor reads a classifier's cross-entropy loss with its validation curve", 1.0, family=None)


def live_lr(c: Curves, config: dict | None) -> float | None:
    finite = c.lr[np.isfinite(c.lr)]
    if len(finite):
        return float(finite[-1])
    if config and isinstance(config.get("lr"), (int, float)):
        return float(config["lr"])
    return None


def context(c: Curves, probes: ProbeSummary, config: dict | None, epochs_planned: int | None,
            t: Thresholds = DEFAULT) -> Context:
    return Context(t, probes, config, live_lr(c, config), epochs_planned)


def fallback(c: Curves, x: Context) -> Hint:
    """No rule fired on a run that did not reach a low loss: say what its end looks like, with the
    numbers, at a low confidence: still going down (a learning rate too small) or not (a plateau)."""
    ok, said = learned(c, x.t)
    series = c.val_loss if np.isfinite(c.val_loss).sum() >= 2 else c.loss
    s = thirds_slopes(log_of(series))
    late = s[1] if s is not None else 0.0
    if late < 0 and falling_share(series) >= 0.5:
        return Hint("too_small_lr", "Slow progress: it is still learning, slowly", "info", 1,
                    f"the loss still falls {pct(-math.expm1(late))} per epoch at the end while {said}",
                    lr_advice("multiply", 3, x.lr, x.optimizer) + ", or train for more epochs", 0.45,
                    lr_change("multiply", 3, x.lr, x.optimizer), marks=[mark(c.at(c.n - 1), "val_loss" if series is c.val_loss
                                                                else "loss", series[-1])])
    fix = init_fix(x.config)
    return Hint("plateau", "Plateau: it stopped learning far from a low loss", "warning", max(1, c.at(c.n - 1) - 2),
                f"the loss no longer falls at the end (it changes {pct(math.expm1(late))} per epoch) while {said}",
                f"check the initializer ({fix} for this activation) and the learning rate", 0.45,
                {"init": fix} if x.config and x.config.get("init") != fix else {},
                marks=[mark(c.at(c.n - 1), "val_loss" if series is c.val_loss else "loss", series[-1])])


def memorized(c: Curves, t: Thresholds) -> bool:
    """The training loss ends far below the validation loss and near zero: the net learned the training
    set by heart (what is left once any early oscillation settled)."""
    if not (np.isfinite(c.loss[-1]) and np.isfinite(c.val_loss[-1])):
        return False
    ref = reference(c)
    return c.loss[-1] <= 0.05 * ref and c.val_loss[-1] >= 5 * c.loss[-1]
