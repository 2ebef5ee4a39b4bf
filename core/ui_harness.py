"""A real dashboard server (`python -m core.serve`, what `make run` starts) in a subprocess with its own TuneLab home, for the browser tests and
the live-page benchmark. Starts, answers the health check, can be killed with SIGKILL. No streamlit
import here: the server is another process."""
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

ROOT = Path(__file__).resolve().parents[1]


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
