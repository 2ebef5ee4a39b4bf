"""The six labels, the blunt shape check (a) each kept curve must pass, and the healing check (b) its
counterfactual rerun must pass. Independent of core/doctor: plain thresholds on the per-epoch numbers.

Notation: L0 is the class-prior loss (the cross-entropy of predicting the training class frequencies;
ln K for a balanced K-class task), "chance accuracy" is the share of the largest validation class.
Every check returns a Check whose text gives the numbers it looked at, so a reader can redo it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from core.bench.corpus.curve import Curve

LABELS = ("oscillation", "overfitting", "too_small_lr", "bad_init", "divergence", "healthy")

# A rise of the training loss counts only when it is more than RISE_REL of the previous epoch's loss AND
# more than RISE_ABS * L0 in absolute terms, so that noise on a loss near zero (0.004 -> 0.005) is no rise.
RISE_REL = 0.10
RISE_ABS = 0.02
# healthy: the best validation loss is below HEALTHY_VAL * L0, the last is within HEALTHY_END of the best,
# and at most HEALTHY_RISES rises of the training loss (one uptick is allowed).
HEALTHY_VAL = 0.35
HEALTHY_END = 1.10
HEALTHY_RISES = 1
# oscillation: at least OSC_RISES rises of the training loss, or one and at least OSC_RISES of the validation
# loss (counted the same way), while it learns overall (the lowest training loss below OSC_LEARNED * L0 or the
# validation accuracy once at least LEARNED_ACC of the way from chance to 100%) and has not collapsed (last
# validation accuracy more than COLLAPSE_ACC of the way from chance to 100%; divergence is checked first).
OSC_RISES = 2
OSC_LEARNED = 0.7
# divergence: a NaN/inf; or a last training loss above DIV_ABOVE * L0 that is also DIV_ROSE times the
# first epoch's (it rose); or it learned (validation accuracy once at least halfway from chance to 100%)
# and then collapsed (last validation accuracy within COLLAPSE_ACC of the way from chance to 100%, last
# training loss at least COLLAPSE_LOSS * L0).
DIV_ABOVE = 2.0
DIV_ROSE = 1.5
LEARNED_ACC = 0.5
COLLAPSE_ACC = 0.1
COLLAPSE_LOSS = 0.9
# too_small_lr: a visible fall (last training and validation loss at most SLOW_FALL times the first), steady
# (no rise of the training loss over STEADY_REL, at most one of the validation loss over STEADY_VAL_REL),
# still falling at the end (the last training loss is the lowest, the last validation loss within
# END_VAL of its minimum; against noise, the last training loss within END_TRAIN of the lowest) and slow
# (the best validation loss still at least HEALTHY_VAL * L0).
SLOW_FALL = 0.97
STEADY_REL = 0.02
STEADY_VAL_REL = 0.05
END_VAL = 1.02
END_TRAIN = 1.01
# bad_init, three shapes: never better than chance (every training loss at least STUCK * L0 and every
# validation accuracy within STUCK_ACC of the way from chance to 100%); flat at chance for at least
# FLAT_EPOCHS epochs (training loss within FLAT_BAND of L0), then a drop below DROP * L0; or a first
# epoch's loss at least FAR_ABOVE * L0.
STUCK = 0.95
STUCK_ACC = 0.1
FLAT_EPOCHS = 3
FLAT_BAND = 0.05
DROP = 0.8
FAR_ABOVE = 2.0
# overfitting: the validation-loss minimum at least OVERFIT_GAP epochs before the end, the last validation
# loss at least OVERFIT_RISE times that minimum, and the training loss lower at the end than at that
# minimum; or a last training accuracy of at least MEMORIZED with validation accuracy GAP_ACC below it.
OVERFIT_GAP = 3
OVERFIT_RISE = 1.15
MEMORIZED = 0.99
GAP_ACC = 0.10
# healing (b): the counterfactual's final validation loss at most HEAL times the broken run's (NaN or
# above-chance losses count as L0); overfitting heals when the counterfactual's last validation accuracy is
# no lower than the broken run's and its validation loss ends within HEAL_END of its own minimum, or ends
# at most HEAL times the broken run's last value (the same many epochs on the full set still drift up a
# little, from a much lower level); oscillation heals when the counterfactual has at most HEALTHY_RISES
# rises of the training loss, fewer rises of both losses than the broken run and a best val loss no higher.
HEAL = 0.7
HEAL_END = 1.10


@dataclass(frozen=True)
class Check:
    passed: bool
    text: str
    shape: str = ""  # which of a label's shapes it matched (bad_init, divergence)

    def line(self) -> str:
        return ("pass: " if self.passed else "fail: ") + self.text


def _f(x: float) -> str:
    return f"{x:.4g}"


def rises(values: list[float], l0: float, rel: float = RISE_REL, abs_frac: float = RISE_ABS) -> list[int]:
    """Epochs (0-based) whose value rose over the previous epoch's by more than rel and abs_frac * l0."""
    return [i for i in range(1, len(values))
            if values[i] > values[i - 1] * (1 + rel) and values[i] - values[i - 1] > abs_frac * l0]


