"""The boiling-water analogy told from a probe's numbers: every layer is a stove, the initial weight
is the flame. Pure functions of the per-layer dicts of core/training/probes.py, so what the lab says
always matches what its charts show.

Every sentence of a story is made of claims: a `Claim` names the probe field it reads (`quantity`),
the layers, how the number is taken from them (`measure`), the number itself (`value`), the relation
to a threshold it asserts, and the text, which quotes the number as `shown` (formatted from the same
value). A test recomputes every claim from the layer numbers, so a sentence cannot say what the
charts beside it do not show. Claims about the gradient read `grad_norm`, the quantity the lab's
gradient chart plots.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from core.catalog.activations import ACTIVATIONS
from core.training.probes import SATURATION_MARGIN

# Thresholds of the story (fractions of a layer's units, ratios between layers).
MOSTLY = 0.5  # "most units" of a layer: more than half
HARDLY = 0.05  # "almost none": below this share no layer counts as partly saturated
FADES, GROWS = 0.2, 5.0  # last layer's spread vs the first's: uneven beyond these
SHRINKS, SWELLS = 0.5, 2.0  # ... and "even" within these
DIES_OUT, EXPLODES = 1e-2, 1e3  # ... and hopeless beyond these
VANISHES = 1e-2  # first layer's gradient below this fraction of the last's
BALANCED = (0.1, 10.0)  # first/last gradient ratio that counts as balanced
GRAD_EXPLODES = 1e2  # first/last gradient ratio beyond which the gradient explodes toward the input

# Slope of the saturating activations as a function of their output y, and its peak: a saturated
# unit (output within SATURATION_MARGIN of an end) has a slope below slope(end - margin).
SLOPES = {"sigmoid": (lambda y: y * (1 - y), 0.25), "tanh": (lambda y: 1 - y * y, 1.0)}

# Verdicts, in the order a story picks them (the lowest priority number of the worst tone wins).
OVERFLOW = "Too much flame: the numbers explode"
IDENTICAL = "No flame: every stove is the same"
BOILS = "Too much flame: the water boils"
SWITCHED_OFF = "Stoves switched off"
GRAD_OVERFLOW = "Too much flame: the gradient explodes"
SIGNAL_EXPLODES = "Too much flame: the signal explodes"
NO_GRADIENT = "No gradient reaches any stove"
FIRST_NO_GRADIENT = "The first stoves cannot be tuned"
SOME_NO_GRADIENT = "Some stoves get no gradient at all"
VANISHING = "The first stoves cannot be tuned"
DIES = "Too little flame: the signal dies out"
SOME_BOIL = "Some stoves boil already"
UNEVEN = "Uneven flames along the chain"
GOOD = "Good flame: the whole chain can learn"
EMPTY = "No layers to probe"

PRIORITY = {OVERFLOW: 0, IDENTICAL: 1, BOILS: 2, SWITCHED_OFF: 3, GRAD_OVERFLOW: 4, SIGNAL_EXPLODES: 5,
            NO_GRADIENT: 6, FIRST_NO_GRADIENT: 6, SOME_NO_GRADIENT: 6, DIES: 8, SOME_BOIL: 10, UNEVEN: 11}
TONES = ("good", "warn", "bad")


@dataclass(frozen=True)
class Claim:
    """One statement of a story and the number behind it.

    measure says how `value` comes from `quantity` (a probe field) of `layers`:
      "each": the relation holds for every listed layer, and the listed layers are exactly the layers
               where it holds; value is the extreme one (min for > and >=, max for < and <=, the common
               value for ==, None for "not finite");
      "max" / "min": layers is one layer, whose quantity is the largest / smallest of all layers;
      "ratio": layers (a, b): value = quantity[a] / quantity[b];
      "per_layer": layers (a, b), a < b: value = (quantity[b] / quantity[a]) ** (1 / (b - a)), how many
               times the quantity shrinks per layer going back from b to a.
    relation is "<", "<=", ">", ">=", "==", "between" (threshold is (low, high), inclusive) or
    "not finite". shown is value as the text writes it ("64%", "0.2x", "10^-4 of", "exactly 0").
    tone and headline say what the claim means for the verdict (headline None for a good claim)."""

    text: str
    quantity: str
    measure: str
    layers: tuple[int, ...]
    value: float | None
    relation: str
    threshold: float | tuple[float, float] | None
    shown: str
    tone: str = "good"
    headline: str | None = None


@dataclass(frozen=True)
class Story:
    verdict: str  # one short headline
    tone: str  # "good", "warn" or "bad": how a page colours the headline
    lines: list[str]  # the analogy, one point per line: each line is its claims' texts joined by spaces
    claims: list[Claim] = field(default_factory=list)  # every statement of the lines, in order


# ---- numbers for people ---------------------------------------------------------------------------
def span(layers: list[int] | tuple[int, ...]) -> str:
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


def _sig2(x: float) -> str:
    """x > 0 to two significant digits, without an exponent: 0.23, 2.1, 18, 150, 8,100."""
    digits = 1 - math.floor(math.log10(x))
    rounded = round(x, digits)
    if digits <= 0 or rounded >= 100:
        return f"{int(round(rounded)):,}"
    text = f"{rounded:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def times(ratio: float) -> str:
    """How many times, as people read it: '10^-4 of', '1/150 of', '0.2x', '18x', '8,100x', '10^5 times'.
    Powers of ten are the nearest one; the others keep two significant digits."""
    if ratio <= 0 or not math.isfinite(ratio):
        raise ValueError(f"times() needs a positive finite ratio, got {ratio}")
    if ratio < 1e-3:
        return f"10^{round(math.log10(ratio))} of"
    if ratio < 0.1:
        return f"1/{_sig2(1 / ratio)} of"
    if ratio < 9950:  # (9950 would be written 10,000x)
        return f"{_sig2(ratio)}x"
    return f"10^{round(math.log10(ratio))} times"


def percent(share: float, rounding: str = "round") -> str:
    """A share of units as a whole percentage ('64%'), never falsely precise: 'under 1%' and
    'over 99%' for shares that are neither none nor all. rounding: "round", "floor" (for "at least")
    or "ceil" (for "at most")."""
    if share <= 0:
        return "0%"
    if share >= 1:
        return "100%"
    if share < 0.01:
        return "under 1%"
    if share > 0.99:
        return "over 99%"
    pct = share * 100
    nudge = {"floor": 1e-9, "ceil": -1e-9}.get(rounding, 0.0)  # 0.29 * 100 is 28.999999999999996
    whole = {"floor": math.floor, "ceil": math.ceil}.get(rounding, round)(pct + nudge)
    return f"{whole}%"


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not math.isfinite(a) or not math.isfinite(b) or a <= 0 or b <= 0:
        return None
    return a / b


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


# ---- the story ------------------------------------------------------------------------------------
def _saturation_slope(activation: str) -> tuple[float, float] | None:
    """(slope at the edge of the saturated zone, peak slope) of a saturating activation, or None."""
    if activation not in SLOPES:
        return None
    slope, peak = SLOPES[activation]
    low, high = ACTIVATIONS.get(activation).factory.output_range
    return slope(high - SATURATION_MARGIN), peak


def _family_claims(layers: list[dict], family: str, activation: str) -> list[Claim]:
    """Saturated units (sigmoid, tanh) or dead ones (ReLU family)."""
    n = len(layers)
    numbers = [row["layer"] for row in layers]
    claims: list[Claim] = []
    if family == "saturating":
        sat = [row["saturated_fraction"] or 0.0 for row in layers]
        boiling = tuple(k for k, s in zip(numbers, sat) if s > MOSTLY)
        top = max(range(n), key=lambda i: sat[i])
        edge = _saturation_slope(activation)
        if boiling:
            least = min(s for s in sat if s > MOSTLY)
            flat = ": the water is already boiling, more flame changes nothing"
            if edge is not None:
                flat += (f"; a boiling unit's slope is below {edge[0]:.2g} (1/{_sig2(edge[1] / edge[0])} of its "
                         f"peak), so it passes back less than {edge[0]:.2g} of the gradient that reaches it")
            shown = percent(least, "floor")
            have, their = ("has", "its") if len(boiling) == 1 else ("have", "their")
            claims.append(Claim(
                f"{span(boiling).capitalize()} of {n} {have} more than half of {their} units saturated "
                f"(at least {shown}){flat}.",
                "saturated_fraction", "each", boiling, least, ">", MOSTLY, shown, "bad", BOILS,
            ))
            if len(boiling) > 1:
                shown = percent(sat[top])
                claims.append(Claim(
                    f"Layer {numbers[top]} boils the most: {shown} of its units are saturated.",
                    "saturated_fraction", "max", (numbers[top],), sat[top], ">", MOSTLY, shown, "bad", BOILS,
                ))
        elif sat[top] < HARDLY:
            shown = percent(sat[top], "ceil")
            most = ("0% of the units sit" if sat[top] == 0 else
                    f"{'' if shown.startswith('under') else 'at most '}{shown} of a layer's units sit")
            claims.append(Claim(
                f"No layer has more than {percent(HARDLY)} of its units saturated ({most} within "
                f"{SATURATION_MARGIN:g} of {activation}'s limits): every stove is in its sensitive range, "
                "where a little more flame still warms the water.",
                "saturated_fraction", "each", tuple(numbers), sat[top], "<", HARDLY, shown,
            ))
        else:
            shown = percent(sat[top])
            passes = (f": a saturated unit passes back less than {edge[0]:.2g} of the gradient that reaches it"
                      if edge is not None else "")
            claims.append(Claim(
                f"Some units boil already: up to {shown} of a layer's units are saturated (layer "
                f"{numbers[top]}), though no layer has more than half{passes}.",
                "saturated_fraction", "max", (numbers[top],), sat[top], "between", (HARDLY, MOSTLY), shown,
                "warn", SOME_BOIL,
            ))
    elif family == "rectifier":
        dead = [row["dead_fraction"] or 0.0 for row in layers]
        off = tuple(k for k, d in zip(numbers, dead) if d > MOSTLY)
        nothing = ACTIVATIONS.get(activation).factory.output_range[0] == 0.0
        passes = ("a dead unit passes nothing back and its weights cannot learn" if nothing else
                  "a dead unit passes back only its small slope for negative inputs")
        never = "zero for every image" if nothing else "never positive for any image"
        if off:
            least = min(d for d in dead if d > MOSTLY)
            shown = percent(least, "floor")
            share = "all of them" if least >= 1 else f"at least {shown}"
            have, their = ("has", "its") if len(off) == 1 else ("have", "their")
            claims.append(Claim(
                f"{span(off).capitalize()} of {n} {have} more than half of {their} units dead, {never} "
                f"({share}): those stoves are switched off, {passes}.",
                "dead_fraction", "each", off, least, ">", MOSTLY, "100%" if least >= 1 else shown, "bad", SWITCHED_OFF,
            ))
        else:
            top = max(range(n), key=lambda i: dead[i])
            shown = percent(dead[top])
            if dead[top] == 0:
                text = f"No unit of any layer is dead (0% of the units are {never}): the stoves are lit ({passes})."
                claims.append(Claim(text, "dead_fraction", "each", tuple(numbers), 0.0, "==", 0.0, shown))
            else:
                claims.append(Claim(
                    f"At most {shown} of a layer's units are dead (layer {numbers[top]}), {never}: the "
                    f"stoves are lit ({passes}).",
                    "dead_fraction", "max", (numbers[top],), dead[top], "<=", MOSTLY, shown,
                ))
    return claims


def _spread_claims(layers: list[dict]) -> list[Claim]:
    """How the spread of the outputs travels from the first stove to the last."""
    first, last = layers[0], layers[-1]
    a, b = first["layer"], last["layer"]
    spread = _ratio(last["act_std"], first["act_std"])
    if spread is None or len(layers) < 2:
        return []
    shown = times(spread)
    where = f"the spread of layer {b}'s outputs is {shown} layer {a}'s"
    if spread < FADES:
        tone, headline = ("bad", DIES) if spread < DIES_OUT else ("warn", UNEVEN)
        relation, threshold = ("<", DIES_OUT) if spread < DIES_OUT else ("<", FADES)
        text = (f"The flame dies out along the chain: {where}, so the last stoves hardly change from one "
                "image to the next.")
    elif spread > GROWS:
        tone, headline = ("bad", SIGNAL_EXPLODES) if spread > EXPLODES else ("warn", UNEVEN)
        relation, threshold = (">", EXPLODES) if spread > EXPLODES else (">", GROWS)
        text = f"The flame grows along the chain: {where}. Each stove heats the next one more."
    elif spread < SHRINKS:
        tone, headline, relation, threshold = "good", None, "between", (FADES, SHRINKS)
        text = f"The spread shrinks along the chain, but the last stoves still vary: {where}."
    elif spread > SWELLS:
        tone, headline, relation, threshold = "good", None, "between", (SWELLS, GROWS)
        text = f"The spread grows a little along the chain: {where}."
    else:
        tone, headline, relation, threshold = "good", None, "between", (SHRINKS, SWELLS)
        text = f"The spread stays even along the chain: {where}."
    return [Claim(text, "act_std", "ratio", (b, a), spread, relation, threshold, shown, tone, headline)]


def _gradient_claims(layers: list[dict], activation: str, boiling: bool) -> list[Claim]:
    """What the gradient chart shows: layers with no gradient (exactly 0), layers whose gradient is too
    big to store, and the ratio between the lowest and highest layers that have a finite one."""
    claims: list[Claim] = []
    numbers = [row["layer"] for row in layers]
    grads = {row["layer"]: row["grad_norm"] for row in layers}
    zero = tuple(k for k in numbers if grads[k] == 0)
    huge = tuple(k for k in numbers if not _finite(grads[k]))
    positive = [k for k in numbers if _finite(grads[k]) and grads[k] > 0]
    if huge:
        claims.append(Claim(
            f"The gradient of {span(huge)} is too big for the computer's numbers: it overflows (marked at "
            "the top of the gradient chart), so a training step would break their weights.",
            "grad_norm", "each", huge, None, "not finite", None, "", "bad", GRAD_OVERFLOW,
        ))
    if zero:
        if len(zero) == len(numbers):
            headline = NO_GRADIENT
        elif zero == tuple(numbers[:len(zero)]):
            headline = FIRST_NO_GRADIENT
        else:
            headline = SOME_NO_GRADIENT
        claims.append(Claim(
            f"{span(zero).capitalize()} get{'s' if len(zero) == 1 else ''} no gradient at all: it is exactly 0 "
            "(marked at the bottom of the gradient chart), so a training step leaves "
            f"{'its' if len(zero) == 1 else 'their'} flame as it is.",
            "grad_norm", "each", zero, 0.0, "==", 0.0, "exactly 0", "bad", headline,
        ))
    if len(positive) < 2:
        return claims
    a, b = positive[0], positive[-1]
    ratio = grads[a] / grads[b]
    shown = times(ratio)
    below_is_zero = bool(zero) and a > 1 and all(k in zero for k in range(1, a))
    if ratio < VANISHES:
        rounds = (f" Below layer {a} it became too small for the computer's numbers and is stored as 0."
                  if below_is_zero else "")
        claims.append(Claim(
            f"The gradient reaching layer {a} is {shown} layer {b}'s on the gradient chart: turning layer "
            f"{a}'s flame moves the loss far less than turning layer {b}'s, so the first stove's changes no "
            f"longer reach the end (vanishing gradient).{rounds}",
            "grad_norm", "ratio", (a, b), ratio, "<", VANISHES, shown, "bad", VANISHING,
        ))
        if activation in SLOPES and b > a:
            factor = (grads[b] / grads[a]) ** (1 / (b - a))
            shown = times(factor)
            peak = SLOPES[activation][1]
            claims.append(Claim(
                f"Going back one layer, the gradient is multiplied by {activation}'s slope (at most {peak:g}) "
                f"and by that layer's weights: here it shrinks about {shown} per layer from layer {b} back "
                f"to layer {a}.",
                "grad_norm", "per_layer", (a, b), factor, ">", 1.0, shown,
            ))
        return claims
    if boiling:
        if ratio > GRAD_EXPLODES:
            how, relation, threshold, tone = ", it grows toward the input (exploding gradient).", ">", GRAD_EXPLODES, "warn"
        elif ratio > BALANCED[1]:
            how, relation, threshold, tone = ": more at the input end.", "between", (BALANCED[1], GRAD_EXPLODES), "warn"
        elif ratio < BALANCED[0]:
            how, relation, threshold, tone = ": less at the input end.", "between", (VANISHES, BALANCED[0]), "warn"
        else:
            how, relation, threshold, tone = ".", "between", BALANCED, "good"
        claims.append(Claim(
            f"Yet the gradient does not vanish: on the gradient chart layer {a} gets {shown} layer {b}'s{how}"
            " It flows through the units that are not boiling, multiplied at every layer by the big weights "
            "that make the others boil.",
            "grad_norm", "ratio", (a, b), ratio, relation, threshold, shown, tone, UNEVEN if tone == "warn" else None,
        ))
    elif ratio > GRAD_EXPLODES:
        claims.append(Claim(
            f"The gradient at layer {a} is {shown} layer {b}'s: it grows toward the input, so the first "
            "stoves get the biggest kicks (exploding gradient).",
            "grad_norm", "ratio", (a, b), ratio, ">", GRAD_EXPLODES, shown, "warn", UNEVEN,
        ))
    elif not BALANCED[0] <= ratio <= BALANCED[1]:
        claims.append(Claim(
            f"Gradients are uneven: layer {a} gets {shown} layer {b}'s, so the stoves learn at different "
            "speeds.",
            "grad_norm", "ratio", (a, b), ratio, "<" if ratio < BALANCED[0] else ">",
            BALANCED[0] if ratio < BALANCED[0] else BALANCED[1], shown, "warn", UNEVEN,
        ))
    else:
        claims.append(Claim(
            f"Gradients are balanced: layer {a} gets {shown} layer {b}'s, so no stove is starved of "
            "gradient compared with the others.",
            "grad_norm", "ratio", (a, b), ratio, "between", BALANCED, shown,
        ))
    return claims


def _overflow_claims(layers: list[dict]) -> list[Claim]:
    """The outputs themselves overflow: the spread up to there, then the layers that overflow."""
    numbers = [row["layer"] for row in layers]
    over = tuple(row["layer"] for row in layers if not _finite(row["act_std"]))
    claims = [Claim(
        f"The outputs of {span(over)} are too big for the computer's numbers: they overflow, each stove "
        "multiplying the flame it receives until it explodes. Pick a smaller flame (a smaller std, or "
        "Xavier/He).",
        "act_std", "each", over, None, "not finite", None, "", "bad", OVERFLOW,
    )]
    finite = [k for k in numbers if k not in over]
    stds = {row["layer"]: row["act_std"] for row in layers}
    if len(finite) >= 2 and finite[-1] < over[0]:
        a, b = finite[0], finite[-1]
        grow = _ratio(stds[b], stds[a])
        if grow is not None and grow > GROWS:
            shown = times(grow)
            claims.insert(0, Claim(
                f"The flame grows along the chain: the spread of layer {b}'s outputs is already {shown} "
                f"layer {a}'s.",
                "act_std", "ratio", (b, a), grow, ">", GROWS, shown, "warn", UNEVEN,
            ))
    return claims


def _identical_claims(layers: list[dict]) -> list[Claim]:
    """Zero weights: every unit of every layer gives the same output for every image."""
    numbers = tuple(row["layer"] for row in layers)
    return [Claim(
        f"The outputs of every layer have a spread of exactly 0 ({span(numbers)}): each unit gives the "
        "same value for every image. Every stove starts the same, as zero weights make them, so they all get the "
        "same update and can never become different.",
        "act_std", "each", numbers, 0.0, "==", 0.0, "exactly 0", "bad", IDENTICAL,
    )]


def verdict_of(claims: list[Claim]) -> tuple[str, str]:
    """(verdict, tone) of a list of claims: the worst tone, and the headline of its most urgent claim."""
    if not claims:
        return EMPTY, "warn"
    tone = max((c.tone for c in claims), key=TONES.index)
    if tone == "good":
        return GOOD, "good"
    headlines = [c.headline for c in claims if c.tone == tone and c.headline]
    return min(headlines, key=lambda h: PRIORITY.get(h, 99)), tone


def tell(layers: list[dict]) -> Story:
    """The analogy for one probe: saturation or dead units, how the spread travels along the chain of
    stoves, and how much gradient reaches each stove as the gradient chart shows it. Every line is
    made of claims (see Claim); the headline names the worst problem they show."""
    if not layers:
        return Story(EMPTY, "warn", ["This network has no hidden layer with an activation."], [])
    family = layers[0].get("family")
    activation = layers[0].get("activation", "")

    groups: list[list[Claim]]
    if any(not _finite(row["act_std"]) for row in layers):
        groups = [_overflow_claims(layers)]
    elif all(row["act_std"] == 0 for row in layers):
        groups = [_identical_claims(layers), _gradient_claims(layers, activation, False)]
    else:
        family_claims = _family_claims(layers, family, activation)
        boiling = any(c.headline == BOILS for c in family_claims)
        groups = [family_claims, _spread_claims(layers), _gradient_claims(layers, activation, boiling)]
    groups = [g for g in groups if g]
    claims = [c for g in groups for c in g]
    verdict, tone = verdict_of(claims)
    return Story(verdict, tone, [" ".join(c.text for c in g) for g in groups], claims)
