"""Shared test set-up: offline, a fresh TuneLab home per test, few threads (CI has 2 cores, and make
test runs a pytest-xdist worker on each)."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

# Keep triton out of the test process. torch imports it lazily (at an optimizer's first step, through
# torch._inductor) although nothing here runs on a GPU, and a pytest process that imported it ends
# with triton's nanobind leak report ("nanobind: leaked 64 types!") after the summary. With it marked
# absent torch behaves as on a CPU-only build; the torch.compile test runs in a subprocess of its own
# (tests/training/fast_mode_check.py), with triton.
sys.modules.setdefault("triton", None)
logging.getLogger("torch.utils.flop_counter").setLevel(logging.ERROR)  # ("triton not found" is expected)

import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ["TUNELAB_OFFLINE"] = "1"
# Under pytest-xdist (make test: one worker per core) each worker trains on one thread, so two
# workers fill two cores without fighting over them; alone, up to two threads.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def tunelab_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own run store and data folder."""
    home = tmp_path / "tunelab-home"
    monkeypatch.setenv("TUNELAB_HOME", str(home))
    monkeypatch.delenv("TUNELAB_DB", raising=False)
    monkeypatch.delenv("TUNELAB_DATA_DIR", raising=False)
    monkeypatch.setenv("TUNELAB_OFFLINE", "1")
    monkeypatch.delenv("TUNELAB_CLASS_KEY", raising=False)  # single-user mode unless a test sets a key
    return home


@pytest.fixture(scope="module")
def one_torch_thread():
    """For modules of small nets (`pytestmark = pytest.mark.usefixtures("one_torch_thread")`): one
    thread is as fast, and a second one only fights other work for the CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
