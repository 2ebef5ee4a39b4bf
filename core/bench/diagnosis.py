"""The Curve Doctor benchmark: labelled curves from real training runs under controlled interventions.

`generate()` trains each intervention (learning rate graded too high and too low, tiny subsets without
regularization, saturating and zero initializations, well-tuned runs) on the built-in data sets, keeps a
run only when its curve shows the label's defining symptom AND a counterfactual run (the one knob set
back) heals it, and writes assets/diagnosis_bench/{tune,heldout}.json. `evaluate()` scores `diagnose`
and the published baselines on those files: per-class precision/recall/F1, macro-F1, false alarms.

The "tune" split (the mlp model) is what the rules were checked against while writing them; the
"heldout" split (the simple_cnn model, other sizes) was only scored.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from core.bench import recording
from core.bench.recording import train_recorded
from core.config import RunConfig
from core.doctor.baselines import autotrainer, umlaut
from core.doctor.diagnose import FAMILIES, diagnose, family_of_run
from core.doctor.hints import FAMILY_OF

BENCH_DIR = Path(__file__).resolve().parents[2] / "assets" / "diagnosis_bench"
SPLITS = ("tune", "heldout")
LABELS = ("oscillation", "overfitting", "too_small_lr", "bad_init", "divergence", "healthy")
BASE_LR = {"adam": 1e-3, "sgd": 0.05, "momentum": 0.02, "rmsprop": 1e-3, "nesterov": 0.02, "adamw": 1e-3}
MAX_STEPS_KEPT = 400
MAX_PROBES_KEPT = 12
PROBE_KEYS = ("layer", "name", "act_mean", "act_std", "saturated_fraction", "dead_fraction", "grad_norm", "update_ratio")


@dataclass(frozen=True)
class Spec:
    split: str
    label: str
    config: dict
    knob: str  # what the counterfactual changes, in words
    fix: dict = field(default_factory=dict)  # the counterfactual's change (empty: none, healthy runs)


def _specs() -> list[Spec]:
    specs: list[Spec] = []

    def add(split: str, label: str, base: dict, changes: list[dict], seeds=(0,)) -> None:
        for change in changes:
            for seed in seeds:
                cfg = {**base, **change, "seed": seed}
                specs.append(Spec(split, label, cfg, *_fix_for(label, cfg)))

    for split, model, sets in (
        ("tune", "mlp", (("digits", {}), ("mnist5k", {}))),
        ("heldout", "simple_cnn", (("digits", {}), ("mnist5k", {"train_subset": 1000}))),
    ):
        for ds, extra in sets:
            base = {"dataset": ds, "model": model, "epochs": 14, "width": 128, "depth": 3, **extra}
            short = {**base, "epochs": 10 if ds == "mnist5k" else 14}
            add(split, "healthy", {**short, "dropout": 0.2}, [{"lr": 1e-3}], seeds=(0, 1, 2))
            add(split, "healthy", short, [{"optimizer": "momentum", "lr": 0.02}, {"optimizer": "rmsprop", "lr": 1e-3},
                                          {"activation": "tanh", "lr": 1e-3, "dropout": 0.2}])
            add(split, "oscillation", short, [{"lr": 1e-2}, {"lr": 3e-2}], seeds=(0, 1))
            add(split, "oscillation", short, [{"optimizer": "momentum", "lr": 0.3}])
            add(split, "divergence", short, [{"lr": 0.1}, {"lr": 1.0}, {"optimizer": "sgd", "lr": 3.0},
                                             {"optimizer": "momentum", "lr": 1.0}])
            add(split, "too_small_lr", short, [{"lr": 1e-5}, {"lr": 3e-5}, {"lr": 1e-4}, {"optimizer": "sgd", "lr": 1e-3}])
            add(split, "bad_init", short, [{"init": "zeros"}, {"init": "zeros", "activation": "tanh"},
                                           {"init": "normal", "init_std": 1.0, "activation": "sigmoid"},
                                           {"init": "normal", "init_std": 1.0, "activation": "tanh"},
                                           {"init": "normal", "init_std": 0.01, "depth": 6}])
            if ds == "mnist5k":
                tiny = {**base, "epochs": 40, "batch_size": 32, "train_subset": 0}
                add(split, "overfitting", tiny, [{"train_subset": 150}, {"train_subset": 300}], seeds=(0, 1))
    # more of the rarer symptoms: small subsets of a wider mlp; more seeds of a hot CNN
    wide = {"dataset": "mnist5k", "model": "mlp", "depth": 3, "width": 256, "epochs": 40, "batch_size": 32}
    add("tune", "overfitting", wide, [{"train_subset": 100}, {"train_subset": 200}], seeds=(0, 1, 2))
    hot = {"dataset": "digits", "model": "simple_cnn", "epochs": 14}
    add("heldout", "oscillation", hot, [{"lr": 2e-2}, {"lr": 5e-2}], seeds=(0, 1, 2))
    small = {"dataset": "mnist5k", "model": "simple_cnn", "epochs": 40, "batch_size": 32}
    add("heldout", "overfitting", small, [{"train_subset": 100}, {"train_subset": 200}], seeds=(2,))
    return specs


def _fix_for(label: str, cfg: dict) -> tuple[str, dict]:
    if label in ("oscillation", "divergence", "too_small_lr"):
        lr = BASE_LR[cfg.get("optimizer", "adam")]
        return f"learning rate back to {lr:g}", {"lr": lr}
    if label == "overfitting":
        return "dropout 0.5", {"dropout": 0.5}
    if label == "bad_init":
        init = "he_normal" if cfg.get("activation", "relu") == "relu" else "xavier_uniform"
        return f"initializer {init}", {"init": init}
    return "", {}


# ---- the defining symptom of each label (checked on the run's own curve) -----------------------------
def _upticks(losses: list[float], rise: float = 0.10) -> int:
    return sum(1 for a, b in zip(losses[1:], losses[2:]) if a > 0 and b > a * (1 + rise))


def curve_shows(label: str, history: list[dict], first_step: float | None, classes: int) -> tuple[bool, str]:
    """Does the curve show the label's symptom? Definitions, deliberately blunt: (ok, reason)."""
    chance = math.log(classes)
    loss = [_f(r["loss"]) for r in history]
    val = [_f(r["val_loss"]) for r in history]
    finite = all(math.isfinite(x) for x in loss + val)
    if label == "divergence":
        blew = any(not math.isfinite(x) or x > 1.5 * chance for x in loss + val)
        sane = first_step is not None and first_step <= 1.5 * chance
        return blew and sane, f"nonfinite or above 1.5 ln K: {blew}; sane first batch: {sane}"
    if not finite:
        return False, "NaN in a run not labelled divergence"
    n = len(loss)
    if label == "oscillation":
        ups = _upticks(loss)
        return ups >= 2 and min(loss) < 0.5 * chance, f"{ups} rises of the training loss over 10%"
    if label == "overfitting":
        m = min(range(n), key=lambda i: val[i])
        ok = m <= n - 4 and val[-1] >= 1.15 * val[m] and loss[-1] <= 0.5 * loss[m]
        return ok, f"val min at epoch {m + 1}, end {val[-1] / val[m]:.2f}x min, train {loss[-1] / loss[m]:.2f}x"
    if label == "too_small_lr":
        ok = val[-1] < val[-4] * 0.99 and val[-1] < 0.97 * val[0] and _upticks(loss) == 0
        return ok, f"val still falling at the end: {val[-4]:.3g} -> {val[-1]:.3g}"
    if label == "bad_init":
        high = first_step is not None and first_step > 2 * chance
        flat = all(abs(x - chance) < 0.05 * chance for x in loss[:2])
        return high or flat, f"first batch {first_step}, first epochs {loss[:2]}"
    if label == "healthy":
        best = min(val)
        ok = (val[-1] <= 1.1 * best and best < 0.35 * chance and _upticks(loss) <= 1
              and first_step is not None and first_step <= 1.5 * chance)
        return ok, f"val end {val[-1]:.3g}, best {best:.3g}"
    raise ValueError(label)


