"""`python -m core lr-find`: the learning-rate range test's suggestion and instability edge (nothing
is stored)."""
from __future__ import annotations

import argparse

from core.cli.common import add_json, add_run_flags, config_from_args, print_json
from core.training.lr_finder import lr_range_test


def register(subparsers) -> None:
    find = subparsers.add_parser(
        "lr-find", help="learning-rate range test: a suggested rate and the instability edge",
        description="Train from the run's initial weights with the learning rate growing exponentially from "
        "--start to --end over --steps steps (fastai's lr_find, robust to NaN and noisy losses) and print the "
        "suggested learning rate and the edge from which training becomes unstable. Nothing is stored.")
    find.add_argument("--start", type=float, default=1e-7, help="first learning rate (default 1e-7)")
    find.add_argument("--end", type=float, default=10.0, help="last learning rate (default 10)")
    find.add_argument("--steps", type=int, default=200, help="steps of the ramp (default 200)")
    add_json(find, "print one JSON object: suggested_lr, edge_lr, ..., points [{lr, loss, smoothed, trend}]")
    add_run_flags(find)
    find.set_defaults(handler=cmd_lr_find)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def cmd_lr_find(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    result = lr_range_test(config, start=args.start, end=args.end, steps=args.steps, device=args.device,
                           data_dir=args.data_dir)
    if args.json:
        print_json({"config": config.to_dict(), **result.to_dict()})
        return 0
    print(f"{len(result.lrs)} steps from {args.start:g}: {result.stop_reason}")
    print(f"suggested learning rate  {_fmt(result.suggested_lr)}")
    print(f"instability edge         {_fmt(result.edge_lr)}")
    print(f"(lowest loss at {_fmt(result.min_loss_lr)}, steepest descent at {_fmt(result.steep_lr)}, "
          f"fastai's valley at {_fmt(result.valley_lr)}; {result.nan_steps} NaN steps left out)")
    if result.note:
        print(result.note)
    return 0
