"""Every export of a run in one place: the formats by name, writing the chosen ones into a folder, and
one format as downloadable bytes (the TensorBoard folder zipped) for the Train page, built only when
a person asks for it."""
from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, Iterable

from core.errors import ConfigError
from core.export.files import load_run, write_config_json, write_history_csv
from core.export.script import write_script
from core.export.tensorboard import write_tensorboard
from core.runs.store import RunStore

WRITERS: dict[str, Callable[[RunStore, int, Path], Path]] = {
    "csv": write_history_csv,
    "json": write_config_json,
    "tensorboard": write_tensorboard,
    "script": write_script,
}
FORMATS = tuple(WRITERS)


def export_run(store: RunStore, run_id: int, formats: Iterable[str], out_dir: str | Path) -> list[Path]:
    """Write the chosen formats for one run into out_dir (created if missing); returns the paths."""
    formats = list(formats)
    for fmt in formats:
        if fmt not in WRITERS:
            raise ConfigError("format", f"must be one of {', '.join(FORMATS)} (got {fmt!r})")
    load_run(store, run_id)
    return [WRITERS[fmt](store, run_id, Path(out_dir)) for fmt in formats]


def download(store: RunStore, run_id: int, fmt: str) -> tuple[str, bytes]:
    """(file name, bytes) of one format of a run; the TensorBoard folder comes as a zip."""
    with tempfile.TemporaryDirectory(prefix="tunelab-export-") as tmp:
        path = export_run(store, run_id, [fmt], tmp)[0]
        if fmt != "tensorboard":
            return path.name, path.read_bytes()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as bundle:
            for file in path.parent.rglob("*"):
                if file.is_file():
                    bundle.write(file, file.relative_to(path.parent.parent))
        return f"run_{run_id}_tensorboard.zip", buffer.getvalue()
