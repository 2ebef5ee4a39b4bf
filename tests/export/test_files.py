"""A run's history as Keras-style CSV and its config as JSON: round trips, tolerant import, and the
export command's files and one-line errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import RunConfig
from core.doctor.history_io import read_history_file
from core.errors import ConfigError
from core.export.bundle import export_run
from core.export.files import import_config
from core.training.events import HISTORY_COLUMNS
from tests.conftest import ROOT
from tests.export.test_script import TINY, train_run


# ---- CSV and config JSON -------------------------------------------------------------------------------
def test_history_csv_has_kerass_columns_and_the_config_json_imports_back(tmp_path):
    store, run_id = train_run(tmp_path, lr=0.01, activation="tanh")
    paths = export_run(store, run_id, ["csv", "json"], tmp_path / "out")
    csv_text = paths[0].read_text()
    assert csv_text.splitlines()[0] == ",".join(HISTORY_COLUMNS)
    assert len(csv_text.splitlines()) == 3
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
