"""`python -m tests.golden.drift [--json] [--no-mutants]`: how far the recorded golden numbers move on
other CPUs, and how far the named mutants move them, against the tolerance of tests/numerics.py.

Other CPUs, simulated on this one: PyTorch picks its vectorised CPU kernels by what the processor
offers (ATEN_CPU_CAPABILITY: default = no SIMD, avx2, avx512). Each variant replays every golden case,
on the one thread it was recorded with, in a subprocess
(tests/golden/replay.py) and the report gives the largest gap to the record, per case.

Mutants (the bugs the structure issue named): each is made in a copy of the repository, replayed, and
the golden and trainer tests are run on the copy; each must fail a test. Prints a table, or JSON."""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.golden.replay import HISTORIES, HISTORY_KEYS, LR_FINDER  # noqa: E402
from tests.numerics import (RECORDED_ACCURACY_ATOL, RECORDED_RTOL, history_gaps,  # noqa: E402
                            within_recorded_tolerance, worst_gap)

VARIANTS = [
    {"name": "this CPU's own kernels", "env": {}},
    {"name": "no SIMD kernels (ATEN_CPU_CAPABILITY=default)", "env": {"ATEN_CPU_CAPABILITY": "default"}},
    {"name": "AVX2 kernels (ATEN_CPU_CAPABILITY=avx2)", "env": {"ATEN_CPU_CAPABILITY": "avx2"}},
    {"name": "AVX-512 kernels where the CPU has them", "env": {"ATEN_CPU_CAPABILITY": "avx512"}},
]
# (name, file, text to find, replacement, the tests that must catch it)
MUTANTS = [
    ("the schedule never steps", "core/training/loop.py", "                self.schedule.step(val_loss)\n",
     "                pass\n", ["tests/training/test_golden_history.py", "tests/training/test_loop.py"]),
    ("best weights saved without a copy", "core/training/loop.py",
     "best_state = {k: v.detach().clone() for k, v", "best_state = {k: v.detach() for k, v",
     ["tests/training/test_golden_history.py", "tests/training/test_loop.py"]),
    ("no L1 term", "core/training/step.py",
     "        objective = loss + l1 * sum(w.abs().sum() for w in l1_weights)\n", "        objective = loss\n",
     ["tests/training/test_golden_history.py", "tests/training/test_loop.py"]),
    ("no gradient clipping", "core/training/step.py",
     "        grad_norm = nn.utils.clip_grad_norm_(params, clip_norm)\n", "        grad_norm = global_grad_norm(params)\n",
     ["tests/training/test_golden_history.py", "tests/training/test_loop.py"]),
    ("fast mode does not compile", "core/training/device.py", "        return torch.compile(model, dynamic=False)\n",
     "        return model\n", ["tests/training/test_device.py"]),
    ("the script's self-check returns at once", "core/export/script.py",  # (the script is a template)
     "def self_check() -> dict:\n", "def self_check() -> dict:\n    return {}\n", ["tests/export/test_script.py"]),
]


def replay_in(root: Path, env: dict) -> dict:
    done = subprocess.run([sys.executable, "-m", "tests.golden.replay"], cwd=root, capture_output=True,
                          text=True, env={**os.environ, "TUNELAB_OFFLINE": "1", **env}, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout)


def gaps_of(replay: dict) -> dict:
    """Per case: the largest gap of its numbers to the record, and whether its counts match."""
    out = {}
    for name, case in HISTORIES["cases"].items():
        got = replay["histories"][name]
        gaps = history_gaps(got["history"], case["history"], HISTORY_KEYS)
        gaps["first_steps"] = worst_gap(got["first_steps"], case["first_steps"])
        out[name] = {"gaps": gaps, "same_counts": (got["status"], got["best_epoch"], len(got["history"]))
                     == (case["status"], case["best_epoch"], len(case["history"]))}
    for name, case in LR_FINDER.items():
        got = replay["range_tests"][name]
        tame = next(i for i, lr in enumerate(case["lrs"]) if lr >= case["edge_lr"])
        out[f"range test {name}"] = {"gaps": {"losses": worst_gap(got["losses"][:tame], case["losses"][:tame])},
                                     "same_counts": got["stop_reason"] == case["stop_reason"],
                                     "steps": [len(got["lrs"]), len(case["lrs"])]}
    return out


