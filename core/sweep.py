"""One-knob sweeps (the same run with one setting changed, trained as a group) and the learning-rate
range test (fastai's lr_find, made robust to NaN and noisy losses).

Every config of a sweep keeps the base config's seed. The trainer draws the initial weights from a
generator seeded with the seed and the validation split, the batch order, augmentation and dropout
from generators seeded with seed and seed + 1, so the runs of a sweep start from the same weights
(wherever the swept setting leaves the layer shapes and the initializer alone) and see the same
batches in the same order.
"""
from __future__ import annotations

import math
import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, Sequence

from core.config import RunConfig, coerce
from core.errors import ConfigError

SWEEP_TAG = "sweep"
MAX_SWEEP_RUNS = 64
# settings whose values come from a registry: "all" sweeps every registered name
_REGISTRY_FIELDS = ("optimizer", "init", "activation", "dataset", "model", "schedule")


# ---- building a sweep -------------------------------------------------------------------------
def log_space(low: float, high: float, n: int) -> list[float]:
    """n rates from low to high, evenly spaced on a log scale (both ends included), each rounded to
    4 significant digits so names read 0.000464, not 0.00046415888336127773."""
    low, high, n = float(low), float(high), int(n)
    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 or high <= 0:
        raise ConfigError("values", f"log_space needs two positive numbers (got {low:g} and {high:g})")
    if n < 2:
        raise ConfigError("values", f"log_space needs at least 2 values (got {n})")
    ratio = (high / low) ** (1.0 / (n - 1))
    values = [float(f"{low * ratio ** i:.4g}") for i in range(n)]
    values[0], values[-1] = low, high
    return values


def _field(param: str):
    for f in fields(RunConfig):
        if f.name == param:
            return f
    names = ", ".join(f.name for f in fields(RunConfig))
    raise ConfigError("param", f"must be one of the settings ({names}) (got {param!r})")


def registry_names(param: str) -> list[str]:
    """Every registered name of a registry setting (optimizer, init, activation, dataset, model, schedule)."""
    from core.activations import ACTIVATIONS
    from core.datasets import DATASETS
    from core.initializers import INITIALIZERS
    from core.models import MODELS
    from core.optimizers import OPTIMIZERS
    from core.schedules import SCHEDULES

    registry = {"optimizer": OPTIMIZERS, "init": INITIALIZERS, "activation": ACTIVATIONS,
                "dataset": DATASETS, "model": MODELS, "schedule": SCHEDULES}.get(param)
    if registry is None:
        raise ConfigError("values", f"'all' works only for {', '.join(_REGISTRY_FIELDS)} (not {param})")
    return registry.names()


def parse_values(param: str, values: str | Sequence[Any]) -> list[Any]:
    """The swept values in the setting's type: a comma-separated text ("1e-4,1e-3"), "all" for every
    name of a registry setting, or a list. A value the setting cannot take raises ConfigError naming
    the setting; a repeated value or an empty list raises ConfigError naming `values`."""
    f = _field(param)
    if isinstance(values, str):
        text = values.strip()
        items: list[Any] = registry_names(param) if text == "all" else [v.strip() for v in text.split(",") if v.strip()]
    else:
        items = list(values)
    if not items:
        raise ConfigError("values", "needs at least one value")
    if len(items) > MAX_SWEEP_RUNS:
        raise ConfigError("values", f"at most {MAX_SWEEP_RUNS} values in one sweep (got {len(items)})")
    parsed = [coerce(f, v) for v in items]
    seen: list[Any] = []
    for value in parsed:
        if value in seen:
            raise ConfigError("values", f"{value!r} is given twice")
        seen.append(value)
    return parsed


def sweep_configs(base: RunConfig, param: str, values: str | Sequence[Any]) -> list[RunConfig]:
    """One config per value: the base config with `param` changed and everything else, the seed
    included, kept (sweeping `seed` itself is how a seed group is made). Each config is validated
    (ConfigError names the field)."""
    return [base.replace(**{param: value}) for value in parse_values(param, values)]


def run_name(param: str, value: Any) -> str:
    return f"{param}={value:g}" if isinstance(value, float) else f"{param}={value}"


def swept_param(configs: Sequence[RunConfig]) -> str | None:
    """The one setting the configs differ in (None when they differ in none or in several)."""
    changed = {name for c in configs[1:] for name in configs[0].differences(c)}
    return changed.pop() if len(changed) == 1 else None


# ---- running a sweep ----------------------------------------------------------------------------
@dataclass
class SweepRun:
    run_id: int
    name: str
    status: str = "queued"
    message: str = ""
    history: list[dict] = field(default_factory=list)


