"""A real dashboard server (`python -m core.serve`, what `make run` starts) in a subprocess with its
own TuneLab home, for the browser tests and the live-page benchmark: starts, answers the health
check, can be killed with SIGKILL. No streamlit import here: the server is another process. Also the
Playwright helpers that drive its pages without losing clicks to reruns."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """The dashboard with its own TuneLab home; start() waits until it answers. plain=True starts
    `streamlit run app.py` itself instead of core.serve (what someone typing it by hand gets)."""

    def __init__(self, home: Path, port: int | None = None, plain: bool = False):
        self.home = home
        self.plain = plain
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log = home / f"server-{self.port}.log"

    def start(self, timeout: float = 60.0) -> "Server":
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "TUNELAB_HOME": str(self.home), "TUNELAB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", *(("streamlit", "run", "app.py") if self.plain else ("core.serve",)),
                 "--server.port", str(self.port),
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


# ---- driving a Streamlit page in Playwright (the browser tests and bench-ui) ------------------
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


def set_number(page, label: str, value: str) -> None:
    """Type a number into a number input and let Streamlit take it before anything else changes."""
    wait_until_idle(page)
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    page.wait_for_timeout(300)
    wait_until_idle(page)
