"""The class bench, small but real: a server, three headless Wall sessions that poll as a browser does
and see the Wall's status line and chart with the run training, a short run watched and unwatched,
three first runs queued by three people; every number finite and positive. Bad input is one line
naming the field, exit code 2."""
from __future__ import annotations

import math

import pytest

from core.bench import classroom
from core.cli import main

# a real server with sessions, like the browser tests: it takes its turn on their worker (make test)
pytestmark = pytest.mark.xdist_group("browser")

KEYS = ("students", "training_images_per_s_watched", "training_images_per_s_unwatched", "ratio",
        "server_cpu_ms_per_poll", "max_wait_first_run_s")


@pytest.fixture(scope="module")
def result() -> dict:
    return classroom.measure(students=3, epochs=2, repeats=1, owners=3, train_subset=1000)  # (wiring, not learning)


@pytest.mark.slow
def test_three_students_watch_a_run_and_every_number_is_there(result):
    assert set(KEYS) <= set(result) and result["students"] == 3 and result["sessions"] == "websocket"
    for key in KEYS[1:] + ("polls_per_student_per_s", "poll_seconds_median", "kb_per_answered_poll", "watched_seconds"):
        assert math.isfinite(result[key]) and result[key] > 0, key
    assert result["ratio"] == pytest.approx(result["training_images_per_s_watched"]
                                            / result["training_images_per_s_unwatched"])
    assert result["polls"] > 0 and result["polls_answered"] > 0 and result["store_changes_while_watched"] > 0
    # every session was sent the Wall: its status line, once with the run training, and its chart
    assert result["wall_captions_seen_min"] > 0 and result["wall_charts_seen_min"] > 0
    assert result["wall_captions_with_a_run_training_seen_min"] > 0
    assert result["wall_tiles_seen_max"] == 3 + 1 + 1  # a tile each: the three first runs, the warm-up, the one training
    # three people, one run each, one slot: the first starts at once, the others after the runs before
    waits = result["first_run_waits_s"]
    assert len(waits) == 3 and waits == sorted(waits) and waits[0] < waits[-1] == result["max_wait_first_run_s"]


@pytest.mark.slow
def test_the_lines_name_every_headline_number(result):
    text = "\n".join(classroom.format_lines(result))
    for word in ("3 students", "watched", "unwatched", "server CPU per poll", "first run"):
        assert word in text, word


@pytest.mark.parametrize("flag", ["--students", "--epochs"])
def test_a_bad_count_is_one_line_naming_it(flag, capsys):
    assert main(["bench-class", flag, "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag.lstrip("-") in err
