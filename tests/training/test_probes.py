"""Per-layer probes (core/probes.py): the published initialization findings reproduced at
initialization on real MNIST digits (mnist5k), a short training comparison, and the probe's promise
not to change training.

References:
- Glorot & Bengio (2010), "Understanding the difficulty of training deep feedforward neural networks",
  AISTATS: tanh nets with the standard init U[-1/sqrt(n), 1/sqrt(n)] lose activation spread layer by
  layer going up and back-propagated gradient going down; normalized (Xavier) init keeps both even.
  Sigmoid nets with large weights saturate.
- He, Zhang, Ren & Sun (2015), "Delving deep into rectifiers", ICCV: in deep ReLU nets Xavier init
  halves the signal's variance per layer, while variance 2/fan_in (He) keeps it constant.
"""
from __future__ import annotations

import json
import math

import pytest
import torch

from core.cli import main as cli_main
from core.config import RunConfig
from core.training.events import ProbeReport, StepReport
from core.training.callbacks import Callback
from core.training.probes import HIST_BINS, LayerProbe, ProbeCallback, hist_edges, make_probe, probe_at_init
from core.doctor.stove_story import tell
from core.training.data import prepare_data
from core.training.loop import train
from core.training.model import build_initialized_model

LAYER_KEYS = {"layer", "name", "act_mean", "act_std", "saturated_fraction", "dead_fraction", "grad_norm",
              "update_ratio", "hist"}
CHANCE = math.log(10)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("TUNELAB_OFFLINE", "1")
    monkeypatch.setenv("TUNELAB_HOME", str(tmp_path))


def mlp(**settings) -> list[dict]:
    return probe_at_init(RunConfig(model="mlp", dataset="mnist5k", **settings))


def column(layers: list[dict], key: str) -> list[float]:
    return [row[key] for row in layers]


# ---- Glorot & Bengio (2010) -----------------------------------------------------------------------
def test_glorot_tanh_standard_init_shrinks_activations_and_gradients_xavier_keeps_them():
    # The paper's setting: 5 hidden tanh layers of 1000 units.
    standard = mlp(activation="tanh", init="uniform_fan_in", depth=5, width=1000)
    xavier = mlp(activation="tanh", init="xavier_uniform", depth=5, width=1000)

    std_standard, std_xavier = column(standard, "act_std"), column(xavier, "act_std")
    # Forward: the spread shrinks at every layer with the standard init, ~0.1 of layer 1's by layer 5.
    assert all(b < 0.7 * a for a, b in zip(std_standard, std_standard[1:])), std_standard
    assert std_standard[-1] / std_standard[0] < 0.2
    assert std_xavier[-1] / std_xavier[0] > 0.4
    # Backward: the gradient w.r.t. each layer's output shrinks going down towards the input.
    back_standard, back_xavier = column(standard, "act_grad_rms"), column(xavier, "act_grad_rms")
    assert all(lower < 0.7 * upper for lower, upper in zip(back_standard, back_standard[1:])), back_standard
    assert back_standard[0] / back_standard[-1] < 0.2
    assert back_xavier[0] / back_xavier[-1] > 0.4


def test_sigmoid_with_unit_normal_init_saturates_deep_layers_xavier_almost_none():
    big_flame = mlp(activation="sigmoid", init="normal", init_std=1.0, depth=20, width=256)
    xavier = mlp(activation="sigmoid", init="xavier_uniform", depth=20, width=256)

    saturated = column(big_flame, "saturated_fraction")
    assert min(saturated) > 0.5, saturated  # most units of every layer, the deep ones included
    assert sum(saturated[10:]) / 10 > 0.6
    assert max(column(xavier, "saturated_fraction")) < 0.01
    assert tell(big_flame).verdict.startswith("Too much flame")


def test_deep_sigmoid_loses_its_gradient_even_with_xavier():
    # Sigmoid's slope is at most 0.25, so each layer passes back at most a quarter of the gradient:
    # Xavier cures saturation, not this (Glorot & Bengio found sigmoid the worst of their activations).
    xavier = mlp(activation="sigmoid", init="xavier_uniform", depth=10, width=256)
    grads = column(xavier, "grad_norm")
    assert grads[0] / grads[-1] < 1e-3
    assert any("at most 0.25" in line for line in tell(xavier).lines)


