"""The resumable driver: for each sampled setup find a healthy baseline, train each intervention and its
counterfactual, keep a run only when both checks pass, and append it to index.csv (else rejected.csv).

Runs already in index.csv or rejected.csv are skipped, so a stopped generation resumes where it was;
delete the output folder to start over. A setup that raises is logged and not recorded (a rerun retries it);
history files are written when their setup is recorded, so a stopped generation leaves none unlisted.
"""
from __future__ import annotations

import importlib
import json
import math
import os
import time
import traceback
from pathlib import Path

import pandas as pd

from core.bench.corpus import labels, specs
from core.bench.corpus.curve import Curve, Trained
from core.bench.corpus.tasks import task_name
from core.doctor.history_io import read_history_file

OUT_DIR = Path(__file__).resolve().parents[3] / "assets" / "diagnosis_corpus"
INDEX_COLUMNS = (
    "run_id", "source", "label", "classes", "epochs", "file", "task", "model", "optimizer", "lr", "init",
    "activation", "batch_size", "train_size", "seed", "intervention", "config", "shape_check",
    "counterfactual_change", "counterfactual_check", "best_val_accuracy", "counterfactual_best_val_accuracy",
    "counterfactual_final_val_accuracy",
)
REJECTED_COLUMNS = ("run_id", "source", "proposed_label", "config", "failed_check", "reason")
TIMES_FILE = "generation_time.json"  # seconds spent per source, summed over resumed generations
SOURCE_MODULES = {
    "torch_loop": "core.bench.corpus.sources.torch_loop",
    "keras": "core.bench.corpus.sources.keras_fit",
    "tunelab": "core.bench.corpus.sources.tunelab",
}


def load_source(name: str):
    return importlib.import_module(SOURCE_MODULES[name])


def _read(path: Path, columns) -> pd.DataFrame:
    if path.exists():
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    return pd.DataFrame(columns=list(columns))


def _write(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)


class Trainer:
    """Trains configs of one source, remembering each result within a setup (a counterfactual is often
    the baseline itself)."""

    def __init__(self, source):
        self.source = source
        self.cache: dict[str, Trained] = {}
        self.trained = 0

    def __call__(self, config: dict) -> Trained:
        key = json.dumps(config, sort_keys=True)
        if key not in self.cache:
            self.cache[key] = self.source.train(config)
            self.trained += 1
        return self.cache[key]


def find_baseline(spec: specs.RunSpec, train: Trainer) -> tuple[float, Trained, str]:
    """Try the optimizer's ladder: the first rung whose run passes the healthy check wins at once;
    else, of the rungs tried, one that passed, else the lowest final validation loss."""
    tried = []
    for lr in specs.LADDER[spec.setup["optimizer"]]:
        run = train(spec.config(lr))
        ok = labels.check_healthy(run.curve).passed
        tried.append((lr, run, ok))
        if ok and len(tried) == 1:
            break
    def score(item):
        lr, run, ok = item
        last = run.curve.val_loss[-1]
        return (not ok, last if math.isfinite(last) else math.inf)
    lr, run, ok = min(tried, key=score)
    note = ", ".join(f"lr {t[0]:g}: final val loss {t[1].curve.val_loss[-1]:.4g}{' healthy' if t[2] else ''}" for t in tried)
    return lr, run, f"ladder {note}; chose lr {lr:g}"


def _describe(config: dict) -> dict:
    model = config["model"]
    if model == "mlp":
        model = f"mlp(depth={config['depth']},width={config['width']})"
    init = config["init"]
    if init == "normal":
        init = f"normal({config['init_std']:g})"
    return {"model": model, "init": init}


def evaluate_spec(spec: specs.RunSpec, source, train: Trainer, base_lr: float, baseline: Trained,
                  out_dir: Path) -> tuple[dict | None, dict | None]:
    """Train one spec and its counterfactual; return (index row, None) when kept, else (None, rejected row)."""
    config = spec.config(base_lr)
    run = baseline if spec.name == "baseline" else train(config)
    native = source.native_config(config) if hasattr(source, "native_config") else config
    label, shape = labels.shape_check(spec.proposed, run.curve)

    def reject(check: str, reason: str) -> tuple[None, dict]:
        return None, {"run_id": spec.run_id, "source": spec.source, "proposed_label": spec.proposed,
                      "config": json.dumps(native), "failed_check": check, "reason": reason}

    if not shape.passed:
        return reject("shape", shape.text)
    if label == "healthy" and (clash := labels.ambiguous_healthy(run.curve)) is not None:
        return reject("shape", clash.text)
    cf_change, cf_text, cf_best, cf_final = {}, "n/a: healthy runs need no counterfactual", "", ""
    if spec.fix or spec.fix_to:
        cf_config, back = spec.counterfactual(base_lr)
        fixed = train(cf_config)
        heal = labels.heal_check(label, run.curve, fixed.curve, shape.shape)
        cf_change = source.native_change(back) if hasattr(source, "native_change") else back
        if not heal.passed:
            return reject("counterfactual", f"{label}: {heal.text} (counterfactual {json.dumps(cf_change)})")
        cf_text = heal.line()
        cf_best, cf_final = f"{fixed.curve.best_val_accuracy():.6g}", f"{fixed.curve.final_val_accuracy():.6g}"
    described = _describe(config)
    row = {
        "run_id": spec.run_id, "source": spec.source, "label": label, "classes": run.curve.classes,
        "epochs": run.curve.epochs, "file": f"{spec.source}/{spec.run_id}.csv",
        "task": task_name(config["dataset"], config["task"]), "model": described["model"],
        "optimizer": config["optimizer"], "lr": f"{config['lr']:g}", "init": described["init"],
        "activation": config["activation"], "batch_size": config["batch_size"], "train_size": run.train_size,
        "seed": config["seed"], "intervention": spec.words, "config": json.dumps(native),
        "shape_check": shape.line(), "counterfactual_change": json.dumps(cf_change),
        "counterfactual_check": cf_text, "best_val_accuracy": f"{run.curve.best_val_accuracy():.6g}",
        "counterfactual_best_val_accuracy": cf_best, "counterfactual_final_val_accuracy": cf_final,
    }
    row["_write"] = lambda: source.write_csv(run, out_dir / row["file"])  # once the setup is recorded
    return row, None


