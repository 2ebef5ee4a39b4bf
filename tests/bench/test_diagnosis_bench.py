"""TuneLab's own runs with per-step losses and probes (assets/diagnosis_bench): every label verified,
and the doctor meets its targets on them (macro-F1 >= 0.9, false alarms on healthy runs <= 5%, better
than AUTOTRAINER and UMLAUT), scored by family. No training here: the curves are read from assets/."""
from __future__ import annotations

import json

import pytest

from core.bench import diagnosis as bench
from core.cli import main


@pytest.fixture(scope="module")
def result() -> dict:
    return bench.evaluate()


def test_benchmark_files_are_small_and_every_label_is_verified():
    total = sum((bench.BENCH_DIR / f"{s}.json").stat().st_size for s in bench.SPLITS)
    assert total < 3_000_000
    for split in bench.SPLITS:
        runs = bench.load(split)
        assert {r["label"] for r in runs} == set(bench.LABELS), split
        for run in runs:
            ok, why = bench.curve_shows(run["label"], run["history"], run["first_step_loss"], run["classes"])
            assert ok, (run["id"], why)
            if run["label"] != "healthy":
                assert run["counterfactual"]["healed"], run["id"]
                cured, why = bench.healed(run["label"], run["history"], run["counterfactual"]["history"])
                assert cured, (run["id"], why)
    held = {(r["config"]["model"]) for r in bench.load("heldout")}
    tuned = {(r["config"]["model"]) for r in bench.load("tune")}
    assert held.isdisjoint(tuned)


@pytest.mark.parametrize("scope", ["all", "tune", "heldout"])
def test_the_doctor_meets_its_targets_and_beats_the_baselines(result, scope):
    table = result["all"] if scope == "all" else result["splits"][scope]
    doctor = table["curve_doctor"]
    assert doctor["macro_f1"] >= 0.9, doctor
    assert doctor["false_alarm_rate"] <= 0.05, doctor
    for baseline in ("autotrainer", "umlaut"):
        assert doctor["macro_f1"] > table[baseline]["macro_f1"], (baseline, table[baseline])


def test_curves_alone_are_enough(result):
    """Probes confirm, never replace: without them the doctor still meets the targets."""
    alone = result["all"]["curve_doctor_curves_only"]
    assert alone["macro_f1"] >= 0.9 and alone["false_alarm_rate"] <= 0.05


def test_scores_are_computed_correctly():
    pairs = [("healthy", "healthy"), ("healthy", "overfitting"), ("overfitting", "overfitting"),
             ("divergence", "healthy")]
    sc = bench.scores(pairs, labels=("healthy", "overfitting", "divergence"))
    assert sc["per_class"]["overfitting"] == {"precision": 0.5, "recall": 1.0, "f1": 0.667, "support": 1}
    assert sc["per_class"]["divergence"]["f1"] == 0.0
    assert sc["false_alarm_rate"] == 0.5 and sc["runs"] == 4


def test_cli_prints_the_benchmark_as_json(capsys, monkeypatch):
    from core.bench import loso

    monkeypatch.setattr(loso, "GRID", {"rise": (0.1,)})  # (the real fit takes minutes: the bench command's job)
    every = loso.load_corpus()  # the wiring, on a third of the generated runs and every real one
    monkeypatch.setattr(loso, "load_corpus", lambda: [c for i, c in enumerate(every) if c.source == "real" or i % 3 == 0])
    assert main(["bench-diagnosis", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"leave_one_source_out", "shipped_thresholds_by_source", "fix_rate", "tunelab_with_steps_and_probes"}
    folds = out["leave_one_source_out"]["folds"]
    assert set(folds) == {"tunelab", "torch_loop", "keras", "real"}
    real = folds["real"]["with_classes"]
    assert real["curve_doctor"]["runs"] == 52 and 0 <= real["high_confidence_right"] <= 1
    assert 0 < real["curve_doctor"]["coverage"] <= 1
    assert set(out["tunelab_with_steps_and_probes"]["all"]) == {"curve_doctor", "curve_doctor_curves_only",
                                                                "autotrainer", "umlaut"}


def test_cli_missing_benchmark_is_a_clear_error(tmp_path, capsys):
    assert main(["bench-diagnosis", "--bench-dir", str(tmp_path)]) == 2
    assert "--generate" in capsys.readouterr().err