def _learned_and_collapsed(c: Curve) -> tuple[bool, str]:
    maj = c.majority
    learned_at = [i for i, a in enumerate(c.val_accuracy) if math.isfinite(a) and a >= maj + LEARNED_ACC * (1 - maj)]
    if not learned_at:
        return False, ""
    last_acc, last_loss = c.val_accuracy[-1], c.loss[-1]
    collapsed = (learned_at[0] < c.epochs - 1 and math.isfinite(last_acc)
                 and last_acc <= maj + COLLAPSE_ACC * (1 - maj) and last_loss >= COLLAPSE_LOSS * c.prior_loss)
    return collapsed, (f"val accuracy {_f(c.val_accuracy[learned_at[0]])} at epoch {learned_at[0] + 1} (chance "
                       f"{_f(maj)}), last val accuracy {_f(last_acc)}, last loss {_f(last_loss)} vs L0 {_f(c.prior_loss)}")


def check_divergence(c: Curve) -> Check:
    l0 = c.prior_loss
    bad = [i for i in range(c.epochs) if not (math.isfinite(c.loss[i]) and math.isfinite(c.val_loss[i]))]
    if bad:
        return Check(True, f"divergence: loss or val_loss NaN/inf from epoch {bad[0] + 1} of {c.epochs}", "nan")
    first, last = c.loss[0], c.loss[-1]
    if last >= DIV_ABOVE * l0 and last >= DIV_ROSE * first:
        return Check(True, f"divergence: the loss rose from {_f(first)} to {_f(last)}, above {DIV_ABOVE} x L0 = "
                           f"{_f(DIV_ABOVE * l0)}", "rose")
    collapsed, why = _learned_and_collapsed(c)
    if collapsed:
        return Check(True, f"divergence: learned, then collapsed to chance: {why}", "collapse")
    return Check(False, f"no divergence: all finite, last loss {_f(last)} (first {_f(first)}, L0 {_f(l0)}) "
                        f"not above {DIV_ABOVE} x L0 and rising; no collapse after learning"
                        + (f" ({why})" if why else " (never learned)"))


