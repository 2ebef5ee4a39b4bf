"""What every command shares: the parser whose usage errors are one line and exit code 2, the flags
defined once (--db, --device, --data-dir, --json, --config and one flag per RunConfig setting), and
printing (strict JSON on stdout, progress on stderr)."""
from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import MISSING
from typing import Any

from core.catalog.fields import registry_for
from core.config import GROUPS, RunConfig, config_fields
from core.errors import ConfigError
from core.jsonsafe import json_safe
from core.presets import BY_KEY, preset_named

USAGE_ERROR = 2


class UsageError(Exception):
    """A command line argparse cannot read (unknown flag, missing value)."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2 (raised, turned into the
    line by core.cli.main)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


# ---- the shared flags ------------------------------------------------------------------------------
def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH", help="run store (default $TUNELAB_DB or ~/.tunelab/runs.db)")


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")


def add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", metavar="DIR", help="data folder (default $TUNELAB_DATA_DIR or ~/.tunelab/data)")


def add_json(parser: argparse.ArgumentParser, what: str = "print one JSON object") -> None:
    parser.add_argument("--json", action="store_true", help=what)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """--config FILE and one flag per RunConfig field, grouped as the tuning guide teaches. Values
    are checked by RunConfig itself, so the CLI, the pages and stored configs give the same messages."""
    parser.add_argument("--config", metavar="FILE", help="a RunConfig JSON file; flags given here override it")
    groups = {g: parser.add_argument_group(g) for g in GROUPS}
    for f in config_fields():
        group = groups[f.metadata["group"]]
        default = f.default if f.default is not MISSING else None
        registry = registry_for(f.name)
        choices = registry.names() if registry else None
        text = f.metadata["help"] + (f" One of: {', '.join(choices)}." if choices else "") + f" Default: {default}."
        text = text.replace("%", "%%")
        if isinstance(default, bool):
            group.add_argument(_flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction,
                               default=argparse.SUPPRESS, help=text)
        else:
            group.add_argument(_flag(f.name), dest=f.name, metavar=f.name.upper(), default=argparse.SUPPRESS,
                               help=text)


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """What a command that trains (or probes) needs: the settings, the device and the data folder."""
    add_device(parser)
    add_data_dir(parser)
    add_config_flags(parser)


def add_preset_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", metavar="NAME", help=f"start from a preset ({', '.join(BY_KEY)}); flags given "
                                                         "here override it")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """--preset NAME or --config FILE first, then every flag given on the command line on top."""
    data: dict[str, Any] = {}
    if getattr(args, "preset", None):
        if getattr(args, "config", None):
            raise ConfigError("preset", "give either --preset or --config, not both")
        data = preset_named(args.preset).config().to_dict()
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


# ---- printing -------------------------------------------------------------------------------------
def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(json_safe(obj)) + "\n")


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _fmt(value: float | None, spec: str) -> str:
    return "nan" if value is None or not math.isfinite(value) else format(value, spec)


def epoch_line(row: dict, epochs: int) -> str:
    return (
        f"epoch {row['epoch']}/{epochs}  loss {_fmt(row['loss'], '.4f')}  acc {_fmt(row['accuracy'], '.4f')}  "
        f"val_loss {_fmt(row['val_loss'], '.4f')}  val_acc {_fmt(row['val_accuracy'], '.4f')}  "
        f"lr {row['lr']:.3g}  {row['seconds']:.1f}s  {row['images_per_s']:.0f} img/s"
    )


HISTORY_KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr")
HINT_KEYS = ("id", "family", "title", "severity", "epoch", "evidence", "advice", "change")


def history_json(history: list[dict]) -> list[dict]:
    return [{k: row.get(k) for k in HISTORY_KEYS} for row in history]


def hints_json(hints: list[dict]) -> list[dict]:
    return [{k: hint.get(k) for k in HINT_KEYS if k in hint} for hint in hints]
