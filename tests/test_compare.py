"""Comparing runs: the pure comparison rules (core/compare.py) and the Compare page with AppTest."""
from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.compare import compare_groups, differing_settings, final_values, group_curve, summarize
from core.config import RunConfig
from core.events import EpochEnd
from core.store import RunStore

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "compare.py")


def history(accs: list[float]) -> list[dict]:
    return [{"epoch": e, "loss": 1 / e, "val_loss": 1.2 / e, "accuracy": a, "val_accuracy": a - 0.01}
            for e, a in enumerate(accs, start=1)]


def test_differing_settings_lists_only_what_changed_in_the_guides_order():
    a, b = RunConfig(), RunConfig(lr=0.01, seed=3)
    assert differing_settings([a, b]) == ["lr", "seed"]
    assert differing_settings([a, a]) == [] and differing_settings([a]) == []


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


@pytest.fixture(autouse=True)
def fresh_store():
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def test_summarize_reads_best_epoch_and_final_losses():
    store = RunStore()
    run_id = stored_run(store, [0.5, 0.9, 0.8])
    s = summarize(store.get(run_id), store.history(run_id))
    assert (s.best_val_accuracy, s.best_epoch, s.epochs) == (pytest.approx(0.89), 2, 3)
    assert s.final_loss == pytest.approx(1 / 3) and s.seconds is not None


def test_the_page_overlays_the_runs_of_a_link_and_lists_what_differs():
    store = RunStore()
    slow = stored_run(store, [0.5, 0.6], lr=1e-4, name="slow")
    fast = stored_run(store, [0.8, 0.9], lr=1e-2, name="fast")
    stored_run(store, [0.1], name="not picked")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["runs"] = f"{slow},{fast}"
    at.run()
    assert not at.exception
    assert at.multiselect(key="compare_runs").value == [slow, fast]
    assert len(at.get("vega_lite_chart")) == 1
    summary, differences = (frame.value for frame in at.dataframe)
    assert list(differences.columns) == ["run", "lr"] and list(differences["lr"]) == [1e-4, 1e-2]
    assert list(summary["best val acc"]) == [pytest.approx(0.59), pytest.approx(0.89)]

    at.multiselect(key="compare_runs").unselect(slow).run()
    assert not at.exception and at.query_params["runs"] in (str(fast), [str(fast)])


def test_two_seed_groups_get_bands_and_a_verdict():
    store = RunStore()
    for seed, acc in enumerate((0.90, 0.91, 0.905)):
        stored_run(store, [acc - 0.2, acc], seed=seed, lr=1e-3, name="base", group="g1")
    ids = [stored_run(store, [acc - 0.2, acc], seed=seed, lr=3e-3, name="hotter", group="g2")
           for seed, acc in enumerate((0.95, 0.96, 0.955))]
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["runs"] = ",".join(str(i) for i in range(1, 4)) + "," + ",".join(map(str, ids))
    at.run()
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == 2  # the overlay and the bands
    assert any("hotter (3 seeds) is better by 5.0 points" in s.value for s in at.success)


def test_a_bad_link_is_explained_and_the_page_still_works():
    store = RunStore()
    stored_run(store, [0.5])
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["runs"] = "1,abc"
    at.run()
    assert not at.exception
    assert at.error[0].value.startswith("runs: must be run numbers")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["runs"] = "1,99"
    at.run()
    assert not at.exception and any("run 99" in w.value for w in at.warning)
    assert at.multiselect(key="compare_runs").value == [1]
