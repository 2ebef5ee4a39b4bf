"""The fair queue on its own: round-robin by owner, a person's own runs in their order, positions
that match the order runs are taken out, and nobody starving behind a long queue."""
from __future__ import annotations

import random

import pytest

from core.runs.fair_queue import FairQueue


def test_one_owner_is_first_come_first_served():
    queue = FairQueue()
    for run_id in (5, 3, 9):
        queue.push(run_id)
    assert queue.order() == [5, 3, 9] and queue.position(9) == 3
    assert [queue.pop() for _ in range(3)] == [5, 3, 9]
    with pytest.raises(IndexError):
        queue.pop()


def test_owners_take_turns_and_the_order_is_what_pop_gives():
    queue = FairQueue()
    for run_id, owner in [(1, "a"), (2, "a"), (3, "a"), (4, "b"), (5, "c"), (6, "b")]:
        queue.push(run_id, owner)
    assert queue.order() == [1, 4, 5, 2, 6, 3]
    assert [queue.position(i) for i in (1, 2, 3, 4, 5, 6)] == [1, 4, 6, 2, 3, 5]
    assert [queue.pop() for _ in range(6)] == [1, 4, 5, 2, 6, 3]


def test_a_newcomer_goes_before_those_already_served_and_nobody_starves():
    queue = FairQueue()
    for run_id in range(1, 21):
        queue.push(run_id, "hog")
    assert queue.pop() == 1
    queue.push(100, "late")
    assert queue.position(100) == 1  # never served: before the one served a moment ago
    assert queue.pop() == 100
    queue.push(101, "late")
    assert queue.position(101) == 2  # served last: after one more of the hog's
    assert queue.waiting_of("hog")[:2] == [2, 3] and queue.owner_of(101) == "late"


def test_remove_takes_a_run_out_and_keeps_the_turns():
    queue = FairQueue()
    for run_id, owner in [(1, "a"), (2, "b"), (3, "a"), (4, "b")]:
        queue.push(run_id, owner)
    assert queue.remove(2) and not queue.remove(2) and 2 not in queue
    assert queue.order() == [1, 4, 3] and len(queue) == 3


def test_random_queues_serve_every_round_before_the_next():
    rng = random.Random(3)
    for _ in range(20):
        queue = FairQueue()
        owners = [f"p{i}" for i in range(rng.randint(1, 12))]
        pushes = [o for o in owners for _ in range(rng.randint(1, 4))]
        rng.shuffle(pushes)
        round_of = {}
        seen: dict[str, int] = {}
        for run_id, owner in enumerate(pushes):
            seen[owner] = seen.get(owner, 0) + 1
            round_of[run_id] = seen[owner]
            queue.push(run_id, owner)
        expected = queue.order()
        popped = [queue.pop() for _ in range(len(pushes))]
        assert popped == expected
        assert [round_of[r] for r in popped] == sorted(round_of[r] for r in popped)
