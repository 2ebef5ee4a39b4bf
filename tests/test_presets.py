"""Every preset's lesson is true: trained on 3 seeds on the CPU (one thread), each claim its text makes
holds, with its number; the improved CNN (about 28 s an epoch here) in its shortened form, the same
lesson (`python -m core presets --check improved` checks the full one). And the lessons' texts are
made from those claims, so a number in a lesson is the number that is checked."""
from __future__ import annotations

import re

import pytest

from core.bench import lessons
from core.cli import main
from core.presets import BY_KEY, PRESETS, QUANTITIES, Claim, preset_named

SEEDS = (0, 1, 2)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = lessons.one_thread()
    yield
    lessons.restore_threads(before)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("key", list(BY_KEY))
def test_each_preset_shows_its_lesson(key, seed):
    preset = BY_KEY[key]
    check = lessons.check(preset, seed, shortened=bool(preset.short))
    failing = {q: check.values.get(q) for q, ok in check.passed.items() if not ok}
    assert not failing, (key, seed, failing, check.first_hint)
    assert set(check.passed) == {c.quantity for c in preset.claims} and preset.claims


def test_a_lessons_numbers_are_its_claims():
    for preset in PRESETS.values():
        assert "{" not in preset.lesson, preset.lesson  # every placeholder was filled
        for claim in preset.claims:
            assert claim.quantity in QUANTITIES
            if isinstance(claim.bound, float) and claim.quantity not in ("doctor_family",):
                shown = f"{claim.bound:.0%}" if claim.bound <= 1 and "accuracy" in claim.quantity else None
                if shown:
                    assert shown in preset.lesson, (preset.key, shown)
    assert "25 times the baseline's weights" in BY_KEY["improved"].lesson  # computed from the models


def test_a_claim_holds_or_not():
    assert Claim("best_val_accuracy", ">=", 0.9).holds(0.95) and not Claim("best_val_accuracy", ">=", 0.9).holds(0.5)
    assert not Claim("best_val_accuracy", ">=", 0.9).holds(None)
    assert Claim("doctor_family", "==", "healthy").holds("healthy")


def test_presets_are_listed_and_a_preset_trains_from_the_command_line(capsys, tmp_path):
    assert main(["presets", "--json"]) == 0
    import json

    listed = json.loads(capsys.readouterr().out)["presets"]
    assert [p["key"] for p in listed] == list(BY_KEY) and all(p["lesson"] and p["claims"] for p in listed)
    assert main(["train", "--preset", "overfit", "--epochs", "4", "--seed", "1", "--db", str(tmp_path / "r.db"),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "completed" and len(out["history"]) == 4
    assert all("change" in h and "family" in h for h in out["hints"])
    assert main(["train", "--preset", "nope"]) == 2
    assert "preset: must be one of" in capsys.readouterr().err
    assert preset_named("Overfit a small subset") is BY_KEY["overfit"]
    assert re.search(r"lr-too-high", " ".join(BY_KEY))
