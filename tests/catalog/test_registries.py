"""Every registry entry does what its teaching note says."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from core.catalog.activations import ACTIVATIONS
from core.config import RunConfig
from core.catalog.datasets import DATASETS
from core.catalog.initializers import INITIALIZERS, fans, initialize
from core.catalog.models import MODELS, build_model, count_parameters
from core.catalog.optimizers import OPTIMIZERS, build_optimizer
from core.catalog.registry import Registry
from core.catalog.schedules import SCHEDULES, build_schedule

ALL = [ACTIVATIONS, INITIALIZERS, OPTIMIZERS, SCHEDULES, DATASETS, MODELS]


@pytest.mark.parametrize("registry", ALL, ids=lambda r: r.kind)
def test_every_entry_has_a_teaching_note(registry: Registry):
    assert len(registry) >= 3
    for entry in registry:
        assert len(entry.note) > 30, entry.name
        assert entry.title


def test_registries_hold_what_the_tuning_guide_teaches():
    assert ACTIVATIONS.names() == ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu"]
    assert set(INITIALIZERS.names()) == {"default", "zeros", "normal", "truncated_normal", "uniform_fan_in",
                                         "xavier_uniform", "xavier_normal", "he_uniform", "he_normal"}
    assert OPTIMIZERS.names() == ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"]
    assert SCHEDULES.names() == ["constant", "step", "exponential", "cosine", "plateau"]
    assert DATASETS.names() == ["mnist5k", "digits", "mnist", "fashion_mnist", "cifar10"]
    assert MODELS.names() == ["simple_cnn", "vgg_bn", "mlp"]


@pytest.mark.parametrize("name", INITIALIZERS.names())
@pytest.mark.parametrize("shape", [(300, 400), (64, 32, 3, 3)], ids=["dense", "conv"])
def test_initializer_gives_its_documented_spread(name, shape):
    weight = torch.empty(shape)
    std = 0.5
    INITIALIZERS.get(name).factory.fill(weight, std, torch.Generator().manual_seed(0))
    fan_in, fan_out = fans(weight)
    expected = INITIALIZERS.get(name).factory.expected_std(fan_in, fan_out, std)
    assert abs(weight.mean().item()) < 0.02 * max(expected, 1e-3) * 10
    if expected == 0:
        assert weight.abs().max().item() == 0
    else:
        assert weight.std().item() == pytest.approx(expected, rel=0.03)


def test_closed_form_spreads_match_the_papers():
    expected = {name: INITIALIZERS.get(name).factory.expected_std(400, 300, 0.02) for name in INITIALIZERS.names()}
    assert expected["xavier_uniform"] == pytest.approx(math.sqrt(2 / 700))
    assert expected["he_normal"] == pytest.approx(math.sqrt(2 / 400))
    assert expected["uniform_fan_in"] == pytest.approx(1 / math.sqrt(3 * 400))
    assert expected["truncated_normal"] == pytest.approx(0.02 * 0.8796, rel=1e-3)


def test_truncated_normal_has_no_value_beyond_two_std():
    weight = torch.empty(500, 500)
    INITIALIZERS.get("truncated_normal").factory.fill(weight, 0.02, torch.Generator().manual_seed(1))
    assert weight.abs().max().item() <= 0.04 + 1e-7


def test_initialize_touches_every_dense_and_conv_layer_and_zeroes_biases():
    model = build_model(RunConfig(model="simple_cnn", batch_norm=True), (1, 28, 28), 10)
    initialize(model, "normal", 0.3, torch.Generator().manual_seed(0))
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert len(layers) == 5
    for layer in layers:
        assert layer.weight.std().item() == pytest.approx(0.3, rel=0.25)
        assert layer.bias.abs().max().item() == 0
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert torch.all(bn.weight == 1)


def test_default_init_is_pytorchs_uniform_for_weights_and_biases():
    model = build_model(RunConfig(model="mlp", depth=1, width=256), (1, 28, 28), 10)
    initialize(model, "default", 0.02, torch.Generator().manual_seed(0))
    first = model[1]
    bound = 1 / math.sqrt(784)
    assert first.weight.abs().max().item() <= bound and first.bias.abs().max().item() <= bound
    assert first.bias.abs().max().item() > bound / 2


def test_same_generator_seed_gives_the_same_weights():
    def weights(seed):
        model = build_model(RunConfig(model="mlp", depth=2, width=32), (1, 8, 8), 10)
        initialize(model, "he_normal", 0.02, torch.Generator().manual_seed(seed))
        return torch.cat([p.flatten() for p in model.parameters()])

    assert torch.equal(weights(3), weights(3))
    assert not torch.equal(weights(3), weights(4))


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_activation_modules_build_and_respect_their_range(name):
    act = ACTIVATIONS.get(name).factory
    out = act.make()(torch.linspace(-20, 20, 401))
    low, high = act.output_range
    assert out.min().item() >= low - 1e-6 and out.max().item() <= high + 1e-6
    assert act.family in ("saturating", "rectifier", "smooth")


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_each_optimizer_lowers_the_loss_on_a_small_batch(name):
    torch.manual_seed(0)
    x, y = torch.randn(64, 20), torch.randint(0, 4, (64,))
    model = nn.Sequential(nn.Linear(20, 32), nn.Tanh(), nn.Linear(32, 4))
    lr = {"sgd": 0.5, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.05}.get(name, 0.01)
    optimizer = build_optimizer(model, RunConfig(optimizer=name, lr=lr, l2=1e-4))
    first = F.cross_entropy(model(x), y).item()
    for _ in range(50):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    assert F.cross_entropy(model(x), y).item() < 0.7 * first


def test_l2_applies_to_weights_but_not_biases():
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    optimizer = build_optimizer(model, RunConfig(optimizer="sgd", l2=0.01))
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.01 and plain["weight_decay"] == 0.0
    assert [p.ndim for p in decayed["params"]] == [2]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("constant", [0.1, 0.1, 0.1, 0.1, 0.1, 0.1]),
        ("step", [0.1, 0.1, 0.1, 0.05, 0.05, 0.05]),  # halve every 3 epochs
        ("exponential", [0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003125]),
    ],
)
def test_schedules_follow_their_formula(name, expected):
    model = nn.Linear(2, 2)
    config = RunConfig(lr=0.1, schedule=name, lr_decay=0.5, lr_step_epochs=3, epochs=6)
    optimizer = build_optimizer(model, config)
    schedule = build_schedule(optimizer, config)
    seen = []
    for _ in range(6):
        seen.append(optimizer.param_groups[0]["lr"])
        schedule.step(1.0)
    assert seen == pytest.approx(expected)


def test_cosine_ends_at_the_minimum_and_plateau_waits_for_patience():
    model = nn.Linear(2, 2)
    config = RunConfig(lr=0.1, schedule="cosine", epochs=4, min_lr=0.001)
    optimizer = build_optimizer(model, config)
    schedule = build_schedule(optimizer, config)
    for _ in range(4):
        schedule.step(1.0)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.001)

    config = RunConfig(lr=0.1, schedule="plateau", lr_decay=0.1, plateau_patience=2)
    optimizer = build_optimizer(model, config)
    schedule = build_schedule(optimizer, config)
    for loss in (1.0, 0.9, 0.9, 0.9):
        schedule.step(loss)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1)  # two epochs without improvement: wait
    schedule.step(0.9)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.01)


@pytest.mark.parametrize("model_name", MODELS.names())
@pytest.mark.parametrize("dataset", DATASETS.names())
def test_each_model_builds_for_each_datasets_shape(model_name, dataset):
    spec = DATASETS.get(dataset).factory
    config = RunConfig(model=model_name, dataset=dataset, batch_norm=True, dropout=0.2, depth=2, width=32)
    model = build_model(config, spec.shape, spec.classes)
    model.train()
    out = model(torch.randn(3, *spec.shape))
    assert out.shape == (3, spec.classes)
    assert count_parameters(model) > 1000


def test_simple_cnn_is_the_seeds_network_on_cifar():
    model = build_model(RunConfig(model="simple_cnn", dataset="cifar10"), (3, 32, 32), 10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    dense = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [c.out_channels for c in convs] == [32, 64, 64]
    assert [d.out_features for d in dense] == [64, 10]
    assert dense[0].in_features == 64 * 4 * 4  # Keras' summary: Flatten gives 1024
    assert count_parameters(model) == 122570  # the same count as the Keras tutorial's model.summary()


def test_mlp_depth_and_width_are_honoured():
    model = build_model(RunConfig(model="mlp", depth=7, width=50, activation="sigmoid"), (1, 28, 28), 10)
    dense = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(dense) == 8 and all(d.out_features == 50 for d in dense[:-1])
    assert sum(isinstance(m, nn.Sigmoid) for m in model.modules()) == 7
