"""Read training histories from CSV files: Keras CSVLogger, TensorBoard scalar exports, TuneLab's export.

Every problem with a file is a HistoryFileError naming the file and what is wrong with it; nothing
else escapes (tests/test_history_io.py fuzzes this).

- Keras CSVLogger: `epoch, loss, accuracy|acc, val_loss, val_accuracy|val_acc[, lr]`, epochs from 0.
- TuneLab's export: the same columns, epochs from 1. A file whose first epoch is 0 is shifted to 1-based.
- TensorBoard "Download CSV": `Wall time, Step, Value` for one tag. The tag comes from the file name
  (as TensorBoard names it, e.g. run-validation-tag-epoch_loss.csv): "val"/"validation" -> val_*,
  "acc" -> accuracy, otherwise loss. Rows in step order become epochs 1, 2, ...
- A long format `tag|metric, step|epoch, value` (one row per metric and epoch) is pivoted.
"""
from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import UserError

MAX_BYTES = 5 * 1024 * 1024
COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr")
ALIASES = {"acc": "accuracy", "val_acc": "val_accuracy", "learning_rate": "lr"}
_TAGS = {"loss": "loss", "epoch_loss": "loss", "accuracy": "accuracy", "acc": "accuracy", "epoch_accuracy": "accuracy",
         "val_loss": "val_loss", "val_accuracy": "val_accuracy", "val_acc": "val_accuracy", "lr": "lr",
         "learning_rate": "lr", "epoch_learning_rate": "lr", "epoch_lr": "lr"}


class HistoryFileError(UserError, ValueError):
    """A history file that cannot be read, with what is wrong in words."""

    def __init__(self, name: str, message: str):
        self.name = name
        self.message = message
        super().__init__(f"{name}: {message}")


@dataclass
class LoadedHistory:
    name: str
    kind: str  # keras, tunelab, csv (no epoch column: rows are epochs 1, 2, ...), tensorboard or long
    history: list[dict]  # rows with every key of COLUMNS (None where the file has no value)
    notes: list[str] = field(default_factory=list)


