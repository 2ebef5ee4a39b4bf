"""Comparing runs: the pure comparison rules of core/runs/compare.py."""
from __future__ import annotations

import pytest

from core.config import RunConfig
from core.runs.compare import (
    compare_groups,
    differing_settings,
    final_values,
    group_curve,
    summarize,
)
from core.runs.store import RunStore
from core.training.events import EpochEnd


def history(accs: list[float]) -> list[dict]:
    return [{"epoch": e, "loss": 1 / e, "val_loss": 1.2 / e, "accuracy": a, "val_accuracy": a - 0.01}
            for e, a in enumerate(accs, start=1)]


def test_differing_settings_lists_only_what_changed_in_the_guides_order():
    a, b = RunConfig(), RunConfig(lr=0.01, seed=3)
    assert differing_settings([a, b]) == ["lr", "seed"]
    assert differing_settings([a, a]) == [] and differing_settings([a]) == []


def test_settings_that_do_not_apply_to_a_run_are_no_difference():
    # two CNN runs with different MLP depths and normal-init stds: neither setting applies to them
    a, b = RunConfig(depth=3, init_std=0.02), RunConfig(depth=8, init_std=0.5, lr=0.01)
    assert differing_settings([a, b]) == ["lr"]
    # where it applies to both it is a difference; an Adam run and an SGD run differ in the optimizer,
    # and momentum (which only SGD + momentum reads) is no difference of theirs
    c = RunConfig(model="mlp", depth=3, init="normal", init_std=0.1)
    d = RunConfig(model="mlp", depth=5, init="normal", init_std=0.1, optimizer="momentum", momentum=0.5)
    assert differing_settings([c, d]) == ["optimizer", "depth"]


def test_group_curve_is_mean_std_min_max_per_epoch():
    curve = group_curve([history([0.5, 0.7]), history([0.7, 0.9]), history([0.6])], "accuracy")
    assert curve.epochs == [1, 2] and curve.count == [3, 2]
    assert curve.mean[0] == pytest.approx(0.6) and curve.low[0] == 0.5 and curve.high[0] == 0.7
    assert curve.std[0] == pytest.approx(0.1) and curve.mean[1] == pytest.approx(0.8)


def test_groups_far_apart_are_a_real_difference_and_overlapping_ones_are_noise():
    a, b = [0.90, 0.91, 0.905], [0.95, 0.96, 0.955]
    real = compare_groups(a, b, "sgd", "adam")
    assert real.verdict == "real" and real.text.startswith("adam is better by 5.0 points")
    noisy = compare_groups([0.90, 0.95, 0.92], [0.93, 0.91, 0.96], "sgd", "adam")
    assert noisy.verdict == "noise" and "within seed-to-seed noise" in noisy.text
    assert compare_groups([0.9], [0.95, 0.96]).verdict == "too few runs"
    lower_loss = compare_groups([0.5, 0.52, 0.51], [0.3, 0.31, 0.32], "a", "b", metric="best validation loss")
    assert lower_loss.verdict == "real" and lower_loss.text.startswith("b is better")


def test_final_values_take_each_runs_best():
    assert final_values([history([0.5, 0.8, 0.7]), []]) == [pytest.approx(0.79)]
    assert final_values([history([0.5, 0.8])], "val_loss") == [pytest.approx(0.6)]


def stored_run(store: RunStore, accs: list[float], **changes) -> int:
    run_id = store.create_run(RunConfig(dataset="digits", **{k: v for k, v in changes.items() if k not in ("name", "group")}),
                              name=changes.get("name", ""), group_id=changes.get("group"))
    store.mark_running(run_id, "cpu")
    for row in history(accs):
        store.record(run_id, EpochEnd(row["epoch"], row["loss"], row["accuracy"], row["val_loss"], row["val_accuracy"],
                                      1e-3, 0.1, 100.0))
    store.finish(run_id, "completed")
    return run_id


def test_summarize_reads_best_epoch_and_final_losses():
    store = RunStore()
    run_id = stored_run(store, [0.5, 0.9, 0.8])
    s = summarize(store.get(run_id), store.history(run_id))
    assert (s.best_val_accuracy, s.best_epoch, s.epochs) == (pytest.approx(0.89), 2, 3)
    assert s.final_loss == pytest.approx(1 / 3) and s.seconds is not None
