"""Helpers for the end-to-end tests: a real `streamlit run app.py` server in a subprocess and Debian's
chromium driven by Playwright. On a laptop without chromium the browser tests skip; in CI (CI=true)
a missing browser is a failure, never a skip."""
from __future__ import annotations

import contextlib
import os
import shutil

import pytest

from core.bench.harness import Server, choose, open_group, set_number, wait_until_idle  # noqa: F401  (tests import them here)


def chromium_path() -> str:
    """The chromium executable, or skip (fail under CI) when there is none."""
    path = os.environ.get("TUNELAB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("chromium is not installed; .ci/run installs Debian's chromium for the browser tests")
    pytest.skip("no chromium on this machine (the browser tests run in CI)")


@contextlib.contextmanager
def browser():
    """A chromium (Playwright, Debian's chromium through executable_path); new_person() on it gives
    pages of their own context each: their own cookies, as two people's browsers have."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"])
        try:
            yield chromium
        finally:
            chromium.close()


def new_person(chromium, width: int = 1500, height: int = 1000):
    """A page in a fresh browser context (its own cookie jar)."""
    page = chromium.new_context(viewport={"width": width, "height": height}).new_page()
    page.set_default_timeout(60_000)
    return page


@contextlib.contextmanager
def browser_page(width: int = 1500, height: int = 1000):
    """A fresh chromium page."""
    with browser() as chromium:
        yield new_person(chromium, width, height)


def chart_points(page, series: str) -> list[str]:
    """The aria labels of the chart points of one series ("epoch: 2; loss: ...; series: validation")."""
    return page.eval_on_selector_all(
        "[data-testid=stVegaLiteChart] [aria-label]",
        "(els, series) => els.map(e => e.getAttribute('aria-label')).filter(l => l.includes('series: ' + series + ';'))",
        series,
    )
