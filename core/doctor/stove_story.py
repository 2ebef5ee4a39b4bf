"""The boiling-water analogy told from a probe's numbers: every layer is a stove, the initial weight
is the flame. Pure functions of the per-layer dicts of core/probes.py, so what the lab says always
matches what its charts show."""
from __future__ import annotations

import math
from dataclasses import dataclass

# Thresholds of the story (fractions of a layer's units, ratios between layers).
MOSTLY = 0.5  # "most units" of a layer
HARDLY = 0.05  # "almost none"
FADES, GROWS = 0.2, 5.0  # last layer's spread vs the first's: uneven beyond these
DIES_OUT, EXPLODES = 1e-2, 1e3  # ... and hopeless beyond these
VANISHES = 1e-2  # first layer's gradient below this fraction of the last's
BALANCED = (0.1, 10.0)  # first/last gradient ratio that counts as balanced
GRAD_EXPLODES = 1e2


@dataclass(frozen=True)
class Story:
    verdict: str  # one short headline
    tone: str  # "good", "warn" or "bad": how a page colours the headline
    lines: list[str]  # the analogy, one point per line, each with its number


def span(layers: list[int]) -> str:
    """[3, 4, 5, 9] -> 'layers 3-5 and 9'."""
    runs: list[tuple[int, int]] = []
    for n in layers:
        if runs and n == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    parts = [f"{a}" if a == b else f"{a}-{b}" for a, b in runs]
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{'layer' if len(layers) == 1 else 'layers'} {joined}"


def times(ratio: float) -> str:
    """How many times: '0.5x', '18x', or a power of ten for tiny and huge ratios."""
    if ratio < 0.01:
        return f"10^{math.floor(math.log10(ratio))} of"
    if ratio >= 1000:
        return f"10^{math.floor(math.log10(ratio))} times"
    return f"{ratio:.2g}x"


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not math.isfinite(a) or not math.isfinite(b) or b == 0:
        return None
    return a / b


def tell(layers: list[dict]) -> Story:
    """The analogy for one probe: saturation or dead units, how the spread travels along the chain of
    stoves, and how much gradient reaches the first stove. The headline names the worst problem."""
    if not layers:
        return Story("No layers to probe", "warn", ["This network has no hidden layer with an activation."])
    n = len(layers)
    family = layers[0].get("family")
    activation = layers[0].get("activation", "")

    overflow = [row["layer"] for row in layers if row["act_std"] is None]
    if overflow:
        return Story("Too much flame: the numbers explode", "bad", [
            f"From layer {overflow[0]} on the numbers overflow: each stove multiplies the flame it receives "
            "until it explodes. Pick a smaller flame (a smaller std, or Xavier/He)."
        ])
    zero = [row["layer"] for row in layers if row["grad_norm"] == 0]
    if zero:
        return Story("No flame: every stove is the same", "bad", [
            f"The gradient of {span(zero)} is exactly zero: every unit starts the same (zero weights), so "
            "they all get the same update and can never become different."
        ])

    lines: list[str] = []
    problems: list[tuple[int, str]] = []  # (priority, headline); the lowest priority number wins
    uneven = False

    sat = [row["saturated_fraction"] or 0.0 for row in layers]
    dead = [row["dead_fraction"] or 0.0 for row in layers]
    boiling = [row["layer"] for row, s in zip(layers, sat) if s > MOSTLY]
    if family == "saturating":
        if boiling:
            worst = min(s for s in sat if s > MOSTLY)
            problems.append((1, "Too much flame: the water boils"))
            lines.append(
                f"{span(boiling).capitalize()} of {n} have more than {math.floor(worst * 100)}% of their "
                "units saturated: the water is already boiling, more flame changes nothing, so their "
                "gradient is close to zero."
            )
        elif max(sat) < HARDLY:
            lines.append(
                f"No layer has more than {max(5, math.ceil(max(sat) * 100))}% of its units saturated: every "
                "stove is in its sensitive range, where a little more flame still warms the water."
            )
        else:
            uneven = True
            top = max(range(n), key=lambda i: sat[i])
            lines.append(
                f"Some units boil already: up to {sat[top]:.0%} saturated (layer {layers[top]['layer']}). "
                "Those units pass almost no gradient back."
            )
    elif family == "rectifier":
        off = [row["layer"] for row, d in zip(layers, dead) if d > MOSTLY]
        if off:
            problems.append((2, "Stoves switched off"))
            lines.append(
                f"{span(off).capitalize()} have more than half of their units dead (zero for every image): "
                "those stoves are switched off, no flame passes and they cannot learn."
            )
        else:
            top = max(range(n), key=lambda i: dead[i])
            lines.append(
                f"At most {dead[top]:.0%} of a layer's units are dead (layer {layers[top]['layer']}): the "
                "stoves are lit. A ReLU unit is dead when it outputs zero for every image."
            )

    spread = _ratio(layers[-1]["act_std"], layers[0]["act_std"])
    if spread is not None and n > 1:
        if spread < FADES:
            if spread < DIES_OUT:
                problems.append((5, "Too little flame: the signal dies out"))
            uneven = True
            lines.append(
                f"The flame dies out along the chain: the spread of layer {n}'s outputs is {times(spread)} "
                "layer 1's. Later stoves hardly feel what earlier ones do."
            )
        elif spread > GROWS:
            if spread > EXPLODES:
                problems.append((3, "Too much flame: the signal explodes"))
            uneven = True
            lines.append(
                f"The flame grows along the chain: layer {n}'s spread is {times(spread)} layer 1's. "
                "Each stove heats the next one more."
            )
        else:
            lines.append(f"The spread stays even along the chain: layer {n}'s is {times(spread)} layer 1's.")

    g_ratio = _ratio(layers[0]["grad_norm"], layers[-1]["grad_norm"])
    if g_ratio is not None and n > 1:
        if g_ratio < VANISHES:
            problems.append((4, "The first stoves cannot be tuned"))
            lines.append(
                f"The gradient reaching layer 1 is {times(g_ratio)} layer {n}'s: the first stove's changes "
                "no longer reach the end, so layer 1 barely learns (vanishing gradient)."
            )
            if activation == "sigmoid" and not boiling:
                lines.append(
                    "Even in its sensitive range sigmoid's slope is at most 0.25: each layer passes back at "
                    "most a quarter of the change, so a deep sigmoid chain loses its gradient anyway."
                )
        elif boiling:
            lines.append(
                f"Some gradient still gets through (layer 1 gets {times(g_ratio)} layer {n}'s), but only "
                "through the few units that are not boiling, pushed by huge weights: no fine tuning."
            )
        elif g_ratio > GRAD_EXPLODES:
            uneven = True
            lines.append(
                f"The gradient at layer 1 is {times(g_ratio)} layer {n}'s: the first stoves get the "
                "biggest kicks (exploding gradient)."
            )
        elif not BALANCED[0] <= g_ratio <= BALANCED[1]:
            uneven = True
            lines.append(
                f"Gradients are uneven: layer 1 gets {times(g_ratio)} layer {n}'s, so the stoves learn "
                "at different speeds."
            )
        else:
            lines.append(
                f"Gradients are balanced: layer 1 gets {times(g_ratio)} layer {n}'s, so every stove can be "
                "adjusted."
            )

    if problems:
        return Story(min(problems)[1], "bad", lines)
    if uneven:
        return Story("Uneven flames along the chain", "warn", lines)
    return Story("Good flame: the whole chain can learn", "good", lines)
