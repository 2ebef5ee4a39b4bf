"""JSON histories: a dump of Keras's `history.history` (`{"loss": [...], "val_loss": [...]}`), the same
under a key (`{"history": {...}}`, beside a config), a list of per-epoch records
(`[{"epoch": 1, "loss": ...}, ...]`) and JSON Lines (one such record a line). The numeric lists of the
commonest length are the metrics; anything else (a config, a name) is left out, and said so."""
from __future__ import annotations

import json
from collections import Counter

from core.doctor.readers.table import Table, to_csv

KIND = "json"
MAX_DEPTH = 4
_NON_FINITE = ("nan", "inf", "-inf", "infinity", "-infinity")
_METRIC_WORDS = ("loss", "acc", "lr", "learning_rate", "error", "mse", "mae")
_EPOCH_NAMES = ("epoch", "epochs", "ep", "epoch_num", "epoch_number")


def sniff(text: str, name: str) -> bool:
    return text.lstrip()[:1] in ("{", "[") and not name.lower().endswith(".ipynb")


def read(text: str, name: str) -> list[Table]:
    value = _load(text)
    candidates = _candidates(value, "", 0) if value is not None else []
    if not candidates:
        return []
    where, columns, left_out = max(candidates, key=lambda c: sum(len(v) for v in c[1].values()))
    notes = [f"read the history under {where!r}"] if where else []
    if left_out:
        notes.append(f"left out {', '.join(left_out[:6])}{' and more' if len(left_out) > 6 else ''}: "
                     "not one number per epoch")
    return [Table("", to_csv(columns, next((k for k in columns if k.lower() in _EPOCH_NAMES), None)), notes)]


def _load(text: str):
    try:
        return json.loads(text)
    except ValueError:
        pass
    records = []  # JSON Lines
    for line in filter(None, (raw.strip() for raw in text.splitlines())):
        try:
            records.append(json.loads(line))
        except ValueError:
            return None
    return records or None


def _is_number(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in _NON_FINITE
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _as_float(value) -> float | None:
    if value is None:
        return None
    return float(value.strip().lower().replace("infinity", "inf")) if isinstance(value, str) else float(value)


def _metric_like(columns: dict) -> bool:
    return any(word in key.lower() for key in columns for word in _METRIC_WORDS)


def _from_dict(value: dict) -> tuple[dict[str, list], list[str]]:
    lists = {k: v for k, v in value.items() if isinstance(v, list) and v and all(map(_is_number, v))}
    if not lists:
        return {}, []
    length = Counter(len(v) for v in lists.values()).most_common(1)[0][0]
    columns = {k: [_as_float(x) for x in v] for k, v in lists.items() if len(v) == length}
    return columns, [k for k in value if k not in columns]


def _from_records(value: list) -> tuple[dict[str, list], list[str]]:
    records = [r for r in value if isinstance(r, dict)]
    if not records or len(records) < 0.9 * len(value):
        return {}, []
    keys = list(dict.fromkeys(k for record in records for k in record))
    numeric = [k for k in keys if all(_is_number(r.get(k)) for r in records)
               and any(r.get(k) is not None for r in records)]
    return {k: [_as_float(r.get(k)) for r in records] for k in numeric}, [k for k in keys if k not in numeric]


def _candidates(value, where: str, depth: int) -> list[tuple[str, dict[str, list], list[str]]]:
    """Every place in the JSON that holds metrics per epoch: (where, columns, the keys left out)."""
    found = []
    if isinstance(value, dict):
        columns, left_out = _from_dict(value)
        if columns and _metric_like(columns):
            found.append((where, columns, left_out))
        if depth < MAX_DEPTH:
            for key, inner in value.items():
                if isinstance(inner, dict) or (isinstance(inner, list) and inner and isinstance(inner[0], dict)):
                    found += _candidates(inner, f"{where}.{key}" if where else str(key), depth + 1)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        columns, left_out = _from_records(value)
        if columns and _metric_like(columns):
            found.append((where, columns, left_out))
    return found
