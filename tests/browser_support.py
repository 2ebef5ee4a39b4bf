"""Helpers for the end-to-end tests: a real `streamlit run app.py` server in a subprocess and Debian's
chromium driven by Playwright. On a laptop without chromium the browser tests skip; in CI (CI=true)
a missing browser is a failure, never a skip."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def chromium_path() -> str:
    """The chromium executable, or skip (fail under CI) when there is none."""
    path = os.environ.get("TUNELAB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("chromium is not installed; .ci/run installs Debian's chromium for the browser tests")
    pytest.skip("no chromium on this machine (the browser tests run in CI)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`streamlit run app.py` with its own TuneLab home; start() waits until it answers."""

    def __init__(self, home: Path, port: int | None = None):
        self.home = home
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log = home / f"server-{self.port}.log"

    def start(self, timeout: float = 60.0) -> "Server":
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "TUNELAB_HOME": str(self.home), "TUNELAB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(self.port),
                 "--server.address", "127.0.0.1", "--server.headless", "true"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.log.read_text()}")
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        return self
            time.sleep(0.2)  # polling the health endpoint with a deadline
        raise RuntimeError(f"the server did not answer within {timeout} s:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no clean-up runs, as when a server crashes or loses power."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


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
