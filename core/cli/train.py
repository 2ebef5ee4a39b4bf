"""`python -m core train`: train one run into the run store, through the same lifecycle as a run from
the dashboard (probes, diagnosis), with a progress line per epoch on stderr."""
from __future__ import annotations

import argparse

from core.catalog import datasets
from core.errors import UserError
from core.presets import preset_named
from core.cli.common import (add_db, add_json, add_preset_flag, add_run_flags, config_from_args, epoch_line,
                             hints_json, history_json, print_json, progress)
from core.runs.lifecycle import Training, execute
from core.runs.store import RunStore
from core.training.device import resolve_device
from core.training.events import EpochEnd


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train one run and record it in the run store",
                                   description="Train one run and record it in the run store (SQLite).")
    add_db(parser)
    parser.add_argument("--name", default="", help="a name for the run")
    parser.add_argument("--tag", default="", help="a tag to filter runs by")
    add_json(parser, "print one JSON object with the run's result")
    add_preset_flag(parser)
    add_run_flags(parser)
    parser.set_defaults(handler=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    device = resolve_device(args.device)
    datasets.load(config.dataset, args.data_dir)  # a missing data set is reported before a run is stored
    store = RunStore(args.db)
    name = args.name or (preset_named(args.preset).name if args.preset else "")
    run_id = store.create_run(config, name=name, tag=args.tag, session="cli")

    def on_event(run_id: int, event) -> None:
        if isinstance(event, EpochEnd):
            progress(f"run {run_id}  " + epoch_line(event.to_row(), config.epochs))

    try:
        outcome = execute(store, run_id, Training(device, data_dir=args.data_dir), on_event=on_event, isolate=False)
    except KeyboardInterrupt:
        progress(f"run {run_id} cancelled")
        return 130
    result = outcome.result
    if result is None:  # a user error while training (recorded as failed)
        raise UserError(f"run {run_id} failed: {outcome.error}")
    summary = {
        "run_id": run_id,
        "status": result.status,
        "device": result.device,
        "message": result.message,
        "history": history_json(result.history),
        "images_per_second": result.images_per_second,
        "seconds": result.seconds,
        "best_epoch": result.best_epoch,
        "test_loss": result.test_loss,
        "test_accuracy": result.test_accuracy,
        "step_settings": result.settings,
        "hints": hints_json(outcome.hints),
        "db": str(store.path),
    }
    if args.json:
        print_json(summary)
    else:
        print(f"run {run_id} {result.status}: {result.message}; {result.images_per_second:.0f} images/s "
              f"on {result.device}; stored in {store.path}")
    return 0

