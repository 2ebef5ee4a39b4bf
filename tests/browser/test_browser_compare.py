"""A shared Compare link opened in a real browser (Debian's chromium through Playwright) against a real
`streamlit run app.py`: the picked runs' curves are overlaid, one colour per run."""
from __future__ import annotations

from core.config import RunConfig
from core.training.events import EpochEnd
from core.runs.store import RunStore
from tests.browser.support import Server, browser_page


def test_a_shared_compare_link_shows_the_overlaid_curves(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    store = RunStore(home / "runs.db")
    for name, lr, losses in (("slow", 1e-4, (2.0, 1.8, 1.7)), ("fast", 1e-2, (1.0, 0.5, 0.3))):
        run_id = store.create_run(RunConfig(dataset="digits", lr=lr), name=name)
        store.mark_running(run_id, "cpu")
        for epoch, loss in enumerate(losses, start=1):
            store.record(run_id, EpochEnd(epoch, loss, 0.5, loss * 1.1, 0.5, lr, 0.1, 100.0))
        store.finish(run_id, "completed")
    store.create_run(RunConfig(dataset="digits"), name="not in the link")

    server = Server(home).start()
    try:
        with browser_page() as page:
            page.goto(server.url + "/compare?runs=1,2")
            page.get_by_text("Settings that differ").wait_for()
            page.wait_for_function(
                "() => document.querySelectorAll('[data-testid=stVegaLiteChart] [aria-label*=\"run: \"]').length >= 6")
            labels = page.eval_on_selector_all("[data-testid=stVegaLiteChart] [aria-label*='run: ']",
                                               "els => els.map(e => e.getAttribute('aria-label'))")
            runs = {label.split("run: ")[1].split(";")[0] for label in labels}
            assert runs == {"#1 slow", "#2 fast"}
            assert any("epoch: 3" in label and "#2 fast" in label for label in labels)
            assert not page.locator("[data-testid=stException]").count()
            assert "runs=1%2C2" in page.url or "runs=1,2" in page.url  # the view keeps its link
    finally:
        server.stop()