def check_oscillation(c: Curve) -> Check:
    l0, maj = c.prior_loss, c.majority
    if not c.finite:
        return Check(False, "not oscillation: the loss became NaN/inf")
    up, val_up = rises(c.loss, l0), rises(c.val_loss, l0)
    low, best_acc, last_acc = min(c.loss), max(c.val_accuracy), c.val_accuracy[-1]
    learned = low <= OSC_LEARNED * l0 or best_acc >= maj + LEARNED_ACC * (1 - maj)
    alive = last_acc > maj + COLLAPSE_ACC * (1 - maj)
    repeated = len(up) >= OSC_RISES or (len(up) >= 1 and len(val_up) >= OSC_RISES)
    ok = repeated and learned and alive
    text = (f"{len(up)} rises of the training loss (epochs {[i + 1 for i in up]}) and {len(val_up)} of the val loss "
            f"(epochs {[i + 1 for i in val_up]}), need >= {OSC_RISES} of the training loss or 1 and >= {OSC_RISES} of "
            f"the val loss; lowest loss {_f(low)} (L0 {_f(l0)}), best val accuracy {_f(best_acc)}, last "
            f"{_f(last_acc)} (chance {_f(maj)})")
    return Check(ok, ("oscillation: " if ok else "not oscillation: ") + text, "rises" if ok else "")


def check_healthy(c: Curve) -> Check:
    l0 = c.prior_loss
    if not c.finite:
        return Check(False, "not healthy: the loss became NaN/inf")
    best, last = min(c.val_loss), c.val_loss[-1]
    up = rises(c.loss, l0)
    ok = best < HEALTHY_VAL * l0 and last <= HEALTHY_END * best and len(up) <= HEALTHY_RISES
    notes = []
    if up:
        notes.append(f"one uptick of the training loss at epoch {up[0] + 1}")
    if c.epochs > 1 and c.val_loss[0] > 1.5 * c.val_loss[1] and c.val_loss[0] > c.loss[0]:
        notes.append("a validation spike in the first epoch")
    text = (f"best val loss {_f(best)} (need < {HEALTHY_VAL} x L0 = {_f(HEALTHY_VAL * l0)}), last {_f(last)} "
            f"(need <= {HEALTHY_END} x best), {len(up)} training-loss rises (at most {HEALTHY_RISES})")
    if notes:
        text += "; " + ", ".join(notes)
    return Check(ok, ("healthy: " if ok else "not healthy: ") + text, "uptick" if notes else "")


def check_too_small_lr(c: Curve) -> Check:
    l0 = c.prior_loss
    if not c.finite:
        return Check(False, "not too_small_lr: the loss became NaN/inf")
    n = c.epochs
    fall = c.loss[-1] / c.loss[0]
    val_fall = c.val_loss[-1] / c.val_loss[0]
    train_up = [i for i in range(1, n) if c.loss[i] > c.loss[i - 1] * (1 + STEADY_REL)]
    val_up = [i for i in range(1, n) if c.val_loss[i] > c.val_loss[i - 1] * (1 + STEADY_VAL_REL)]
    end_falling = c.loss[-1] <= END_TRAIN * min(c.loss) and c.val_loss[-1] <= END_VAL * min(c.val_loss)
    best = min(c.val_loss)
    fails = []
    if not (fall <= SLOW_FALL and val_fall <= SLOW_FALL):
        fails.append(f"no visible fall (last/first loss {_f(fall)}, val {_f(val_fall)}; need <= {SLOW_FALL})")
    if train_up or len(val_up) > 1:
        fails.append(f"not steady ({len(train_up)} training-loss rises > {STEADY_REL:.0%}, {len(val_up)} val-loss "
                     f"rises > {STEADY_VAL_REL:.0%})")
    if not end_falling:
        fails.append(f"not still falling at the end (last loss {_f(c.loss[-1])} vs lowest {_f(min(c.loss))}, last "
                     f"val {_f(c.val_loss[-1])} vs lowest {_f(best)})")
    if best < HEALTHY_VAL * l0:
        fails.append(f"not slow: best val loss {_f(best)} reached the healthy level {HEALTHY_VAL} x L0 = {_f(HEALTHY_VAL * l0)}")
    if fails:
        return Check(False, "not too_small_lr: " + "; ".join(fails))
    return Check(True, f"too_small_lr: loss fell steadily to {_f(fall)} of its first value over {n} epochs "
                       f"(val to {_f(val_fall)}), still falling at the end, best val loss {_f(best)} >= "
                       f"{HEALTHY_VAL} x L0 = {_f(HEALTHY_VAL * l0)}")


