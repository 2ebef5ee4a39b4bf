"""Jupyter notebooks (.ipynb): every code cell's printed output is searched for a training run
(Keras's fit printout or a hand-made log, read as console output, or a printed `history.history`
dict); each cell that holds one is a run, named by the cell (`cell 12`, its execution count)."""
from __future__ import annotations

import ast
import json

from core.doctor.readers import console, json_history
from core.doctor.readers.table import Table

KIND = "notebook"


def sniff(text: str, name: str) -> bool:
    if name.lower().endswith(".ipynb"):
        return True
    head = text.lstrip()[:4000]
    return head.startswith("{") and '"cells"' in head and '"nbformat"' in text[-4000:] + head


def read(text: str, name: str) -> list[Table]:
    try:
        notebook = json.loads(text)
    except ValueError:
        return []
    cells = notebook.get("cells", []) if isinstance(notebook, dict) else []
    tables = []
    for index, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        output = _printed(cell.get("outputs") or [])
        table = console.parse(output) if console.sniff(output, "") else None
        if table is None:
            table = _printed_history(output)
        if table is not None:
            count = cell.get("execution_count")
            table.run = f"cell {count}" if isinstance(count, int) else f"cell #{index}"
            tables.append(table)
    return tables


def _printed(outputs: list) -> str:
    parts = []
    for output in outputs:
        if not isinstance(output, dict):
            continue
        if output.get("output_type") == "stream":
            parts.append(_text(output.get("text")))
        elif output.get("output_type") in ("execute_result", "display_data"):
            parts.append(_text((output.get("data") or {}).get("text/plain")))
    return "\n".join(parts)


def _text(value) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return str(value or "")


def _printed_history(output: str) -> Table | None:
    """A cell that printed `history.history` (a dict of lists, as Python prints it)."""
    start = output.find("{")
    if start < 0:
        return None
    try:
        value = ast.literal_eval(output[start:output.rfind("}") + 1])
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    tables = json_history.read(json.dumps(value, default=str), "printed.json") if isinstance(value, dict) else []
    return tables[0] if tables else None