def loss_gap(case: dict) -> float:
    return max(v for k, v in case["gaps"].items() if k not in ("accuracy", "val_accuracy"))


def accuracy_gap(case: dict) -> float:
    return max((v for k, v in case["gaps"].items() if k in ("accuracy", "val_accuracy")), default=0.0)


def mutate(name: str, path: str, find: str, replace: str) -> Path:
    """A copy of the repository (what the tests need) with one bug made on purpose."""
    copy = Path(tempfile.mkdtemp(prefix="tunelab-mutant-"))
    for part in ("core", "tests", "pytest.ini", "app.py", "pages", "assets", ".streamlit"):
        source = ROOT / part
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, copy / part)
    target = copy / path
    text = target.read_text()
    if find not in text:
        raise RuntimeError(f"mutant {name!r}: {path} no longer has the line it changes")
    target.write_text(text.replace(find, replace, 1))
    return copy


def run_tests(copy: Path, files: list[str]) -> tuple[bool, str]:
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *files],
                          cwd=copy, capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "TUNELAB_OFFLINE": "1"})
    last = [line for line in done.stdout.splitlines() if line.strip()][-1:] or [""]
    return done.returncode != 0, last[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-mutants", action="store_true")
    args = parser.parse_args(argv)
    report = {"tolerance": {"rtol": RECORDED_RTOL, "accuracy_atol": RECORDED_ACCURACY_ATOL},
              "variants": [], "mutants": []}
    for variant in VARIANTS:
        replay = replay_in(ROOT, variant["env"])
        cases = gaps_of(replay)
        report["variants"].append({
            "name": variant["name"], "kernels": replay["capability"],
            "worst_loss_gap": max(loss_gap(c) for c in cases.values()),
            "worst_accuracy_gap": max(accuracy_gap(c) for c in cases.values()),
            "within_tolerance": all(within_recorded_tolerance(c["gaps"]) for c in cases.values()),
            "counts_match": [n for n, c in cases.items() if not c["same_counts"]] or "all", "cases": cases})
    if not args.no_mutants:
        for name, path, find, replace, files in MUTANTS:
            copy = mutate(name, path, find, replace)
            try:
                entry = {"name": name, "tests": files}
                if path.startswith("core/training/loop") or path.startswith("core/training/step"):
                    cases = gaps_of(replay_in(copy, {}))
                    entry["worst_loss_gap"] = max(loss_gap(c) for c in cases.values())
                    entry["worst_accuracy_gap"] = max(accuracy_gap(c) for c in cases.values())
                entry["caught"], entry["pytest"] = run_tests(copy, files)
            finally:
                shutil.rmtree(copy, ignore_errors=True)
            report["mutants"].append(entry)
    if args.json:
        json.dump(report, sys.stdout, indent=1, default=lambda v: None if isinstance(v, float) and math.isinf(v) else v)
        print()
    else:
        print(f"tolerance: relative {RECORDED_RTOL:g} (losses, lr), absolute {RECORDED_ACCURACY_ATOL:g} (accuracy)")
        for v in report["variants"]:
            print(f"  {v['name']:<48} kernels {v['kernels']:<8} loss gap {v['worst_loss_gap']:.2e}  "
                  f"accuracy gap {v['worst_accuracy_gap']:.4f}  within: {v['within_tolerance']}  "
                  f"counts differ: {v['counts_match']}")
        for m in report["mutants"]:
            gap = f"loss gap {m['worst_loss_gap']:.2e}" if "worst_loss_gap" in m else ""
            print(f"  mutant: {m['name']:<42} {gap:<20} caught: {m['caught']}  ({m['pytest']})")
    ok = all(v["within_tolerance"] for v in report["variants"]) and all(m["caught"] for m in report["mutants"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
