"""diagnose(): each hint on a curve that shows it (and not on near misses), the contract of Hint, speed,
and the `python -m core diagnose` command."""
from __future__ import annotations

import json
import dataclasses
import math

import pytest

from core.cli import main
from core.doctor.diagnose import HINT_IDS, Hint, diagnose, primary

LN10 = math.log(10)


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


def test_hint_contract():
    hints = diagnose(healthy_history(), classes=10)
    assert ids(hints) == ["healthy"]
    h = hints[0]
    assert isinstance(h, Hint) and h.severity in ("info", "warning", "error") and 0 <= h.confidence <= 1
    assert set(h.to_dict()) == {"id", "title", "severity", "epoch", "evidence", "advice", "confidence", "change"}
    assert h.change == {}  # "keep these settings": nothing to try
    assert set(HINT_IDS) >= {"oscillation", "overfitting", "too_small_lr", "bad_init", "divergence", "healthy"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        h.id = "x"  # frozen


def test_too_early_to_tell_is_an_empty_answer():
    assert diagnose([], classes=10) == []
    assert diagnose(rows([1.0, 0.5], [1.1, 0.6]), classes=10) == []


def test_nan_is_divergence_at_its_epoch():
    hints = diagnose(rows([1.0, 0.8, float("nan")], [1.0, 0.9, None]), classes=10)
    assert ids(hints) == ["divergence"] and hints[0].epoch == 3 and hints[0].severity == "error"
    assert "NaN" in hints[0].evidence


def test_blow_up_after_a_sane_start_is_divergence_and_advice_quotes_the_next_lr():
    hist = rows([8.1, 2.31, 2.30, 2.30, 2.31], [2.34, 2.32, 2.31, 2.31, 2.32], lr=0.1)
    steps = [{"step": 1, "epoch": 1, "loss": 2.4}] + [{"step": i, "epoch": 1, "loss": 5.0} for i in range(2, 10)]
    hints = diagnose(hist, steps=steps, classes=10)
    assert ids(hints) == ["divergence"] and hints[0].epoch == 1
    assert "0.01" in hints[0].advice


def test_stuck_at_chance_is_bad_init_but_slow_progress_with_rising_accuracy_is_not():
    flat = [LN10 + 0.001] * 8
    stuck = diagnose(rows(flat, flat, [0.1] * 8, [0.09] * 8), classes=10)
    assert ids(stuck) == ["bad_init"] and "chance" in stuck[0].evidence
    creeping = [LN10 - 0.01 * i for i in range(8)]
    slow = diagnose(rows(creeping, creeping, [0.1 + 0.03 * i for i in range(8)], [0.1 + 0.03 * i for i in range(8)]),
                    classes=10)
    assert "bad_init" not in ids(slow)
    assert primary(slow) == "too_small_lr"


def test_first_batch_far_above_chance_is_bad_init():
    hist = rows([8.2, 3.8, 2.0, 1.3, 1.0, 0.8], [5.9, 2.9, 1.8, 1.4, 1.1, 0.95])
    hints = diagnose(hist, steps=[{"step": 1, "epoch": 1, "loss": 10.5}, {"step": 2, "epoch": 1, "loss": 9.0}],
                     classes=10, config={"init": "normal", "init_std": 1.0, "activation": "sigmoid", "lr": 1e-3})
    assert primary(hints) == "bad_init" and hints[0].epoch == 1
    assert "xavier_uniform" in hints[0].advice and "init_std" in hints[0].advice


def test_overfitting_needs_persistence_and_names_the_minimum():
    train = [1.0 * 0.7 ** i for i in range(12)]
    val = [1.0, 0.8, 0.65, 0.55, 0.5, 0.48, 0.5, 0.53, 0.57, 0.6, 0.63, 0.66]
    hints = diagnose(rows(train, val), classes=10, config={"train_subset": 200, "lr": 1e-3})
    assert primary(hints) == "overfitting"
    hint = next(h for h in hints if h.id == "overfitting")
    assert hint.epoch == 7 and "minimum at epoch 6" in hint.evidence and "38%" in hint.evidence
    assert "train_subset 0" in hint.advice
    # one uptick at the end is not overfitting (UMLAUT would fire here)
    blip = val[:6] + [0.47, 0.46, 0.45, 0.44, 0.43, 0.45]
    assert "overfitting" not in ids(diagnose(rows(train, blip), classes=10))


def test_oscillation_needs_rises_above_the_batch_noise():
    train = [0.7, 0.16, 0.09, 0.042, 0.06, 0.04, 0.045, 0.036, 0.052, 0.07, 0.036, 0.023]
    val = [0.15, 0.11, 0.108, 0.18, 0.126, 0.15, 0.113, 0.153, 0.136, 0.17, 0.23, 0.06]
    quiet = [{"step": s, "epoch": 1 + s // 20, "loss": 0.05 * (1 + 0.1 * ((s * 7) % 5 - 2))} for s in range(240)]
    hints = diagnose(rows(train, val, lr=0.01), steps=quiet, classes=10)
    assert primary(hints) == "oscillation" and hints[0].epoch == 5 and "0.003" in hints[0].advice
    # the same rises inside a run whose single batches swing wildly are within the noise
    wild = [{"step": s, "epoch": 1 + s // 4, "loss": 0.2 if s % 4 == 3 else 0.002} for s in range(48)]
    assert "oscillation" not in ids(diagnose(rows(train, val, lr=0.01), steps=wild, classes=10))


def test_too_small_lr_is_a_steady_pace_and_healthy_decelerates():
    slow = [2.3 * (0.95 ** i) for i in range(12)]
    hints = diagnose(rows(slow, [v * 1.02 for v in slow], lr=1e-5), classes=10)
    assert ids(hints) == ["too_small_lr"] and "0.0001" in hints[0].advice
    assert "too_small_lr" not in ids(diagnose(healthy_history(), classes=10))


def test_probes_confirm_but_never_replace_a_curve_symptom():
    bad_probes = {0: [{"layer": 1, "saturated_fraction": 0.95, "dead_fraction": 0.9, "grad_norm": 1e-9}],
                  50: [{"layer": 1, "dead_fraction": 0.9, "grad_norm": 1e-9, "update_ratio": 1e-8},
                       {"layer": 2, "dead_fraction": 0.9, "grad_norm": 1.0, "update_ratio": 1e-8}]}
    assert ids(diagnose(healthy_history(), probes=bad_probes, classes=10)) == ["healthy"]
    flat = [LN10] * 6
    plain = diagnose(rows(flat, flat), classes=10)[0]
    confirmed = diagnose(rows(flat, flat), probes=bad_probes, classes=10)[0]
    assert confirmed.id == plain.id == "bad_init" and confirmed.confidence > plain.confidence
    assert "probes agree" in confirmed.evidence
    weird = {0: [{"layer": "x"}], 5: "not a list", "x": []}
    assert ids(diagnose(healthy_history(), probes=weird, classes=10)) == ["healthy"]


def test_inputs_are_not_changed_and_keras_style_keys_work():
    hist = healthy_history()
    keras = [{"epoch": r["epoch"], "loss": r["loss"], "acc": r["accuracy"], "val_loss": r["val_loss"],
              "val_acc": r["val_accuracy"]} for r in hist]
    before = json.dumps(keras)
    assert ids(diagnose(keras, classes=10)) == ["healthy"]
    assert json.dumps(keras) == before


def test_a_long_run_with_every_step_and_probe_is_diagnosed():
    hist = healthy_history(100)
    steps = [{"step": s, "epoch": 1 + s // 100, "loss": 1.0 / (1 + s / 500) * (1 + 0.1 * math.sin(s)),
              "lr": 1e-3, "grad_norm": None} for s in range(10_000)]
    probes = {s: [{"layer": i, "dead_fraction": 0.1, "grad_norm": 0.5, "update_ratio": 1e-3} for i in range(4)]
              for s in range(0, 10_000, 50)}
    hints = diagnose(hist, steps, probes, classes=10, config={"lr": 1e-3}, epochs_planned=100)
    assert primary(hints) == "healthy"


def test_a_spike_then_chance_for_the_rest_is_a_collapse_not_silence():
    """Adam at 0.02 on the simple CNN: batches jump to 2x chance in epoch 1, then every epoch sits at
    ln 10 with 10% accuracy. The network died; the doctor must say so and name the learning rate."""
    chance = math.log(10)
    hist = [{"epoch": 1, "loss": 2.45, "accuracy": 0.10, "val_loss": 2.305, "val_accuracy": 0.098}] + [
        {"epoch": e, "loss": chance + 0.003 * (-1) ** e, "accuracy": 0.10, "val_loss": 2.307, "val_accuracy": 0.08}
        for e in range(2, 7)]
    steps = [{"step": s, "epoch": 1, "loss": 2.30 if s < 3 else (4.6 if s < 8 else 2.31)} for s in range(1, 64)]
    hints = diagnose(hist, steps, None, classes=10, config={"lr": 0.02, "optimizer": "adam"}, epochs_planned=6)
    assert primary(hints) == "divergence"
    assert "collapsed" in hints[0].title and "4.6" in hints[0].evidence and "0.002" in hints[0].advice
    # the same curve without the spike (a network that never learned at all) is not called a collapse
    calm = [dict(s, loss=2.30) for s in steps]
    assert all("collapsed" not in h.title for h in diagnose(hist, calm, None, classes=10, epochs_planned=6))
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
    assert "evidence: validation loss rose" in capsys.readouterr().out


def test_cli_bad_file_exit_2_with_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("epoch,accuracy\n0,0.5\n")
    assert main(["diagnose", str(bad), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "no loss or val_loss column" in captured.err
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


def test_a_validation_loss_of_zero_from_the_start_is_not_divided_by():
    """Found by the fuzz test in CI: a first loss of 0 made the healthy check divide by zero."""
    hist = [{"epoch": e, "loss": None, "val_loss": 0.0 if e > 1 else None} for e in range(1, 5)]
    assert all(h.id in HINT_IDS for h in diagnose(hist, [], None, classes=0))


@pytest.mark.parametrize("split", ["tune", "heldout"])
def test_every_hint_s_change_is_a_valid_setting_that_points_to_the_verified_fix(split):
    """On the benchmark's real runs: the "try it" change of each hint is a setting RunConfig accepts,
    says what the advice says, and moves the way the run's verified counterfactual fix does."""
    from core.bench import diagnosis as diagnosis_bench
    from core.config import RunConfig

    checked = 0
    for run in diagnosis_bench.load(split):
        config = RunConfig.from_dict(run["config"])
        hints = diagnose(**diagnosis_bench.inputs(run), config=config.to_dict(), epochs_planned=config.epochs)
        for hint in hints:
            if hint.id == "healthy":
                assert hint.change == {}
                continue
            assert hint.change, (run["id"], hint)
            tried = config.replace(**hint.change)  # raises ConfigError if the advice were not allowed
            assert tried != config, (run["id"], hint.change)
            if "lr" in hint.change:
                assert "learning rate by" in hint.advice and f"{hint.change['lr']:g}" in hint.advice, hint.advice
            if "init" in hint.change:
                assert f"initializer to {hint.change['init']}" in hint.advice, hint.advice
            if hint.id != run["label"]:
                continue
            _, fix = diagnosis_bench._fix_for(run["label"], run["config"])
            if "lr" in fix:  # too high: the doctor lowers it toward the rate that healed the run; too low: raises it
                assert (hint.change["lr"] - config.lr) * (fix["lr"] - config.lr) > 0, (run["id"], hint.change, fix)
            if "init" in fix:
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
    from core.config import RunConfig
    from core.doctor.diagnose import _overfit_advice, _overfit_change

    full = RunConfig.from_dict(config).to_dict()
    assert _overfit_change(full) == change
    assert said in _overfit_advice(full, 4)
    RunConfig.from_dict(full).replace(**change)  # an allowed setting
