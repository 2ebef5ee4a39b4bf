"""The Curve Doctor corpus (assets/diagnosis_corpus): its committed index is consistent with its files and
checks, and the torch_loop source trains deterministically by its seed. Needs no keras."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from core.bench.corpus import labels
from core.bench.corpus.curve import Curve
from core.bench.corpus.generate import INDEX_COLUMNS, REJECTED_COLUMNS
from core.bench.corpus.tasks import load_task

CORPUS = Path(__file__).resolve().parents[2] / "assets" / "diagnosis_corpus"
HEADERS = {
    "torch_loop": ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"],
    "keras": ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"],
    "tunelab": ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"],
}
FIRST_EPOCH = {"torch_loop": 0, "keras": 0, "tunelab": 1}


@pytest.fixture(scope="module")
def index() -> pd.DataFrame:
    return pd.read_csv(CORPUS / "index.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def rejected() -> pd.DataFrame:
    return pd.read_csv(CORPUS / "rejected.csv", dtype=str, keep_default_na=False)


def test_index_and_rejected_have_the_documented_columns(index, rejected):
    assert list(index.columns) == list(INDEX_COLUMNS)
    assert list(rejected.columns) == list(REJECTED_COLUMNS)
    assert index["run_id"].is_unique and rejected["run_id"].is_unique
    assert not set(index["run_id"]) & set(rejected["run_id"])
    assert set(rejected["failed_check"]) <= {"shape", "counterfactual"}
    assert (rejected["reason"].str.len() > 0).all()


def test_enough_runs_per_source_and_every_label_everywhere(index):
    assert len(index) >= 600
    per_source = index.groupby("source").size()
    assert (per_source >= 150).sum() >= 3, per_source.to_dict()
    assert set(index["label"]) <= set(labels.LABELS)
    for source, group in index.groupby("source"):
        missing = set(labels.LABELS) - set(group["label"])
        assert not missing, f"{source} lacks {missing}"


def test_every_kept_run_passed_both_checks(index):
    assert index["shape_check"].str.startswith("pass: ").all()
    healthy = index["label"] == "healthy"
    assert index.loc[~healthy, "counterfactual_check"].str.startswith("pass: ").all()
    assert index.loc[healthy, "counterfactual_check"].str.startswith("n/a").all()
    assert (index.loc[~healthy, "counterfactual_change"].map(json.loads).map(len) > 0).all()


def _curve(history: pd.DataFrame, row) -> Curve:
    config = json.loads(row.config)
    if row.source == "tunelab":
        from core.bench.corpus.sources.tunelab import _prior

        prior, majority = _prior(config["dataset"])
        classes = 10
    else:
        data = load_task(config["dataset"], config["task"], config["train_subset"], config["seed"])
        prior, majority, classes = data.prior_loss, data.majority, data.classes
    col = lambda name: [float(v) for v in history[name].fillna(math.nan)]  # noqa: E731
    return Curve(col("loss"), col("accuracy"), col("val_loss"), col("val_accuracy"), classes, prior, majority)


def test_every_file_exists_parses_and_still_passes_its_shape_check(index):
    for row in index.itertuples():
        path = CORPUS / row.file
        assert path.is_file(), row.file
        assert path.name == f"{row.run_id}.csv" and row.file.startswith(f"{row.source}/")
        history = pd.read_csv(path)
        assert list(history.columns) == HEADERS[row.source], row.file
        assert len(history) == int(row.epochs), row.file
        assert list(history["epoch"]) == list(range(FIRST_EPOCH[row.source], FIRST_EPOCH[row.source] + len(history)))
        config = json.loads(row.config)
        assert config["seed"] == int(row.seed) and config["batch_size"] == int(row.batch_size)
        label, check = labels.shape_check(row.label, _curve(history, row))
        assert check.passed and label == row.label, (row.file, check.text)
        if row.label == "healthy":  # and no healthy run also shows overfitting's shape
            assert labels.ambiguous_healthy(_curve(history, row)) is None, row.file


def test_tunelab_configs_are_runconfigs(index):
    from core.config import RunConfig

    for row in index[index["source"] == "tunelab"].itertuples():
        config = json.loads(row.config)
        assert RunConfig.from_dict(config).to_dict() == config
        change = json.loads(row.counterfactual_change)
        RunConfig.from_dict({**config, **change})


@pytest.fixture
def one_thread_for_a_while():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # torch_loop.train sets 1 thread; give the other tests theirs back


TINY = {"dataset": "digits", "task": "2-even-odd", "output": "sigmoid", "model": "mlp", "depth": 1, "width": 16,
        "activation": "tanh", "dropout": 0.2, "optimizer": "momentum", "momentum": 0.9, "lr": 0.03,
        "init": "xavier_uniform", "init_std": 0.02, "train_subset": 200, "epochs": 3, "batch_size": 32, "seed": 7}


def test_torch_loop_is_deterministic_by_its_seed(one_thread_for_a_while):
    from core.bench.corpus.sources import torch_loop

    first = torch_loop.csv_text(torch_loop.train(TINY))
    again = torch_loop.csv_text(torch_loop.train(TINY))
    other = torch_loop.csv_text(torch_loop.train({**TINY, "seed": 8}))
    assert first == again
    assert first != other
    assert first.splitlines()[0] == "epoch,accuracy,loss,val_accuracy,val_loss"
    assert [line.split(",")[0] for line in first.splitlines()[1:]] == ["0", "1", "2"]


def test_the_checks_can_fail():
    flat = Curve([2.3] * 10, [0.1] * 10, [2.3] * 10, [0.1] * 10, 10, math.log(10), 0.1)
    assert labels.check_bad_init(flat).passed
    assert not labels.check_healthy(flat).passed
    assert not labels.check_too_small_lr(flat).passed
    assert not labels.check_overfitting(flat).passed
    assert not labels.check_divergence(flat).passed
    falling = Curve([2.0 * 0.7 ** i for i in range(10)], [0.5] * 10, [2.0 * 0.72 ** i for i in range(10)],
                    [0.9] * 10, 10, math.log(10), 0.1)
    assert labels.check_healthy(falling).passed and labels.ambiguous_healthy(falling) is None
    memorized = Curve([2.0 * 0.5 ** i for i in range(10)], [1.0] * 10, [2.0 * 0.8 ** i for i in range(10)],
                      [0.85] * 10, 10, math.log(10), 0.1)
    assert labels.check_healthy(memorized).passed and "ambiguous" in labels.ambiguous_healthy(memorized).text
    assert labels.heal_check("too_small_lr", flat, falling).passed
    assert not labels.heal_check("too_small_lr", falling, flat).passed


def test_no_history_file_is_left_out_of_the_index(index):
    listed = set(index["file"])
    on_disk = {f"{p.parent.name}/{p.name}" for p in CORPUS.glob("*/*.csv") if p.parent.name != "real"}
    assert on_disk == listed  # (real/ is indexed by its own labels.csv and sources.csv)