@dataclass
class SweepResult:
    group_id: str
    param: str | None
    runs: list[SweepRun]

    def to_dict(self) -> dict:
        return {"group_id": self.group_id, "param": self.param, "runs": [asdict(r) for r in self.runs]}


def new_group_id() -> str:
    return uuid.uuid4().hex


def run_sweep(
    store,
    configs: Sequence[RunConfig],
    device: str = "auto",
    data_dir=None,
    group_id: str | None = None,
    tag: str = SWEEP_TAG,
    session: str = "cli",
    report_every: int = 10,
    on_event: Callable[[int, Any], None] | None = None,
    cancel=None,
) -> SweepResult:
    """Train the configs one after another in this thread (as `python -m core train` does) into the
    store, as one group: every run is stored as queued first, with the same group_id and tag, so the
    whole group shows at once. A run that raises is recorded as failed and the sweep goes on; a
    missing data set is reported before anything is stored. on_event(run_id, event) sees every
    trainer event after the store has it. Ctrl-C (KeyboardInterrupt) marks the running run and the
    runs still queued as cancelled and is raised again."""
    from core import datasets
    from core.train import resolve_device, train

    if not configs:
        raise ConfigError("values", "needs at least one value")
    torch_device = resolve_device(device)
    for name in dict.fromkeys(c.dataset for c in configs):
        datasets.load(name, data_dir)
    param = swept_param(configs)
    group_id = group_id or new_group_id()
    runs = []
    for config in configs:
        name = run_name(param, getattr(config, param)) if param else ""
        runs.append(SweepRun(store.create_run(config, name=name, tag=tag, group_id=group_id, session=session), name))
    result = SweepResult(group_id, param, runs)
    for i, (run, config) in enumerate(zip(runs, configs)):
        if cancel is not None and cancel.is_set():
            _cancel_rest(store, runs[i:], "the sweep was cancelled before this run started")
            break
        store.mark_running(run.run_id, str(torch_device))

        def emit(event, run_id=run.run_id) -> None:
            store.record(run_id, event)
            if on_event is not None:
                on_event(run_id, event)

        try:
            outcome = train(config, torch_device, cancel=cancel, emit=emit, report_every=report_every,
                            data_dir=data_dir)
        except KeyboardInterrupt:
            store.finish(run.run_id, "cancelled", "cancelled from the keyboard")
            run.status, run.message = "cancelled", "cancelled from the keyboard"
            _cancel_rest(store, runs[i + 1 :], "the sweep was cancelled before this run started")
            raise
        except Exception as exc:  # crash isolation, as in the worker: record it and go on
            run.status, run.message = "failed", f"{type(exc).__name__}: {exc}"
            store.finish(run.run_id, "failed", error=run.message)
            run.history = store.history(run.run_id)
            continue
        store.finish(
            run.run_id, outcome.status, outcome.message, images_per_second=outcome.images_per_second,
            first_report_seconds=outcome.first_report_seconds, best_epoch=outcome.best_epoch,
            test_loss=outcome.test_loss, test_accuracy=outcome.test_accuracy,
        )
        run.status, run.message, run.history = outcome.status, outcome.message, outcome.history
    return result


def _cancel_rest(store, runs: Sequence[SweepRun], message: str) -> None:
    for run in runs:
        store.finish(run.run_id, "cancelled", message)
        run.status, run.message = "cancelled", message


def queue_sweep(worker, configs: Sequence[RunConfig], session: str = "", tag: str = SWEEP_TAG) -> SweepResult:
    """Queue the configs on the worker as one group (the Train page's way): returns at once with the
    run ids; the runs appear in the store as queued, then fill in as the worker trains them."""
    param = swept_param(configs)
    group_id = new_group_id()
    runs = []
    for config in configs:
        name = run_name(param, getattr(config, param)) if param else ""
        runs.append(SweepRun(worker.submit(config, name=name, tag=tag, group_id=group_id, session=session), name))
    return SweepResult(group_id, param, runs)


def group_runs(store, group_id: str) -> list:
    """The stored runs of one group, oldest first."""
    return store.group(group_id)


# ---- learning-rate range test --------------------------------------------------------------------
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
        from core.jsonsafe import json_safe

        out = {k: v for k, v in asdict(self).items() if k not in ("lrs", "losses", "smoothed", "trend")}
        out["steps"] = len(self.lrs)
        out["points"] = [{"lr": a, "loss": b, "smoothed": c, "trend": d}
                         for a, b, c, d in zip(self.lrs, self.losses, self.smoothed, self.trend)]
        return json_safe(out)