# ---- He et al. (2015) -----------------------------------------------------------------------------
def test_he_init_keeps_a_20_layer_relu_signal_where_xavier_lets_it_fade():
    xavier = mlp(activation="relu", init="xavier_uniform", depth=20, width=256)
    he = mlp(activation="relu", init="he_normal", depth=20, width=256)

    xavier_ratio = xavier[-1]["act_std"] / xavier[0]["act_std"]
    he_ratio = he[-1]["act_std"] / he[0]["act_std"]
    assert xavier_ratio < 0.05, xavier_ratio
    assert 0.5 < he_ratio < 2.0, he_ratio
    assert tell(he).tone == "good"


# ---- after training -------------------------------------------------------------------------------
def train_with_probes(config: RunConfig) -> tuple[list[dict], dict[int, list[dict]]]:
    probes: dict[int, list[dict]] = {}

    def emit(event) -> None:
        if isinstance(event, ProbeReport):
            probes[event.step] = event.layers

    result = train(config, "cpu", emit=emit, make_probe=make_probe, probe_every=50)
    return result.history, probes


def test_sigmoid_with_unit_normal_init_stays_at_chance_while_xavier_learns():
    # Glorot & Bengio's depth (5 hidden layers); 3 epochs of Adam on mnist5k. At depth 10 neither init
    # learns in 3 epochs: the gradient vanishes even with Xavier (see the test above).
    base = RunConfig(model="mlp", dataset="mnist5k", activation="sigmoid", depth=5, width=256, epochs=3)
    big_history, big_probes = train_with_probes(base.replace(init="normal", init_std=1.0))
    xavier_history, xavier_probes = train_with_probes(base.replace(init="xavier_uniform"))

    assert all(row["val_loss"] > CHANCE for row in big_history), big_history  # never better than guessing
    assert xavier_history[-1]["val_loss"] < 1.0 and xavier_history[-1]["val_accuracy"] > 0.75, xavier_history

    # Why: the big flame keeps most units boiling for the whole run, and the same optimizer steps
    # move its huge weights by a far smaller fraction than Xavier's.
    big_end, xavier_end = big_probes[max(big_probes)], xavier_probes[max(xavier_probes)]
    assert min(column(big_probes[0], "saturated_fraction")) > 0.6
    assert min(column(big_end, "saturated_fraction")) > 0.6
    assert max(column(xavier_end, "saturated_fraction")) < 0.5
    big_update = max(column(big_end, "update_ratio"))
    xavier_update = min(column(xavier_end, "update_ratio"))
    assert big_update < 1e-3 and xavier_update > 5 * big_update, (big_update, xavier_update)


# ---- the probe itself -----------------------------------------------------------------------------
def test_probe_does_not_change_training():
    # Batch norm and dropout are on: measure() must neither update running stats nor draw a mask.
    config = RunConfig(model="mlp", dataset="digits", depth=3, width=64, activation="tanh", batch_norm=True,
                       dropout=0.2, epochs=2, batch_size=32)
    runs = []
    for factory in (None, make_probe):
        losses: list[float] = []
        reports: list[ProbeReport] = []

        def emit(event) -> None:
            if isinstance(event, StepReport):
                losses.extend(event.losses)
            elif isinstance(event, ProbeReport):
                reports.append(event)

        result = train(config, "cpu", emit=emit, make_probe=factory, probe_every=5)
        history = [{k: v for k, v in row.items() if k not in ("seconds", "images_per_s")} for row in result.history]
        runs.append((losses, history, reports))
    (plain_losses, plain_history, none), (probed_losses, probed_history, reports) = runs
    assert not none and len(reports) > 5
    assert probed_losses == plain_losses
    assert probed_history == plain_history
    assert reports[0].step == 0 and all(row["update_ratio"] is None for row in reports[0].layers)
    assert all(row["update_ratio"] > 0 for row in reports[-1].layers)


