"""The Curve Doctor measured on curves it was not tuned on: leave-one-source-out over the labelled
corpus (assets/diagnosis_corpus: TuneLab's trainer, a plain PyTorch loop, real Keras 3, and the real
logs people committed to public repositories, real/, with their provenance).

For each fold one source is held out: the rules' thresholds are fitted on the other two (coordinate
descent over a small grid per threshold, maximizing the mean of macro-F1 with and without the class
count, with a penalty for false alarms on healthy runs above 5%), then scored on the held-out one,
with and without the class count; the published rules (AUTOTRAINER, UMLAUT) are scored on the same
folds. Scores are by family (a "stuck" hint counts as bad_init). The headline is the worst fold.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable

import pandas as pd

from core.bench import recording
from core.doctor.baselines import autotrainer, umlaut
from core.doctor.diagnose import diagnose, family_of_run
from core.doctor.hints import FAMILIES, FAMILY_OF
from core.doctor.history_io import HistoryFileError, read_history_file
from core.doctor.rules import DEFAULT, Thresholds

CORPUS = Path(__file__).resolve().parents[2] / "assets" / "diagnosis_corpus"
FALSE_ALARM_LIMIT = 0.05
# the values each threshold may take when a fold fits them (the defaults are among them)
GRID: dict[str, tuple] = {
    "rise": (0.05, 0.08, 0.10, 0.15, 0.20),
    "rise_floor": (0.005, 0.01, 0.02, 0.03),
    "rises_needed": (1, 2, 3),
    "val_rises_needed": (1, 2, 3, 99),
    "overfit_rise": (0.05, 0.10, 0.15, 0.25),
    "gap": (0.05, 0.10, 0.15, 0.20),
    "gap_train": (0.95, 0.98, 0.99),
    "low": (0.25, 0.30, 0.35, 0.45),
    "learned_acc": (0.7, 0.8, 0.9),
    "low_abs": (0.5, 0.65, 0.8, 1.0),
    "slow": (0.0005, 0.001, 0.003, 0.01),
    "decel": (0.2, 0.35, 0.5),
    "stuck_total": (0.01, 0.03, 0.05),
    "drop_after_flat": (0.1, 0.2, 0.3),
    "high_start": (1.5, 2.0, 3.0),
    "plateau_flat": (0.005, 0.01, 0.02),
    "accelerating": (1.5, 2.5, 4.0),
    "rise_density": (0.0, 0.10, 0.20),
    "overfit_tail": (0.0, 0.20, 0.30),
}


@dataclass(frozen=True)
class Case:
    run_id: str
    source: str
    label: str
    classes: int  # 0: not known
    history: tuple  # rows as tuples of items (hashable, for the cache)
    labels: tuple = ()  # a real log may carry several labels (overfitting;oscillation): any one is right
    columns: frozenset | None = None  # the file's columns, as history_io mapped them (real logs)
    regression: bool = False
    confidence: str = ""  # a real log's label confidence (high, medium)

    def rows(self) -> list[dict]:
        return [dict(r) for r in self.history]

    def k(self, with_classes: bool) -> int | None:
        """The class count the doctor is given: none when asked to do without, or when it is not known."""
        return (self.classes or None) if with_classes else None

    def right(self, family: str | None) -> str:
        """The label this prediction is scored against: the one it names, when the case has it."""
        return family if family in self.labels else self.label


REAL = "real"
COUNTED_CONFIDENCE = ("high", "medium")  # LABELLING.md: only these count in a headline


def load_corpus(folder: Path = CORPUS, real: bool = True) -> list[Case]:
    """The generated corpus (index.csv: three training codes) and, with `real`, the real logs people
    committed (real/: labels.csv, high and medium confidence only) as the fourth source."""
    index = pd.read_csv(folder / "index.csv")
    cases = []
    for row in index.itertuples():
        loaded = read_history_file(folder / row.file)
        rows = tuple(tuple(sorted(r.items())) for r in loaded.history)
        cases.append(Case(row.run_id, row.source, row.label, int(row.classes), rows))
    if real and (folder / REAL / "labels.csv").exists():
        cases += load_real(folder / REAL)
    return cases


def load_real(folder: Path, confidences: tuple[str, ...] = COUNTED_CONFIDENCE) -> list[Case]:
    """The real logs of `folder` (curves/, labels.csv, sources.csv), read as the Curve Doctor page reads
    an upload (the last run of a file). A file the reader refuses is left out here; the readers' tests
    name it."""
    labels = pd.read_csv(folder / "labels.csv", dtype=str).fillna("")
    sources = pd.read_csv(folder / "sources.csv", dtype=str).fillna("").set_index("file")
    cases = []
    for row in labels.itertuples():
        if row.confidence not in confidences:
            continue
        try:
            loaded = read_history_file(folder / "curves" / row.file)
        except HistoryFileError:
            continue
        known = sources.loc[row.file, "classes_if_known"].strip() if row.file in sources.index else ""
        found = tuple(label.strip() for label in row.labels.split(";") if label.strip())
        rows = tuple(tuple(sorted(r.items())) for r in loaded.history)
        cases.append(Case(row.file, REAL, found[0], int(known) if known.isdigit() else 0, rows, found,
                          frozenset(loaded.mapping.values()) if loaded.mapping else None, loaded.regression,
                          row.confidence))
    return cases


def scores(pairs: list[tuple[str, str | None]]) -> dict:
    """Per-family precision/recall/F1, macro-F1 (over the families present), accuracy and the false-alarm
    rate on healthy runs."""
    return recording.scores(pairs, FAMILIES, present_only=True)


@lru_cache(maxsize=None)
def _doctor(case: Case, t: Thresholds, with_classes: bool) -> str | None:
    return family_of_run(diagnose(case.rows(), classes=case.k(with_classes), thresholds=t, columns=case.columns,
                                  regression=case.regression))


def doctor_pairs(cases: list[Case], t: Thresholds, with_classes: bool) -> list[tuple[str, str | None]]:
    return [(c.right(p), p) for c in cases for p in (_doctor(c, t, with_classes),)]


def baseline_pairs(cases: list[Case], rule: Callable, with_classes: bool) -> list[tuple[str, str | None]]:
    return [(c.right(p), p) for c in cases for p in (FAMILY_OF.get(rule(c.rows(), classes=c.k(with_classes))),)]


def objective(cases: list[Case], t: Thresholds) -> float:
    """What a fold maximizes on its training sources: mean macro-F1 with and without the class count,
    minus 2 points per point of false alarms above the limit."""
    total = 0.0
    for with_classes in (True, False):
        sc = scores(doctor_pairs(cases, t, with_classes))
        total += sc["macro_f1"] - 2 * max(0.0, (sc["false_alarm_rate"] or 0.0) - FALSE_ALARM_LIMIT)
    return total / 2


def fit(cases: list[Case], start: Thresholds = DEFAULT, rounds: int = 2,
        log: Callable[[str], None] = lambda line: None) -> Thresholds:
    """Coordinate descent over GRID: each threshold in turn takes the grid value that scores best with
    the others held, `rounds` times over."""
    best, best_score = start, objective(cases, start)
    for _ in range(rounds):
        moved = False
        for name, values in GRID.items():
            for value in values:
                if value == getattr(best, name):
                    continue
                trial = replace(best, **{name: value})
                score = objective(cases, trial)
                if score > best_score + 1e-9:
                    best, best_score, moved = trial, score, True
        log(f"    fitted: objective {best_score:.3f}")
        if not moved:
            break
    return best


def changed(t: Thresholds) -> dict:
    """The thresholds a fit moved away from the shipped defaults."""
    return {f.name: getattr(t, f.name) for f in fields(t) if getattr(t, f.name) != getattr(DEFAULT, f.name)}


def leave_one_source_out(cases: list[Case], log: Callable[[str], None] = lambda line: None) -> dict:
    sources = sorted({c.source for c in cases})
    folds = {}
    for held in sources:
        train_cases = [c for c in cases if c.source != held]
        test = [c for c in cases if c.source == held]
        log(f"fold: fit on {', '.join(s for s in sources if s != held)} ({len(train_cases)} runs), "
            f"score on {held} ({len(test)} runs)")
        fitted = fit(train_cases, log=log)
        fold = {"held_out": held, "runs": len(test), "fitted_thresholds": changed(fitted)}
        for with_classes in (True, False):
            key = "with_classes" if with_classes else "without_classes"
            fold[key] = {
                "curve_doctor": scores(doctor_pairs(test, fitted, with_classes)),
                "curve_doctor_shipped": scores(doctor_pairs(test, DEFAULT, with_classes)),
                "autotrainer": scores(baseline_pairs(test, autotrainer, with_classes)),
                "umlaut": scores(baseline_pairs(test, umlaut, with_classes)),
            }
            high = [c for c in test if c.confidence == "high"]
            if high:  # the real fold's headline: its clear-cut runs
                fold[key]["high_confidence_right"] = scores(doctor_pairs(high, fitted, with_classes))["accuracy"]
        folds[held] = fold
    worst = {key: min(f[key]["curve_doctor"]["macro_f1"] for f in folds.values())
             for key in ("with_classes", "without_classes")}
    worst_fa = {key: max(f[key]["curve_doctor"]["false_alarm_rate"] or 0.0 for f in folds.values())
                for key in ("with_classes", "without_classes")}
    return {"folds": folds, "worst_fold_macro_f1": worst, "worst_fold_false_alarm_rate": worst_fa,
            "sources": {s: sum(c.source == s for c in cases) for s in sources}}


def shipped_by_source(cases: list[Case]) -> dict:
    """The shipped thresholds on each source (these were fitted on all of them: not a held-out figure)."""
    out = {}
    for source in sorted({c.source for c in cases}):
        subset = [c for c in cases if c.source == source]
        out[source] = {("with_classes" if k else "without_classes"): scores(doctor_pairs(subset, DEFAULT, k))
                       for k in (True, False)}
    return out


def fix_rate(folder: Path = CORPUS) -> dict | None:
    """The stored result of core/bench/fix_rate.py (None before it was computed)."""
    path = folder / "fix_rate.json"
    return json.loads(path.read_text()) if path.exists() else None


def thresholds_json(t: Thresholds) -> dict:
    return {k: (v if not (isinstance(v, float) and math.isinf(v)) else None) for k, v in asdict(t).items()}


def format_lines(result: dict) -> list[str]:
    """The leave-one-source-out folds, the headline and the fix rate, in words."""
    lines = []
    out = result["leave_one_source_out"]
    for held, fold in out["folds"].items():
        lines.append(f"== held out: {held} ({fold['runs']} runs); thresholds fitted on the others: "
                     f"{fold['fitted_thresholds'] or 'the defaults'} ==")
        for key in ("with_classes", "without_classes"):
            lines.append(f"  {key.replace('_', ' ')}:")
            for name, sc in fold[key].items():
                lines.append(f"    {name:<22} macro-F1 {sc['macro_f1']:.3f}  false alarms {sc['false_alarm_rate']:.1%}  "
                             f"accuracy {sc['accuracy']:.3f}")
            doctor = fold[key]["curve_doctor"]
            lines.append(f"      coverage (runs given a cause) {doctor['coverage']:.0%}"
                         + (f"; right on the high-confidence runs {fold[key]['high_confidence_right']:.0%}"
                            if "high_confidence_right" in fold[key] else ""))
            per = fold[key]["curve_doctor"]["per_class"]
            lines.append("      " + "  ".join(f"{k}: P {v['precision']:.2f} R {v['recall']:.2f}" for k, v in per.items()))
    worst, fa = out["worst_fold_macro_f1"], out["worst_fold_false_alarm_rate"]
    lines.append(f"worst fold: macro-F1 {worst['with_classes']:.3f} with the class count, "
                 f"{worst['without_classes']:.3f} without; false alarms at most {fa['with_classes']:.1%} / "
                 f"{fa['without_classes']:.1%}")
    fix = result.get("fix_rate")
    if fix:
        per = ", ".join(f"{k} {v['rate']:.0%} ({v['fixed']}/{v['runs']})" for k, v in fix["per_label"].items())
        lines.append(f"fix rate (the first hint's Try it, trained again): {fix['overall']:.0%} of {fix['runs']} runs; {per}")
    else:
        lines.append("fix rate: not computed yet (python -m core bench-diagnosis --fix-rate)")
    return lines
