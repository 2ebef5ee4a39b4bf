"""CLI commands of the Curve Doctor: `diagnose FILE...` and `bench-diagnosis` (see core/cli.py)."""
from __future__ import annotations

import argparse
import sys

from core.errors import ConfigError


def register(subparsers) -> None:
    d = subparsers.add_parser(
        "diagnose", help="read training curves from CSV files and say what went wrong",
        description="Read Keras CSVLogger files, TensorBoard scalar CSV exports or TuneLab's export and print "
                    "hints: what went wrong, the evidence in numbers and what to try next.")
    d.add_argument("files", nargs="+", metavar="FILE", help="history CSV files (at most 5 MB each)")
    d.add_argument("--classes", type=int, metavar="K",
                   help="number of classes: chance loss is ln K (without it, chance-based rules stay silent)")
    d.add_argument("--json", action="store_true",
                   help='print one JSON object: {"hints": [...]} for one file, {"files": [...]} for several')
    d.set_defaults(handler=cmd_diagnose)

    b = subparsers.add_parser(
        "bench-diagnosis", help="score the Curve Doctor and published baselines on the labelled benchmark",
        description="Per-class precision, recall and F1, macro-F1 and the false-alarm rate on healthy runs for "
                    "the Curve Doctor, AUTOTRAINER's and UMLAUT's rules, on assets/diagnosis_bench/.")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--generate", action="store_true",
                   help="first re-create the benchmark by training every run and its counterfactual (~15 min CPU)")
    b.add_argument("--bench-dir", metavar="DIR", help="benchmark folder (default assets/diagnosis_bench)")
    b.set_defaults(handler=cmd_bench)


def cmd_diagnose(args: argparse.Namespace) -> int:
    from core.cli import print_json
    from core.diagnose import diagnose
    from core.history_io import read_history_file

    if args.classes is not None and args.classes < 2:
        raise ConfigError("classes", f"must be at least 2 (got {args.classes})")
    loaded = [read_history_file(path) for path in args.files]  # every file is checked before any output
    results = [(path, item, diagnose(item.history, classes=args.classes)) for path, item in zip(args.files, loaded)]
    if args.json:
        if len(results) == 1:
            print_json({"hints": [h.to_dict() for h in results[0][2]]})
        else:
            print_json({"files": [{"file": path, "hints": [h.to_dict() for h in hints]} for path, _, hints in results]})
        return 0
    for path, item, hints in results:
        print(f"{path} ({item.kind}, {len(item.history)} epochs)")
        for note in item.notes:
            print(f"  note: {note}")
        if not hints:
            print("  too early to tell: not enough epochs yet")
        for h in hints:
            where = f" from epoch {h.epoch}" if h.epoch else ""
            print(f"  [{h.severity}] {h.title}{where} (confidence {h.confidence:.0%})")
            print(f"    evidence: {h.evidence}")
            print(f"    try: {h.advice}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core import diagnosis_bench as bench
    from core.cli import print_json

    folder = Path(args.bench_dir) if args.bench_dir else bench.BENCH_DIR
    if args.generate:
        bench.generate(folder, log=lambda line: print(line, file=sys.stderr, flush=True))
    missing = [s for s in bench.SPLITS if not (folder / f"{s}.json").exists()]
    if missing:
        raise ConfigError("bench-dir", f"{folder} has no {missing[0]}.json; run with --generate to create it")
    result = bench.evaluate(folder)
    if args.json:
        print_json(result)
        return 0
    for scope, table in [("all", result["all"])] + [(s, result["splits"][s]) for s in bench.SPLITS]:
        print(f"== {scope} ==")
        for name, sc in table.items():
            print(f"{name:<26} macro-F1 {sc['macro_f1']:.3f}  false alarms {sc['false_alarm_rate']:.1%}  "
                  f"accuracy {sc['accuracy']:.3f}  ({sc['runs']} runs)")
            print("    " + "  ".join(f"{k}: P {v['precision']:.2f} R {v['recall']:.2f} F1 {v['f1']:.2f}"
                                     for k, v in sc["per_class"].items()))
    return 0
