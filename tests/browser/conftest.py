"""Every test in this folder drives a real chromium: marked `browser`, so `-m "not browser"` can leave
them out while working (make test and CI run them all), and grouped so that they run one at a time."""
from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)
            # one xdist worker runs them one after another (make test: --dist loadgroup): each has a
            # server that trains and a chromium, which fill a core or two on their own
            item.add_marker(pytest.mark.xdist_group("browser"))