def check_bad_init(c: Curve) -> Check:
    l0, maj = c.prior_loss, c.majority
    if not c.finite:
        return Check(False, "not bad_init: the loss became NaN/inf")
    balanced = l0 > 0.9 * math.log(c.classes)
    where = "chance (ln K)" if balanced else "the class-prior loss"
    max_acc = max(c.val_accuracy)
    if min(c.loss) >= STUCK * l0 and max_acc <= maj + STUCK_ACC * (1 - maj):
        return Check(True, f"bad_init: stuck at {where} for all {c.epochs} epochs: lowest loss {_f(min(c.loss))} >= "
                           f"{STUCK} x L0 = {_f(STUCK * l0)}, best val accuracy {_f(max_acc)} (chance {_f(maj)})",
                     "stuck" if balanced else "stuck_prior")
    flat = 0
    while flat < c.epochs and abs(c.loss[flat] - l0) <= FLAT_BAND * l0:
        flat += 1
    later = min(c.loss[flat:]) if flat < c.epochs else math.inf
    if flat >= FLAT_EPOCHS and later <= DROP * l0:
        return Check(True, f"bad_init: flat at {where} for {flat} epochs (loss within {FLAT_BAND:.0%} of L0 = {_f(l0)}), "
                           f"then a drop to {_f(later)} (<= {DROP} x L0); last loss {_f(c.loss[-1])}", "flat_then_drop")
    if c.loss[0] >= FAR_ABOVE * l0:
        return Check(True, f"bad_init: first loss {_f(c.loss[0])} far above chance (>= {FAR_ABOVE} x L0 = "
                           f"{_f(FAR_ABOVE * l0)})", "far_above")
    return Check(False, f"not bad_init: lowest loss {_f(min(c.loss))} below {STUCK} x L0 = {_f(STUCK * l0)} or val "
                        f"accuracy {_f(max_acc)} above chance {_f(maj)}; flat at L0 for {flat} epochs (need >= "
                        f"{FLAT_EPOCHS} then <= {DROP} x L0); first loss {_f(c.loss[0])} < {FAR_ABOVE} x L0")


def check_overfitting(c: Curve) -> Check:
    if not c.finite:
        return Check(False, "not overfitting: the loss became NaN/inf")
    n = c.epochs
    low = min(range(n), key=lambda i: c.val_loss[i])
    last = c.val_loss[-1]
    rise_ok = low <= n - 1 - OVERFIT_GAP and last >= OVERFIT_RISE * c.val_loss[low] and c.loss[-1] < c.loss[low]
    text = (f"val loss lowest {_f(c.val_loss[low])} at epoch {low + 1} of {n}, last {_f(last)} "
            f"({_f(last / max(c.val_loss[low], 1e-12))} x the minimum; need >= {OVERFIT_RISE} and >= {OVERFIT_GAP} epochs before the "
            f"end), training loss {_f(c.loss[low])} -> {_f(c.loss[-1])}")
    if rise_ok:
        return Check(True, "overfitting: " + text, "val_rise")
    acc, vacc = c.accuracy[-1], c.val_accuracy[-1]
    if acc >= MEMORIZED and acc - vacc >= GAP_ACC:
        return Check(True, f"overfitting: training accuracy {_f(acc)} >= {MEMORIZED}, {_f(acc - vacc)} above val "
                           f"accuracy {_f(vacc)} (need >= {GAP_ACC}); " + text, "memorized")
    return Check(False, f"not overfitting: {text}; last accuracy {_f(acc)} vs val {_f(vacc)}")


def ambiguous_healthy(c: Curve) -> Check | None:
    """A run that passes the healthy check must not also show overfitting's shape (a memorized
    training set: 99% training accuracy, 10 points above validation): such a label is ambiguous, and
    the run is rejected rather than called either."""
    over = check_overfitting(c)
    if over.passed:
        return Check(False, f"ambiguous: healthy by its loss, but also {over.text}")
    return None


