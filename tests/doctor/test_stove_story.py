"""The boiling-water story (core/doctor/stove_story.py) tells only what the numbers say: over a grid of
activations, initializers and depths probed at initialization on real images, every claim of every
story is recomputed here from the layer numbers, independently of the module (the quoted number, the
relation to its threshold, the layers it names, the number as its text writes it), every word of the
lines belongs to a claim, gradient words are backed by the gradient the lab's chart plots, and each
verdict is checked against the numbers. A few deliberately wrong stories show the checks can fail."""
from __future__ import annotations

import dataclasses
import functools
import math
import re

import pytest

from core.config import RunConfig
from core.doctor import stove_story
from core.doctor.stove_story import Claim, Story, percent, span, tell, times
from core.training.probes import probe_at_init

WIDTH = 32  # small and fast; the regimes (saturated, vanishing, exploding, dead, overflow) all show up
ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "gelu"]
INITS = [("normal", 0.01), ("normal", 0.1), ("normal", 1.0), ("normal", 5.0), ("xavier_uniform", 0.02),
         ("he_normal", 0.02), ("zeros", 0.02)]
DEPTHS = [2, 10, 30]
# The settings the lab's users measured, at the lab's default width.
LAB = [("sigmoid", "normal", 1.0, 10, 256), ("sigmoid", "normal", 5.0, 10, 256), ("tanh", "xavier_uniform", 0.02, 10, 256),
       ("relu", "he_normal", 0.02, 10, 256), ("sigmoid", "normal", 0.01, 30, 256), ("tanh", "normal", 5.0, 30, 256)]
GRID = [(a, i, s, d, WIDTH) for a in ACTIVATIONS for i, s in INITS for d in DEPTHS] + LAB

