"""The benchmark commands: `bench` (training speed), `bench-ui` (the live page in a real browser),
`bench-class` (a class of headless sessions watching the Wall) and `bench-diagnosis` (the Curve Doctor
on labelled curves). Each imports its benchmark only when it runs:
the product never loads core.bench (nor, through it, playwright)."""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from core.cli.common import add_device, add_json, print_json, progress
from core.errors import ConfigError, UserError
from core.training.device import resolve_device

DEFAULT_IMAGES = 50_000  # kept equal to core.bench.speed.DEFAULT_IMAGES by tests/cli/test_commands.py


def register(subparsers) -> None:
    speed = subparsers.add_parser(
        "bench",
        help="images/s of TuneLab's trainer against the usual tutorial loop and the compute floor",
        description="Train the simple CNN on synthetic CIFAR-shaped images three ways (TuneLab's trainer, "
        "a DataLoader tutorial loop, one fixed batch with every step setting) and print images/s, their ratios, "
        "which settings the best floor and the trainer used, the time to the first metric, peak memory, and a "
        "queue of 8 short runs one after another and concurrently.",
    )
    add_device(speed)
    speed.add_argument("--images", type=int, default=DEFAULT_IMAGES,
                       help=f"training images per way (default {DEFAULT_IMAGES})")
    speed.add_argument("--concurrency", type=int, default=4, help="queued runs at a time in the concurrent queue (default 4)")
    speed.add_argument("--workers", type=int, default=0,
                       help="DataLoader worker processes of the tutorial loop (default 0: on a 2-core machine "
                       "the model needs both cores)")
    speed.add_argument("--fast", action="store_true", help="TuneLab in fast mode (torch.compile)")
    speed.add_argument("--no-compile-floor", action="store_true",
                       help="leave the compiled variants out of the floor (they compile for a while on a CPU)")
    add_json(speed, "print one JSON object with every number")
    speed.set_defaults(handler=cmd_bench)

    ui = subparsers.add_parser(
        "bench-ui",
        help="click-to-first-chart-point and images/s with the Train page open vs headless (real browser)",
        description="In a real chromium: the time from clicking Start training to the first point on the "
        "loss chart, and training images/s with the page open against the same run with nobody watching.",
    )
    ui.add_argument("--repeats", type=int, default=3, help="runs of each kind (default 3)")
    ui.add_argument("--epochs", type=int, default=3, help="epochs per run (default 3)")
    add_json(ui)
    ui.set_defaults(handler=cmd_bench_ui)

    wall = subparsers.add_parser(
        "bench-class",
        help="training images/s with a class watching the Wall vs nobody, server CPU per poll, first-run wait",
        description="A real server and N students on the Wall page (headless Streamlit sessions over its "
        "websocket, polling as a browser does) while the simple CNN trains on mnist5k into the server's store: "
        "images/s watched against unwatched, the server's CPU per poll, and the longest wait for a first run "
        "when 30 people queue one run each.",
    )
    wall.add_argument("--students", type=int, default=30, help="sessions watching the Wall (default 30)")
    wall.add_argument("--epochs", type=int, default=5, help="epochs per training run (default 5)")
    add_json(wall)
    wall.set_defaults(handler=cmd_bench_class)

    doctor = subparsers.add_parser(
        "bench-diagnosis", help="score the Curve Doctor and published baselines on curves it was not tuned on",
        description="Leave-one-source-out over the labelled corpus (assets/diagnosis_corpus: TuneLab's trainer, a "
                    "plain PyTorch loop, real Keras, and real logs people committed): per fold the thresholds are fitted "
                    "on three sources and scored on the fourth, with and without the class count; macro-F1, false "
                    "alarms on healthy runs, coverage (runs given a cause), per-family precision/recall and, on "
                    "the real logs, the share right on the high-confidence runs, beside AUTOTRAINER's and UMLAUT's rules on the same folds; the "
                    "worst fold is the headline. Also the fix rate (the first hint's Try it, trained again) and "
                    "TuneLab's own runs with per-step losses and probes (assets/diagnosis_bench).")
    add_json(doctor)
    doctor.add_argument("--fix-rate", action="store_true",
                        help="first compute the fix rate (trains each broken TuneLab run twice, ~30 min CPU) and store it")
    doctor.add_argument("--generate", action="store_true",
                        help="first re-create TuneLab's steps-and-probes benchmark (~15 min CPU)")
    doctor.add_argument("--bench-dir", metavar="DIR", help="TuneLab's steps-and-probes benchmark (default assets/diagnosis_bench)")
    doctor.set_defaults(handler=cmd_bench_diagnosis)


