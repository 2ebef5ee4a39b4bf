"""The learning-rate range test (fastai's lr_find, made robust to NaN and noisy losses): a callback
on the one training loop that ramps the rate exponentially step by step, and the analysis that reads
a suggested rate and the instability edge off the losses."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import torch

from core.config import RunConfig
from core.errors import ConfigError
from core.jsonsafe import json_safe
from core.training.callbacks import Callback, Loop, StopFit
from core.training.data import prepare_data
from core.training.device import resolve_device
from core.training.loop import Loop as TrainingLoop
from core.training.step import steps_per_epoch

@dataclass
class LRFinderResult:
    """One range test: per step the rate, the raw loss (NaN where it was not finite), the smoothed loss
    the stop rule watched (causal EMA) and the trend the suggestions are read from (zero-lag)."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    trend: list[float]
    suggested_lr: float | None  # the rate to train with
    edge_lr: float | None  # the instability edge: from this rate on the loss climbs fast or is NaN
    min_loss_lr: float | None  # where the trend is lowest
    steep_lr: float | None  # steepest descent of the trend (fastai's "steep")
    valley_lr: float | None  # fastai's "valley"
    stop_reason: str
    nan_steps: int = 0  # steps left out because their loss or gradient was NaN or infinite
    note: str = ""  # why there is no suggestion, when there is none

    def to_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if k not in ("lrs", "losses", "smoothed", "trend")}
        out["steps"] = len(self.lrs)
        out["points"] = [{"lr": a, "loss": b, "smoothed": c, "trend": d}
                         for a, b, c, d in zip(self.lrs, self.losses, self.smoothed, self.trend)]
        return json_safe(out)


def lr_schedule(start: float, end: float, steps: int) -> list[float]:
    """The exponential ramp: start * (end / start) ** (i / (steps - 1)) for i in 0..steps-1."""
    return [start * (end / start) ** (i / max(steps - 1, 1)) for i in range(steps)]


class RangeTest(Callback):
    """Before each step: set the rate of the ramp. Between backward and the update: read the loss and
    the gradient norm (one host sync a step) and skip the update of a step where either is NaN or
    infinite (the weights stay usable). After the update: the bias-corrected exponential smoothing of
    the loss, and the stop rules (the end of the ramp, the smoothed loss above `diverge_factor` times
    its minimum, `max_nan_steps` non-finite steps in a row)."""

    def __init__(self, rates: list[float], beta: float, diverge_factor: float, max_nan_steps: int, cancel=None):
        self.rates, self.beta = rates, beta
        self.diverge_factor, self.max_nan_steps, self.cancel = diverge_factor, max_nan_steps, cancel
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.avg, self.finite_steps, self.best, self.nan_run = 0.0, 0, math.inf, 0
        self.stop_reason = f"reached the end of the ramp ({rates[-1]:g})"
        self.diverged = False

    def before_fit(self, loop: Loop) -> None:
        loop.validate = False
        loop.stop_on_nonfinite = False
        loop.measure_every_step = True

    def before_batch(self, loop: Loop) -> None:
        if self.cancel is not None and self.cancel.is_set():
            self.stop_reason = "cancelled"
            raise StopFit(self.stop_reason)
        if len(self.lrs) == len(self.rates):
            raise StopFit(self.stop_reason)
        lr = self.rates[len(self.lrs)]
        for group in loop.optimizer.param_groups:
            group["lr"] = lr
        self.lrs.append(lr)

    def before_update(self, loop: Loop, loss: torch.Tensor, grad_norm: torch.Tensor | None) -> bool:
        value, norm = torch.stack([loss.detach().float(), grad_norm.float()]).tolist()  # one host sync a step
        if math.isfinite(value) and math.isfinite(norm):
            self.nan_run = 0
            self.losses.append(value)
            return True
        # leave the step out: no update (the weights stay finite), no smoothing, count it
        loop.optimizer.zero_grad(set_to_none=True)
        self.losses.append(math.nan)
        self.smoothed.append(self.smoothed[-1] if self.smoothed else math.nan)
        self.nan_run += 1
        return False

    def after_batch(self, loop: Loop, loss: torch.Tensor) -> None:
        if self.nan_run:
            if self.nan_run >= self.max_nan_steps:
                self.stop_reason = f"the loss was NaN or infinite for {self.nan_run} steps in a row"
                self.diverged = True
                raise StopFit(self.stop_reason)
            return
        self.finite_steps += 1
        self.avg = self.beta * self.avg + (1.0 - self.beta) * self.losses[-1]
        smooth = self.avg / (1.0 - self.beta ** self.finite_steps)  # bias correction: the EMA starts at 0
        self.smoothed.append(smooth)
        self.best = min(self.best, smooth)
        if smooth > self.diverge_factor * self.best:
            self.stop_reason = f"the smoothed loss rose above {self.diverge_factor:g}x its minimum"
            self.diverged = True
            raise StopFit(self.stop_reason)


