"""Every test in this folder drives a real chromium: marked `browser`, so `-m "not browser"` can leave
them out while working (make test and CI run them all)."""
from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)