def read_history_file(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> LoadedHistory:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise HistoryFileError(path.name, f"is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB")
        if path.is_dir():
            raise HistoryFileError(path.name, "is a folder, not a CSV file")
        data = path.read_bytes()
    except OSError as exc:
        raise HistoryFileError(path.name, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    return read_history(data, path.name, max_bytes)


def read_history(data: bytes | str, name: str = "history.csv", max_bytes: int = MAX_BYTES) -> LoadedHistory:
    """Parse one CSV held in memory (an upload or a file's bytes)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if len(data) > max_bytes:
        raise HistoryFileError(name, f"is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB")
    if not data.strip():
        raise HistoryFileError(name, "is empty")
    if b"\x00" in data:
        raise HistoryFileError(name, "is not a text CSV file (it holds binary data)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HistoryFileError(name, "is not a text CSV file (it is not UTF-8 text)") from None
    rows = _rows(text, name)
    header = [h.strip() for h in rows[0]]
    body = [r for r in rows[1:] if any(cell.strip() for cell in r)]
    if not body:
        raise HistoryFileError(name, "has a header but no data rows")
    for i, row in enumerate(body):
        if len(row) != len(header):
            raise HistoryFileError(name, f"line {_line(rows, row)} has {len(row)} fields but the header has {len(header)}")
    lowered = [h.lower() for h in header]
    if lowered[:3] == ["wall time", "step", "value"] or {"wall time", "step", "value"} <= set(lowered):
        return _tensorboard(name, lowered, body, rows)
    if {"value"} <= set(lowered) and ({"tag", "metric"} & set(lowered)):
        return _long(name, lowered, body, rows)
    return _wide(name, header, body, rows)


def _rows(text: str, name: str) -> list[list[str]]:
    first = text.splitlines()[0] if text.splitlines() else ""
    delimiter = max((",", ";", "\t"), key=first.count)
    rows: list[list[str]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for row in reader:
            if row:
                rows.append(_Row(row, reader.line_num))
    except csv.Error as exc:
        raise HistoryFileError(name, f"is not a valid CSV file ({exc})") from None
    if not rows:
        raise HistoryFileError(name, "is empty")
    return rows


class _Row(list):
    """A CSV row that remembers its line number in the file."""

    def __init__(self, cells: list[str], line: int):
        super().__init__(cells)
        self.line = line


def _line(rows: list[list[str]], row: list[str]) -> int:
    return getattr(row, "line", 0)


def _number(name: str, value: str, column: str, line: int) -> float | None:
    value = value.strip()
    if value == "" or value.lower() in ("none", "null"):
        return None
    try:
        return float(value)
    except ValueError:
        shown = value if len(value) <= 20 else value[:20] + "..."
        raise HistoryFileError(name, f"line {line}, column {column}: {shown!r} is not a number") from None


def _epoch(name: str, value: float | None, line: int) -> int:
    if value is None or not math.isfinite(value) or value != int(value) or abs(value) > 1e9:
        raise HistoryFileError(name, f"line {line}, column epoch: {value!r} is not a whole epoch number")
    return int(value)


def _finish(name: str, kind: str, by_epoch: dict[int, dict], notes: list[str]) -> LoadedHistory:
    if not by_epoch:
        raise HistoryFileError(name, "has no data rows")
    epochs = sorted(by_epoch)
    if epochs[0] == 0:
        notes.append("epochs counted from 0 (Keras) were shifted to start at 1")
        shift = 1
    else:
        shift = 0
    history = [{**{c: by_epoch[e].get(c) for c in COLUMNS}, "epoch": e + shift} for e in epochs]
    if not any(row["loss"] is not None or row["val_loss"] is not None for row in history):
        raise HistoryFileError(name, "has no loss values")
    return LoadedHistory(name, kind, history, notes)


def _wide(name: str, header: list[str], body: list[list[str]], rows: list[list[str]]) -> LoadedHistory:
    keys = [ALIASES.get(h.lower(), h.lower()) for h in header]
    if "loss" not in keys and "val_loss" not in keys:
        found = ", ".join(header[:8]) + (", ..." if len(header) > 8 else "")
        raise HistoryFileError(
            name, f"has no loss or val_loss column (found: {found}); expected Keras CSVLogger columns "
                  f"epoch, loss, accuracy, val_loss, val_accuracy (optional lr), or TensorBoard's Wall time, Step, Value")
    wanted = {k: i for i, k in enumerate(keys) if k in COLUMNS}
    by_epoch: dict[int, dict] = {}
    for index, row in enumerate(body):
        line = _line(rows, row)
        values = {k: _number(name, row[i], header[i], line) for k, i in wanted.items()}
        epoch = _epoch(name, values.pop("epoch"), line) if "epoch" in wanted else index + 1
        if epoch in by_epoch:
            raise HistoryFileError(name, f"line {line}: epoch {epoch} appears twice")
        by_epoch[epoch] = values
    kind = "csv" if "epoch" not in wanted else ("keras" if min(by_epoch) == 0 else "tunelab")
    return _finish(name, kind, by_epoch, [])


def _tag_from_name(name: str) -> str:
    stem = Path(name).stem.lower()
    tag = stem.split("tag-")[-1] if "tag-" in stem else stem
    is_val = "val" in stem  # val_loss, validation-tag-epoch_loss
    if "acc" in tag:
        return "val_accuracy" if is_val else "accuracy"
    if "learning_rate" in tag or tag.endswith("lr"):
        return "lr"
    return "val_loss" if is_val else "loss"


def _tensorboard(name: str, header: list[str], body: list[list[str]], rows: list[list[str]]) -> LoadedHistory:
    step_i, value_i = header.index("step"), header.index("value")
    tag = _tag_from_name(name)
    points = []
    for row in body:
        line = _line(rows, row)
        step = _number(name, row[step_i], "Step", line)
        if step is None or not math.isfinite(step):
            raise HistoryFileError(name, f"line {line}, column Step: {row[step_i].strip()!r} is not a step number")
        points.append((step, _number(name, row[value_i], "Value", line)))
    points.sort(key=lambda p: p[0])
    by_epoch = {i + 1: {tag: value} for i, (_, value) in enumerate(points)}
    notes = [f"TensorBoard export read as {tag} (from the file name); its steps became epochs 1..{len(points)}"]
    return _finish(name, "tensorboard", by_epoch, notes)


def _long(name: str, header: list[str], body: list[list[str]], rows: list[list[str]]) -> LoadedHistory:
    tag_i = header.index("tag") if "tag" in header else header.index("metric")
    step_col = "epoch" if "epoch" in header else ("step" if "step" in header else None)
    if step_col is None:
        raise HistoryFileError(name, "has tag and value columns but no epoch or step column")
    step_i, value_i = header.index(step_col), header.index("value")
    by_epoch: dict[int, dict] = {}
    unknown: set[str] = set()
    for row in body:
        line = _line(rows, row)
        raw = row[tag_i].strip().lower().split("/")[-1]
        key = _TAGS.get(raw) or _TAGS.get(raw.replace("validation_", "val_"))
        if key is None:
            unknown.add(raw)
            continue
        epoch = _epoch(name, _number(name, row[step_i], step_col, line), line)
        by_epoch.setdefault(epoch, {})[key] = _number(name, row[value_i], "value", line)
    notes = [f"ignored tags: {', '.join(sorted(unknown)[:5])}"] if unknown else []
    return _finish(name, "long", by_epoch, notes)
