"""Read training histories from CSV files into per-epoch rows (epoch 1-based, loss, accuracy, val_loss,
val_accuracy, lr; None where the file has no value, float NaN/inf where it logged them).

Every problem with a file is a HistoryFileError naming the file and, where it applies, the line and
column; nothing else escapes (tests/doctor/test_history_io.py fuzzes this).

- Keras CSVLogger: `epoch` from 0, then the logged keys sorted (`accuracy, loss, val_accuracy, val_loss`),
  any accuracy name (`acc`, `sparse_categorical_accuracy`, `categorical_accuracy`, `binary_accuracy`;
  the plain one is preferred), `lr` or `learning_rate` anywhere, `NA` cells.
- TuneLab's export: `epoch,loss,accuracy,val_loss,val_accuracy,lr`, epochs from 1.
- Headers written by people, mapped by words (case, spaces, `-`, `_`, `/` and camelCase ignored):
  train/training -> the training series, val/valid/validation -> validation (test only when nothing
  says validation); loss; acc/accuracy; lr/learning rate. `Train Loss`, `valid_loss`, `Val Acc`, ...
  fastai's `epoch,train_loss,valid_loss,<metrics>,time` (its metrics are validation metrics).
- pandas `DataFrame(history.history).to_csv()`: an unnamed first column 0, 1, 2, ... is the epoch; a file
  with no epoch column has rows that are epochs 1, 2, ...
- PyTorch Lightning's CSVLogger `metrics.csv` (`epoch, step` and whatever self.log wrote, training and
  validation on separate rows, step rows mixed in): one row per epoch, from the `*_epoch` columns, else
  the mean of the epoch's step values for training and the epoch's value for validation.
- TensorBoard "Download CSV": `Wall time, Step, Value` for one tag, named by the file name (as
  TensorBoard names it, e.g. run-validation-tag-epoch_loss.csv). Rows in step order become epochs 1, 2, ...
- A long format `[run,] tag|metric, step|epoch, value` (one row per metric and epoch) is pivoted.
- An epoch counter that starts again (CSVLogger with append=True, resumed training, two logs pasted
  together): read_histories() gives one LoadedHistory per run, read_history() the last with a note.

Comma, tab or semicolon (decimal commas in tab and semicolon files), LF, CRLF or CR line ends, UTF-8
with or without a BOM (UTF-16 with one), quoted headers, title lines above the header and comment lines
(skipped, with a note). Epochs counted from 0 are shifted to start at 1 (with a note). At most MAX_EPOCHS
epochs per run, MAX_SEGMENTS runs and MAX_BYTES bytes. `regression` says when the names show a
regression run (mse, mae, ...): the Curve Doctor's classification rules cannot judge those.
"""
from __future__ import annotations

import codecs
import csv
import functools
import itertools
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from core.doctor import readers
from core.errors import UserError

# The largest history file the Doctor reads, in Streamlit's megabytes (MiB). The one number behind the
# uploader's limit (st.file_uploader's max_upload_size), the server's server.maxUploadSize (core.serve
# passes it; .streamlit/config.toml repeats it for a plain `streamlit run`, checked by a test) and the
# reader's own check, so a file over it is refused in the browser before it is sent.
MAX_MEGABYTES = 5
MAX_BYTES = MAX_MEGABYTES * 1024 * 1024
MAX_EPOCHS = 5000
COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr")
KEYS = COLUMNS[1:]
MAX_SEGMENTS = 100  # runs in one file (restarts of the epoch counter)
HEADER_SEARCH = 30  # the header is looked for in the first 30 non-empty lines
_DELIMITERS = (",", "\t", ";")


class HistoryFileError(UserError, ValueError):
    """A history file that cannot be read, with what is wrong in words."""

    def __init__(self, name: str, message: str):
        self.name = name
        self.message = message
        super().__init__(f"{name}: {message}")


@dataclass
class LoadedHistory:
    name: str
    kind: str  # keras, tunelab, pandas, fastai, csv (any other wide file), lightning, tensorboard or long
    history: list[dict]  # rows with every key of COLUMNS (None where the file has no value)
    notes: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)  # the file's own header names, in order
    mapping: dict[str, str] = field(default_factory=dict)  # file column (or tag) -> our key
    regression: bool = False  # the names say regression (mse, mae, ...): accuracy-style rules do not apply
    has_loss: bool = field(init=False)
    has_validation: bool = field(init=False)
    has_accuracy: bool = field(init=False)

    def __post_init__(self):
        def present(*keys: str) -> bool:
            return any(row.get(k) is not None for row in self.history for k in keys)

        self.has_loss = present("loss", "val_loss")
        self.has_validation = present("val_loss", "val_accuracy")
        self.has_accuracy = present("accuracy", "val_accuracy")


