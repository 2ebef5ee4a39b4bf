"""Helpers of the page tests: run a page in AppTest with a query string and fail on any exception."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest


def open_page(path: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(path, default_timeout=60)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at
