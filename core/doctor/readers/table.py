"""What a reader gives back: one run's history as CSV text (a header of metric names, one row per
epoch), with the run's name and what the reader wants said about how it read it."""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field


@dataclass
class Table:
    run: str  # the run's name within the input ("" when the input holds one run)
    csv: str
    notes: list[str] = field(default_factory=list)


def to_csv(columns: dict[str, list], epoch_key: str | None = None) -> str:
    """CSV text from metric name -> one value per epoch (None or NaN: an empty cell). `epoch_key`
    names the column that holds the epoch numbers, when there is one."""
    names = list(columns)
    if epoch_key is not None and epoch_key in names:
        names.remove(epoch_key)
        names.insert(0, epoch_key)
    rows = max((len(v) for v in columns.values()), default=0)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    for i in range(rows):
        writer.writerow([_cell(columns[n][i] if i < len(columns[n]) else None) for n in names])
    return out.getvalue()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return str(value)