def healed(label: str, run: dict, fixed: list[dict]) -> tuple[bool, str]:
    """Does the counterfactual (one knob changed) cure the symptom?"""
    val = [_f(r["val_loss"]) for r in fixed]
    if not fixed or not all(math.isfinite(v) for v in val) or not all(math.isfinite(_f(r["loss"])) for r in fixed):
        return False, "counterfactual did not finish cleanly"
    orig = [_f(r["val_loss"]) for r in run]
    orig_end = orig[-1] if orig and math.isfinite(orig[-1]) else math.inf
    if label == "overfitting":
        ok = val[-1] <= 1.1 * min(val)
        return ok, f"validation loss ends {val[-1] / min(val):.2f}x its minimum"
    if label == "oscillation":
        ups = _upticks([_f(r["loss"]) for r in fixed])
        return ups <= 1 and val[-1] <= orig_end, f"{ups} rises; final val {val[-1]:.3g} vs {orig_end:.3g}"
    ok = val[-1] <= 0.7 * orig_end
    return ok, f"final validation loss {val[-1]:.3g} vs {orig_end:.3g}"


def _f(x: Any) -> float:
    return math.nan if x is None else float(x)


# ---- running (torch imported here only) ------------------------------------------------------------
def _round(x: Any, digits: int = 5) -> Any:
    if isinstance(x, float):
        return float(f"{x:.{digits}g}") if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _round(v, digits) for k, v in x.items()}
    if isinstance(x, list):
        return [_round(v, digits) for v in x]
    return x


