"""End to end in a real browser (Debian's chromium through Playwright) against a real `streamlit run
app.py`: set the learning rate, start a run, watch it reach its final status, reload; then kill -9
the server in the middle of a run and check that the run comes back as interrupted; stop it cleanly
(SIGTERM, Ctrl+C) and check that it exits 0 and leaves the run interrupted."""
from __future__ import annotations

import signal
import time

import pytest

from core.runs.store import RunStore
from tests.browser.support import Server, browser_page, chart_points, choose, open_group, set_number, wait_until_idle

FINAL_WAIT_MS = 240_000  # a 2-epoch mnist5k run on a busy 2-core CI machine, with room to spare


def test_start_training_watch_it_finish_and_reload(tmp_path):
    server = Server(tmp_path / "home").start()
    try:
        with browser_page() as page:
            page.goto(server.url)
            wait_until_idle(page)
            page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Train", exact=True).click()
            page.get_by_role("button", name="Start training").wait_for()
            set_number(page, "Learning rate", "0.002")
            open_group(page, "6. Batch size, epochs and seed")
            set_number(page, "Epochs", "2")
            page.get_by_role("button", name="Start training").click()

            page.get_by_text("Completed 2 epochs").wait_for(timeout=FINAL_WAIT_MS)
            assert "run=1" in page.url  # the URL carries the run id
            assert page.get_by_text("adam lr 0.002", exact=False).count() >= 1
            validation = chart_points(page, "validation")
            assert any(label.startswith("epoch: 2;") for label in validation), validation
            assert not page.locator("[data-testid=stException]").count()

            page.reload()
            page.get_by_text("Completed 2 epochs").wait_for()
            assert page.get_by_role("heading", name="#1").count() >= 1
            assert any(label.startswith("epoch: 2;") for label in chart_points(page, "validation"))
            assert not page.locator("[data-testid=stException]").count()

        [run] = RunStore(server.home / "runs.db").runs()
        assert run.status == "completed" and run.config.lr == 0.002 and len(RunStore(server.home / "runs.db").history(run.id)) == 2
    finally:
        server.stop()


def start_a_long_run(page, server, store: RunStore, epochs_logged: int) -> None:
    """Start run #1, 500 epochs on the 8x8 digits, from the Train page, and wait until it has logged
    `epochs_logged` epochs."""
    page.goto(server.url + "/train")
    page.get_by_role("button", name="Start training").wait_for()
    open_group(page, "3. Model and data")
    choose(page, "Dataset", "Digits 8x8 (built in)")
    open_group(page, "6. Batch size, epochs and seed")
    set_number(page, "Epochs", "500")
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url("**run=1")
    deadline = time.monotonic() + 120
    while len(store.history(1)) < epochs_logged and time.monotonic() < deadline:
        time.sleep(0.1)  # polling the store with a deadline
    assert len(store.history(1)) >= epochs_logged


def test_kill_9_during_a_run_leaves_it_interrupted_with_its_epochs(tmp_path):
    home = tmp_path / "home"
    server = Server(home).start()
    store = RunStore(home / "runs.db")
    try:
        with browser_page() as page:
            start_a_long_run(page, server, store, epochs_logged=3)
        server.kill()
        before = store.history(1)
        assert store.get(1).status == "running"  # nobody had a chance to say otherwise

        # Restarted the way someone typing `streamlit run app.py` does it; a shared link to a page is
        # the first request, so this also checks that the page runs inside app.py's navigation.
        server = Server(home, plain=True).start()
        with browser_page() as page:
            page.goto(server.url + "/train?run=1")
            page.get_by_text("Interrupted:").first.wait_for()  # (a rerun may draw it twice for a moment)
            wait_until_idle(page)
            nav = page.eval_on_selector_all(
                "[data-testid=stSidebarNavLink]", "els => els.map(e => e.innerText.trim().split('\\n').pop())")
            assert nav == ["Home", "Train", "Compare", "Curve Doctor", "Saturation Lab", "Wall", "Teacher"]
            assert "run=1" in page.url
            assert store.get(1).status == "interrupted"
            assert store.history(1) == before  # every logged epoch kept, none invented
            assert page.get_by_role("button", name="Cancel").is_disabled()

            open_group(page, "6. Batch size, epochs and seed")
            set_number(page, "Epochs", "1")
            page.get_by_role("button", name="Start training").click()
            page.wait_for_url("**run=2")
            page.get_by_text("Completed 1 epoch ").wait_for(timeout=FINAL_WAIT_MS)
        assert store.get(2).status == "completed"
    finally:
        server.stop()


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl+C"])
def test_a_clean_stop_during_a_run_leaves_it_interrupted_and_exits_0(tmp_path, how):
    """`kill PID` (SIGTERM, what systemd and docker send) or Ctrl+C (SIGINT) to `python -m core.serve`
    while a run trains: the server exits 0 within 10 s, with no abort and no traceback, and the run is
    interrupted with every epoch it logged (the worker stops it between steps at exit)."""
    home = tmp_path / "home"
    server = Server(home).start()
    store = RunStore(home / "runs.db")
    try:
        with browser_page() as page:
            start_a_long_run(page, server, store, epochs_logged=2)
            assert store.get(1).status == "running"
            stopped_at = time.monotonic()
            server.process.send_signal(how)
            code = server.process.wait(timeout=10)
            took = time.monotonic() - stopped_at
        log = server.log.read_text(errors="replace")
        assert code == 0, log[-3000:]
        assert took <= 10
        run = store.get(1)
        assert run.status == "interrupted", (run.status, run.message)
        assert run.message.startswith("the server stopped"), run.message
        epochs = store.history(1)
        assert len(epochs) >= 2 and [row["epoch"] for row in epochs] == list(range(1, len(epochs) + 1))
        for alarming in ("terminate called", "Aborted", "Traceback", "leaked"):
            assert alarming not in log, log[-3000:]
    finally:
        server.stop()
