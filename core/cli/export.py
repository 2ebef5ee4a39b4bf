"""`python -m core export RUN_ID`: a stored run's history CSV, config JSON, TensorBoard event files or a
standalone PyTorch script that reproduces it (see core/export/)."""
from __future__ import annotations

import argparse

from core import paths
from core.cli.common import add_db, add_json, print_json
from core.errors import ConfigError
from core.export.bundle import FORMATS, export_run
from core.runs.store import RunStore


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="write a stored run as CSV, config JSON, TensorBoard events or a standalone script",
        description="Write one stored run into a folder: csv (run_ID_history.csv, Keras CSVLogger's columns), "
        "json (run_ID_config.json, which `train --config` reads back), tensorboard (run_ID/events.out.tfevents.*: "
        "`tensorboard --logdir DIR`) or script (run_ID.py: `python run_ID.py` trains the run again with plain "
        "PyTorch, from the same initial weights in the same batch order). --format all writes every one.")
    parser.add_argument("run_id", type=int, metavar="RUN_ID", help="the run's id (python -m core train prints it)")
    parser.add_argument("--format", dest="formats", action="append", choices=(*FORMATS, "all"), metavar="FORMAT",
                        help=f"one of {', '.join(FORMATS)}, all; may be given more than once (default all)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write into (created if missing)")
    add_db(parser)
    add_json(parser, 'print one JSON object: {"run_id", "files": [...]}')
    parser.set_defaults(handler=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    db = paths.db_path(args.db)
    if not db.exists():
        raise ConfigError("db", f"no run store at {db}")
    formats = args.formats or ["all"]
    chosen = list(FORMATS) if "all" in formats else list(dict.fromkeys(formats))
    written = export_run(RunStore(db), args.run_id, chosen, args.out)
    if args.json:
        print_json({"run_id": args.run_id, "files": [str(p) for p in written]})
    else:
        for path in written:
            print(path)
    return 0
