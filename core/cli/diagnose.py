"""`python -m core diagnose FILE...`: the Curve Doctor's hints for history CSV files."""
from __future__ import annotations

import argparse

from core.cli.common import add_json, print_json
from core.doctor.diagnose import classes_seen, diagnose_loaded
from core.doctor.history_io import read_history_file_segments
from core.errors import ConfigError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "diagnose", help="read training curves from history files and say what went wrong",
        description="Read Keras CSVLogger files, TensorBoard scalar CSV exports, TuneLab's export, JSON dumps of "
                    "history.history, Keras console output (.txt, .log) or notebooks (.ipynb, each fit a run) and "
                    "print hints: what went wrong, the evidence in numbers and what to try next.")
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="history files: CSV, JSON, console output or notebooks (at most 5 MB each)")
    parser.add_argument("--classes", type=int, metavar="K",
                        help="number of classes: chance loss is ln K (default: inferred from the curves where they "
                             "show it, e.g. a loss at ln K with accuracy 1/K)")
    add_json(parser, 'print one JSON object: {"hints": [...]} for one file, {"files": [...]} for several')
    parser.set_defaults(handler=cmd_diagnose)


def cmd_diagnose(args: argparse.Namespace) -> int:
    if args.classes is not None and args.classes < 2:
        raise ConfigError("classes", f"must be at least 2 (got {args.classes})")
    # every file is read before any output; a file whose epoch counter restarts is one run per segment
    cases = [(path, item) for path in args.files for item in read_history_file_segments(path)]
    results = [(path, item, diagnose_loaded(item, classes=args.classes)) for path, item in cases]
    if args.json:
        if len(results) == 1:
            print_json({"hints": [h.to_dict() for h in results[0][2]]})
        else:
            print_json({"files": [{"file": path, "run": item.name, "hints": [h.to_dict() for h in hints]}
                                  for path, item, hints in results]})
        return 0
    for path, item, hints in results:
        print(f"{path} ({item.kind}, {len(item.history)} epochs)" if item.name == path.split("/")[-1]
              else f"{path}: {item.name} ({item.kind}, {len(item.history)} epochs)")
        for note in item.notes:
            print(f"  note: {note}")
        classes = classes_seen(item.history, args.classes)
        if classes.how == "inferred":
            print(f"  classes: {classes.k}, inferred from {classes.because}")
        if not hints:
            print("  too early to tell: not enough epochs yet")
        for h in hints:
            where = f" from epoch {h.epoch}" if h.epoch else ""
            print(f"  [{h.severity}] {h.title}{where} (confidence {h.confidence:.0%})")
            print(f"    evidence: {h.evidence}")
            print(f"    try: {h.advice}")
    return 0