def stored_curve(out_dir: Path, row) -> Curve:
    """A kept run's curve, read back from its file (the class prior from the index's class count)."""
    history = read_history_file(Path(out_dir) / row.file).history

    def column(key: str) -> list[float]:
        return [float(r[key]) if r.get(key) is not None else math.nan for r in history]

    k = int(row.classes)
    return Curve(column("loss"), column("accuracy"), column("val_loss"), column("val_accuracy"), k, math.log(k), 1 / k)


def recheck(out_dir: Path = OUT_DIR, log=print) -> list[str]:
    """Apply the label checks added after a generation to the runs it kept: a healthy run that also
    shows overfitting's shape moves to rejected.csv with the reason, and its file goes. Returns the
    run ids moved."""
    out_dir = Path(out_dir)
    index = _read(out_dir / "index.csv", INDEX_COLUMNS)
    rejected = _read(out_dir / "rejected.csv", REJECTED_COLUMNS)
    moved, dropped = [], []
    for row in index[index["label"] == "healthy"].itertuples():
        clash = labels.ambiguous_healthy(stored_curve(out_dir, row))
        if clash is not None:
            moved.append(row.run_id)
            dropped.append({"run_id": row.run_id, "source": row.source, "proposed_label": "healthy",
                            "config": row.config, "failed_check": "shape", "reason": clash.text})
            log(f"{row.run_id} ({row.source}): {clash.text}")
    if moved:
        rejected = pd.concat([rejected, pd.DataFrame(dropped)], ignore_index=True)
        _write(rejected.reindex(columns=list(REJECTED_COLUMNS)), out_dir / "rejected.csv")
        kept = index[~index["run_id"].isin(moved)]
        _write(kept.reindex(columns=list(INDEX_COLUMNS)), out_dir / "index.csv")
        for row in index[index["run_id"].isin(moved)].itertuples():
            (out_dir / row.file).unlink(missing_ok=True)
    return moved


def generate(out_dir: Path = OUT_DIR, sources=specs.SOURCES, limit: int | None = None, log=print) -> None:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    index_path, rejected_path, times_path = out_dir / "index.csv", out_dir / "rejected.csv", out_dir / TIMES_FILE
    index, rejected = _read(index_path, INDEX_COLUMNS), _read(rejected_path, REJECTED_COLUMNS)
    done = set(index["run_id"]) | set(rejected["run_id"])
    times = json.loads(times_path.read_text()) if times_path.exists() else {}
    for name in sources:
        source = load_source(name)
        new_setups = 0
        for number, (setup, runs) in enumerate(specs.plan(name)):
            todo = [s for s in runs if s.run_id not in done]
            if not todo:
                continue
            if limit is not None and new_setups >= limit:
                break
            new_setups += 1
            started = time.perf_counter()
            train = Trainer(source)
            kept, dropped = [], []
            try:
                base_lr, baseline, ladder_note = find_baseline(todo[0], train)
                for spec in todo:
                    row, bad = evaluate_spec(spec, source, train, base_lr, baseline, out_dir)
                    (kept if row else dropped).append(row or bad)
            except Exception:  # a broken setup is retried by the next generation, not recorded
                log(f"[{name}] setup {number} failed:\n{traceback.format_exc()}")
                continue
            for row in kept:  # files first, then the index: a killed generation leaves no file unlisted
                (out_dir / name).mkdir(parents=True, exist_ok=True)
                row.pop("_write")()
            if kept:
                index = pd.concat([index, pd.DataFrame(kept)], ignore_index=True)
            if dropped:
                rejected = pd.concat([rejected, pd.DataFrame(dropped)], ignore_index=True)
            done |= {s.run_id for s in todo}
            _write(index.reindex(columns=list(INDEX_COLUMNS)), index_path)
            _write(rejected.reindex(columns=list(REJECTED_COLUMNS)), rejected_path)
            seconds = time.perf_counter() - started
            times[name] = times.get(name, 0.0) + seconds
            times_path.write_text(json.dumps({k: round(v, 1) for k, v in times.items()}, indent=1) + "\n")
            log(f"[{name}] setup {number} {setup['dataset']}-{setup['task']} {setup['model']} {setup['optimizer']}: "
                f"{ladder_note}; kept {[r['label'] for r in kept]}, rejected "
                f"{[(r['proposed_label'], r['failed_check']) for r in dropped]}; {train.trained} trainings, "
                f"{seconds:.1f}s")