# ---- the public functions ---------------------------------------------------------------------------
def read_history_file(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> LoadedHistory:
    """One file on disk; when it holds several runs (a restarted epoch counter), the last one."""
    return _last(read_history_file_segments(path, max_bytes))


def read_history_file_segments(path: str | os.PathLike, max_bytes: int = MAX_BYTES) -> list[LoadedHistory]:
    """One file on disk, every run in it (one LoadedHistory per segment of the epoch counter)."""
    path = Path(path)
    try:
        if path.is_dir():
            raise HistoryFileError(path.name, "is a folder, not a CSV file")
        size = path.stat().st_size
        if size > max_bytes:
            raise HistoryFileError(path.name, too_big(size, max_bytes))
        data = path.read_bytes()
    except OSError as exc:
        raise HistoryFileError(path.name, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    return read_histories(data, path.name, max_bytes)


def read_history(data: bytes | str, name: str = "history.csv", max_bytes: int = MAX_BYTES) -> LoadedHistory:
    """Parse one CSV held in memory (an upload or a file's bytes); of several runs, the last one."""
    return _last(read_histories(data, name, max_bytes))


def read_histories(data: bytes | str, name: str = "history.csv", max_bytes: int = MAX_BYTES) -> list[LoadedHistory]:
    """Parse one history file held in memory into one LoadedHistory per run it holds: a CSV whose epoch
    counter restarts (Keras CSVLogger with append=True, resumed training) or whose header comes again
    holds several, and so does a notebook with several fits. JSON histories, console output and
    notebooks are read by core/doctor/readers/ into CSV tables first."""
    text = _decode(data, name, max_bytes)
    found = readers.tables(text, name)
    if found is None:
        return _read_csv(text, name)
    kind, tables = found
    if not tables:
        raise HistoryFileError(name, f"reads as {kind}, but no epoch with a loss or an accuracy was found in it")
    runs = []
    for table in tables:
        run_name = f"{name} {table.run}".strip()
        for loaded in _read_csv(table.csv, run_name):
            runs.append(replace(loaded, kind=kind, notes=table.notes + loaded.notes))
    return runs


def _read_csv(text: str, name: str) -> list[LoadedHistory]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start, delimiter, notes = _find_header(lines, name)
    blocks = _blocks(lines, start, delimiter, name, notes)
    segments: list[_Segment] = []
    for number, (header, header_line, rows) in enumerate(blocks):
        block = _read_block(name, header, rows, delimiter)
        if number:
            block[0].header_line = header_line
        segments += block
    return _name_segments(name, segments, notes)


def _last(segments: list[LoadedHistory]) -> LoadedHistory:
    if len(segments) == 1:
        return segments[0]
    last = segments[-1]
    left_out = len(segments) - 1
    note = (f"this file holds {len(segments)} runs (the epoch counter starts again); only the last is shown: "
            f"{left_out} earlier segment{'s were' if left_out > 1 else ' was'} left out")
    last.notes = [note, *last.notes]
    return last


# ---- bytes, lines, the header -------------------------------------------------------------------------
def too_big(size: int, max_bytes: int = MAX_BYTES) -> str:
    """What is said of a file over the limit (in MiB, the unit Streamlit's uploader counts in)."""
    return f"is {size / 2**20:.1f} MB; the limit is {max_bytes / 2**20:g} MB"


def _decode(data: bytes | str, name: str, max_bytes: int) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if len(data) > max_bytes:
        raise HistoryFileError(name, too_big(len(data), max_bytes))
    if not data.strip():
        raise HistoryFileError(name, "is empty")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel's "Unicode text"
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            text = None
        ascii_share = sum(c.isascii() for c in text) / len(text) if text else 0.0
        if text is not None and "\x00" not in text and ascii_share >= 0.8:  # not bytes that merely start so
            if not text.strip():
                raise HistoryFileError(name, "is empty")
            return text
    if b"\x00" in data:
        raise HistoryFileError(name, "is not a text CSV file (it holds binary data)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HistoryFileError(name, "is not a text CSV file (it is not UTF-8 text)") from None


def _split(line: str, delimiter: str) -> list[str]:
    try:
        cells = next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return [line]
    return [c.strip() for c in cells]


def _find_header(lines: list[str], name: str) -> tuple[int, str, list[str]]:
    """(index of the header line, delimiter, notes): the first line that looks like a header, that is
    names we know, no numbers, and as many fields as the line after it."""
    nonempty = [i for i, line in enumerate(lines) if line.strip()]
    if not nonempty:
        raise HistoryFileError(name, "is empty")
    for pos, i in enumerate(nonempty[:HEADER_SEARCH]):
        following = lines[nonempty[pos + 1]] if pos + 1 < len(nonempty) else None
        best = None
        for delimiter in _DELIMITERS:
            cells = _split(lines[i], delimiter)
            known = _header_score(cells)
            if not known:
                continue
            if following is not None and not _fits(len(cells), _split(following, delimiter)):
                continue
            if best is None or (known, len(cells)) > best[0]:
                best = ((known, len(cells)), delimiter)
        if best is not None:
            notes = []
            if pos:
                skipped = lines[nonempty[0]].strip()
                skipped = skipped if len(skipped) <= 40 else skipped[:40] + "..."
                notes.append(f"skipped {pos} line{'s' if pos > 1 else ''} above the header (line "
                             f"{nonempty[0] + 1}: {skipped!r})")
            return i, best[1], notes
    first = lines[nonempty[0]]
    delimiter = max(_DELIMITERS, key=first.count)
    cells = _split(first, delimiter)
    if all(_is_number(c) or not c for c in cells):
        shown = first.strip() if len(first.strip()) <= 30 else first.strip()[:30] + "..."
        raise HistoryFileError(name, f"has no header line: line {nonempty[0] + 1} ({shown!r}) holds numbers; the "
                                     f"first line should name the columns, e.g. epoch,loss,val_loss")
    return nonempty[0], delimiter, []


def _header_score(cells: list[str]) -> int:
    """How many cells are names we know (0 when any cell is a number: then it is a data line)."""
    if not any(cells) or any(_is_number(c) for c in cells):
        return 0
    known = 0
    for cell in cells:
        col = _classify(cell)
        if col.kind != "other" and col.unknown <= 2:
            known += 1
    return known


def _fits(n: int, cells: list[str]) -> bool:
    return len(cells) == n or (len(cells) > n and not any(cells[n:]))


def _is_number(cell: str) -> bool:
    cell = cell.strip()
    if not cell:
        return False
    try:
        float(cell.replace(",", ".", 1) if cell.count(",") == 1 and "." not in cell else cell)
    except ValueError:
        return False
    return True


_Block = tuple[list[str], int, list[tuple[int, list[str]]]]  # header, its line number, (line, cells) rows


def _blocks(lines: list[str], start: int, delimiter: str, name: str, notes: list[str]) -> list[_Block]:
    """The header and the rows under it; a line that repeats the header (two logs concatenated) or is a
    header of its own starts a new block. Comment lines (#) and lines of words only are skipped (a note)."""
    header = _split(lines[start], delimiter)
    while len(header) > 1 and header[-1] == "":  # a trailing delimiter
        header.pop()
    blocks: list[_Block] = [(header, start + 1, [])]
    reader = csv.reader(lines[start + 1:], delimiter=delimiter)
    line = start + 1
    skipped: list[int] = []
    try:
        for cells in reader:
            row_line, line = line + 1, start + 1 + reader.line_num
            cells = [c.strip() for c in cells]
            if not any(cells):
                continue
            if _is_new_header(cells, blocks[-1][0]):
                while len(cells) > 1 and cells[-1] == "":
                    cells.pop()
                blocks.append((cells, row_line, []))
                continue
            width = len(blocks[-1][0])
            if len(cells) > width and not any(cells[width:]):
                cells = cells[:width]
            if cells[0].startswith("#") or (len(cells) != width and not any(_is_number(c) for c in cells)):
                skipped.append(row_line)  # a comment, or words such as "Test accuracy: 0.98" below the table
                continue
            if len(cells) != width:
                raise HistoryFileError(name, f"line {row_line} has {len(cells)} field{'s' if len(cells) != 1 else ''} "
                                             f"but the header has {width}")
            blocks[-1][2].append((row_line, cells))
    except csv.Error as exc:
        raise HistoryFileError(name, f"line {line + 1} is not valid CSV ({exc})") from None
    kept = [b for b in blocks if b[2]]
    if not kept:
        raise HistoryFileError(name, "has a header but no data rows")
    if skipped:
        shown = ", ".join(map(str, skipped[:5])) + (", ..." if len(skipped) > 5 else "")
        notes.append(f"skipped {len(skipped)} line{'s' if len(skipped) > 1 else ''} that hold no data (line "
                     f"{shown})")
    return kept


def _is_new_header(cells: list[str], header: list[str]) -> bool:
    if cells[0][:1].isdigit():  # the common case: a data row
        return False
    if cells[0].lower() == header[0].lower() and [c.lower() for c in cells[:len(header)]] == [
            h.lower() for h in header] and not any(cells[len(header):]):
        return True
    return all(cells) and not any(_is_number(c) for c in cells) and all(
        _classify(c).kind != "other" for c in cells)


# ---- names: words -> our keys ---------------------------------------------------------------------------
_VAL = {"val", "valid", "validation", "dev", "eval", "evaluation"}
_TEST = {"test", "testing"}
_TRAIN = {"train", "training", "trn"}
_LOSS = {"loss", "losses", "cost"}
_ACC = {"acc", "accuracy"}
_ACC_KERAS = {"sparse", "categorical", "binary"}  # Keras' accuracy metrics; the plain name wins over them
_ACC_NOT = {"top", "k", "topk", "balanced"}  # top-k and balanced accuracy are other metrics
_NEUTRAL = {"epoch", "epochs", "mean", "avg", "average", "total", "overall", "set", "data", "value", "history",
            "metric", "metrics", "per", "the", "of", "model"}
_EPOCH = {"epoch", "epochs", "ep"}
_EPOCH_EXTRA = {"num", "number", "no", "nr", "n", "idx", "index", "id", "count"}
_REGRESSION_WORDS = {"mse", "mae", "rmse", "msle", "rmsle", "mape", "smape", "huber", "r2", "rsquared",
                     "logcosh", "mad"}
_REGRESSION_PHRASES = [("mean", "squared", "error"), ("mean", "absolute", "error"), ("squared", "error"),
                       ("absolute", "error"), ("percentage", "error"), ("logarithmic", "error"),
                       ("log", "cosh"), ("r", "2"), ("r", "squared"), ("explained", "variance")]
_NOT_LR = {"momentum", "decay", "warmup", "beta", "betas", "weight"}
_VOCAB = sorted(_VAL | _TEST | _TRAIN | _LOSS | _ACC | _EPOCH | _REGRESSION_WORDS
                | {"lr", "learning", "rate", "step", "steps", "wall", "time", "value", "tag", "global"},
                key=len, reverse=True)


@dataclass(frozen=True)
class _Column:
    kind: str  # metric, epoch, index, step, wall, value, tag, run or other
    key: str | None = None  # for a metric: one of KEYS, before test becomes validation
    test: bool = False  # a test-set metric (validation only when no column says validation)
    rank: int = 0  # lower is better among columns that could be the same key
    suffix: str | None = None  # Lightning's _epoch / _step
    regression: bool = False
    unknown: int = 0  # words we do not know


def _split_token(token: str) -> list[str]:
    """`valloss` -> val, loss: a token made of our words only is split into them."""
    if token in _VOCAB or len(token) > 40:
        return [token]
    best: dict[int, list[str]] = {0: []}
    for end in range(1, len(token) + 1):
        for word in _VOCAB:
            start = end - len(word)
            if start in best and token[start:end] == word:
                best[end] = best[start] + [word]
                break
    return best.get(len(token), [token])


def _words(name: str) -> list[str]:
    name = name.replace("\ufeff", "").strip().strip("\"'")
    name = re.sub(r"([a-z])([A-Z])", r"\1 \2", name).lower()
    words: list[str] = []
    for token in re.findall(r"[a-z]+|[0-9]+", name):
        words += _split_token(token)
    return words


def _is_regression(words: list[str]) -> bool:
    if _REGRESSION_WORDS & set(words):
        return True
    return any(tuple(words[i:i + len(p)]) == p for p in _REGRESSION_PHRASES for i in range(len(words)))


@functools.lru_cache(maxsize=4096)
def _classify(name: str) -> _Column:
    words = _words(name)
    ws = set(words)
    if not words:
        return _Column("other")
    if ws <= _EPOCH | _EPOCH_EXTRA and ws & _EPOCH:
        return _Column("epoch")
    if words in (["step"], ["steps"], ["global", "step"]):
        return _Column("step")
    if words in (["wall", "time"], ["walltime"]):
        return _Column("wall")
    if words in (["value"], ["values"]):
        return _Column("value")
    if words in (["tag"], ["tags"], ["metric"], ["name"], ["key"], ["metric", "name"]):
        return _Column("tag")
    if words == ["run"]:
        return _Column("run")
    if words in (["unnamed", "0"], ["index"]):
        return _Column("index")
    suffix = None
    if len(words) >= 2 and words[-1] in ("epoch", "step") and (ws - {"epoch", "step"}) & (_LOSS | _ACC | {"lr"}):
        suffix, words = words[-1], words[:-1]
        ws = set(words)
    val, test, train = bool(ws & _VAL), bool(ws & _TEST), bool(ws & _TRAIN)
    regression = _is_regression(words)
    if val + test + train > 1:
        return _Column("other", regression=regression)
    rest = ws - _VAL - _TEST - _TRAIN - _NEUTRAL
    is_lr = "lr" in ws or ("learning" in ws and "rate" in ws) or "learningrate" in ws
    loss, acc = bool(ws & _LOSS), bool(ws & _ACC)
    if is_lr and not loss and not acc:
        if val or test or ws & _NOT_LR:
            return _Column("other")  # Keras writes val_learning_rate (all NA) when there is no validation
        extra = rest - {"lr", "learning", "rate", "learningrate"}
        return _Column("metric", "lr", rank=1 if extra else 0, suffix=suffix, unknown=len(extra))
    if loss and acc:
        return _Column("other", regression=regression)
    prefix = "val_" if val or test else ""
    if loss:
        extra = rest - _LOSS
        rank = 0 if not extra else (1 if regression and not extra - _REGRESSION_WORDS else 2)
        return _Column("metric", prefix + "loss", test, rank, suffix, regression, len(extra))
    if acc:
        extra = rest - _ACC
        if extra & _ACC_NOT or any(w.isdigit() for w in extra):
            return _Column("other", unknown=len(extra))
        rank = 0 if not extra else (1 if extra <= _ACC_KERAS else 2)
        return _Column("metric", prefix + "accuracy", test, rank, suffix, regression, len(extra))
    if regression:  # a file logging mse/mae with no loss column: that error is its loss
        return _Column("metric", prefix + "loss", test, 3, suffix, True, 0)
    return _Column("other", unknown=len(rest))


@dataclass
class _Mapping:
    picked: dict[str, int]  # our key -> column index
    sources: dict[str, list[int]]  # our key -> every candidate column, best first
    notes: list[str]
    regression: bool


_SAY = {"loss": "loss", "accuracy": "accuracy", "val_loss": "validation loss", "val_accuracy": "validation accuracy",
        "lr": "learning rate"}


def _is_fastai(header: list[str]) -> bool:
    """fastai's CSVLogger: epoch,train_loss,valid_loss,<metrics>,time; its metrics are validation metrics."""
    names = [h.lower() for h in header]
    return names[:3] == ["epoch", "train_loss", "valid_loss"] and names[-1] == "time"


def _map_columns(header: list[str], skip: set[int] = frozenset()) -> _Mapping:
    cols = [_classify(h) for h in header]
    if _is_fastai(header):
        cols = [replace(c, key="val_accuracy") if c.key == "accuracy" and not set(_words(h)) & _TRAIN else c
                for h, c in zip(header, cols)]
    metrics = [(i, c) for i, c in enumerate(cols) if c.kind == "metric" and i not in skip]
    has_val = any(c.key.startswith("val_") and not c.test for _, c in metrics)
    notes: list[str] = []
    sources: dict[str, list[int]] = {}
    ranked = sorted(metrics, key=lambda ic: (ic[1].test, ic[1].rank, ic[1].suffix is not None, ic[0]))
    for i, c in ranked:
        if c.test and has_val:
            continue
        sources.setdefault(c.key, []).append(i)
    picked = {key: idx[0] for key, idx in sources.items()}
    for key, i in picked.items():
        c = cols[i]
        if c.test:
            notes.append(f"{header[i]} was read as the {_SAY[key]} (the file has no validation column)")
        if c.rank == 3:
            notes.append(f"{header[i]} was read as the {_SAY[key]} (the file has no loss column)")
        same = [header[j] for j in sources[key][1:] if cols[j].rank == c.rank and cols[j].suffix == c.suffix]
        if same:
            notes.append(f"several columns could be the {_SAY[key]} ({header[i]}, {', '.join(same[:3])}): "
                         f"{header[i]} was used")
    if _is_fastai(header) and any(cols[i].key == "val_accuracy" for i in picked.values()):
        notes.append("fastai computes its metrics on the validation set: accuracy was read as the validation accuracy")
    regression = any(c.regression for c in cols)
    return _Mapping(picked, sources, notes, regression)


def _found(header: list[str]) -> str:
    shown = [h if h else "(empty)" for h in header[:8]]
    return ", ".join(shown) + (", ..." if len(header) > 8 else "")


def _no_metric_error(name: str, header: list[str]) -> HistoryFileError:
    return HistoryFileError(
        name, f"has no loss or accuracy column (found: {_found(header)}); expected Keras CSVLogger columns "
              f"epoch, loss, accuracy, val_loss, val_accuracy (optional lr), a Lightning metrics.csv, "
              f"or TensorBoard's Wall time, Step, Value")


# ---- cells -> numbers ---------------------------------------------------------------------------------
_MISSING = {"", "na", "n/a", "n.a.", "none", "null", "nil", "-", "--", "?"}
_NAN = {"nan", "-nan", "+nan"}
_WRAPPED = r"^(?:tensor|(?:np\.|numpy\.)?float(?:16|32|64))\(\s*([^,()]*?)\s*(?:,[^()]*)?\)$"  # tensor(0.5, ...)
_DECIMAL_COMMA = r"^([-+]?\d*),(\d+(?:[eE][-+]?\d+)?)$"


@dataclass
class _Numbers:
    values: np.ndarray  # float, NaN where missing
    present: np.ndarray  # bool: the file has a value (a logged NaN counts)
    decimal_comma: bool = False
    percent: bool = False


def _numbers(name: str, cells: list[str], lines: list[int], column: str, delimiter: str,
             epoch: bool = False) -> _Numbers:
    s = pd.Series(cells, dtype=object).astype(str).str.strip()
    missing = s.str.lower().isin(_MISSING).to_numpy()
    values = pd.to_numeric(s.where(~missing, "nan"), errors="coerce").astype("float64").to_numpy(copy=True)
    failed = np.isnan(values) & ~missing & ~s.str.lower().isin(_NAN).to_numpy()
    comma = percent = False
    if failed.any():  # the slower rewrites only for the cells that need them
        t = s[failed]
        if epoch:
            t = t.str.replace(_EPOCH_CELL, lambda m: m.group(1) or m.group(2), regex=True)
        t = t.str.replace(_WRAPPED, r"\1", regex=True)
        pct = t.str.endswith("%")
        t = t.where(~pct, t.str[:-1].str.strip())
        if delimiter != ",":
            fixed = t.str.replace(_DECIMAL_COMMA, r"\1.\2", regex=True)
            comma = bool((fixed != t).any())
            t = fixed
        again = pd.to_numeric(t, errors="coerce").astype("float64").to_numpy()
        still = np.isnan(again) & ~t.str.lower().isin(_NAN).to_numpy()
        if still.any():
            k = int(np.flatnonzero(failed)[np.argmax(still)])
            shown = cells[k].strip()
            shown = shown if len(shown) <= 20 else shown[:20] + "..."
            what = "a whole epoch number (0, 1, 2, ...)" if epoch else "a number"
            raise HistoryFileError(name, f"line {lines[k]}, column {column or '(no name)'}: {shown!r} is not {what}")
        again = np.where(pct.to_numpy(), again / 100, again)
        values[failed] = again
        percent = bool(pct.any())
    return _Numbers(values, ~missing, comma, percent)


_EPOCH_CELL = r"(?i)^(?:(?:epoch|ep)[\s_#:-]*(\d+)(?:\s*/\s*\d+)?|(\d+)\s*/\s*\d+)$"  # Epoch_03, 3/10


def _epochs(name: str, cells: list[str], lines: list[int], column: str, delimiter: str) -> np.ndarray:
    nums = _numbers(name, cells, lines, column, delimiter, epoch=True)
    v = nums.values
    ok = nums.present & np.isfinite(v) & (np.abs(v) <= 1e9)
    ok &= np.where(ok, v == np.round(v), False) & (v >= 0)
    if not ok.all():
        k = int(np.argmin(ok))
        shown = cells[k].strip()[:20]
        raise HistoryFileError(name, f"line {lines[k]}, column {column or '(no name)'}: {shown!r} is not a whole "
                                     f"epoch number (0, 1, 2, ...)")
    return v.astype(np.int64)


# ---- segments: one run each ----------------------------------------------------------------------------
@dataclass
class _Segment:
    kind: str
    epochs: list[int]
    values: dict[str, list[float | None]]  # our key -> one value per epoch
    columns: list[str]
    mapping: dict[str, str]
    regression: bool
    notes: list[str]
    start_line: int  # the line of its first row
    restart: tuple[int, int] | None = None  # (epoch before, epoch now) where the counter went back
    header_line: int | None = None  # where a header of its own (a second one in the file) stands


def _name_segments(name: str, segments: list[_Segment], notes: list[str]) -> list[LoadedHistory]:
    out = []
    n = len(segments)
    if n > MAX_SEGMENTS:
        raise _too_many_runs(name, [s.start_line for s in segments])
    for k, seg in enumerate(segments, 1):
        if len(seg.epochs) > MAX_EPOCHS:
            raise HistoryFileError(name, f"has {len(seg.epochs):,} epochs; the limit is {MAX_EPOCHS:,} epochs")
        seg_notes = list(notes) + seg.notes
        if n > 1:
            if seg.restart:
                why = (f"the epoch counter restarted at line {seg.start_line} (epoch {seg.restart[1]} after "
                       f"epoch {seg.restart[0]})")
            elif seg.header_line:
                why = f"a new header at line {seg.header_line} starts it"
            else:
                later = segments[1]
                where = (f"the epoch counter restarts at line {later.start_line}" if later.restart
                         else f"a second header stands at line {later.header_line}")
                why = f"the file holds {n} runs ({where})"
            seg_notes.insert(0, f"part {k} of {n}: {why}")
        history = [{"epoch": int(e), **{key: seg.values.get(key, [None] * len(seg.epochs))[j] for key in KEYS}}
                   for j, e in enumerate(seg.epochs)]
        out.append(LoadedHistory(f"{name} (part {k} of {n})" if n > 1 else name, seg.kind, history, seg_notes,
                                 list(seg.columns), dict(seg.mapping), seg.regression))
    return out


def _runs(name: str, epochs: np.ndarray, present: np.ndarray | None, lines: list[int]) -> list[tuple[int, int]]:
    runs = _split_runs(epochs, present)
    if len(runs) > MAX_SEGMENTS:
        raise _too_many_runs(name, [lines[a] for a, _ in runs])
    return runs


def _too_many_runs(name: str, starts: list[int]) -> HistoryFileError:
    where = ", ".join(map(str, starts[1:4]))
    return HistoryFileError(name, f"its epoch counter starts again {len(starts) - 1:,} times (at lines {where}, "
                                  f"...): that is not one training history; at most {MAX_SEGMENTS} runs are read "
                                  f"from one file")


def _split_runs(epochs: np.ndarray, present: np.ndarray | None) -> list[tuple[int, int]]:
    """Row ranges [a, b) of the runs in a file: a run ends where the epoch goes back. Where it stays
    the same, the rows are one epoch written in parts (training and validation apart) unless both rows
    hold a value of the same column (`present`, rows x columns); without `present` they always are."""
    n = len(epochs)
    if present is None or not (epochs[1:] == epochs[:-1]).any():
        bounds = [0, *(np.flatnonzero(epochs[1:] < epochs[:-1]) + 1).tolist(), n]
        return list(itertools.pairwise(bounds))
    masks = (present.astype(np.int64) << np.arange(present.shape[1], dtype=np.int64)).sum(axis=1).tolist()
    ep = epochs.tolist()
    bounds, seen = [0], masks[0] if n else 0
    for r in range(1, n):
        if ep[r] == ep[r - 1] and not seen & masks[r]:
            seen |= masks[r]
            continue
        if ep[r] <= ep[r - 1]:
            bounds.append(r)
        seen = masks[r]
    bounds.append(n)
    return list(itertools.pairwise(bounds))


def _shift(segments: list[_Segment]) -> None:
    """Epochs counted from 0 become 1-based: every run of a block whose first run starts at 0."""
    block = bool(segments and segments[0].epochs and segments[0].epochs[0] == 0)
    for seg in segments:
        if block or (seg.epochs and min(seg.epochs) == 0):
            seg.epochs = [e + 1 for e in seg.epochs]
            seg.notes.append("epochs counted from 0 were shifted to start at 1")


def _check_values(name: str, values: dict[str, list], used: list[str]) -> None:
    if not any(v is not None for series in values.values() for v in series):
        raise HistoryFileError(name, f"has the column{'s' if len(used) > 1 else ''} {', '.join(used)} "
                                     f"but no values in {'them' if len(used) > 1 else 'it'}")


def _percent(numbers: dict[str, _Numbers], header_of: dict[str, str]) -> list[str]:
    """Accuracy written in percent (0..100, or with a % sign) is divided by 100."""
    notes = []
    for key, nums in numbers.items():
        if not key.endswith("accuracy"):
            continue
        if nums.percent:
            notes.append(f"{header_of[key]} is in percent: divided by 100")
            continue
        finite = nums.values[nums.present & np.isfinite(nums.values)]
        if finite.size and finite.min() >= 0 and 1.5 < finite.max() <= 100:
            nums.values = nums.values / 100
            notes.append(f"{header_of[key]} looks like percent (up to {finite.max():g}): divided by 100")
    return notes


def _column_cells(rows: list[tuple[int, list[str]]], i: int) -> list[str]:
    return [cells[i] for _, cells in rows]


# ---- one block (a header and its rows): which format -----------------------------------------------------
def _read_block(name: str, header: list[str], rows: list[tuple[int, list[str]]], delimiter: str) -> list[_Segment]:
    kinds = [_classify(h).kind for h in header]
    if "value" in kinds and "tag" in kinds:
        return _long(name, header, kinds, rows, delimiter)
    if "value" in kinds and "step" in kinds:
        return _tensorboard(name, header, kinds, rows, delimiter)
    if "epoch" in kinds and "step" in kinds:
        cells = [c.lower() for c in _column_cells(rows, kinds.index("epoch"))]
        if len(set(cells)) < len(cells) or set(cells) & _MISSING:  # several rows per epoch: Lightning's way
            return _lightning(name, header, kinds, rows, delimiter)
    return _wide(name, header, kinds, rows, delimiter)


def _wide(name, header, kinds, rows, delimiter) -> list[_Segment]:
    """Keras, TuneLab, pandas and hand-made files: one row per epoch, one column per metric."""
    lines = [line for line, _ in rows]
    epoch_i = kinds.index("epoch") if "epoch" in kinds else None
    index_i = 0 if epoch_i is None and len(header) > 1 and (kinds[0] == "index" or header[0] == "") else None
    mapping = _map_columns(header, skip={i for i in (epoch_i, index_i) if i is not None})
    if not mapping.picked:
        raise _no_metric_error(name, header)
    notes = list(mapping.notes)
    numbers = {key: _numbers(name, _column_cells(rows, i), lines, header[i], delimiter)
               for key, i in mapping.picked.items()}
    notes += _percent(numbers, {k: header[i] for k, i in mapping.picked.items()})
    if any(n.decimal_comma for n in numbers.values()):
        notes.append("decimal commas were read as decimal points")
    if index_i is not None:  # pandas' DataFrame.to_csv() index: the epoch, when it holds whole numbers
        try:
            epochs = _epochs(name, _column_cells(rows, index_i), lines, header[index_i], delimiter)
            epoch_i = index_i
            notes.append("the first column has no name (a pandas index): read as the epoch")
        except HistoryFileError:
            index_i = None
    if epoch_i is None:
        epochs = np.arange(1, len(rows) + 1)
        notes.append(f"no epoch column: the rows were read as epochs 1 to {len(rows)}")
    elif index_i is None:
        epochs = _epochs(name, _column_cells(rows, epoch_i), lines, header[epoch_i], delimiter)
    if [h.lower() for h in header] == list(COLUMNS) and epochs[0] >= 1:
        kind = "tunelab"
    elif index_i is not None:
        kind = "pandas"
    elif _is_fastai(header):
        kind = "fastai"
    elif epoch_i is not None and header[epoch_i].lower() == "epoch" and epochs[0] == 0:
        kind = "keras"
    else:
        kind = "csv"
    used = {header[epoch_i]: "epoch"} if epoch_i is not None else {}
    used.update({header[i]: key for key, i in sorted(mapping.picked.items(), key=lambda ki: ki[1])})
    present = np.stack([n.present for n in numbers.values()], axis=1)
    segments = []
    for a, b in _runs(name, epochs, present, lines):
        order = list(dict.fromkeys(int(e) for e in epochs[a:b]))
        if len(order) == b - a:  # one row per epoch
            values = {key: [float(v) if has else None for v, has in zip(nums.values[a:b], nums.present[a:b])]
                      for key, nums in numbers.items()}
        else:  # rows of one epoch written apart (training, then validation): one row each
            values = {}
            for key, nums in numbers.items():
                got = _per_epoch(epochs[a:b], nums.values[a:b], nums.present[a:b], mean=False)
                values[key] = [got.get(e) for e in order]
        _check_values(name, values, [h for h, k in used.items() if k != "epoch"])
        seg_notes = list(notes)
        if len(order) < b - a:
            seg_notes.append("rows of the same epoch (training and validation written apart) were merged")
        seg = _Segment(kind, order, values, header, used, mapping.regression, seg_notes, lines[a])
        if a > 0:
            seg.restart = (int(epochs[a - 1]), int(epochs[a]))
        segments.append(seg)
    _shift(segments)
    return segments


def _tensorboard(name, header, kinds, rows, delimiter) -> list[_Segment]:
    """TensorBoard's Download CSV: one tag, named by the file (run-<run>-tag-<tag>.csv)."""
    lines = [line for line, _ in rows]
    step_i, value_i = kinds.index("step"), kinds.index("value")
    words = [w for w in _words(Path(name).stem) if not w.isdigit()]
    col = _classify(" ".join(words))
    key = col.key if col.kind == "metric" else ("val_loss" if set(words) & _VAL else "loss")
    steps = _numbers(name, _column_cells(rows, step_i), lines, header[step_i], delimiter)
    bad = ~(steps.present & np.isfinite(steps.values))
    if bad.any():
        k = int(np.argmax(bad))
        raise HistoryFileError(name, f"line {lines[k]}, column {header[step_i]}: {rows[k][1][step_i][:20]!r} "
                                     f"is not a step number")
    values = _numbers(name, _column_cells(rows, value_i), lines, header[value_i], delimiter)
    order = np.argsort(steps.values, kind="stable")
    series = [float(values.values[k]) if values.present[k] else None for k in order]
    _check_values(name, {key: series}, [header[value_i]])
    said = "from the file name" if col.kind == "metric" else "the file name names no known tag"
    notes = [f"TensorBoard export read as {key} ({said}); its steps became epochs 1 to {len(series)}"]
    seg = _Segment("tensorboard", list(range(1, len(series) + 1)), {key: series}, header,
                   {header[step_i]: "epoch", header[value_i]: key}, _is_regression(words), notes, lines[0])
    return [seg]


def _long(name, header, kinds, rows, delimiter) -> list[_Segment]:
    """One row per metric and epoch: `[run,] tag, step|epoch, value`, pivoted."""
    lines = [line for line, _ in rows]
    tag_i, value_i = kinds.index("tag"), kinds.index("value")
    run_i = kinds.index("run") if "run" in kinds else None
    step_i = kinds.index("epoch") if "epoch" in kinds else (kinds.index("step") if "step" in kinds else None)
    if step_i is None:
        raise HistoryFileError(name, f"has {header[tag_i]} and {header[value_i]} columns but no epoch or step column")
    epochs = _epochs(name, _column_cells(rows, step_i), lines, header[step_i], delimiter)
    values = _numbers(name, _column_cells(rows, value_i), lines, header[value_i], delimiter)
    runs = _column_cells(rows, run_i) if run_i is not None else [""] * len(rows)
    keys, unknown, mapping, regression = [], set(), {}, False
    for run, tag in zip(runs, _column_cells(rows, tag_i)):
        words = _words(run) + _words(tag)
        col = _classify(" ".join(words))
        key = col.key if col.kind == "metric" else None
        regression = regression or _is_regression(words)
        if key is None:
            unknown.add(tag)
        else:
            mapping.setdefault(f"{run}/{tag}" if run else tag, key)
        keys.append(key)
    frame = pd.DataFrame({"epoch": epochs, "key": keys, "value": values.values, "present": values.present})
    frame = frame[frame["key"].notna() & frame["present"]].drop_duplicates(["epoch", "key"], keep="last")
    if frame.empty:
        raise HistoryFileError(name, f"has no loss or accuracy tags (found: {', '.join(sorted(unknown)[:5])})")
    table = frame.pivot(index="epoch", columns="key", values="value").sort_index()
    has = frame.assign(present=True).pivot(index="epoch", columns="key", values="present").reindex(table.index)
    series = {key: [float(v) if h is True else None for v, h in zip(table[key], has[key])] for key in table.columns}
    notes = [f"ignored tags: {', '.join(sorted(unknown)[:5])}"] if unknown else []
    seg = _Segment("long", [int(e) for e in table.index], series, header, mapping, regression, notes, lines[0])
    _shift([seg])
    return [seg]


def _lightning(name, header, kinds, rows, delimiter) -> list[_Segment]:
    """PyTorch Lightning's CSVLogger metrics.csv: rows per logging step, training and validation apart."""
    lines = [line for line, _ in rows]
    epoch_i, step_i = kinds.index("epoch"), kinds.index("step")
    cols = [_classify(h) for h in header]
    mapping = _map_columns(header, skip={epoch_i, step_i})
    if not mapping.picked:
        raise _no_metric_error(name, header)
    # Lightning leaves the epoch empty on some rows (LearningRateMonitor's): they belong to the next epoch
    raw = pd.Series(_column_cells(rows, epoch_i), dtype=object).astype(str).str.strip()
    empty = raw.str.lower().isin(_MISSING).to_numpy()
    if empty.all():
        raise HistoryFileError(name, f"column {header[epoch_i]} is empty on every line")
    filled = raw.where(~empty).bfill().ffill().tolist()
    epochs = _epochs(name, filled, lines, header[epoch_i], delimiter)
    numbers = {i: _numbers(name, _column_cells(rows, i), lines, header[i], delimiter)
               for idx in mapping.sources.values() for i in idx}
    segments = []
    for a, b in _runs(name, epochs, None, lines):
        order = list(dict.fromkeys(int(e) for e in epochs[a:b]))
        values: dict[str, list[float | None]] = {}
        used: dict[str, str] = {header[epoch_i]: "epoch"}
        for key, idx in mapping.sources.items():
            combined: dict[int, float] = {}
            best = min(cols[j].rank for j in idx)  # the plain name first; its _epoch, then _step column
            same = [j for j in idx if cols[j].rank == best]
            for i in sorted(same, key=lambda j: ({"epoch": 0, None: 1, "step": 2}[cols[j].suffix], j)):
                mean = cols[i].suffix == "step" or (cols[i].suffix is None and key in ("loss", "accuracy"))
                got = _per_epoch(epochs[a:b], numbers[i].values[a:b], numbers[i].present[a:b], mean)
                fresh = {e: v for e, v in got.items() if e not in combined}
                if fresh:
                    combined.update(fresh)
                    used[header[i]] = key
            values[key] = [combined.get(e) for e in order]
        _check_values(name, values, [h for h, k in used.items() if k != "epoch"])
        sources = "; ".join(f"{k} from {', '.join(h for h, kk in used.items() if kk == k)}"
                            for k in KEYS if any(kk == k for kk in used.values()))
        notes = [*mapping.notes, (f"Lightning metrics.csv: {b - a} rows (steps, training and validation apart) "
                                  f"became {len(order)} epochs ({sources})")]
        seg = _Segment("lightning", order, values, header, used, mapping.regression, notes, lines[a])
        if a > 0:
            seg.restart = (int(epochs[a - 1]), int(epochs[a]))
        segments.append(seg)
    _shift(segments)
    return segments


def _per_epoch(epochs: np.ndarray, values: np.ndarray, present: np.ndarray, mean: bool) -> dict[int, float]:
    """One value per epoch from the rows that hold one: their mean (steps) or the last (an epoch value).
    A logged NaN stays NaN (a diverging run shows as one)."""
    if not present.any():
        return {}
    grouped = pd.DataFrame({"epoch": epochs[present], "value": values[present]}).groupby("epoch", sort=False)["value"]
    result = grouped.mean(skipna=False) if mean else grouped.last(skipna=False)
    return {int(e): float(v) for e, v in result.items()}
