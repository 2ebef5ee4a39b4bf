"""The Compare page (AppTest): overlaid curves of the runs in a link, the settings that differ, seed
groups as bands with a verdict, and a bad link explained."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.runs.store import RunStore
from tests.runs.test_compare import stored_run

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "compare.py")


def test_the_page_overlays_the_runs_of_a_link_and_lists_what_differs():
    store = RunStore()
    slow = stored_run(store, [0.5, 0.6], lr=1e-4, name="slow")
    fast = stored_run(store, [0.8, 0.9], lr=1e-2, name="fast")
    stored_run(store, [0.1], name="not picked")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["runs"] = f"{slow},{fast}"
    at.run()
    assert not at.exception
    assert at.multiselect(key="compare_runs").value == [slow, fast]
    assert len(at.get("vega_lite_chart")) == 1
    summary, differences = (frame.value for frame in at.dataframe)
    assert list(differences.columns) == ["run", "lr"] and list(differences["lr"]) == [1e-4, 1e-2]
    assert list(summary["best val acc"]) == [pytest.approx(0.59), pytest.approx(0.89)]

    at.multiselect(key="compare_runs").unselect(slow).run()
    assert not at.exception and at.query_params["runs"] in (str(fast), [str(fast)])


def test_two_seed_groups_get_bands_and_a_verdict():
    store = RunStore()
    for seed, acc in enumerate((0.90, 0.91, 0.905)):
        stored_run(store, [acc - 0.2, acc], seed=seed, lr=1e-3, name="base", group="g1")
    ids = [stored_run(store, [acc - 0.2, acc], seed=seed, lr=3e-3, name="hotter", group="g2")
           for seed, acc in enumerate((0.95, 0.96, 0.955))]
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["runs"] = ",".join(str(i) for i in range(1, 4)) + "," + ",".join(map(str, ids))
    at.run()
    assert not at.exception
    assert len(at.get("vega_lite_chart")) == 2  # the overlay and the bands
    assert any("hotter (3 seeds) is better by 5.0 points" in s.value for s in at.success)


def test_a_bad_link_is_explained_and_the_page_still_works():
    store = RunStore()
    stored_run(store, [0.5])
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["runs"] = "1,abc"
    at.run()
    assert not at.exception
    assert at.error[0].value.startswith("runs: must be run numbers")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["runs"] = "1,99"
    at.run()
    assert not at.exception and any("run 99" in w.value for w in at.warning)
    assert at.multiselect(key="compare_runs").value == [1]


def _lab(colour: str) -> tuple[float, float, float]:
    """sRGB hex -> CIELAB (D65), to measure how far apart two colours look."""
    def linear(c):
        return ((c + 0.055) / 1.055) ** 2.4 if c > 0.04045 else c / 12.92
    r, g, b = (linear(int(colour[i:i + 2], 16) / 255) for i in (1, 3, 5))
    x, y, z = ((0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047, 0.2126 * r + 0.7152 * g + 0.0722 * b,
               (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883)
    f = lambda v: v ** (1 / 3) if v > 0.008856 else 7.787 * v + 16 / 116  # noqa: E731
    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def test_twelve_runs_get_ten_distinct_colours_then_dashes():
    import itertools
    import json
    import math

    from pages.compare import PALETTE

    # ten colours, no look-alike pair: every two at least 20 CIELAB units apart (2.3 is "just noticeable")
    assert len(set(PALETTE)) == 10
    assert min(math.dist(_lab(a), _lab(b)) for a, b in itertools.combinations(PALETTE, 2)) > 20
    store = RunStore()
    ids = [stored_run(store, [0.5 + i / 100, 0.6 + i / 100], lr=1e-3 * (i + 1), name=f"r{i}") for i in range(12)]
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.query_params["runs"] = ",".join(map(str, ids))
    at.run()
    assert not at.exception
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    colour, dash = spec["encoding"]["color"]["scale"], spec["encoding"]["strokeDash"]["scale"]
    assert colour["range"][:10] == PALETTE and colour["range"][10:] == PALETTE[:2]
    assert len({json.dumps(d) for d in dash["range"][:10]}) == 1  # the first ten: solid
    # the 11th and 12th share a colour with the 1st and 2nd but not their dash
    pairs = {(c, json.dumps(d)) for c, d in zip(colour["range"], dash["range"])}
    assert len(pairs) == 12 and len(colour["domain"]) == 12
