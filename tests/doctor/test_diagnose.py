"""diagnose(): each hint on a curve that shows it (and not on near misses), "healthy" only with its own
evidence, the class count inferred where the curves show it, the files it cannot judge, numbers for
people, the points its evidence quotes, and the `python -m core diagnose` command."""
from __future__ import annotations

import dataclasses
import json
import math
import re

import pytest

from core.bench import diagnosis as diagnosis_bench
from core.cli import main
from core.config import RunConfig
from core.doctor.curves import prepare
from core.doctor.diagnose import FAMILIES, HINT_IDS, Hint, diagnose, family_of_run, primary
from core.doctor.hints import num, overfit_advice, overfit_change, pct, times

LN10, LN2 = math.log(10), math.log(2)


def rows(loss, val_loss=None, acc=None, val_acc=None, lr=1e-3):
    out = []
    for i, value in enumerate(loss):
        out.append({"epoch": i + 1, "loss": value, "val_loss": None if val_loss is None else val_loss[i],
                    "accuracy": None if acc is None else acc[i], "val_accuracy": None if val_acc is None else val_acc[i],
                    "lr": lr})
    return out


def healthy_history(n=12):
    loss = [2.3 * math.exp(-0.9 * i) + 0.05 for i in range(1, n + 1)]
    val = [2.3 * math.exp(-0.8 * i) + 0.1 for i in range(1, n + 1)]
    acc = [min(0.99, 0.5 + 0.06 * i) for i in range(n)]
    return rows(loss, val, acc, [a - 0.02 for a in acc])


def ids(hints):
    return [h.id for h in hints]


