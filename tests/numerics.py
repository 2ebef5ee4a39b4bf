"""How the tests compare numbers, stated once.

Bit for bit only for a run against itself on the same machine (same process, or a subprocess on
this machine): that is determinism, and it holds everywhere.

A number recorded on one machine (tests/golden/) is compared within a tolerance, never bit for bit:
float32 kernels (BLAS, oneDNN convolutions, vectorised activations) differ between CPUs in the last
bits (a newcomer's AMD EPYC gave 0.41652456 where the recording says 0.41652452 after one epoch), and
training grows those differences step by step and epoch over epoch. `python -m tests.golden.drift`
measures that growth by replaying the recorded cases with the kernels other CPUs pick
(ATEN_CPU_CAPABILITY=default/avx2/avx512), and replays the named mutants
(a schedule that never steps, best weights saved without a copy, ...): the tolerances below sit
well above the first and well below the second (the numbers are in the drift report).
"""
from __future__ import annotations

import math
from typing import Iterable

# Losses, learning rates and step losses: relative. Measured by tests/golden/drift.py on an AVX-512
# CPU against the recording: at most 3.7e-3 (the batch-norm CNN's validation loss with no-SIMD
# kernels; 1.0e-3 with AVX-512's; every other case under 5e-5). The mutants the goldens see move them
# by 0.66 (no gradient clipping) to 3.0 (a schedule that never steps).
RECORDED_RTOL = 1e-2
# Accuracies are counts over a set: one image that flips to the other side of a decision boundary
# moves a digits validation accuracy (360 images) by 0.0028. Two flips are allowed (the drift above
# flipped two, in the batch-norm CNN with no-SIMD kernels).
RECORDED_ACCURACY_ATOL = 0.006
ACCURACY_KEYS = ("accuracy", "val_accuracy")


def relative_gap(got: float | None, want: float | None) -> float:
    """|got - want| / |want| (0 for two equal values, inf when only one is missing or NaN)."""
    if got is None or want is None or (isinstance(got, float) and math.isnan(got)) \
            or (isinstance(want, float) and math.isnan(want)):
        return 0.0 if (got is None or got != got) and (want is None or want != want) else math.inf
    if got == want:
        return 0.0
    return abs(got - want) / max(abs(want), 1e-12)


def worst_gap(got: Iterable[float | None], want: Iterable[float | None]) -> float:
    """The largest relative gap between two sequences of the same length (inf if the lengths differ)."""
    got, want = list(got), list(want)
    if len(got) != len(want):
        return math.inf
    return max((relative_gap(g, w) for g, w in zip(got, want)), default=0.0)


def history_gaps(got: list[dict], want: list[dict], keys: Iterable[str]) -> dict[str, float]:
    """Per column of a history: the largest gap, relative for losses and learning rates, absolute for
    accuracies (what the tolerances above are compared with)."""
    gaps = {}
    for key in keys:
        if key in ACCURACY_KEYS:
            gaps[key] = max((abs(g[key] - w[key]) for g, w in zip(got, want)), default=0.0)
        else:
            gaps[key] = worst_gap([g[key] for g in got], [w[key] for w in want])
    if len(got) != len(want):
        gaps = {key: math.inf for key in gaps}
    return gaps


def within_recorded_tolerance(gaps: dict[str, float]) -> bool:
    return all(gap <= (RECORDED_ACCURACY_ATOL if key in ACCURACY_KEYS else RECORDED_RTOL)
               for key, gap in gaps.items())