def _run(cfg: dict, with_probes: bool) -> dict:
    config = RunConfig.from_dict(cfg)
    started = time.perf_counter()
    result, steps, probed = train_recorded(config, probes=with_probes, probe_every=25)
    probes = {step: [{k: v for k, v in layer.items() if k in PROBE_KEYS} for layer in layers]
              for step, layers in probed.items()}
    stride = max(1, math.ceil(len(steps) / MAX_STEPS_KEPT))
    kept_steps = [s for i, s in enumerate(steps) if i % stride == 0 or not math.isfinite(s["loss"])]
    keys = sorted(probes)
    pstride = max(1, math.ceil(len(keys) / MAX_PROBES_KEPT))
    kept_probes = {str(k): probes[k] for i, k in enumerate(keys) if i % pstride == 0 or k == keys[-1]}
    history = [{k: row[k] for k in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr")} for row in result.history]
    return {
        "history": _round(history),
        "steps": [[s["step"], s["epoch"], _round(float(s["loss"]), 4)] for s in kept_steps],
        "probes": _round(kept_probes, 3),
        "first_step_loss": _round(float(steps[0]["loss"])) if steps else None,
        "status": result.status,
        "seconds": round(time.perf_counter() - started, 2),
    }


def _key(label: str, config: dict) -> str:
    return label + " " + json.dumps(config, sort_keys=True)


def _previous(out_dir: Path) -> dict[str, tuple[bool, dict]]:
    """Records of an earlier generation, by label and config: training is deterministic per seed, so a
    spec seen before is not trained again (delete the files to start over)."""
    seen: dict[str, tuple[bool, dict]] = {}
    for split in SPLITS:
        path = out_dir / f"{split}.json"
        if path.exists():
            data = json.loads(path.read_text())
            seen.update({_key(r["label"], r["config"]): (True, r) for r in data.get("runs", [])})
            seen.update({_key(r["label"], r["config"]): (False, r) for r in data.get("rejected", [])})
    return seen


def generate(out_dir: Path = BENCH_DIR, log: Callable[[str], None] = print) -> dict[str, int]:
    """Train every spec and its counterfactual; keep verified runs. About 15 minutes on one CPU core."""
    import torch

    torch.set_num_threads(1)
    out_dir.mkdir(parents=True, exist_ok=True)
    previous = _previous(out_dir)
    kept: dict[str, list] = {s: [] for s in SPLITS}
    rejected: dict[str, list] = {s: [] for s in SPLITS}
    for i, spec in enumerate(_specs()):
        run_id = f"{spec.split}-{i:03d}"
        if _key(spec.label, spec.config) in previous:
            ok, record = previous[_key(spec.label, spec.config)]
            (kept if ok else rejected)[spec.split].append({**record, "id": run_id})
            continue
        run = _run(spec.config, with_probes=True)
        ok, why = curve_shows(spec.label, run["history"], run["first_step_loss"], 10)
        record = {"id": run_id, "label": spec.label, "config": spec.config, "classes": 10, **run, "curve_check": why}
        if ok and spec.fix:
            fixed = _run({**spec.config, **spec.fix}, with_probes=False)
            cured, why_cured = healed(spec.label, run["history"], fixed["history"])
            record["counterfactual"] = {"change": spec.knob, "config_change": spec.fix, "history": fixed["history"],
                                        "healed": cured, "check": why_cured}
            ok = cured
        (kept if ok else rejected)[spec.split].append(record if ok else {
            "id": run_id, "label": spec.label, "config": spec.config, "curve_check": why,
            "counterfactual": record.get("counterfactual", {}).get("check")})
        log(f"{run_id} {spec.label:<13} {'kept' if ok else 'REJECTED'}  {why}  "
            f"{record.get('counterfactual', {}).get('check', '')}  ({run['seconds']}s)")
    for split in SPLITS:
        payload = {"version": 1, "split": split, "classes": 10, "runs": kept[split], "rejected": rejected[split]}
        (out_dir / f"{split}.json").write_text(json.dumps(payload, separators=(",", ":")))
    return {split: len(kept[split]) for split in SPLITS}


# ---- evaluation ------------------------------------------------------------------------------------
def load(split: str, bench_dir: Path = BENCH_DIR) -> list[dict]:
    data = json.loads((bench_dir / f"{split}.json").read_text())
    return data["runs"]


def inputs(run: dict, use_probes: bool = True) -> dict:
    """The arguments diagnose() gets for a stored run (no label, no config: the doctor sees curves only)."""
    steps = [{"step": s[0], "epoch": s[1], "loss": s[2]} for s in run.get("steps", [])]
    probes = {int(k): v for k, v in run.get("probes", {}).items()} if use_probes else None
    return {"history": run["history"], "steps": steps, "probes": probes, "classes": run.get("classes", 10)}


def scores(pairs: list[tuple[str, str]], labels=LABELS) -> dict:
    """Per-class precision/recall/F1, macro-F1 (over every label) and the false-alarm rate on healthy runs."""
    return recording.scores(pairs, labels)


def evaluate(bench_dir: Path = BENCH_DIR) -> dict:

    detectors: dict[str, Callable[[dict], str]] = {  # scored by family (a "stuck" hint is bad_init)
        "curve_doctor": lambda run: family_of_run(diagnose(**inputs(run))),
        "curve_doctor_curves_only": lambda run: family_of_run(diagnose(**inputs(run, use_probes=False))),
        "autotrainer": lambda run: FAMILY_OF.get(autotrainer(**inputs(run))),
        "umlaut": lambda run: FAMILY_OF.get(umlaut(**inputs(run))),
    }
    out: dict[str, Any] = {"splits": {}}
    every: dict[str, list] = {name: [] for name in detectors}
    mistakes = []
    for split in SPLITS:
        runs = load(split, bench_dir)
        out["splits"][split] = {}
        for name, detect in detectors.items():
            pairs = [(run["label"], detect(run)) for run in runs]
            every[name] += pairs
            out["splits"][split][name] = scores(pairs)
            if name == "curve_doctor":
                mistakes += [{"id": r["id"], "label": t, "predicted": p} for r, (t, p) in zip(runs, pairs) if t != p]
    out["all"] = {name: scores(pairs) for name, pairs in every.items()}
    out["mistakes"] = mistakes
    assert set(LABELS) <= set(FAMILIES)
    return out


def format_lines(result: dict) -> list[str]:
    """The scores in words: per scope and method, macro-F1, false alarms, accuracy and per class."""
    lines = ["== TuneLab's own runs with per-step losses and probes (assets/diagnosis_bench) =="]
    for scope, table in [("all", result["all"])] + [(s, result["splits"][s]) for s in SPLITS]:
        lines.append(f"== {scope} ==")
        for name, sc in table.items():
            lines.append(f"{name:<26} macro-F1 {sc['macro_f1']:.3f}  false alarms {sc['false_alarm_rate']:.1%}  "
                         f"accuracy {sc['accuracy']:.3f}  ({sc['runs']} runs)")
            lines.append("    " + "  ".join(f"{k}: P {v['precision']:.2f} R {v['recall']:.2f} F1 {v['f1']:.2f}"
                                           for k, v in sc["per_class"].items()))
    return lines