# ---- the contract -----------------------------------------------------------------------------------
def test_hint_contract():
    hints = diagnose(healthy_history(), classes=10)
    assert ids(hints) == ["healthy"]
    h = hints[0]
    assert isinstance(h, Hint) and h.severity in ("info", "warning", "error") and 0 <= h.confidence <= 1
    assert set(h.to_dict()) == {"id", "title", "severity", "epoch", "evidence", "advice", "confidence", "change",
                                "family", "marks"}
    assert h.change == {} and h.family == "healthy"  # "keep these settings": nothing to try
    assert set(HINT_IDS) >= set(FAMILIES) | {"stuck", "plateau"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        h.id = "x"  # frozen
    assert Hint.from_dict({**h.to_dict(), "from_a_newer_version": 1}) == h


def test_new_ids_carry_the_family_they_belong_to():
    stuck = diagnose(rows([LN10] * 8, [LN10] * 8, [0.1] * 8, [0.1] * 8), classes=10)
    assert ids(stuck) == ["stuck"] and stuck[0].family == "bad_init"
    assert family_of_run(stuck) == "bad_init" and primary(stuck) == "stuck"


def test_too_early_to_tell_only_for_very_few_epochs():
    assert diagnose(healthy_history(2), classes=10) == []
    # a finished 30-epoch file is never "too early": it gets a diagnosis
    thirty = rows([LN10 * 0.99 ** i for i in range(30)], [LN10 * 0.99 ** i for i in range(30)],
                  [0.1 + 0.005 * i for i in range(30)], [0.1 + 0.005 * i for i in range(30)])
    assert diagnose(thirty, classes=10) != []
    assert diagnose(thirty) != []


# ---- divergence -------------------------------------------------------------------------------------------
def test_nan_is_divergence_at_its_epoch_even_when_stored_as_missing():
    hist = healthy_history(6)
    hist[3]["loss"] = math.nan
    [h] = diagnose(hist, classes=10)
    assert h.id == "divergence" and h.epoch == 4 and "NaN" in h.evidence
    # a stored run keeps NaN as NULL: a missing loss after finite ones is NaN too, not "no loss column"
    hist = healthy_history(6)
    hist[3]["loss"] = hist[3]["val_loss"] = None
    assert ids(diagnose(hist, classes=10)) == ["divergence"]
    # a run that was NaN from its first epoch (every loss missing) is divergence for a stored run ...
    blew = [{"epoch": e, "loss": None, "val_loss": None, "accuracy": 0.1, "val_accuracy": 0.1} for e in (1, 2, 3)]
    assert ids(diagnose(blew, classes=10)) == ["divergence"]
    # ... and "no loss" for a file that never had a loss column
    assert ids(diagnose(blew, classes=10, columns={"epoch", "accuracy", "val_accuracy"})) == ["not_judged"]


def test_a_blow_up_that_stays_up_is_divergence_and_a_spike_it_recovers_from_is_not():
    loss = [1.2, 0.6, 0.4, 6.0, 7.5, 9.0]
    [h] = diagnose(rows(loss, [1.1, 0.7, 0.5, 6.5, 8.0, 9.5], lr=0.1), config={"lr": 0.1}, classes=10)
    assert h.id == "divergence" and h.epoch == 4 and h.change == {"lr": 0.01} and "0.01" in h.advice
    spike = diagnose(rows([1.2, 0.6, 0.4, 6.0, 0.35, 0.3, 0.28], [1.1, 0.7, 0.5, 5.0, 0.45, 0.4, 0.38]), classes=10)
    assert family_of_run(spike) != "divergence"


def test_a_learning_rate_far_from_the_usual_one_is_sent_to_the_usual_one():
    loss, val = [1.2, 0.6, 0.4, 6.0, 7.5, 9.0], [1.1, 0.7, 0.5, 6.5, 8.0, 9.5]
    # SGD at 3: a tenth (0.3) is still 30x SGD's usual 0.01, so the advice goes to 0.01 and says why
    [h] = diagnose(rows(loss, val, lr=3.0), config={"lr": 3.0, "optimizer": "sgd"}, classes=10)
    assert h.change == {"lr": 0.01} and "300x above SGD's usual 0.01" in h.advice
    # SGD at 0.1: a tenth is near the usual one, so a tenth it is
    [h] = diagnose(rows(loss, val, lr=0.1), config={"lr": 0.1, "optimizer": "sgd"}, classes=10)
    assert h.change == {"lr": 0.01} and h.advice.startswith("divide the learning rate by 10: 0.01")
    # Adam at 0.5: a tenth is 50x Adam's usual 0.001
    [h] = diagnose(rows(loss, val, lr=0.5), config={"lr": 0.5, "optimizer": "adam"}, classes=10)
    assert h.change == {"lr": 0.001} and "Adam's usual 0.001" in h.advice
    # too small: Adam at 1e-6, ten times more is still 100x too little
    n = 20
    slow = [LN10 * (1 - 0.025 * i) for i in range(n)]
    acc = [0.12 + 0.03 * i for i in range(n)]
    [h] = diagnose(rows(slow, slow, acc, acc, lr=1e-6), config={"lr": 1e-6, "optimizer": "adam"}, classes=10)
    assert h.id == "too_small_lr" and h.change == {"lr": 0.001} and "below Adam's usual 0.001" in h.advice


def test_learning_in_epoch_1_then_collapsing_to_chance_is_divergence():
    # momentum SGD at 0.2: it learns in epoch 1, then falls apart and guesses
    loss = [0.9, 2.2, LN10, LN10, LN10, LN10, LN10]
    acc = [0.7, 0.2, 0.1, 0.1, 0.1, 0.1, 0.1]
    hints = diagnose(rows(loss, [0.5] + [LN10] * 6, acc, [0.85] + [0.1] * 6))
    assert family_of_run(hints) == "divergence", hints[0]
    # worse than guessing in epoch 1, then exactly at chance: it blew up at once and collapsed
    hints = diagnose(rows([2.45, 2.305, 2.304, 2.305, 2.304, 2.305], [2.307] * 6, [0.1] * 6, [0.08] * 6), classes=10)
    assert ids(hints) == ["divergence"] and "collapsed" in hints[0].title


def test_without_the_class_count_a_loss_that_climbs_far_above_its_start_is_divergence():
    loss = [5.8, 157.0, 512.0, 430.0, 404.0, 724.0, 603.0, 750.0]
    hints = diagnose(rows(loss, [48.0, 405.0, 632.0, 246.0, 591.0, 641.0, 759.0, 618.0], [0.1] * 8, [0.1] * 8))
    assert ids(hints) == ["divergence"]


# ---- bad initialization -----------------------------------------------------------------------------------
def test_stuck_at_chance_for_a_whole_run_is_never_healthy():
    # a run at chance for 50 epochs (loss ~ ln 10, validation accuracy <= 0.15): stuck, not healthy
    loss = [LN10 * (1 + 0.002 * math.sin(i)) for i in range(50)]
    hist = rows(loss, [LN10 * 1.001] * 50, [0.1] * 50, [0.1 + 0.05 * (i % 2) for i in range(50)])
    for classes in (10, None):
        hints = diagnose(hist, classes=classes)
        assert ids(hints) == ["stuck"] and hints[0].family == "bad_init"
    assert "inferred" in diagnose(hist)[0].evidence  # no class count given: it says it inferred ln 10


def test_a_binary_task_stuck_at_its_class_prior_is_stuck_with_the_prior_said():
    p = 0.8
    prior = -(p * math.log(p) + (1 - p) * math.log(1 - p))
    hist = rows([prior * 1.001] * 12, [prior] * 12, [p] * 12, [p] * 12)
    hints = diagnose(hist)
    assert ids(hints) == ["stuck"]
    assert "2 classes, inferred" in hints[0].evidence and "class" in hints[0].evidence


def test_first_batch_far_above_chance_is_bad_init_and_the_evidence_is_on_the_chart():
    steps = [{"step": 1, "epoch": 1, "loss": 9.91}] + [{"step": s, "epoch": 1, "loss": 3.0} for s in range(2, 20)]
    [h] = diagnose(rows([3.4, 1.8, 1.0, 0.6, 0.4], [2.0, 1.2, 0.8, 0.5, 0.45]), steps, classes=10,
                   config={"init": "normal", "init_std": 1.0, "activation": "sigmoid"})
    assert h.id == "bad_init" and "9.91" in h.evidence and h.change == {"init": "xavier_uniform"}
    assert {"epoch": 0.0, "series": "step_loss", "value": 9.91, "label": "9.91"} in h.marks


def test_a_deep_sigmoid_net_flat_at_chance_then_a_drop_then_a_plateau_is_bad_init():
    # chance for five epochs, a drop, then 25 epochs on a plateau at 20% accuracy (of a 30-epoch file)
    loss = [LN10] * 5 + [1.9, 1.75] + [1.7] * 23
    acc = [0.1] * 5 + [0.18, 0.2] + [0.2] * 23
    hints = diagnose(rows(loss, [l + 0.02 for l in loss], acc, acc), classes=10)
    assert family_of_run(hints) == "bad_init" and hints[0].id in ("bad_init", "plateau"), hints[0]
    assert diagnose(rows(loss, [l + 0.02 for l in loss], acc, acc)) != []


def test_a_run_that_stopped_far_from_a_low_loss_is_a_plateau_not_healthy():
    loss = [2.0, 1.6, 1.45, 1.4] + [1.38] * 12
    hints = diagnose(rows(loss, [l + 0.1 for l in loss], [0.4] * 16, [0.38] * 16), classes=10)
    assert ids(hints) == ["plateau"] and hints[0].family == "bad_init"
    assert "1.48" in hints[0].evidence  # the level it stopped at, in numbers


# ---- oscillation ------------------------------------------------------------------------------------------
def test_one_uptick_is_not_oscillation_and_a_first_epoch_validation_spike_is_not_either():
    hist = healthy_history(10)
    hist[5]["loss"] = hist[4]["loss"] * 1.3  # one uptick of the training loss
    assert ids(diagnose(hist, classes=10)) == ["healthy"]
    spiky = healthy_history(10)
    spiky[0]["val_loss"] = 8.0  # a spike in the first validation epoch (batch norm's first statistics)
    assert ids(diagnose(spiky, classes=10)) == ["healthy"]


def test_a_training_loss_that_keeps_going_up_and_down_is_oscillation():
    loss = [1.8, 1.1, 1.4, 0.9, 1.3, 0.8, 1.2, 0.85, 1.1, 0.9]
    [h] = diagnose(rows(loss, [l + 0.2 for l in loss]), config={"lr": 0.05}, classes=10)
    assert h.id == "oscillation" and h.change["lr"] < 0.05 and "went up" in h.evidence
    assert len(h.marks) >= 2 and all(m["series"] == "loss" for m in h.marks)


# ---- overfitting ------------------------------------------------------------------------------------------
def test_validation_loss_rising_for_many_epochs_is_overfitting():
    n = 150
    loss = [2.0 * 0.97 ** i for i in range(n)]
    val = [max(0.9, 2.0 * 0.97 ** i) + (0.004 * (i - 30) if i > 30 else 0.0) for i in range(n)]
    [h] = diagnose(rows(loss, val, [min(1.0, 0.5 + 0.01 * i) for i in range(n)], [0.7] * n), classes=10)
    assert h.id == "overfitting" and h.epoch is not None and h.epoch > 20


def test_a_memorized_training_set_with_a_flat_validation_loss_is_overfitting():
    # training accuracy 0.99+ against validation 0.63, the validation loss flat
    n = 20
    loss = [1.5 * 0.75 ** i for i in range(n)]
    acc = [min(0.995, 0.6 + 0.05 * i) for i in range(n)]
    val = [1.3] * n
    hints = diagnose(rows(loss, val, acc, [0.63] * n), classes=10)
    assert family_of_run(hints) == "overfitting"


# ---- too small a learning rate and healthy ------------------------------------------------------------------
def test_plain_sgd_still_falling_steadily_at_epoch_20_is_too_small_a_learning_rate():
    n = 20
    loss = [LN10 * (1 - 0.025 * i) for i in range(n)]
    val = [LN10 * (1 - 0.024 * i) for i in range(n)]
    acc = [0.12 + 0.03 * i for i in range(n)]  # 68% at the end
    [h] = diagnose(rows(loss, val, acc, acc), config={"lr": 2e-4}, classes=10)
    assert h.id == "too_small_lr" and h.change["lr"] > 2e-4
    assert diagnose(rows(loss, val, acc, acc))[0].id == "too_small_lr"  # without the class count too


def test_healthy_is_a_claim_with_its_numbers():
    [h] = diagnose(healthy_history(), classes=10)
    assert h.id == "healthy" and re.search(r"best validation loss is \d", h.evidence)
    assert h.marks and h.marks[0]["series"] == "val_loss"
    assert diagnose(healthy_history(), classes=10, epochs_planned=20)[0].title == "Healthy so far"


# ---- what it cannot judge ---------------------------------------------------------------------------------
def test_files_it_cannot_judge_say_so():
    [h] = diagnose(healthy_history(), regression=True)
    assert h.id == "not_judged" and h.family is None and "regression" in h.evidence
    # a file with a loss column only, and nothing wrong with the training loss: no verdict on the fit
    loss_only = [{"epoch": r["epoch"], "loss": r["loss"]} for r in healthy_history()]
    assert ids(diagnose(loss_only, columns={"loss"})) == ["not_judged"]
    # ... but a training loss that blows up is still divergence
    blown = [{"epoch": e, "loss": v} for e, v in enumerate([1.0, 0.5, 4.0, 8.0, 16.0], start=1)]
    assert ids(diagnose(blown, columns={"loss"})) == ["divergence"]


# ---- the class count, inferred --------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [2, 3, 10, 100])
def test_the_class_count_is_inferred_from_a_loss_at_ln_k_with_accuracy_at_1_over_k(k):
    hist = rows([math.log(k) * 1.01, math.log(k) * 0.7, 0.5], acc=[1 / k, 0.5, 0.8])
    classes = prepare(hist, None, None).classes
    assert (classes.k, classes.how) == (k, "inferred") and "inferred from" in classes.said()


def test_a_binary_learner_is_inferred_and_nothing_is_guessed_from_a_plain_healthy_run():
    binary = rows([0.6, 0.4, 0.3, 0.25], [0.55, 0.42, 0.33, 0.3], [0.7, 0.82, 0.88, 0.9], [0.72, 0.8, 0.86, 0.88])
    assert prepare(binary, None, None).classes.k == 2
    assert prepare(healthy_history(), None, None).classes.how == "unknown"
    assert prepare(healthy_history(), None, 10).classes.how == "given"


# ---- numbers for people ------------------------------------------------------------------------------------------
def test_numbers_are_written_for_people():
    assert times(11608712808620514.0) == "about 10^16 times" and times(18.3) == "18x" and times(1.43) == "1.4x"
    assert num(11608712808620514.0) == "1.16e16" and num(0.000123) == "1.23e-4" and num(2.302585) == "2.3"
    assert pct(0.004) == "0.4%" and pct(0.123) == "12%" and pct(16.0) == "1,600%"
    huge = diagnose(rows([2.3, 1.0, 1e15, 1e16, 1e16], [2.3, 1.0, 1e15, 1e16, 1e16]), classes=10)
    assert "e15" in huge[0].evidence or "10^" in huge[0].evidence
    assert not re.search(r"\d{9,}", huge[0].evidence)  # never 11608712808620514.0


def test_every_number_in_a_marked_evidence_is_on_its_chart():
    cases = [
        rows([1.2, 0.6, 0.4, 6.0, 7.5, 9.0], [1.1, 0.7, 0.5, 6.5, 8.0, 9.5]),
        rows([1.8, 1.1, 1.4, 0.9, 1.3, 0.8, 1.2, 0.85, 1.1, 0.9]),
        healthy_history(),
    ]
    for hist in cases:
        for hint in diagnose(hist, classes=10):
            for m in hint.marks:
                assert m["label"] in hint.evidence, (hint.evidence, m)
                if m["series"] != "step_loss":
                    row = next(r for r in hist if r["epoch"] == m["epoch"])
                    assert row[m["series"]] == pytest.approx(m["value"])


# ---- the CLI ------------------------------------------------------------------------------------
KERAS_OVERFIT = "epoch,loss,accuracy,val_loss,val_accuracy\n" + "".join(
    f"{i},{0.7 ** i:.4f},{min(1.0, 0.5 + 0.05 * i):.3f},{v},{0.8}\n"
    for i, v in enumerate([1.0, 0.8, 0.65, 0.55, 0.5, 0.48, 0.5, 0.53, 0.57, 0.6, 0.63, 0.66]))


def test_cli_diagnose_json_for_one_and_several_files(tmp_path, capsys):
    one = tmp_path / "log.csv"
    one.write_text(KERAS_OVERFIT)
    assert main(["diagnose", str(one), "--classes", "10", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [h["id"] for h in out["hints"]] == ["overfitting"] and out["hints"][0]["epoch"] == 7
    two = tmp_path / "again.csv"
    two.write_text(KERAS_OVERFIT)
    assert main(["diagnose", str(one), str(two), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [f["file"] for f in out["files"]] == [str(one), str(two)]
    assert all(f["hints"][0]["id"] == "overfitting" for f in out["files"])
    assert main(["diagnose", str(one)]) == 0
    assert "evidence: the validation loss rose" in capsys.readouterr().out


def test_cli_bad_file_exit_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("epoch,nothing\n0,0.5\n")
    assert main(["diagnose", str(bad), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "bad.csv" in captured.err
    assert main(["diagnose", str(tmp_path / "missing.csv")]) == 2
    assert main(["diagnose", str(bad), "--classes", "1"]) == 2


# ---- robustness: whatever a file or a live run hands it, diagnose answers with hints ------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_VALUES = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 2.30, 1e-9]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.fixed_dictionaries({"loss": _VALUES, "val_loss": _VALUES, "accuracy": _VALUES,
                                    "val_accuracy": _VALUES, "lr": _VALUES}), max_size=15),
    st.lists(st.fixed_dictionaries({"step": st.integers(-5, 200), "epoch": st.one_of(st.none(), st.integers(0, 16)),
                                    "loss": _VALUES}), max_size=40),
    st.one_of(st.none(), st.integers(0, 1000)),
    st.booleans(),
)
def test_any_history_gives_hints_and_never_raises(hist, steps, classes, shuffle):
    rows_ = [{"epoch": i + 1, **r} for i, r in enumerate(hist)]
    if shuffle:
        rows_ = rows_[::-1]
    probes = {0: [{"layer": 1, "grad_norm": v["loss"], "dead_fraction": v["val_loss"]} for v in hist[:2]]}
    hints = diagnose(rows_, steps, probes, classes, {"lr": 0.01, "dataset": "digits"}, len(hist))
    assert all(isinstance(h, Hint) and h.id in HINT_IDS and 0 <= h.confidence <= 1 for h in hints)
    assert len({h.id for h in hints}) == len(hints)
    assert all(not re.search(r"\d{10,}", h.evidence) for h in hints)


def test_a_validation_loss_of_zero_from_the_start_is_not_divided_by():
    """Found by the fuzz test in CI: a first loss of 0 made the healthy check divide by zero."""
    hist = [{"epoch": e, "loss": None, "val_loss": 0.0 if e > 1 else None} for e in range(1, 5)]
    assert all(h.id in HINT_IDS for h in diagnose(hist, [], None, classes=0))


@pytest.mark.parametrize("split", ["tune", "heldout"])
def test_every_hint_s_change_is_a_valid_setting_that_points_to_the_verified_fix(split):
    """On the TuneLab benchmark's real runs: the "try it" change of each hint is a setting RunConfig
    accepts, says what the advice says, and moves the way the run's verified counterfactual fix does."""
    checked = 0
    for run in diagnosis_bench.load(split):
        config = RunConfig.from_dict(run["config"])
        hints = diagnose(**diagnosis_bench.inputs(run), config=config.to_dict(), epochs_planned=config.epochs)
        for hint in hints:
            if hint.id == "healthy":
                assert hint.change == {}
                continue
            if not hint.change:
                continue
            tried = config.replace(**hint.change)  # raises ConfigError if the advice were not allowed
            assert tried != config, (run["id"], hint.change)
            if "lr" in hint.change:
                assert "learning rate by" in hint.advice and f"{hint.change['lr']:g}" in hint.advice, hint.advice
            if "init" in hint.change and hint.id == "bad_init":
                assert f"initializer to {hint.change['init']}" in hint.advice, hint.advice
            if hint.family != run["label"]:
                continue
            _, fix = diagnosis_bench._fix_for(run["label"], run["config"])
            if "lr" in fix and "lr" in hint.change:  # too high: lower toward the rate that healed it; too low: raise
                assert (hint.change["lr"] - config.lr) * (fix["lr"] - config.lr) > 0, (run["id"], hint.change, fix)
            if "init" in fix and "init" in hint.change:
                assert hint.change["init"] == fix["init"] or hint.change["init"].startswith(fix["init"][:2]), (
                    run["id"], hint.change, fix)
            checked += 1
    assert checked >= 10


@pytest.mark.parametrize("config, change, said", [
    ({"train_subset": 500, "dropout": 0.0}, {"train_subset": 0}, "train_subset 0"),
    ({"dropout": 0.0}, {"dropout": 0.3}, "dropout 0.3"),
    ({"dropout": 0.3, "l2": 0.0}, {"l2": 1e-4}, "L2 1e-4"),
    ({"dropout": 0.3, "l2": 1e-4}, {"aug_shift": 0.1, "early_stopping": True, "patience": 3}, "aug_shift 0.1"),
])
def test_the_overfitting_change_is_the_first_thing_its_advice_says(config, change, said):
    full = RunConfig.from_dict(config).to_dict()
    assert overfit_change(full) == change
    assert said in overfit_advice(full, 4)
    RunConfig.from_dict(full).replace(**change)  # an allowed setting


# ---- rules 4: shapes found on the corpus's curves -------------------------------------------------------
def test_an_accuracy_that_never_moves_is_one_class_for_every_input():
    # zeros init on a 90/10 binary task: the loss settles at the class prior, the accuracy at 90%
    loss = [0.42, 0.33] + [0.328] * 10
    hints = diagnose(rows(loss, [0.32] + [0.312] * 11, [0.903] * 12, [0.891] * 12), classes=2)
    assert ids(hints) == ["stuck"] and hints[0].family == "bad_init"
    assert "90%" in hints[0].evidence and "same class" in hints[0].evidence


def test_a_constant_accuracy_with_a_steady_crawl_is_a_small_learning_rate():
    loss = [0.308 * 0.985 ** i for i in range(20)]
    hints = diagnose(rows(loss, [v * 1.01 for v in loss], [0.9] * 20, [0.89] * 20), classes=2)
    assert family_of_run(hints) == "too_small_lr"


def test_a_constant_accuracy_far_from_one_of_k_is_not_one_class():
    loss = [2.0, 1.6, 1.45, 1.4] + [1.38] * 12
    hints = diagnose(rows(loss, [v + 0.1 for v in loss], [0.4] * 16, [0.38] * 16), classes=10)
    assert ids(hints) != ["stuck"]


def test_a_long_flat_start_that_never_gets_far_is_bad_init_but_one_it_makes_up_for_is_not():
    slow = [2.31] * 9 + [2.3 * 0.97 ** i for i in range(1, 31)]
    hints = diagnose(rows(slow, [v + 0.01 for v in slow], [0.1] * 9 + [0.2] * 30, [0.1] * 9 + [0.2] * 30), classes=10)
    assert family_of_run(hints) == "bad_init" and "flat" in hints[0].title
    quick = [2.31] * 4 + [2.3 * 0.8 ** i for i in range(1, 26)]
    accs = [0.1] * 4 + [min(0.98, 0.3 + 0.05 * i) for i in range(25)]
    assert family_of_run(diagnose(rows(quick, [v + 0.02 for v in quick], accs, accs), classes=10)) == "healthy"


def test_a_loss_that_blows_up_and_stays_up_is_divergence():
    loss = [9.07] + [14.7] * 9  # 6x chance, every epoch after the first
    hints = diagnose(rows(loss, [14.5] * 10, [0.27] + [0.089] * 9, [0.1] * 10), classes=10)
    assert ids(hints) == ["divergence"]
    assert ids(diagnose(rows(loss, [14.5] * 10, [0.27] + [0.089] * 9, [0.1] * 10))) == ["divergence"]


def test_learning_then_falling_back_to_chance_is_divergence():
    loss = [1.23, 2.64, 1.27, 1.96, 1.92, 2.16, 2.16, 2.25, 2.26, 2.31, 2.32, 2.32]
    hints = diagnose(rows(loss, [1.15, 1.23, 1.88, 1.87, 2.02, 1.95, 2.24, 2.31, 2.33, 2.32, 2.32, 2.33]), classes=10)
    assert ids(hints) == ["divergence"] and "fell apart" in hints[0].title


def test_an_oscillating_run_that_ends_on_an_upswing_is_oscillation_not_divergence():
    loss = [2.18, 1.81, 0.853, 0.917, 0.758, 0.786, 0.927, 0.767, 0.578, 0.728, 0.476, 0.411, 0.408, 0.641,
            0.513, 0.416, 0.268, 0.322, 0.264, 0.467, 0.34, 0.281, 0.552, 0.526, 0.55, 0.415, 0.258, 0.277, 0.305, 0.597]
    assert family_of_run(diagnose(rows(loss, [v * 1.3 for v in loss]), classes=10)) == "oscillation"


def test_a_run_that_learns_at_once_is_not_read_as_a_class_prior():
    # 97% accuracy from epoch 1 with a falling loss is learning, not an imbalanced task's prior
    c = prepare(rows([0.582, 0.0611, 0.0368, 0.0265, 0.0237], [0.112, 0.0845, 0.079, 0.0666, 0.0664],
                     [0.882, 0.982, 0.988, 0.994, 0.998], [0.973, 0.975, 0.975, 0.982, 0.978]), None, 2)
    assert c.classes.majority is None
    stuck = prepare(rows([0.42, 0.33, 0.328, 0.329], [0.321, 0.313, 0.312, 0.312], [0.903] * 4, [0.891] * 4), None, 2)
    assert stuck.classes.majority == pytest.approx(0.903)