def lr_range_test(
    config: RunConfig,
    start: float = 1e-7,
    end: float = 10.0,
    steps: int = 200,
    device: str = "cpu",
    data_dir=None,
    beta: float | None = None,
    diverge_factor: float = 4.0,
    max_nan_steps: int = 3,
    cancel=None,
) -> LRFinderResult:
    """Train from the config's initial weights, on its data in its batch order, with the learning rate
    growing exponentially from start to end over `steps` steps (the config's schedule and early stopping
    are not used), and read off a good rate and the instability edge. Nothing is stored.

    As fastai's LRFinder (fastai/callback/schedule.py): exponential ramp, exponentially smoothed loss
    with bias correction, stop when the smoothed loss exceeds 4x its minimum. Robust where fastai is not:
    a step whose loss or gradient is NaN or infinite is left out of the smoothing and its update is
    skipped (the weights stay usable), and only `max_nan_steps` such steps in a row stop the test; the
    suggestions are read from a zero-lag smoothing, so they do not trail the curve.

    beta: the smoothing factor; by default 1 - 20/steps (0.9 for 200 steps), so the average spans about a
    twentieth of the ramp. fastai's 0.98 over its 100 steps averages over ~50 steps, half the test, and
    its curve trails the real one by several decades of rate.
    """
    for name, value in (("start", start), ("end", end)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ConfigError(name, f"must be a positive number (got {value!r})")
    if end <= start:
        raise ConfigError("end", f"must be larger than start ({start:g}) (got {end:g})")
    if not 10 <= int(steps) <= 10_000:
        raise ConfigError("steps", f"must be between 10 and 10000 (got {steps})")
    steps = int(steps)
    if beta is None:
        beta = min(0.98, max(0.5, 1.0 - 20.0 / steps))
    if not 0.0 <= beta < 1.0:
        raise ConfigError("beta", f"must be at least 0 and less than 1 (got {beta})")
    dev = resolve_device(device) if isinstance(device, str) else torch.device(device)
    data = prepare_data(config, dev, data_dir)
    per_epoch = steps_per_epoch(len(data.y_train), min(config.batch_size, len(data.y_train)))
    ramp = RangeTest(lr_schedule(start, end, steps), beta, diverge_factor, max_nan_steps, cancel)
    # enough epochs for the whole ramp; the loop draws each epoch's batch order as a run does
    epochs = math.ceil(steps / per_epoch) + 1
    if epochs > 1000:
        raise ConfigError("steps", f"at most {999 * per_epoch} for {per_epoch} steps per epoch (got {steps})")
    plan = config.replace(epochs=epochs, schedule="constant", early_stopping=False)
    TrainingLoop(plan, dev, data, _Never(), lambda event: None, report_every=10**9, callbacks=[ramp]).run()
    return analyse_range_test(ramp.lrs, ramp.losses, beta, ramp.stop_reason, ramp.diverged, ramp.smoothed)


class _Never:
    def is_set(self) -> bool:
        return False


def zero_lag_smoothing(values: Sequence[float], beta: float) -> list[float]:
    """A weighted mean of every finite value around each point, with weight beta ** distance on both
    sides: the exponential smoothing of the stop rule made symmetric, so a drop or a rise stays at the
    rate where it happened instead of trailing it. Near the ends, where one side is missing, the weights
    are normalized over what is there (the same bias correction). NaNs get no weight; their points get
    the mean of their neighbours. Two running sums, O(n)."""
    values = list(values)
    n = len(values)
    fwd_sum, fwd_w = [0.0] * n, [0.0] * n
    s = w = 0.0
    for i, v in enumerate(values):
        s, w = beta * s, beta * w
        if math.isfinite(v):
            s, w = s + v, w + 1.0
        fwd_sum[i], fwd_w[i] = s, w
    out = [math.nan] * n
    s = w = 0.0
    for i in range(n - 1, -1, -1):
        v = values[i]
        s, w = beta * s, beta * w
        if math.isfinite(v):
            s, w = s + v, w + 1.0
        own = v if math.isfinite(v) else 0.0
        total_w = fwd_w[i] + w - (1.0 if math.isfinite(v) else 0.0)
        if total_w > 0:
            out[i] = (fwd_sum[i] + s - own) / total_w
    return out


TREND_BETA = 0.6  # the light smoothing after the median: weights 1, 0.6, 0.36, ... on either side


def running_median(values: Sequence[float], half_width: int) -> list[float]:
    """The median of the finite values within half_width points on either side (NaN where none)."""
    out = []
    for i in range(len(values)):
        window = sorted(v for v in values[max(0, i - half_width) : i + half_width + 1] if math.isfinite(v))
        if not window:
            out.append(math.nan)
            continue
        mid = len(window) // 2
        out.append(window[mid] if len(window) % 2 else 0.5 * (window[mid - 1] + window[mid]))
    return out


def half_width(beta: float) -> int:
    """Points on each side that the trend looks at: about half the EMA's span 1/(1-beta), at least 2."""
    return max(2, round(0.5 / (1.0 - beta)))


def robust_trend(losses: Sequence[float], beta: float) -> list[float]:
    """The curve the suggestions are read from: a centred running median over about the EMA's span (a
    single wild loss, or the blow-up at the end, does not drag its neighbours along as a mean would),
    then a light symmetric exponential smoothing in log space (the loss spans orders of magnitude) that
    rounds off the median's steps. Centred, so no lag."""
    median = running_median(losses, half_width(beta))
    logs = [math.log(max(v, 1e-12)) if math.isfinite(v) else math.nan for v in median]
    return [math.exp(v) if math.isfinite(v) else math.nan for v in zero_lag_smoothing(logs, TREND_BETA)]


def _valley(losses: Sequence[float]) -> int | None:
    """fastai's `valley` suggestion (fastai/callback/schedule.py): the longest stretch over which the
    loss keeps falling (a longest decreasing subsequence), and the point half way along it
    (start + int(len/3) + int(len/6), as fastai computes it)."""
    n = len(losses)
    if n < 2:
        return None
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return max_start + int(sections) + int(sections / 2)


FALL_NEEDED = 0.9  # the trend's minimum must be below 90% of its start for a suggestion


def analyse_range_test(lrs: Sequence[float], losses: Sequence[float], beta: float = 0.9, stop_reason: str = "",
                       diverged: bool = False, smoothed: Sequence[float] | None = None) -> LRFinderResult:
    """The suggestions from a range test's (rate, loss) points, NaN where a loss was not finite; read
    from robust_trend, a centred (zero-lag) smoothing of the finite losses. diverged: the test stopped
    because the loss blew up (the edge is then at the latest where it stopped).

    - min_loss_lr: where the trend is lowest.
    - steep_lr: where the trend falls fastest per decade of rate, before its minimum (fastai's `steep`),
      over the points after the first 10% (fastai skips them too: the loss there is still flat and noisy).
    - valley_lr: fastai's default since 2.5, the middle of the longest falling stretch.
    - suggested_lr: the steepest descent, but no higher than a tenth of the minimum's rate (fastai's
      `minimum`, the older rule of thumb): at the steepest point the loss falls fastest *now*, yet when
      it lies right next to the minimum, training at it for many epochs is already at the edge; both
      rules are fastai's, and the smaller of the two is the safe choice.
    - edge_lr: from where on training is unstable: the first rate past the minimum where the trend has
      climbed back a quarter of the way from its minimum to the starting loss (and to at least 1.5x the
      minimum), or, if that comes first, the rate where the final run of NaN losses began; when neither
      shows but the test stopped because the loss blew up, the rate where it stopped.
    """
    lrs, losses = list(lrs), list(losses)
    if len(lrs) != len(losses):
        raise ValueError("one loss per learning rate")
    nan_steps = sum(1 for v in losses if not math.isfinite(v))
    nan_run = next((i for i, v in enumerate(reversed(losses)) if math.isfinite(v)), len(losses))
    smoothed = list(smoothed) if smoothed is not None else [math.nan] * len(losses)
    trend = robust_trend(losses, beta)
    idx = [i for i, v in enumerate(trend) if math.isfinite(v)]
    result = LRFinderResult(lrs, losses, smoothed, trend, None, None, None, None, None, stop_reason, nan_steps)
    nan_edge = lrs[len(lrs) - nan_run] if nan_run else None
    if len(idx) < 5:
        result.edge_lr = nan_edge
        result.note = "too few finite losses to read a suggestion from"
        return result
    skip = len(idx) // 10
    window = idx[skip:] or idx
    i_min = min(window, key=lambda i: trend[i])
    result.min_loss_lr = lrs[i_min]
    # slope per decade of rate, measured across 2 * half_width points (centred on the point)
    k = half_width(beta)
    before = [i for i in window if i <= i_min]
    slopes = [((trend[b] - trend[a]) / (math.log10(lrs[b]) - math.log10(lrs[a])), i)
              for j, i in enumerate(before)
              for a, b in [(before[max(0, j - k)], before[min(len(before) - 1, j + k)])] if b > a]
    if slopes:
        slope, i_steep = min(slopes)
        if slope < 0:
            result.steep_lr = lrs[i_steep]
    v = _valley([trend[i] for i in window])
    if v is not None:
        result.valley_lr = lrs[window[v]]
    start_loss = trend[idx[0]]
    low = trend[i_min]
    if low < FALL_NEEDED * start_loss:
        result.suggested_lr = min(x for x in (result.steep_lr, result.min_loss_lr / 10) if x is not None)
    else:
        result.note = (f"the loss never fell clearly below its start ({start_loss:.3g}, lowest {low:.3g}): "
                       "widen the range or check the model and its initialization")
    threshold = max(low + 0.25 * (start_loss - low), 1.5 * low)
    rise_edge = next((lrs[i] for i in idx if i > i_min and trend[i] >= threshold), None)
    result.edge_lr = min((x for x in (rise_edge, nan_edge) if x is not None), default=None)
    if result.edge_lr is None and diverged:
        result.edge_lr = lrs[-1]  # the stop rule saw the loss blow up before the trend could
    return result
