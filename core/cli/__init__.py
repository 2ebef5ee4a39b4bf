"""TuneLab's command line: `python -m core <command>`, one module per command, --help on each.

Contract (DESIGN.md): `--json` prints one JSON object on stdout and nothing else there; bad
arguments give exit code 2 and one line naming the field; no traceback ever reaches a person (an
internal error is one line too, exit code 1, with the traceback only under TUNELAB_DEBUG=1).
"""
from __future__ import annotations

import os
import sys
import traceback
from typing import Callable, Sequence

from core.cli import bench, datasets, diagnose, export, lr_find, presets, probe, sweep, train
from core.cli.common import USAGE_ERROR, Parser, UsageError
from core.errors import UserError

# Each module adds its subcommand(s) with register(subparsers); the order is the order of --help.
COMMANDS = (train, presets, datasets, probe, diagnose, sweep, lr_find, export, bench)
INTERNAL_ERROR = 1


def build_parser() -> Parser:
    parser = Parser(prog="python -m core", description="TuneLab: train, diagnose and compare small networks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        handler: Callable = args.handler
        return handler(args)
    except (UsageError, UserError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except BrokenPipeError:  # `python -m core presets | head`: the reader has all it wanted
        sys.stderr.close()
        return 0
    except Exception as exc:  # a bug of ours: one line for the person, the traceback for a developer
        if os.environ.get("TUNELAB_DEBUG"):
            traceback.print_exc()
        print(f"error: internal error ({type(exc).__name__}: {exc}); set TUNELAB_DEBUG=1 to see where",
              file=sys.stderr)
        return INTERNAL_ERROR
