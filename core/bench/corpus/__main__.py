"""Command line: `python -m core.bench.corpus generate [--source S] [--limit N] [--out DIR]`, `recheck`
(apply label checks added since to the kept runs) and `readme`."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from core.bench.corpus import specs
from core.bench.corpus.generate import OUT_DIR, generate, recheck
from core.bench.corpus.readme import write_readme


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.bench.corpus", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="train, check and record runs (resumable)")
    gen.add_argument("--source", action="append", choices=specs.SOURCES,
                     help="only this source (repeatable); default all, in the order torch_loop, keras, tunelab")
    gen.add_argument("--limit", type=int, default=None, help="at most this many new setups per source")
    gen.add_argument("--out", type=Path, default=None, help="output folder (default assets/diagnosis_corpus)")
    rc = sub.add_parser("recheck", help="apply the current label checks to the kept runs; move failures to rejected")
    rc.add_argument("--out", type=Path, default=None)
    rd = sub.add_parser("readme", help="write the output folder's README.md from index.csv and rejected.csv")
    rd.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "torch")
    if args.command == "generate":
        sources = [s for s in specs.SOURCES if not args.source or s in args.source]
        generate(args.out or OUT_DIR, sources, args.limit, log=lambda m: print(m, flush=True))
    elif args.command == "recheck":
        moved = recheck(args.out or OUT_DIR)
        print(f"moved {len(moved)} runs to rejected.csv")
    else:
        print(write_readme(args.out or OUT_DIR))
    return 0


if __name__ == "__main__":
    sys.exit(main())
