"""The largest upload is the Curve Doctor's limit, one number (core.doctor.history_io.MAX_MEGABYTES)
read everywhere it matters: Streamlit's server.maxUploadSize (set by core.serve, repeated in
.streamlit/config.toml for a plain `streamlit run`), the uploader widget, and the reader's own check.
With Streamlit's default of 200 MB a classroom PC could send 200 MB only to have it refused."""
from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from core.doctor import history_io
from core.doctor.history_io import MAX_BYTES, MAX_MEGABYTES, HistoryFileError, read_history

ROOT = Path(__file__).resolve().parents[1]


def test_streamlits_upload_limit_is_the_doctors_limit():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == MAX_MEGABYTES
    assert MAX_BYTES == MAX_MEGABYTES * 1024 * 1024  # Streamlit counts a megabyte as 1024 * 1024 bytes


def test_core_serve_passes_the_limit_to_streamlit(monkeypatch):
    import core.serve as serve

    monkeypatch.setattr(sys, "argv", list(sys.argv))  # main() writes Streamlit's command line there
    monkeypatch.setattr(serve.PagesManager, "uses_pages_directory", serve.PagesManager.uses_pages_directory)
    seen = {}
    monkeypatch.setattr(serve.cli, "main", lambda args, prog_name: seen.setdefault("args", args))
    serve.main(["--server.port", "9999"])
    args = seen["args"]
    assert args[args.index("--server.maxUploadSize") + 1] == str(MAX_MEGABYTES)
    seen.clear()
    serve.main(["--server.maxUploadSize", "3"])  # someone who sets it on purpose keeps theirs
    assert seen["args"].count("--server.maxUploadSize") == 1 and "3" in seen["args"]


def test_the_uploader_and_the_reader_use_the_same_number():
    source = (ROOT / "pages" / "curve_doctor.py").read_text()
    assert "max_upload_size=MAX_MEGABYTES" in source
    with pytest.raises(HistoryFileError, match=f"the limit is {MAX_MEGABYTES} MB"):
        read_history(b"epoch,loss\n" + b"1,0.5\n" * (MAX_BYTES // 6 + 1), "big.csv")
    assert history_io.too_big(6 * 2**20) == f"is 6.0 MB; the limit is {MAX_MEGABYTES} MB"
