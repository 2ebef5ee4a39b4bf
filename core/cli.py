"""TuneLab's command line: `python -m core <command>`, with --help on each command.

Contract (DESIGN.md): `--json` prints one JSON object on stdout and nothing else there; bad
arguments give exit code 2 and one line naming the field, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import json
import math
import sys
from dataclasses import MISSING
from typing import Any, Callable, Sequence

from core.config import GROUPS, RunConfig, config_fields
from core.errors import ConfigError, UserError
from core.jsonsafe import json_safe

USAGE_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(message)


class _UsageError(Exception):
    pass


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _choices(name: str) -> list[str] | None:
    from core.activations import ACTIVATIONS
    from core.datasets import DATASETS
    from core.initializers import INITIALIZERS
    from core.models import MODELS
    from core.optimizers import OPTIMIZERS
    from core.schedules import SCHEDULES

    registry = {
        "optimizer": OPTIMIZERS, "init": INITIALIZERS, "activation": ACTIVATIONS,
        "dataset": DATASETS, "model": MODELS, "schedule": SCHEDULES,
    }.get(name)
    return registry.names() if registry else None


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per RunConfig field, grouped as the tuning guide teaches. Values are checked by
    RunConfig itself, so the CLI, the pages and stored configs give the same messages."""
    groups = {g: parser.add_argument_group(g) for g in GROUPS}
    for f in config_fields():
        group = groups[f.metadata["group"]]
        default = f.default if f.default is not MISSING else None
        choices = _choices(f.name)
        text = f.metadata["help"] + (f" One of: {', '.join(choices)}." if choices else "") + f" Default: {default}."
        text = text.replace("%", "%%")
        if isinstance(default, bool):
            group.add_argument(_flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=text)
        else:
            group.add_argument(_flag(f.name), dest=f.name, metavar=f.name.upper(), default=argparse.SUPPRESS,
                               help=text)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """--config FILE first, then every flag given on the command line on top."""
    data: dict[str, Any] = {}
    if getattr(args, "config", None):
        try:
            with open(args.config, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise ConfigError("config", f"cannot read {args.config}: {exc.strerror}") from None
        data = RunConfig.from_json(text).to_dict()
    names = {f.name for f in config_fields()}
    data.update({k: v for k, v in vars(args).items() if k in names})
    return RunConfig.from_dict(data)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(json_safe(obj)) + "\n")


def _fmt(value: float | None, spec: str) -> str:
    return "nan" if value is None or not math.isfinite(value) else format(value, spec)


def epoch_line(row: dict, epochs: int) -> str:
    return (
        f"epoch {row['epoch']}/{epochs}  loss {_fmt(row['loss'], '.4f')}  acc {_fmt(row['accuracy'], '.4f')}  "
        f"val_loss {_fmt(row['val_loss'], '.4f')}  val_acc {_fmt(row['val_accuracy'], '.4f')}  "
        f"lr {row['lr']:.3g}  {row['seconds']:.1f}s  {row['images_per_s']:.0f} img/s"
    )


# ---- commands ------------------------------------------------------------------------------
def cmd_train(args: argparse.Namespace) -> int:
    from core import datasets
    from core.events import EpochEnd
    from core.probes import make_probe
    from core.store import RunStore
    from core.train import PROBE_BUDGET, resolve_device, train
    from core.worker import save_diagnosis

    config = config_from_args(args)
    device = resolve_device(args.device)
    datasets.load(config.dataset, args.data_dir)  # a missing data set is reported before a run is stored
    store = RunStore(args.db)
    run_id = store.create_run(config, name=args.name, tag=args.tag, session="cli")
    store.mark_running(run_id, str(device))

    def emit(event) -> None:
        store.record(run_id, event)
        if isinstance(event, EpochEnd):
            print(f"run {run_id}  " + epoch_line(event.to_row(), config.epochs), file=sys.stderr, flush=True)

    try:
        # the same per-layer probes as a run from the dashboard, so it opens there alike
        result = train(config, device, emit=emit, data_dir=args.data_dir, make_probe=make_probe,
                       probe_budget=PROBE_BUDGET)
    except KeyboardInterrupt:
        store.finish(run_id, "cancelled", "cancelled from the keyboard")
        print(f"run {run_id} cancelled", file=sys.stderr)
        return 130
    except Exception as exc:
        store.finish(run_id, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    hints = save_diagnosis(store, run_id, config)
    store.finish(
        run_id, result.status, result.message, images_per_second=result.images_per_second,
        first_report_seconds=result.first_report_seconds, best_epoch=result.best_epoch,
        test_loss=result.test_loss, test_accuracy=result.test_accuracy,
    )
    summary = {
        "run_id": run_id,
        "status": result.status,
        "device": result.device,
        "message": result.message,
        "history": [{k: row[k] for k in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr")}
                    for row in result.history],
        "images_per_second": result.images_per_second,
        "seconds": result.seconds,
        "best_epoch": result.best_epoch,
        "test_loss": result.test_loss,
        "test_accuracy": result.test_accuracy,
        "hints": [{k: hint[k] for k in ("id", "title", "severity", "epoch", "evidence", "advice")}
                  for hint in hints],
        "db": str(store.path),
    }
    if args.json:
        print_json(summary)
    else:
        print(f"run {run_id} {result.status}: {result.message}; {result.images_per_second:.0f} images/s "
              f"on {result.device}; stored in {store.path}")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from core import datasets, paths

    rows = datasets.availability(args.data_dir)
    if args.json:
        print_json({"data_dir": str(paths.data_dir(args.data_dir)), "datasets": rows})
        return 0
    for row in rows:
        where = "built in" if row["builtin"] else ("on disk" if row["available_offline"] else "needs download")
        print(f"{row['name']:<14} {'x'.join(map(str, row['shape'])):<8} {row['classes']:>3} classes  {where}")
        if row["missing_files"]:
            print(f"{'':<14} offline: put {', '.join(row['missing_files'])} into {row['folder']}")
    return 0


# Modules that add a subcommand: each has `register(subparsers)` adding a parser with
# set_defaults(handler=...). Add a module here to add a command.
COMMAND_MODULES: list[str] = [
    "core.probe_cli",
    "core.diagnose_cli",
    "core.ui_bench",
    "core.bench",
    "core.sweep_cli",
    "core.export_cli",
]


def build_parser() -> _Parser:
    parser = _Parser(prog="python -m core", description="TuneLab: train, diagnose and compare small networks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    train = sub.add_parser("train", help="train one run and record it in the run store",
                           description="Train one run and record it in the run store (SQLite).")
    train.add_argument("--config", metavar="FILE", help="a RunConfig JSON file; flags given here override it")
    train.add_argument("--db", metavar="PATH", help="run store (default $TUNELAB_DB or ~/.tunelab/runs.db)")
    train.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    train.add_argument("--data-dir", metavar="DIR", help="data folder (default $TUNELAB_DATA_DIR or ~/.tunelab/data)")
    train.add_argument("--name", default="", help="a name for the run")
    train.add_argument("--tag", default="", help="a tag to filter runs by")
    train.add_argument("--json", action="store_true", help="print one JSON object with the run's result")
    add_config_flags(train)
    train.set_defaults(handler=cmd_train)

    ds = sub.add_parser("datasets", help="list the data sets and whether each is available offline",
                        description="List the data sets and whether each is available offline.")
    ds.add_argument("--data-dir", metavar="DIR", help="data folder (default $TUNELAB_DATA_DIR or ~/.tunelab/data)")
    ds.add_argument("--json", action="store_true", help="print one JSON object")
    ds.set_defaults(handler=cmd_datasets)

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except _UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