def lr_schedule(start: float, end: float, steps: int) -> list[float]:
    """The exponential ramp: start * (end / start) ** (i / (steps - 1)) for i in 0..steps-1."""
    return [start * (end / start) ** (i / max(steps - 1, 1)) for i in range(steps)]


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
    growing exponentially from start to end over `steps` steps (the config's schedule is not used), and
    read off a good rate and the instability edge. Nothing is stored.

    As fastai's LRFinder (fastai/callback/schedule.py): exponential ramp, exponentially smoothed loss
    with bias correction, stop when the smoothed loss exceeds 4x its minimum. Robust where fastai is not:
    a step whose loss or gradient is NaN or infinite is left out of the smoothing and its update is
    skipped (the weights stay usable), and only `max_nan_steps` such steps in a row stop the test; the
    suggestions are read from a zero-lag smoothing, so they do not trail the curve.

    beta: the smoothing factor; by default 1 - 20/steps (0.9 for 200 steps), so the average spans about a
    twentieth of the ramp. fastai's 0.98 over its 100 steps averages over ~50 steps, half the test, and
    its curve trails the real one by several decades of rate.
    """
    import torch
    from torch import nn
    from torch.nn import functional as F

    from core import augment
    from core.optimizers import build_optimizer, regularized_weights
    from core.train import _steps_per_epoch, build_initialized_model, prepare_data, resolve_device, run_generator

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
    model = build_initialized_model(config, data.shape, data.classes, dev)
    run_gen = run_generator(model, config, dev)  # the trainer's order, augmentation, dropout
    params = [p for p in model.parameters() if p.requires_grad]
    l1_weights = list(regularized_weights(model)) if config.l1 > 0 else []
    optimizer = build_optimizer(model, config)
    augmenting = augment.is_active(config.aug_flip, config.aug_shift, config.aug_rotation, config.aug_zoom)
    n_train = len(data.y_train)
    batch = min(config.batch_size, n_train)
    per_epoch = _steps_per_epoch(n_train, batch)

    lrs, losses, smoothed = [], [], []
    avg, finite_steps, best, nan_run = 0.0, 0, math.inf, 0
    stop_reason = f"reached the end of the ramp ({end:g})"
    diverged = False
    order, position = None, per_epoch
    model.train()
    for lr in lr_schedule(start, end, steps):
        if cancel is not None and cancel.is_set():
            stop_reason = "cancelled"
            break
        for group in optimizer.param_groups:
            group["lr"] = lr
        if position == per_epoch:
            order, position = torch.randperm(n_train, device=dev, generator=run_gen), 0
        idx = order[position * batch : (position + 1) * batch]
        position += 1
        xb, yb = data.x_train[idx], data.y_train[idx]
        if augmenting:
            xb = augment.random_affine(xb, run_gen, config.aug_flip, config.aug_shift, config.aug_rotation,
                                       config.aug_zoom)
        loss = F.cross_entropy(model(xb), yb)
        objective = loss + config.l1 * sum(w.abs().sum() for w in l1_weights) if l1_weights else loss
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        grads = [p.grad for p in params if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))) if grads else torch.zeros(())
        value, norm_value = torch.stack([loss.detach().float(), norm.float()]).tolist()  # one host sync a step
        lrs.append(lr)
        if not (math.isfinite(value) and math.isfinite(norm_value)):
            # leave the step out: no update (the weights stay finite), no smoothing, count it
            optimizer.zero_grad(set_to_none=True)
            losses.append(math.nan)
            smoothed.append(smoothed[-1] if smoothed else math.nan)
            nan_run += 1
            if nan_run >= max_nan_steps:
                stop_reason = f"the loss was NaN or infinite for {nan_run} steps in a row"
                diverged = True
                break
            continue
        nan_run = 0
        if config.clip_norm > 0:
            nn.utils.clip_grad_norm_(params, config.clip_norm)
        optimizer.step()
        losses.append(value)
        finite_steps += 1
        avg = beta * avg + (1.0 - beta) * value
        smooth = avg / (1.0 - beta ** finite_steps)  # bias correction: the EMA starts at 0
        smoothed.append(smooth)
        best = min(best, smooth)
        if smooth > diverge_factor * best:
            stop_reason = f"the smoothed loss rose above {diverge_factor:g}x its minimum"
            diverged = True
            break
    return analyse_range_test(lrs, losses, beta, stop_reason, diverged, smoothed)


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
