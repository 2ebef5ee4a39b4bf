"""The leave-one-source-out benchmark: the corpus loads through the real history reader, the scores are
right, a fold's fit never does worse than where it starts on the sources it fits, the folds hold out
whole sources, and the shipped thresholds stay above a floor on every source (a regression guard; the
held-out figures come from `python -m core bench-diagnosis`)."""
from __future__ import annotations

import pytest

from core.bench import loso
from core.doctor.rules import DEFAULT


@pytest.fixture(scope="module")
def cases():
    return loso.load_corpus()


def test_the_corpus_has_four_sources_and_every_family(cases):
    sources = {c.source for c in cases}
    assert sources == {"tunelab", "torch_loop", "keras", "real"}
    for source in sources:
        labels = {c.label for c in cases if c.source == source}
        assert labels == set(loso.FAMILIES), (source, labels)


def test_scores_are_computed_correctly():
    pairs = [("healthy", "healthy"), ("healthy", "overfitting"), ("overfitting", "overfitting"),
             ("divergence", "healthy"), ("bad_init", None)]
    sc = loso.scores(pairs)
    assert sc["per_class"]["overfitting"] == {"precision": 0.5, "recall": 1.0, "f1": 0.667, "support": 1}
    assert sc["per_class"]["divergence"]["f1"] == 0.0 and sc["per_class"]["bad_init"]["recall"] == 0.0
    assert sc["false_alarm_rate"] == 0.5 and sc["runs"] == 5 and sc["accuracy"] == 0.4
    # macro-F1 over the families present: healthy 0.5 (P 1/2, R 1/2), overfitting 0.667, divergence 0,
    # bad_init 0
    assert sc["per_class"]["healthy"]["f1"] == 0.5
    assert sc["macro_f1"] == pytest.approx((0.5 + 2 / 3) / 4, abs=1e-3)


def test_a_fit_never_scores_worse_than_its_start_on_what_it_fits(cases, monkeypatch):
    few = [c for c in cases if c.source != "keras"][::12]
    monkeypatch.setattr(loso, "GRID", {"rise": (0.05, 0.2), "low": (0.25, 0.45)})
    fitted = loso.fit(few, rounds=1)
    assert loso.objective(few, fitted) >= loso.objective(few, DEFAULT)
    assert set(loso.changed(fitted)) <= {"rise", "low"}


def test_folds_hold_out_whole_sources(cases, monkeypatch):
    monkeypatch.setattr(loso, "GRID", {"rise": (0.1,)})
    few = cases[::15]
    out = loso.leave_one_source_out(few)
    assert set(out["folds"]) == {c.source for c in few}
    for held, fold in out["folds"].items():
        assert fold["runs"] == sum(c.source == held for c in few)
        for key in ("with_classes", "without_classes"):
            assert {"curve_doctor", "curve_doctor_shipped", "autotrainer", "umlaut"} <= set(fold[key])
    assert out["worst_fold_macro_f1"]["with_classes"] == min(
        f["with_classes"]["curve_doctor"]["macro_f1"] for f in out["folds"].values())


@pytest.mark.parametrize("with_classes", [True, False])
def test_the_shipped_thresholds_stay_above_a_floor_on_every_source(cases, with_classes):
    for source in {c.source for c in cases}:
        sc = loso.scores(loso.doctor_pairs([c for c in cases if c.source == source], DEFAULT, with_classes))
        if source == loso.REAL:  # today's level on the real logs, far below the aim (0.9): a guard, not a goal
            assert sc["macro_f1"] >= 0.45 and sc["accuracy"] >= 0.48, (source, sc)
            continue
        assert sc["macro_f1"] >= 0.8, (source, sc)
        assert sc["false_alarm_rate"] <= 0.1, (source, sc)


def test_the_real_source_is_read_with_its_labels_and_provenance(cases):
    real = [c for c in cases if c.source == loso.REAL]
    assert len(real) >= 50 and {c.confidence for c in real} == {"high", "medium"}
    both = loso.Case("x", loso.REAL, "overfitting", 0, (), ("overfitting", "oscillation"))
    assert both.right("oscillation") == "oscillation" and both.right("healthy") == both.right(None) == "overfitting"
    negative = next(c for c in real if c.run_id == "r010.log")  # the loss that runs to -1e8
    assert loso._doctor(negative, DEFAULT, True) == "divergence"
