"""`python -m core presets`: the presets and their lessons; with --check, each preset trained on some
seeds and every claim of its lesson checked (the numbers for a teacher, or for the issue's note)."""
from __future__ import annotations

import argparse

from core.cli.common import add_json, print_json, progress
from core.errors import ConfigError
from core.presets import BY_KEY, preset_named


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "presets", help="list the presets and their lessons (--check: train them and check each lesson)",
        description="List the presets (key, name, lesson, settings). With --check, train the named presets (or "
                    "all) on the CPU for each seed and check every claim its lesson makes, printing the numbers.")
    parser.add_argument("--check", nargs="*", metavar="PRESET", help="check these presets (no name: all of them)")
    parser.add_argument("--seeds", default="0,1,2", help="seeds to check on (default 0,1,2)")
    parser.add_argument("--short", action="store_true", help="the shortened form of presets that have one")
    add_json(parser)
    parser.set_defaults(handler=cmd_presets)


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError("seeds", f"must be whole numbers separated by commas (got {text!r})") from None
    if not seeds or any(s < 0 for s in seeds):
        raise ConfigError("seeds", f"must be at least one whole number of 0 or more (got {text!r})")
    return seeds


def cmd_presets(args: argparse.Namespace) -> int:
    if args.check is None:
        rows = [{"key": p.key, "name": p.name, "lesson": p.lesson, "settings": p.config().to_dict(),
                 "claims": [{"quantity": c.quantity, "op": c.op, "bound": c.bound} for c in p.claims]}
                for p in BY_KEY.values()]
        if args.json:
            print_json({"presets": rows})
        else:
            for row in rows:
                print(f"{row['key']:<18} {row['name']}\n{'':<18} {row['lesson']}")
        return 0
    from core.bench import lessons  # the checks train: they load only when asked for

    chosen = [preset_named(name) for name in args.check] or list(BY_KEY.values())
    seeds = _seeds(args.seeds)
    before = lessons.one_thread()
    results = []
    try:
        for preset in chosen:
            for seed in seeds:
                progress(f"checking {preset.key} on seed {seed}{' (short)' if args.short else ''}")
                check = lessons.check(preset, seed, shortened=args.short)
                results.append({"preset": preset.key, "seed": seed, "shortened": check.shortened, "ok": check.ok,
                                "values": check.values, "passed": check.passed})
    finally:
        lessons.restore_threads(before)
    if args.json:
        print_json({"checks": results, "all_ok": all(r["ok"] for r in results)})
    else:
        for r in results:
            claims = ", ".join(f"{q} {r['values'].get(q)!s:.6}{'' if ok else ' (FAILS)'}" for q, ok in r["passed"].items())
            print(f"{r['preset']:<18} seed {r['seed']}: {'ok' if r['ok'] else 'LESSON NOT SHOWN'}  {claims}")
    return 0 if all(r["ok"] for r in results) else 1
