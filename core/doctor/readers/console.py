"""Console output of a training run, pasted or saved as .txt/.log: Keras's `fit` printout
(`Epoch 3/20`, then `157/157 [====] - 2s - loss: 0.41 - accuracy: 0.86 - val_loss: 0.52 - ...`,
progress bars redrawn with `\\r` included; Keras 3's `━━━━` bars too) and the one-line-per-epoch logs
people print themselves (`Epoch 1/50 | Train Loss: 0.21 Acc: 0.90 | Val Loss: 0.09 Acc: 0.97`,
`(Epoch 2 / 10) train loss: 2.18; val loss: 2.10`, logging prefixes, `tensor(0.62)`, `59.9%`).

An epoch starts at each "Epoch N" mark; its metrics are the `name: number` pairs after it (the last
value of a name wins: a progress bar's final line holds the epoch's result). A name without train or
validation in it takes the side of the name before it on its line (`Val Loss: 0.09 Acc: 0.97`), or of
the line's first word (`val loss: 1.1, acc: 0.6`)."""
from __future__ import annotations

import re

from core.doctor.readers.table import Table, to_csv

KIND = "keras console"
_EPOCH = re.compile(r"(?i)\bepoch\b\s*[:#\[(]?\s*(\d+)")  # Epoch 3/20, Epoch: 3, (Epoch 3 / 10), Epoch [3/10]
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf"
_NAME = r"[A-Za-z][A-Za-z0-9_.]*(?: [A-Za-z0-9][A-Za-z0-9_.]*){0,3}"  # up to four words, no " - " in it
_PAIR = re.compile(r"(?i)(" + _NAME + r")\s*[:=]\s*(?:tensor\(\s*)?(" + _NUMBER + r")\s*(%?)")
_LISTED = re.compile(r"(?im)^\s*['\"]?(" + _NAME + r")['\"]?\s*[:=]\s*\[([^\]]*)\]")  # loss: [0.5, 0.4]
_SIDES = {"val": "val", "valid": "val", "validation": "val", "test": "test", "train": "train", "training": "train"}
_CARRIED = ("loss", "acc", "accuracy", "error", "err")
_ETA = re.compile(r"(?i)\bETA\b")
_NOT_METRICS = re.compile(r"(?i)(^|_|\s)(eta|time|step|steps|s|ms|us|batch|iter|samples|it|lr_step)$")


def sniff(text: str, name: str) -> bool:
    head = text[:200_000]
    marks = len(_EPOCH.findall(head))
    pairs = sum(1 for m in _PAIR.finditer(head) if _metric(m.group(1)))
    return (marks >= 2 and pairs >= 2) or sum(1 for m in _LISTED.finditer(head) if _metric(m.group(1))) >= 1


def read(text: str, name: str) -> list[Table]:
    table = parse(text)
    return [table] if table is not None else []


def parse(text: str) -> Table | None:
    """The history in a console printout, or None when it holds no epoch with a metric."""
    listed = _listed(text)
    if listed is not None:
        return listed
    epochs: list[tuple[int, dict[str, float]]] = []
    finished: set[int] = set()  # the epochs with a line that is not a progress bar still running
    for raw in re.split(r"[\r\n\x08]+", text):
        line = raw.strip()
        if not line:
            continue
        mark = _EPOCH.search(line)
        if mark:
            number = int(mark.group(1))
            if not epochs or epochs[-1][0] != number:  # (a mark repeated on the epoch's lines: the same epoch)
                epochs.append((number, {}))
            line = line[mark.end():]
        if not epochs:  # a printout cut above its first mark: its first lines are the epoch before it
            epochs.append((-1, {}))
        found = _pairs(line)
        epochs[-1][1].update(found)
        if found and not _ETA.search(line):
            finished.add(len(epochs) - 1)
    if epochs and epochs[0][0] == -1:
        epochs[0] = (epochs[1][0] - 1 if len(epochs) > 1 else 1, epochs[0][1])
    notes = []
    if epochs and epochs[-1][1] and len(epochs) - 1 not in finished:  # Ctrl+C mid-epoch: a bar with an ETA
        notes.append(f"epoch {epochs[-1][0]} was cut off before it ended (its progress bar still shows an "
                     "ETA): left out")
        epochs.pop()
    epochs = [(n, m) for n, m in epochs if m]
    if not epochs:
        return None
    names = list(dict.fromkeys(k for _, metrics in epochs for k in metrics))
    columns = {"epoch": [n for n, _ in epochs], **{k: [m.get(k) for _, m in epochs] for k in names}}
    return Table("", to_csv(columns, "epoch"), [f"read {len(epochs)} epochs from console output", *notes])


def _listed(text: str) -> Table | None:
    """`loss: [0.55, 0.48, ...]` lines: a history printed one metric a line (print(k, v) over
    history.history.items())."""
    columns = {}
    for match in _LISTED.finditer(text):
        name = match.group(1).strip()
        try:
            values = [float(v) for v in match.group(2).replace(",", " ").split()]
        except ValueError:
            continue
        if _metric(name) and values:
            columns[name] = values
    if not columns:
        return None
    return Table("", to_csv(columns), ["read one metric a line, one value per epoch"])


def _metric(name: str) -> bool:
    low = name.strip().lower()
    return bool(re.search(r"loss|acc|error|lr|learning", low)) and not _NOT_METRICS.search(low)


def _side(name: str) -> str | None:
    first = re.split(r"[\s_\-]+", name.strip().lower())
    return next((_SIDES[w] for w in first if w in _SIDES), None)


def _pairs(line: str) -> dict[str, float]:
    out: dict[str, float] = {}
    words = re.split(r"[\s_\-:]+", line.strip().lower(), maxsplit=1)
    side = _SIDES.get(words[0]) if words else None  # the line's first word ("val loss: ..., acc: ...")
    for match in _PAIR.finditer(line):
        name, value, percent = match.group(1).strip(" .-_"), match.group(2), match.group(3)
        if not _metric(name):
            continue
        key = re.sub(r"[\s.\-]+", "_", name.lower())
        own = _side(name)
        if own is not None:
            side = own
        elif side is not None and key in _CARRIED:
            key = f"{side}_{key}"
        number = float(value)
        out[key] = number / 100 if percent else number
    return out
