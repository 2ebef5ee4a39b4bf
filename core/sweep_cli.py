"""`python -m core sweep` (one-knob sweeps trained as a group) and `python -m core lr-find` (the
learning-rate range test); see core/sweep.py."""
from __future__ import annotations

import argparse
import math
import sys

from core.cli import add_config_flags, config_from_args, epoch_line, print_json
from core.errors import ConfigError


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="a RunConfig JSON file; flags given here override it")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--data-dir", metavar="DIR", help="data folder (default $TUNELAB_DATA_DIR or ~/.tunelab/data)")


def register(subparsers: argparse._SubParsersAction) -> None:
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
    sweep.add_argument("--db", metavar="PATH", help="run store (default $TUNELAB_DB or ~/.tunelab/runs.db)")
    sweep.add_argument("--tag", default="sweep", help="tag of the sweep's runs (default sweep)")
    sweep.add_argument("--json", action="store_true",
                       help='print one JSON object: {"group_id", "param", "runs": [{"run_id", "status", "history", ...}]}')
    _common(sweep)
    add_config_flags(sweep)
    sweep.set_defaults(handler=cmd_sweep)

    find = subparsers.add_parser(
        "lr-find", help="learning-rate range test: a suggested rate and the instability edge",
        description="Train from the run's initial weights with the learning rate growing exponentially from "
        "--start to --end over --steps steps (fastai's lr_find, robust to NaN and noisy losses) and print the "
        "suggested learning rate and the edge from which training becomes unstable. Nothing is stored.")
    find.add_argument("--start", type=float, default=1e-7, help="first learning rate (default 1e-7)")
    find.add_argument("--end", type=float, default=10.0, help="last learning rate (default 10)")
    find.add_argument("--steps", type=int, default=200, help="steps of the ramp (default 200)")
    find.add_argument("--json", action="store_true",
                      help="print one JSON object: suggested_lr, edge_lr, ..., points [{lr, loss, smoothed, trend}]")
    _common(find)
    add_config_flags(find)
    find.set_defaults(handler=cmd_lr_find)


def _float(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(name, f"must be a number (got {text!r})") from None


def cmd_sweep(args: argparse.Namespace) -> int:
    from core.events import EpochEnd
    from core.store import RunStore
    from core.sweep import _field, log_space, run_sweep, sweep_configs

    _field(args.param)  # an unknown setting is named before anything else
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
            print(f"run {run_id} {names[run_id]}  " + epoch_line(event.to_row(), base.epochs),
                  file=sys.stderr, flush=True)

    try:
        result = run_sweep(store, configs, device=args.device, data_dir=args.data_dir, tag=args.tag,
                           on_event=on_event)
    except KeyboardInterrupt:
        print("sweep cancelled", file=sys.stderr)
        return 130
    if args.json:
        out = result.to_dict()
        for run in out["runs"]:
            run["history"] = [{k: row.get(k) for k in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr")}
                              for row in run["history"]]
        out["db"] = str(store.path)
        print_json(out)
        return 0
    print(f"sweep {result.group_id}: {len(result.runs)} runs of {args.param} in {store.path}")
    for run in result.runs:
        last = run.history[-1] if run.history else {}
        val = last.get("val_accuracy")
        shown = f"val_accuracy {val:.4f}" if isinstance(val, float) and math.isfinite(val) else "no val_accuracy"
        print(f"  run {run.run_id:<5} {run.name:<24} {run.status:<10} {shown}")
    return 0


def cmd_lr_find(args: argparse.Namespace) -> int:
    from core.sweep import lr_range_test

    config = config_from_args(args)
    result = lr_range_test(config, start=args.start, end=args.end, steps=args.steps, device=args.device,
                           data_dir=args.data_dir)
    if args.json:
        print_json({"config": config.to_dict(), **result.to_dict()})
        return 0

    def fmt(x: float | None) -> str:
        return "-" if x is None else f"{x:.3g}"

    print(f"{len(result.lrs)} steps from {args.start:g}: {result.stop_reason}")
    print(f"suggested learning rate  {fmt(result.suggested_lr)}")
    print(f"instability edge         {fmt(result.edge_lr)}")
    print(f"(lowest loss at {fmt(result.min_loss_lr)}, steepest descent at {fmt(result.steep_lr)}, "
          f"fastai's valley at {fmt(result.valley_lr)}; {result.nan_steps} NaN steps left out)")
    if result.note:
        print(result.note)
    return 0
