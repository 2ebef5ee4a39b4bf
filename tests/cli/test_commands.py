"""`python -m core`: the JSON contract, exit codes, one-line errors, the store it writes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import build_parser, main
from core.runs.store import RunStore
from tests.conftest import ROOT


def cli(*args: str, db: Path | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "core", *args]
    if db is not None:
        command += ["--db", str(db)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=os.environ.copy(), timeout=240)


def test_the_issues_reference_run_learns_and_prints_one_json_object(tmp_path):
    db = tmp_path / "runs.db"
    done = cli("train", "--dataset", "mnist5k", "--model", "simple_cnn", "--optimizer", "adam", "--lr", "0.001",
               "--epochs", "3", "--json", db=db)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)  # stdout is exactly one JSON object
    assert out["status"] == "completed" and out["device"] == "cpu"
    assert [h["epoch"] for h in out["history"]] == [1, 2, 3]
    assert set(out["history"][0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert out["history"][-1]["val_accuracy"] >= 0.93
    assert out["images_per_second"] > 0
    # a progress line per epoch on stderr
    assert [line.split()[3] for line in done.stderr.splitlines() if " epoch " in line] == ["1/3", "2/3", "3/3"]
    # recorded in SQLite
    record = RunStore(db).get(out["run_id"])
    assert record.status == "completed" and len(RunStore(db).history(out["run_id"])) == 3
    # probed and diagnosed like a run from the dashboard, so it opens there alike
    assert RunStore(db).probes(out["run_id"])
    assert [h["id"] for h in out["hints"]] == [h["id"] for h in RunStore(db).hints(out["run_id"])]
    assert "divergence" not in [h["id"] for h in out["hints"]]


def test_seed_7_twice_gives_identical_histories_and_seed_8_another(tmp_path):
    def history(seed):
        # (determinism is wiring, not learning: the 8x8 digits, each run a subprocess on this machine)
        done = cli("train", "--dataset", "digits", "--epochs", "1", "--train-subset", "600", "--seed", str(seed),
                   "--json", db=tmp_path / "runs.db")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["history"]

    first = history(7)
    assert history(7) == first
    assert history(8) != first


def test_a_diverging_run_ends_with_status_diverged_and_exit_code_0(tmp_path):
    done = cli("train", "--dataset", "digits", "--optimizer", "sgd", "--lr", "100", "--epochs", "2", "--json",
               db=tmp_path / "r.db")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == "diverged" and "Traceback" not in done.stderr
    assert out["history"][0]["val_loss"] is None  # NaN is written as null: strict JSON
    assert "divergence" in [hint["id"] for hint in out["hints"]]


@pytest.mark.parametrize(
    "args, field, allowed",
    [
        (["--lr", "-1"], "lr", "greater than 0"),
        (["--epochs", "0"], "epochs", "at least 1"),
        (["--batch-size", "0"], "batch_size", "at least 1"),
        (["--activation", "foo"], "activation", "sigmoid, tanh, relu"),
        (["--lr", "fast"], "lr", "must be a number"),
        (["--device", "tpu"], "device", "auto, cpu, cuda"),
        (["--aug-flip"], "aug_flip", "allowed only for"),
        (["--config", "/nonexistent.json"], "config", "cannot read"),
        (["--dataset", "cifar10"], "cifar10", "cifar-10-python.tar.gz"),
        (["--bogus", "1"], "--bogus", "unrecognized"),
    ],
)
def test_bad_arguments_exit_2_with_one_line_naming_the_field(tmp_path, args, field, allowed):
    db = tmp_path / "runs.db"
    done = cli("train", *args, db=db)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert field in lines[0] and allowed in lines[0]
    assert done.stdout == ""
    assert not db.exists() or RunStore(db).runs() == []  # nothing half-made is stored


def test_config_file_is_read_and_flags_override_it(tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"dataset": "digits", "model": "mlp", "epochs": 3, "lr": 0.01}))
    done = cli("train", "--config", str(config), "--epochs", "1", "--json", db=tmp_path / "r.db")
    assert done.returncode == 0, done.stderr
    record = RunStore(tmp_path / "r.db").get(json.loads(done.stdout)["run_id"])
    assert (record.config.dataset, record.config.lr, record.config.epochs) == ("digits", 0.01, 1)


def test_datasets_lists_offline_availability(tmp_path):
    done = cli("datasets", "--json", "--data-dir", str(tmp_path))
    assert done.returncode == 0
    rows = {r["name"]: r for r in json.loads(done.stdout)["datasets"]}
    assert rows["mnist5k"]["available_offline"] and not rows["mnist"]["available_offline"]
    assert rows["mnist"]["folder"] == str(tmp_path / "MNIST" / "raw")


# what each command's --help must mention: its own flags, and the shared ones defined once
HELP = {
    "train": ("--init-std", "--db", "--device", "--data-dir", "--json", "--config", "--name", "--preset"),
    "presets": ("--check", "--seeds", "--json"),
    "datasets": ("--data-dir", "--json"),
    "probe": ("--samples", "--activation", "--data-dir", "--json"),
    "diagnose": ("FILE", "--classes", "--json"),
    "sweep": ("--param", "--values", "--log-space", "--lr", "--db", "--device", "--json"),
    "lr-find": ("--start", "--end", "--steps", "--lr", "--device", "--json"),
    "export": ("RUN_ID", "--format", "--out", "--db", "--json"),
    "bench": ("--images", "--concurrency", "--workers", "--fast", "--device", "--json"),
    "bench-ui": ("--repeats", "--epochs", "--json"),
    "bench-class": ("--students", "--epochs", "--json"),
    "bench-diagnosis": ("--json",),
}


def test_every_command_has_help_naming_its_flags(capsys):
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)
    assert commands == set(HELP)  # a new command gets a line here
    for command, words in HELP.items():
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: python -m core {command}"), command
        for word in words:
            assert word in out, (command, word)
    done = cli("lr-find", "--help")  # and through the real entry point
    assert done.returncode == 0 and "usage:" in done.stdout


def test_an_internal_error_is_one_line_not_a_traceback(capsys, monkeypatch):
    from core.cli import datasets as datasets_command

    def broken(args):
        raise ZeroDivisionError("a bug of ours")

    monkeypatch.setattr(datasets_command, "cmd_datasets", broken)
    monkeypatch.delenv("TUNELAB_DEBUG", raising=False)
    assert main(["datasets"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" in err and "Traceback" not in err
