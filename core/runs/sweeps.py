"""Groups of runs: one-knob sweeps (the same run with one setting changed) and seed groups (the same
run with other seeds), stored with one group id, trained in this thread or queued on the worker.

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

from core.catalog import datasets
from core.catalog.fields import REGISTRIES
from core.config import RunConfig, coerce
from core.errors import ConfigError
from core.runs.lifecycle import Training, execute
from core.runs.people import Person
from core.runs.store import RunRecord, RunStore
from core.training.device import resolve_device

SWEEP_TAG = "sweep"
SEEDS_TAG = "seeds"
MAX_SWEEP_RUNS = 64


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


def field_named(param: str):
    for f in fields(RunConfig):
        if f.name == param:
            return f
    names = ", ".join(f.name for f in fields(RunConfig))
    raise ConfigError("param", f"must be one of the settings ({names}) (got {param!r})")


def registry_names(param: str) -> list[str]:
    """Every registered name of a registry setting (optimizer, init, activation, dataset, model, schedule)."""
    registry = REGISTRIES.get(param)
    if registry is None:
        raise ConfigError("values", f"'all' works only for {', '.join(REGISTRIES)} (not {param})")
    return registry.names()


def parse_values(param: str, values: str | Sequence[Any]) -> list[Any]:
    """The swept values in the setting's type: a comma-separated text ("1e-4,1e-3"), "all" for every
    name of a registry setting, or a list. A value the setting cannot take raises ConfigError naming
    the setting; a repeated value or an empty list raises ConfigError naming `values`."""
    f = field_named(param)
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
    hints: list[dict] = field(default_factory=list)


@dataclass
class SweepResult:
    group_id: str
    param: str | None
    runs: list[SweepRun]

    def to_dict(self) -> dict:
        return {"group_id": self.group_id, "param": self.param, "runs": [asdict(r) for r in self.runs]}


def new_group_id() -> str:
    return uuid.uuid4().hex


def _named(configs: Sequence[RunConfig]) -> tuple[str | None, list[tuple[RunConfig, str]]]:
    param = swept_param(configs)
    return param, [(c, run_name(param, getattr(c, param)) if param else "") for c in configs]


def run_sweep(
    store: RunStore,
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
    whole group shows at once; then each goes through the one run lifecycle (probes, diagnosis). A
    run that fails is recorded as failed and the sweep goes on; a missing data set is reported before
    anything is stored. on_event(run_id, event) sees every trainer event after the store has it.
    Ctrl-C (KeyboardInterrupt) marks the running run and the runs still queued as cancelled and is
    raised again."""
    if not configs:
        raise ConfigError("values", "needs at least one value")
    how = Training(resolve_device(device), report_every=report_every, data_dir=data_dir)
    for name in dict.fromkeys(c.dataset for c in configs):
        datasets.load(name, data_dir)
    param, named = _named(configs)
    group_id = group_id or new_group_id()
    runs = [SweepRun(store.create_run(c, name=name, tag=tag, group_id=group_id, session=session), name)
            for c, name in named]
    for i, run in enumerate(runs):
        if cancel is not None and cancel.is_set():
            _cancel_rest(store, runs[i:], "the sweep was cancelled before this run started")
            break
        try:
            outcome = execute(store, run.run_id, how, cancel=cancel, on_event=on_event, isolate=True)
        except KeyboardInterrupt:
            run.status, run.message = "cancelled", "cancelled from the keyboard"
            _cancel_rest(store, runs[i + 1 :], "the sweep was cancelled before this run started")
            raise
        run.status, run.message, run.hints = outcome.status, outcome.error or outcome.message, outcome.hints
        run.history = store.history(run.run_id)
    return SweepResult(group_id, param, runs)


def _cancel_rest(store: RunStore, runs: Sequence[SweepRun], message: str) -> None:
    for run in runs:
        store.finish(run.run_id, "cancelled", message)
        run.status, run.message = "cancelled", message


def queue_sweep(worker, configs: Sequence[RunConfig], session: str = "", tag: str = SWEEP_TAG,
                by: Person | None = None) -> SweepResult:
    """Queue the configs on the worker as one group (the Train page's way) for `by`: returns at once
    with the run ids; the runs appear in the store as queued, then fill in as the worker trains them.
    The whole sweep is one request against the class's waiting cap; refused, nothing is queued."""
    param, named = _named(configs)
    group_id = new_group_id()
    ids = worker.submit_group(named, tag=tag, group_id=group_id, session=session, by=by)
    return SweepResult(group_id, param, [SweepRun(run_id, name) for run_id, (_, name) in zip(ids, named)])


# ---- seed groups -------------------------------------------------------------------------------
def repeat_with_seeds(store: RunStore, worker, run: RunRecord, k: int, session: str = "",
                      by: Person | None = None) -> list[int]:
    """Make the run the first of a seed group (the group it is in, or a new one) and queue more runs
    for `by` with the next unused seeds until the group has k runs; returns the group's run ids. The
    new runs are one request against the class's waiting cap; refused, nothing changes."""
    group = run.group_id or new_group_id()
    have = {r.config.seed for r in store.group(group)} if run.group_id else {run.config.seed}
    seeds = [s for s in range(run.config.seed + 1, run.config.seed + 1000) if s not in have][: max(0, k - len(have))]
    if seeds:
        worker.submit_group([(run.config.replace(seed=seed), run.name) for seed in seeds], tag=SEEDS_TAG,
                            group_id=group, session=session, by=by)
    if not run.group_id:
        store.set_group(run.id, group)
    return [r.id for r in store.group(group)]