SHAPE_CHECKS = {
    "oscillation": check_oscillation,
    "overfitting": check_overfitting,
    "too_small_lr": check_too_small_lr,
    "bad_init": check_bad_init,
    "divergence": check_divergence,
    "healthy": check_healthy,
}


def shape_check(proposed: str, c: Curve) -> tuple[str, Check]:
    """Check a curve against its proposed label; "oscillation|divergence" (a raised learning rate) is
    decided by the shape: divergence when its check passes, else oscillation."""
    if proposed == "oscillation|divergence":
        div = check_divergence(c)
        if div.passed:
            return "divergence", div
        osc = check_oscillation(c)
        if osc.passed:
            return "oscillation", osc
        return proposed, Check(False, f"{div.text}; {osc.text}")
    return proposed, SHAPE_CHECKS[proposed](c)


def _final_val(c: Curve) -> float:
    """The last validation loss, counting NaN/inf or above-chance values as L0."""
    v = c.val_loss[-1]
    return min(v, c.prior_loss) if math.isfinite(v) else c.prior_loss


def heal_check(label: str, broken: Curve, fixed: Curve, broken_shape: str = "") -> Check:
    """Does the counterfactual run (the intervened knob set back) heal the broken run's symptom?"""
    if not fixed.finite:
        return Check(False, "the counterfactual run diverged too (NaN/inf)")
    f_last = fixed.val_loss[-1]
    if label == "overfitting":
        low = min(fixed.val_loss)
        b_last = broken.val_loss[-1]
        acc_ok = fixed.val_accuracy[-1] >= broken.val_accuracy[-1]
        ends_low = f_last <= HEAL_END * low
        shrinks = f_last <= HEAL * b_last
        return Check(acc_ok and (ends_low or shrinks),
                     f"counterfactual val loss ends at {_f(f_last)}, {_f(f_last / low) if low > 0 else 'inf'} x its minimum {_f(low)} (need <= "
                     f"{HEAL_END}, or <= {HEAL} x the broken run's last {_f(b_last)}); last val accuracy "
                     f"{_f(fixed.val_accuracy[-1])} vs broken {_f(broken.val_accuracy[-1])} (need >=)")
    if label == "oscillation":
        up, b_up = rises(fixed.loss, fixed.prior_loss), rises(broken.loss, broken.prior_loss)
        total = len(up) + len(rises(fixed.val_loss, fixed.prior_loss))
        b_total = len(b_up) + len(rises(broken.val_loss, broken.prior_loss))
        ok = len(up) <= HEALTHY_RISES and total < b_total and min(fixed.val_loss) <= min(broken.val_loss)
        return Check(ok, f"counterfactual has {len(up)} training-loss rises (need <= {HEALTHY_RISES}) and {total} rises "
                         f"of both losses (need < the broken run's {b_total}), best val loss {_f(min(fixed.val_loss))} "
                         f"vs broken {_f(min(broken.val_loss))} (need <=)")
    ref = _final_val(broken)
    ok = f_last <= HEAL * ref
    text = (f"counterfactual final val loss {_f(f_last)} vs broken {_f(broken.val_loss[-1])} (counted as "
            f"{_f(ref)}; need <= {HEAL} x)")
    if not ok and label == "bad_init" and broken_shape == "flat_then_drop":
        # a late drop may end low too: then healing means leaving chance at once
        flat = 0
        while flat < broken.epochs and abs(broken.loss[flat] - broken.prior_loss) <= FLAT_BAND * broken.prior_loss:
            flat += 1
        at = fixed.loss[min(flat, fixed.epochs) - 1]
        ok = at <= DROP * fixed.prior_loss and f_last <= broken.val_loss[-1]
        text += (f"; or: counterfactual loss {_f(at)} at epoch {flat} where the broken run was still flat "
                 f"(need <= {DROP} x L0) and final val loss no higher")
    return Check(ok, text)
