"""`python -m core datasets`: every data set, and whether it can be used offline (if not, which files
to put where)."""
from __future__ import annotations

import argparse

from core import paths
from core.catalog import datasets
from core.cli.common import add_data_dir, add_json, print_json


def register(subparsers) -> None:
    parser = subparsers.add_parser("datasets", help="list the data sets and whether each is available offline",
                                   description="List the data sets and whether each is available offline.")
    add_data_dir(parser)
    add_json(parser)
    parser.set_defaults(handler=cmd_datasets)


def cmd_datasets(args: argparse.Namespace) -> int:
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