class FakeClock:
    """Time that moves only when told: 0.1 s per training step, 1 s per probe."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_probe_budget_keeps_probing_to_its_share_of_the_time_and_the_run_unchanged():
    config = RunConfig(model="mlp", dataset="digits", depth=3, width=64, epochs=3, batch_size=16)
    clock = FakeClock()

    class Tick(Callback):
        def after_batch(self, loop, loss):
            clock.now += 0.1

    class CostlyProbe(LayerProbe):
        def measure(self, model):
            clock.now += 1.0
            return super().measure(model)

    runs = {}
    for budget in (None, 0.05):
        steps: list[int] = []
        probes = ProbeCallback(CostlyProbe, every=1, budget=budget, clock=clock)
        result = train(config, "cpu", emit=lambda e: steps.append(e.step) if isinstance(e, ProbeReport) else None,
                       callbacks=[probes, Tick()])
        runs[budget] = (steps, result.history)
    every_step, every_history = runs[None]
    budget_steps, budget_history = runs[0.05]
    last = every_step[-1]
    assert every_step == list(range(last + 1))  # probe_every=1 and no budget: every step
    assert budget_steps[0] == 0 and budget_steps[1] == 1 and budget_steps[-1] == last  # start and end always
    # between two budgeted probes the run trained long enough that a 1 s probe is 5% of the time:
    # 0.95 s / 0.05 = 19 s of training = 190 steps of 0.1 s
    gaps = [b - a for a, b in zip(budget_steps[1:-1], budget_steps[2:-1])]
    assert gaps and all(gap == 190 for gap in gaps), budget_steps
    assert len(budget_steps) - 1 <= 0.05 * (0.1 * last + len(budget_steps)) + 2  # the share, bar the two forced
    strip = lambda history: [{k: v for k, v in row.items() if k not in ("seconds", "images_per_s")} for row in history]
    assert strip(budget_history) == strip(every_history)  # which steps are probed never changes training

    # a short run with a budget is probed more often than every probe_every steps (the lab's slider)
    short: list[int] = []
    train(config, "cpu", emit=lambda e: short.append(e.step) if isinstance(e, ProbeReport) else None,
          make_probe=make_probe, probe_every=50, probe_budget=0.03)
    assert short[0] == 0 and 0 < short[1] < 50 and short[-1] == last


def test_measure_leaves_gradients_running_stats_mode_and_random_state_alone():
    config = RunConfig(model="simple_cnn", dataset="digits", batch_norm=True, dropout=0.3)
    data = prepare_data(config, torch.device("cpu"))
    model = build_initialized_model(config, data.shape, data.classes, torch.device("cpu"))
    model.train()
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.5)
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()

    probe = LayerProbe(model, data.x_val[:64], data.y_val[:64])
    probe.before_update(model)
    layers = probe.measure(model)

    assert model.training
    assert all(torch.equal(p.grad, torch.full_like(p, 0.5)) for p in model.parameters())
    assert all(torch.equal(v, buffers[k]) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), rng)
    assert [row["name"] for row in layers] == ["conv 1 · relu", "conv 2 · relu", "conv 3 · relu", "dense 1 · relu"]
    assert all(row["update_ratio"] == 0.0 for row in layers)  # snapshot taken, nothing moved


def test_layer_dicts_are_json_and_hist_counts_every_value():
    layers = mlp(activation="relu", init="he_normal", depth=3, width=64)
    assert [row["layer"] for row in layers] == [1, 2, 3]
    assert layers[0]["name"] == "dense 1 · relu"
    for row in layers:
        assert LAYER_KEYS <= set(row)
        assert row["saturated_fraction"] is None and 0.0 <= row["dead_fraction"] <= 1.0
        assert row["update_ratio"] is None
        assert len(row["hist"]) == HIST_BINS and sum(row["hist"]) == 256 * 64
    text = json.dumps(layers, allow_nan=False)  # finite or None everywhere
    assert json.loads(text) == layers
    edges = hist_edges("sigmoid")
    assert len(edges) == HIST_BINS + 1 and edges[0] == 0.0 and edges[-1] == 1.0


def test_probe_cli_prints_the_layers_as_json(capsys):
    code = cli_main(["probe", "--model", "mlp", "--depth", "20", "--width", "256", "--activation", "sigmoid",
                     "--init", "normal", "--init-std", "1.0", "--dataset", "mnist5k", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert len(out["layers"]) == 20
    assert {"layer", "name", "act_mean", "act_std", "saturated_fraction", "dead_fraction", "grad_norm",
            "hist"} <= set(out["layers"][0])
    assert out["layers"][19]["saturated_fraction"] > 0.5


def test_probe_cli_names_a_bad_setting(capsys):
    assert cli_main(["probe", "--model", "mlp", "--depth", "0", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "depth" in captured.err
