"""The one map from a RunConfig field to the registry its value is a name in, and which registry
"owns" a knob: a knob some entries declare (momentum, init_std, depth...) matters only for them."""
from __future__ import annotations

from core.catalog.activations import ACTIVATIONS
from core.catalog.datasets import DATASETS
from core.catalog.initializers import INITIALIZERS
from core.catalog.models import MODELS
from core.catalog.optimizers import OPTIMIZERS
from core.catalog.registry import Registry
from core.catalog.schedules import SCHEDULES

REGISTRIES: dict[str, Registry] = {
    "optimizer": OPTIMIZERS,
    "init": INITIALIZERS,
    "activation": ACTIVATIONS,
    "dataset": DATASETS,
    "model": MODELS,
    "schedule": SCHEDULES,
}


def registry_for(field: str) -> Registry | None:
    """The registry whose names the field takes, or None for a number or a switch."""
    return REGISTRIES.get(field)


def owners(knob: str) -> list[str]:
    """The registry fields with an entry that declares this knob ([] for a knob that always matters)."""
    return [field for field, registry in REGISTRIES.items() if knob in registry.owned_knobs()]


def declared_by(field: str, name: str) -> tuple[str, ...]:
    """The knobs the chosen entry of a registry field reads ((): an unknown name reads none)."""
    registry = REGISTRIES[field]
    return registry.get(name).knobs if name in registry else ()