FIELDS = {"saturated_fraction", "dead_fraction", "act_std", "grad_norm"}
RELATIONS = {"<", "<=", ">", ">=", "==", "between", "not finite"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@functools.lru_cache(maxsize=None)
def probed(activation: str, init: str, std: float, depth: int, width: int) -> tuple:
    layers = probe_at_init(RunConfig(model="mlp", dataset="mnist5k", activation=activation, init=init,
                                     init_std=std, depth=depth, width=width))
    return tuple(layers)


# ---- recomputing a claim from the numbers ---------------------------------------------------------
def finite(v) -> bool:
    return v is not None and math.isfinite(v)


def holds(value, relation: str, threshold) -> bool:
    if relation == "not finite":
        return not finite(value)
    if not finite(value):
        return False
    if relation == "between":
        low, high = threshold
        return low <= value <= high
    return {"<": value < threshold, "<=": value <= threshold, ">": value > threshold,
            ">=": value >= threshold, "==": value == threshold}[relation]


def quantity(layers: list[dict], name: str) -> dict[int, float | None]:
    return {row["layer"]: row[name] for row in layers}


def recompute(claim: Claim, layers: list[dict]) -> float | None:
    """The claim's value, from the layer numbers alone, following the measure's definition; asserts the
    parts of the definition that are not a number (an "each" claim names exactly the layers where its
    relation holds; a "max" claim's layer holds the largest value)."""
    q = quantity(layers, claim.quantity)
    if claim.measure == "each":
        where = [k for k, v in q.items() if holds(v, claim.relation, claim.threshold)]
        assert list(claim.layers) == where, f"names {span(claim.layers)}, but the relation holds for {where}"
        values = [q[k] for k in claim.layers]
        if claim.relation == "not finite":
            return None
        if claim.relation in (">", ">="):
            return min(values)
        if claim.relation in ("<", "<="):
            return max(values)
        assert len(set(values)) == 1, values
        return values[0]
    if claim.measure in ("max", "min"):
        [k] = claim.layers
        others = [v if v is not None else 0.0 for v in q.values()]
        extreme = max(others) if claim.measure == "max" else min(others)
        assert (q[k] or 0.0) == extreme, f"layer {k} is not the {claim.measure} of {claim.quantity}"
        return q[k] or 0.0
    if claim.measure == "ratio":
        a, b = claim.layers
        return q[a] / q[b]
    if claim.measure == "per_layer":
        a, b = claim.layers
        assert a < b
        return (q[b] / q[a]) ** (1 / (b - a))
    raise AssertionError(f"unknown measure {claim.measure}")


def shown_matches(shown: str, value: float | None) -> bool:
    """The number as the text writes it agrees with the value within the rounding of that text."""
    if shown == "":
        return value is None
    if shown == "exactly 0":
        return value == 0
    if shown == "0%":
        return value == 0
    if shown == "100%":
        return value == 1
    if shown == "under 1%":
        return 0 < value < 0.01
    if shown == "over 99%":
        return 0.99 < value < 1
    if m := re.fullmatch(r"(\d+)%", shown):
        return abs(100 * value - int(m[1])) <= 1  # whole percents, rounded, floored or ceiled
    if m := re.fullmatch(r"10\^(-?\d+) (of|times)", shown):
        return value > 0 and abs(math.log10(value) - int(m[1])) <= 0.5 and (m[2] == "of") == (value < 1)
    if m := re.fullmatch(r"1/([\d,]+(?:\.\d+)?) of", shown):
        return abs(value * float(m[1].replace(",", "")) - 1) <= 0.051  # two significant digits
    if m := re.fullmatch(r"([\d,]+(?:\.\d+)?)x", shown):
        return abs(float(m[1].replace(",", "")) / value - 1) <= 0.051
    raise AssertionError(f"unknown number format {shown!r}")


def names_its_layers(claim: Claim, n: int) -> bool:
    text = claim.text.lower()
    if claim.measure == "each":
        everyone = list(claim.layers) == list(range(1, n + 1)) and re.search(r"\b(every|any|no) layer\b", text)
        return span(claim.layers).lower() in text or bool(everyone)
    return all(re.search(rf"\blayer {k}\b", text) for k in claim.layers)


# What some words promise, and the claim that must back them.
VANISHES = stove_story.VANISHES
WORDING = [
    (r"\b(is|are) (close to|near|almost) zero\b|\bvanishing gradient\b|\bno gradient\b|\bgradient vanishes\b",
     lambda c: c.quantity == "grad_norm" and (c.relation == "==" and c.threshold == 0
                                              or c.relation == "<" and c.threshold <= VANISHES),
     "says the gradient is (close to) zero"),
    (r"\bexploding gradient\b",
     lambda c: c.quantity == "grad_norm" and c.relation == ">" and c.threshold >= stove_story.GRAD_EXPLODES,
     "says the gradient explodes"),
    (r"\bbalanced\b", lambda c: c.quantity == "grad_norm" and c.relation == "between" and c.threshold == stove_story.BALANCED,
     "says the gradients are balanced"),
    (r"\bmore than half of (their|its) units saturated\b",
     lambda c: c.quantity == "saturated_fraction" and c.relation == ">" and c.threshold >= 0.5,
     "says most units are saturated"),
    (r"\bmore than half of (their|its) units dead\b",
     lambda c: c.quantity == "dead_fraction" and c.relation == ">" and c.threshold >= 0.5,
     "says most units are dead"),
    (r"\bdies out\b", lambda c: c.quantity == "act_std" and c.relation == "<" and c.threshold <= stove_story.FADES,
     "says the signal dies out"),
    (r"\boverflows?\b", lambda c: c.relation == "not finite", "says the numbers overflow"),
]


def check_claim(claim: Claim, layers: list[dict]) -> None:
    where = f"{claim.text!r}"
    assert claim.quantity in FIELDS, where
    assert claim.relation in RELATIONS, where
    assert claim.tone in ("good", "warn", "bad"), where
    assert (claim.tone == "good") == (claim.headline is None), where
    value = recompute(claim, layers)
    if value is None:
        assert claim.value is None, where
    else:
        assert claim.value == pytest.approx(value, rel=1e-9, abs=0), f"{where}: quotes {claim.value}, numbers give {value}"
    assert holds(value, claim.relation, claim.threshold), f"{where}: {value} {claim.relation} {claim.threshold} is false"
    assert claim.shown in claim.text, f"{where} does not contain its number {claim.shown!r}"
    assert shown_matches(claim.shown, value), f"{where}: {claim.shown!r} does not write {value}"
    assert names_its_layers(claim, len(layers)), f"{where} does not name {claim.layers}"
    for pattern, backed, what in WORDING:
        if re.search(pattern, claim.text, re.IGNORECASE):
            assert backed(claim), f"{where} {what}, but it reads {claim.quantity} {claim.relation} {claim.threshold}"
    assert "e+" not in claim.text and not re.search(r"\d{5,}", claim.text.replace(",", "")), f"{where}: unreadable number"


def check_lines(story: Story) -> None:
    """Every line is its claims' texts joined by spaces, in order: no word outside a claim."""
    texts = [c.text for c in story.claims]
    i = 0
    for line in story.lines:
        parts: list[str] = []
        while " ".join(parts) != line:
            assert i < len(texts) and line.startswith(" ".join(parts + [texts[i]])), \
                f"line {line!r} has words outside its claims"
            parts.append(texts[i])
            i += 1
    assert i == len(texts), "claims that are on no line"


def check_verdict(story: Story, layers: list[dict]) -> None:
    """The verdict and tone follow the claims, and each verdict agrees with the numbers themselves."""
    tones = ["good", "warn", "bad"]
    worst = max((c.tone for c in story.claims), key=tones.index)
    assert story.tone == worst
    if worst != "good":
        assert story.verdict in {c.headline for c in story.claims if c.tone == worst}
    sat = [row["saturated_fraction"] or 0.0 for row in layers]
    dead = [row["dead_fraction"] or 0.0 for row in layers]
    stds = [row["act_std"] for row in layers]
    grads = [row["grad_norm"] for row in layers]
    overflow = not all(finite(s) for s in stds)
    identical = not overflow and all(s == 0 for s in stds)
    if overflow:
        assert story.verdict == stove_story.OVERFLOW
        return
    if identical:
        assert story.verdict == stove_story.IDENTICAL
    elif max(sat) > 0.5:
        assert story.verdict == stove_story.BOILS  # the water boils whenever most units of a layer saturate
    if story.verdict == stove_story.BOILS:
        assert max(sat) > 0.5 and any(c.quantity == "saturated_fraction" and holds(c.value, ">", 0.5) for c in story.claims)
    if story.verdict == stove_story.SWITCHED_OFF:
        assert max(dead) > 0.5
    if story.verdict == stove_story.IDENTICAL:
        assert identical
    if story.verdict == stove_story.GRAD_OVERFLOW:
        assert not all(finite(g) for g in grads)
    if story.verdict in (stove_story.VANISHING, stove_story.NO_GRADIENT, stove_story.SOME_NO_GRADIENT):
        positive = [g for g in grads if finite(g) and g > 0]
        assert 0 in grads or positive[0] / positive[-1] < VANISHES
    if story.verdict == stove_story.DIES:
        assert stds[-1] / stds[0] < stove_story.DIES_OUT
    if story.tone == "good":
        assert story.verdict == stove_story.GOOD
        assert max(sat) < stove_story.HARDLY and max(dead) <= 0.5
        assert all(finite(g) and g > 0 for g in grads)
        assert stove_story.BALANCED[0] <= grads[0] / grads[-1] <= stove_story.BALANCED[1]
        assert stove_story.FADES <= stds[-1] / stds[0] <= stove_story.GROWS
    # Nothing the gradient chart shows as missing goes unsaid.
    zero = tuple(row["layer"] for row in layers if row["grad_norm"] == 0)
    if zero:
        assert any(c.quantity == "grad_norm" and c.layers == zero and c.relation == "==" for c in story.claims)
    huge = tuple(row["layer"] for row in layers if not finite(row["grad_norm"]))
    if huge and not overflow:
        assert any(c.quantity == "grad_norm" and c.layers == huge and c.relation == "not finite" for c in story.claims)


def check_story(story: Story, layers: list[dict]) -> None:
    assert story.claims, "a story with no claims"
    for claim in story.claims:
        check_claim(claim, layers)
    check_lines(story)
    check_verdict(story, layers)


# ---- the grid -------------------------------------------------------------------------------------
@pytest.mark.parametrize("activation, init, std, depth, width", GRID,
                         ids=[f"{a}-{i}{'' if i != 'normal' else s}-d{d}-w{w}" for a, i, s, d, w in GRID])
def test_every_claim_is_what_the_numbers_say(activation, init, std, depth, width):
    layers = list(probed(activation, init, std, depth, width))
    check_story(tell(layers), layers)


# ---- what the numbers really show, in the settings the lab's users measured -------------------------
def test_sigmoid_unit_normal_boils_but_its_gradient_does_not_vanish():
    # With N(0, 1) weights most sigmoid units saturate, yet layer 1's weights get *more* gradient than
    # layer 10's: the chart shows ~1e1 at layer 1. The story must say so, not "close to zero".
    layers = list(probed("sigmoid", "normal", 1.0, 10, 256))
    story = tell(layers)
    assert story.verdict == stove_story.BOILS
    assert min(row["saturated_fraction"] for row in layers) > 0.5
    assert layers[0]["grad_norm"] > layers[-1]["grad_norm"]
    text = " ".join(story.lines)
    assert "does not vanish" in text and "close to zero" not in text and "vanishing gradient" not in text
    [ratio] = [c for c in story.claims if c.quantity == "grad_norm" and c.measure == "ratio"]
    assert ratio.layers == (1, 10) and ratio.shown in text


def test_sigmoid_std_5_boils_and_its_gradient_grows_toward_the_input():
    layers = list(probed("sigmoid", "normal", 5.0, 10, 256))
    story = tell(layers)
    assert story.verdict == stove_story.BOILS
    [ratio] = [c for c in story.claims if c.quantity == "grad_norm" and c.measure == "ratio"]
    assert ratio.value > stove_story.GRAD_EXPLODES and "exploding gradient" in ratio.text


def test_a_gradient_that_underflows_to_zero_is_said_and_not_hidden():
    layers = list(probed("sigmoid", "normal", 0.01, 30, 256))
    zero = tuple(row["layer"] for row in layers if row["grad_norm"] == 0)
    assert zero and zero[0] == 1  # the deep sigmoid chain loses its gradient below float32's range
    story = tell(layers)
    assert story.verdict == stove_story.FIRST_NO_GRADIENT
    assert any(c.layers == zero and c.shown == "exactly 0" and span(zero).capitalize() in c.text for c in story.claims)


# ---- formatting -----------------------------------------------------------------------------------
@pytest.mark.parametrize("ratio, text", [(18.2, "18x"), (0.2, "0.2x"), (0.233, "0.23x"), (1e-4, "10^-4 of"),
                                         (0.0067, "1/150 of"), (0.07, "1/14 of"), (8064.0, "8,100x"),
                                         (11608712808620514.0, "10^16 times"), (99.7, "100x"), (1.0, "1x")])
def test_ratios_are_written_for_people(ratio, text):
    assert times(ratio) == text
    assert shown_matches(text, ratio)


@pytest.mark.parametrize("share, rounding, text", [(0.6449, "floor", "64%"), (0.29, "floor", "29%"), (0.03, "ceil", "3%"),
                                                   (0.004, "round", "under 1%"), (0.996, "round", "over 99%"),
                                                   (0.0, "round", "0%"), (1.0, "floor", "100%"), (0.355, "round", "36%")])
def test_percentages_have_no_false_precision(share, rounding, text):
    assert percent(share, rounding) == text


# ---- the checks can fail --------------------------------------------------------------------------
def wrong(story: Story, index: int, **changes) -> Story:
    """The story with one claim changed (its line changed with it)."""
    claims = list(story.claims)
    old = claims[index]
    claims[index] = dataclasses.replace(old, **changes)
    return Story(story.verdict, story.tone, [line.replace(old.text, claims[index].text) for line in story.lines], claims)


def test_the_old_close_to_zero_sentence_is_caught():
    layers = list(probed("sigmoid", "normal", 1.0, 10, 256))
    story = tell(layers)
    i = next(i for i, c in enumerate(story.claims) if c.headline == stove_story.BOILS and c.measure == "each")
    # The old rule: "... have more than N% of their units saturated: ..., so their gradient is close to zero."
    old = story.claims[i].text[:-1] + ", so their gradient is close to zero."
    with pytest.raises(AssertionError, match="says the gradient is"):
        check_story(wrong(story, i, text=old), layers)


def test_a_gradient_claim_the_chart_contradicts_is_caught():
    layers = list(probed("sigmoid", "normal", 1.0, 10, 256))
    story = tell(layers)
    i = next(i for i, c in enumerate(story.claims) if c.quantity == "grad_norm")
    with pytest.raises(AssertionError, match="is false"):  # claims layer 1 gets < 1% of layer 10's
        check_story(wrong(story, i, relation="<", threshold=VANISHES), layers)
    with pytest.raises(AssertionError, match="does not write"):  # quotes a number the chart does not show
        check_story(wrong(story, i, text=story.claims[i].text.replace(story.claims[i].shown, "10^-4 of"),
                          shown="10^-4 of"), layers)


def test_a_verdict_the_numbers_do_not_back_is_caught():
    layers = list(probed("tanh", "xavier_uniform", 0.02, 10, 256))
    story = tell(layers)
    assert story.tone == "good"
    with pytest.raises(AssertionError):
        check_story(Story(stove_story.BOILS, "bad", story.lines, story.claims), layers)
    words = Story(story.verdict, story.tone, story.lines[:-1] + [story.lines[-1] + " Their gradient is close to zero."],
                  story.claims)
    with pytest.raises(AssertionError, match="words outside its claims"):
        check_story(words, layers)


def test_no_layers_no_story():
    story = tell([])
    assert story.verdict == stove_story.EMPTY and story.claims == []
