"""Readers for the history formats that are not CSV: each turns its input into CSV tables in Keras
CSVLogger form, which core/doctor/history_io.py then reads like any other file (so the column names
are mapped in one place). Listed once in READERS, tried in order; `tables(text, name)` picks the
first whose sniff() says yes. A new format is one module here and one line in READERS."""
from __future__ import annotations

from core.doctor.readers import console, json_history, notebook
from core.doctor.readers.table import Table

READERS = (notebook, json_history, console)


def tables(text: str, name: str) -> tuple[str, list[Table]] | None:
    """(the reader's kind, its tables) for a text one of the readers knows; None for CSV (or anything
    no reader claims). A reader that claims a text but finds no history in it returns []."""
    for reader in READERS:
        if reader.sniff(text, name):
            return reader.KIND, reader.read(text, name)
    return None


__all__ = ["READERS", "Table", "tables"]
