"""Where TuneLab keeps data sets and runs: flags first, then environment variables, then ~/.tunelab."""
from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("TUNELAB_HOME") or Path.home() / ".tunelab").expanduser()


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """Folder for downloaded data sets (torchvision's layout): --data-dir, $TUNELAB_DATA_DIR, ~/.tunelab/data."""
    return Path(override or os.environ.get("TUNELAB_DATA_DIR") or home() / "data").expanduser()


def db_path(override: str | os.PathLike | None = None) -> Path:
    """SQLite run store: --db, $TUNELAB_DB, ~/.tunelab/runs.db."""
    return Path(override or os.environ.get("TUNELAB_DB") or home() / "runs.db").expanduser()


def downloads_allowed() -> bool:
    """False when TUNELAB_OFFLINE is set (the tests set it): missing data is then reported, not fetched."""
    return os.environ.get("TUNELAB_OFFLINE", "").lower() not in ("1", "true", "yes")
