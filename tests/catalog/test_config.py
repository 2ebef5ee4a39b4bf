"""RunConfig: defaults, validation messages that name the field, JSON round trip."""
from __future__ import annotations

import json

import pytest

from core.config import GROUPS, RunConfig, config_fields
from core.errors import ConfigError


def test_defaults_are_valid_and_every_field_is_documented():
    config = RunConfig()
    assert config.dataset == "mnist5k" and config.init_std == 0.02
    for f in config_fields():
        assert f.metadata["group"] in GROUPS
        assert len(f.metadata["help"]) > 10


def test_json_round_trip_keeps_every_value():
    config = RunConfig(lr=0.05, optimizer="nesterov", schedule="cosine", dropout=0.3, batch_norm=True,
                       aug_shift=0.1, aug_rotation=15, early_stopping=True, seed=7, model="mlp", depth=12)
    again = RunConfig.from_json(config.to_json())
    assert again == config
    assert json.loads(config.to_json())["lr"] == 0.05


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("lr", -1.0, "greater than 0"),
        ("lr", 0.0, "greater than 0"),
        ("lr", float("nan"), "finite"),
        ("epochs", 0, "at least 1"),
        ("batch_size", 0, "at least 1"),
        ("dropout", 1.0, "at most 0.9"),
        ("momentum", 1.0, "less than 1"),
        ("val_split", 0.0, "greater than 0"),
        ("activation", "foo", "sigmoid, tanh, relu, leaky_relu, elu, gelu"),
        ("init", "ones", "xavier_uniform"),
        ("optimizer", "lbfgs", "adamw"),
        ("schedule", "warm", "plateau"),
        ("dataset", "imagenet", "cifar10"),
        ("model", "resnet", "mlp"),
        ("epochs", 2.5, "whole number"),
        ("batch_norm", "maybe", "true or false"),
    ],
)
def test_bad_values_name_the_field_and_what_is_allowed(field, value, words):
    with pytest.raises(ConfigError) as info:
        RunConfig(**{field: value})
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert words in str(info.value)


def test_flips_are_refused_for_digits_but_allowed_for_photos():
    with pytest.raises(ConfigError, match="aug_flip"):
        RunConfig(dataset="mnist5k", aug_flip=True)
    assert RunConfig(dataset="cifar10", aug_flip=True).aug_flip


def test_from_dict_coerces_form_and_command_line_strings():
    config = RunConfig.from_dict({"lr": "0.01", "epochs": "4", "batch_norm": "true", "activation": "tanh"})
    assert (config.lr, config.epochs, config.batch_norm, config.activation) == (0.01, 4, True, "tanh")
    with pytest.raises(ConfigError, match="^lr: must be a number"):
        RunConfig.from_dict({"lr": "fast"})


def test_unknown_settings_are_refused_unless_reading_an_old_store():
    with pytest.raises(ConfigError, match="^learning_rate: is not a setting"):
        RunConfig.from_dict({"learning_rate": 0.1})
    assert RunConfig.from_dict({"learning_rate": 0.1, "lr": 0.2}, strict=False).lr == 0.2
    with pytest.raises(ConfigError, match="^config: is not valid JSON"):
        RunConfig.from_json("{not json")


def test_differences_lists_only_changed_settings():
    a, b = RunConfig(), RunConfig(lr=0.1, seed=3)
    assert a.differences(b) == {"lr": (0.001, 0.1), "seed": (0, 3)}
