"""Helpers for the end-to-end tests: a real `streamlit run app.py` server in a subprocess and Debian's
chromium driven by Playwright. On a laptop without chromium the browser tests skip; in CI (CI=true)
a missing browser is a failure, never a skip."""
from __future__ import annotations

import contextlib
import os
import shutil

import pytest

from core.ui_harness import Server  # noqa: F401  (the tests import it from here)


def chromium_path() -> str:
    """The chromium executable, or skip (fail under CI) when there is none."""
    path = os.environ.get("TUNELAB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("chromium is not installed; .ci/run installs Debian's chromium for the browser tests")
    pytest.skip("no chromium on this machine (the browser tests run in CI)")


@contextlib.contextmanager
def browser_page(width: int = 1500, height: int = 1000):
    """A fresh chromium page (Playwright, Debian's chromium through executable_path)."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(60_000)
            yield page
        finally:
            browser.close()


def chart_points(page, series: str) -> list[str]:
    """The aria labels of the chart points of one series ("epoch: 2; loss: ...; series: validation")."""
    return page.eval_on_selector_all(
        "[data-testid=stVegaLiteChart] [aria-label]",
        "(els, series) => els.map(e => e.getAttribute('aria-label')).filter(l => l.includes('series: ' + series + ';'))",
        series,
    )


def wait_until_idle(page, timeout_ms: int = 60_000, quiet_ms: int = 700) -> None:
    """Wait until Streamlit has stopped running the script: no "Running..." status widget for
    quiet_ms in a row (the widget shows up a moment after a run starts, so one look is not enough).
    A click is then not lost to a rerun that re-renders the element under the mouse."""
    page.evaluate("() => { window.__idleFrom = undefined; window.__busySince = 0; }")
    page.wait_for_function(
        """(quiet) => {
            const now = performance.now();
            if (document.querySelector('[data-testid=stStatusWidget]')) { window.__busySince = now; return false; }
            if (window.__idleFrom === undefined || window.__busySince > window.__idleFrom) window.__idleFrom = now;
            return now - window.__idleFrom >= quiet;
        }""",
        arg=quiet_ms, timeout=timeout_ms, polling=100)


def open_group(page, title: str) -> None:
    """Open a sidebar expander; a no-op when it is already open (a second click would close it)."""
    wait_until_idle(page)
    details = page.locator("details", has=page.get_by_text(title, exact=True))
    if details.get_attribute("open") is None:
        page.get_by_text(title, exact=True).click()
    page.wait_for_function(
        "(t) => [...document.querySelectorAll('details')].some(d => d.open && d.innerText.includes(t))",
        arg=title, timeout=10_000)


def choose(page, label: str, option: str, attempts: int = 5) -> None:
    """Pick an option of a selectbox. A rerun arriving between the click that opens the list and the
    click on the option closes the list, so open it again until the option can be clicked."""
    box = page.locator("[data-testid=stSelectbox]", has_text=label)
    wanted = page.get_by_role("option", name=option, exact=True)
    for attempt in range(attempts):
        wait_until_idle(page)
        box.click()
        try:
            wanted.click(timeout=5_000)
        except Exception:  # the list closed under us (playwright's TimeoutError); open it again
            if attempt == attempts - 1:
                raise
            page.keyboard.press("Escape")
            continue
        break
    page.wait_for_function(
        "([label, option]) => [...document.querySelectorAll('input[role=combobox]')]"
        ".some(el => el.getAttribute('aria-label') === label && el.value === option)",
        arg=[label, option], timeout=10_000)
    wait_until_idle(page)