def cmd_bench(args: argparse.Namespace) -> int:
    from core.bench import speed  # the benchmarks load only when one runs

    if args.images < speed.MIN_IMAGES:
        raise ConfigError("images", f"must be at least {speed.MIN_IMAGES} ({speed.MIN_IMAGES // speed.BATCH} batches "
                                    f"of {speed.BATCH}: {speed.WARMUP_STEPS} warm-up steps and as many timed) "
                                    f"(got {args.images})")
    if args.workers < 0:
        raise ConfigError("workers", f"must be 0 or more (got {args.workers})")
    if args.concurrency < 1:
        raise ConfigError("concurrency", f"must be at least 1 (got {args.concurrency})")
    device = resolve_device(args.device)
    result = speed.run_bench(device, args.images, args.concurrency, True if args.fast else None, args.workers,
                             progress, compile_floors=not args.no_compile_floor)
    if args.json:
        print_json(result)
    else:
        print(speed.format_table(result))
    return 0


def cmd_bench_ui(args: argparse.Namespace) -> int:
    if args.repeats < 1:
        raise ConfigError("repeats", f"must be at least 1 (got {args.repeats})")
    if args.epochs < 1:
        raise ConfigError("epochs", f"must be at least 1 (got {args.epochs})")
    if importlib.util.find_spec("playwright") is None:
        raise UserError("bench-ui needs playwright: pip install -r requirements-dev.txt")
    from core.bench import ui  # the benchmarks load only when one runs

    result = ui.measure(args.repeats, args.epochs)
    if args.json:
        print_json(result)
    else:
        print("\n".join(ui.format_lines(result)))
    return 0


def cmd_bench_class(args: argparse.Namespace) -> int:
    if args.students < 1:
        raise ConfigError("students", f"must be at least 1 (got {args.students})")
    if args.epochs < 1:
        raise ConfigError("epochs", f"must be at least 1 (got {args.epochs})")
    from core.bench import classroom  # the benchmarks load only when one runs

    result = classroom.measure(args.students, args.epochs, log=progress)
    if args.json:
        print_json(result)
    else:
        print("\n".join(classroom.format_lines(result)))
    return 0


def cmd_bench_diagnosis(args: argparse.Namespace) -> int:
    from core.bench import diagnosis, fix_rate, loso  # the benchmarks load only when one runs

    folder = Path(args.bench_dir) if args.bench_dir else diagnosis.BENCH_DIR
    if args.generate:
        diagnosis.generate(folder, log=progress)
    missing = [s for s in diagnosis.SPLITS if not (folder / f"{s}.json").exists()]
    if missing:
        raise ConfigError("bench-dir", f"{folder} has no {missing[0]}.json; run with --generate to create it")
    if args.fix_rate:
        fix_rate.compute(log=progress)
    cases = loso.load_corpus()
    result = {
        "leave_one_source_out": loso.leave_one_source_out(cases, log=progress),
        "shipped_thresholds_by_source": loso.shipped_by_source(cases),
        "fix_rate": loso.fix_rate(),
        "tunelab_with_steps_and_probes": diagnosis.evaluate(folder),
    }
    if args.json:
        print_json(result)
        return 0
    print("\n".join(loso.format_lines(result) + diagnosis.format_lines(result["tunelab_with_steps_and_probes"])))
    return 0
