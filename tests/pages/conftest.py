"""Every page test gets server objects of its own: the store and the worker are process-wide
(st.cache_resource), so they are made again for the test's own TuneLab home, and the worker is shut
down after it. One torch thread: the worker trains next to the test's own thread."""
from __future__ import annotations

import pytest
import streamlit as st
import torch


@pytest.fixture(autouse=True)
def fresh_server_objects():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    from pages.parts.ui import get_worker

    get_worker().shutdown()
    st.cache_resource.clear()
    st.cache_data.clear()
    torch.set_num_threads(threads)
