"""`python -m core sweep`: one run per value of one setting, trained one after another as one group,
each through the one run lifecycle (probes, diagnosis)."""
from __future__ import annotations

import argparse
import math

from core.cli.common import (add_db, add_json, add_run_flags, config_from_args, epoch_line, hints_json,
                             history_json, print_json, progress)
from core.errors import ConfigError
from core.runs.store import RunStore
from core.runs.sweeps import SWEEP_TAG, field_named, log_space, run_sweep, sweep_configs
from core.training.events import EpochEnd


def register(subparsers) -> None:
    sweep = subparsers.add_parser(
        "sweep", help="train the same run once per value of one setting, as one group in the run store",
        description="Train the base run (the train flags) once per value of one setting, one after another, into "
        "the run store as one group (same group_id, tag 'sweep'). Every run keeps the base seed, so the runs "
        "start from the same weights where the shapes allow and see the same batches in the same order.")
    sweep.add_argument("--param", required=True, metavar="SETTING", help="the setting to sweep, e.g. lr, optimizer")
    values = sweep.add_mutually_exclusive_group(required=True)
    values.add_argument("--values", metavar="V1,V2,...",
                        help="comma-separated values, or 'all' for every optimizer, init, activation, ...")
    values.add_argument("--log-space", nargs=3, metavar=("LOW", "HIGH", "N"),
                        help="N values from LOW to HIGH evenly spaced on a log scale (for lr and other rates)")
    add_db(sweep)
    sweep.add_argument("--tag", default=SWEEP_TAG, help=f"tag of the sweep's runs (default {SWEEP_TAG})")
    add_json(sweep, 'print one JSON object: {"group_id", "param", "runs": [{"run_id", "status", "history", "hints", ...}]}')
    add_run_flags(sweep)
    sweep.set_defaults(handler=cmd_sweep)


def _float(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(name, f"must be a number (got {text!r})") from None


def cmd_sweep(args: argparse.Namespace) -> int:
    field_named(args.param)  # an unknown setting is named before anything else
    if args.param in vars(args):
        raise ConfigError(args.param, f"is the swept setting: give its values with --values, not --{args.param.replace('_', '-')}")
    base = config_from_args(args)
    if args.log_space:
        low, high, n = args.log_space
        try:
            count = int(n)
        except ValueError:
            raise ConfigError("log_space", f"N must be a whole number (got {n!r})") from None
        values = log_space(_float("log_space", low), _float("log_space", high), count)
    else:
        values = args.values
    configs = sweep_configs(base, args.param, values)
    store = RunStore(args.db)
    names: dict[int, str] = {}

    def on_event(run_id: int, event) -> None:
        if isinstance(event, EpochEnd):
            if run_id not in names:
                record = store.get(run_id)
                names[run_id] = record.name if record else ""
            progress(f"run {run_id} {names[run_id]}  " + epoch_line(event.to_row(), base.epochs))

    try:
        result = run_sweep(store, configs, device=args.device, data_dir=args.data_dir, tag=args.tag,
                           on_event=on_event)
    except KeyboardInterrupt:
        progress("sweep cancelled")
        return 130
    if args.json:
        out = result.to_dict()
        for run in out["runs"]:
            run["history"] = history_json(run["history"])
            run["hints"] = hints_json(run["hints"])
        out["db"] = str(store.path)
        print_json(out)
        return 0
    print(f"sweep {result.group_id}: {len(result.runs)} runs of {args.param} in {store.path}")
    for run in result.runs:
        last = run.history[-1] if run.history else {}
        val = last.get("val_accuracy")
        shown = f"val_accuracy {val:.4f}" if isinstance(val, float) and math.isfinite(val) else "no val_accuracy"
        first = run.hints[0]["title"] if run.hints else "no diagnosis yet"
        print(f"  run {run.run_id:<5} {run.name:<24} {run.status:<10} {shown}  {first}")
    return 0
