"""Fixtures of the run tests: a store in the test's TuneLab home, and workers on the CPU that are shut
down when the test ends (whatever happened), each with the module's `worker_defaults`."""
from __future__ import annotations

import pytest

from core.runs.store import RunStore
from core.runs.worker import Worker


@pytest.fixture
def store(tunelab_home) -> RunStore:
    return RunStore()


@pytest.fixture
def worker_defaults() -> dict:
    """Keyword arguments every worker of a test gets unless it says otherwise (a module may override)."""
    return {}


@pytest.fixture
def make_worker(store, worker_defaults):
    workers: list[Worker] = []

    def make(store_=None, **kwargs) -> Worker:
        worker = Worker(store_ or store, **{"device": "cpu", **worker_defaults, **kwargs})
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.shutdown(timeout=30)
    assert not any(t.is_alive() for w in workers for t in w._threads), "a worker thread outlived shutdown"
