"""A stored run as plain files: its history as a CSV with Keras CSVLogger's columns, its config as JSON
(which `train --config` and the Train page read back), and reading such a config JSON."""
from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from core.config import RunConfig
from core.errors import ConfigError
from core.runs.store import RunRecord, RunStore


def load_run(store: RunStore, run_id: int) -> RunRecord:
    """The stored run, or ConfigError naming run_id when the store has no such run."""
    record = store.get(int(run_id))
    if record is None:
        raise ConfigError("run_id", f"no run {run_id} in {store.path}")
    return record


def folder(path: str | Path) -> Path:
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    return out


def write_history_csv(store: RunStore, run_id: int, out_dir: str | Path) -> Path:
    """run_<id>_history.csv: Keras CSVLogger's columns (epoch, loss, accuracy, val_loss, val_accuracy, lr)."""
    load_run(store, run_id)
    path = folder(out_dir) / f"run_{run_id}_history.csv"
    path.write_text(store.history_csv(run_id), encoding="utf-8")
    return path


def write_config_json(store: RunStore, run_id: int, out_dir: str | Path) -> Path:
    """run_<id>_config.json: the run's RunConfig, which import_config (and `train --config`) read back."""
    record = load_run(store, run_id)
    path = folder(out_dir) / f"run_{run_id}_config.json"
    path.write_text(record.config.to_json() + "\n", encoding="utf-8")
    return path


def import_config(text: str | bytes) -> RunConfig:
    """A RunConfig from an exported (or hand-written) config JSON. Settings this version does not know
    are dropped, so configs of older and newer TuneLab versions open; a bad value raises ConfigError
    naming its field. An object that wraps the settings under "config" (as `probe --json` prints it)
    is unwrapped."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError("config", "is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError("config", f"is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ConfigError("config", "must be a JSON object of settings")
    known = {f.name for f in fields(RunConfig)}
    if isinstance(data.get("config"), dict) and not (set(data) & known):
        data = data["config"]
    if data and not (set(data) & known):
        raise ConfigError("config", f"has none of TuneLab's settings (found {', '.join(sorted(data)[:5])})")
    return RunConfig.from_dict(data, strict=False)
