"""A history as the Curve Doctor reads it: per-epoch arrays (NaN where a value is missing), what the
per-step losses and per-layer probes add when a run has them, the number of classes (given, or inferred
from the curves), and the shape measures the rules are written in: a falling (isotonic) fit of the log
loss and the rises above it, slopes over the first and last third, flat stretches."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _column(rows: list[dict], *keys: str) -> np.ndarray:
    out = np.full(len(rows), np.nan)
    for i, row in enumerate(rows):
        for key in keys:
            if row.get(key) is not None:
                out[i] = _num(row[key])
                break
    return out


@dataclass
class Classes:
    """How many classes, and where that number came from: given, inferred (with the evidence) or unknown."""

    k: int | None
    how: str  # "given", "inferred" or "unknown"
    because: str = ""
    majority: float | None = None  # a binary task's majority share, when the curves show it is imbalanced

    @property
    def chance(self) -> float | None:
        """The loss of guessing: ln K for balanced classes; for an imbalanced binary task the entropy
        of its class balance (what always answering with the class shares gives)."""
        if self.majority is not None:
            return _binary_entropy(self.majority)
        return math.log(self.k) if self.k else None

    def said(self) -> str:
        """' (10 classes, inferred from ...)' for evidence texts; '' when given or unknown."""
        out = f" ({self.k} classes, inferred from {self.because})" if self.how == "inferred" else ""
        if self.majority is not None:
            out += (f"; the classes are {pct_text(self.majority)} to {pct_text(1 - self.majority)}, so guessing by "
                    f"the class shares gives {self.chance:.3g}")
        return out


@dataclass
class Curves:
    epochs: np.ndarray  # 1-based epoch numbers
    loss: np.ndarray
    val_loss: np.ndarray
    acc: np.ndarray
    val_acc: np.ndarray
    lr: np.ndarray
    classes: Classes
    first_step_loss: float | None = None
    step_noise: float | None = None  # typical relative spread of one batch's loss within an epoch
    steps_per_epoch: float | None = None
    step_nonfinite_epoch: int | None = None
    first_epoch_peak: float | None = None  # the highest single-batch loss of the first epoch
    # the columns the history has: a file's (its mapping), or every column for a stored run, where a
    # missing value means NaN (the store keeps NaN as NULL)
    columns: frozenset = frozenset()

    @property
    def n(self) -> int:
        return len(self.epochs)

    @property
    def chance(self) -> float | None:
        return self.classes.chance

    @property
    def k(self) -> int | None:
        return self.classes.k

    def at(self, i: int) -> int:
        return int(self.epochs[i])

    def has(self, name: str) -> bool:
        return bool(np.isfinite(getattr(self, name)).any())


# ---- from rows to arrays ----------------------------------------------------------------------------
def _step_table(steps: list[dict]) -> np.ndarray:
    """(step, epoch, loss) rows as floats, in step order; None/garbage become NaN."""
    triples = [(s.get("step"), s.get("epoch"), s.get("loss")) for s in steps if isinstance(s, dict)]
    try:
        table = np.array(triples, dtype=float).reshape(-1, 3)
    except (TypeError, ValueError):
        table = np.array([[_num(v) for v in t] for t in triples], dtype=float).reshape(-1, 3)
    table = table[np.isfinite(table[:, 0])]
    if len(table) > 1 and np.any(np.diff(table[:, 0]) < 0):
        table = table[np.argsort(table[:, 0], kind="stable")]
    return table


ALL_COLUMNS = frozenset({"loss", "val_loss", "accuracy", "val_accuracy", "lr"})


def prepare(history: list[dict], steps: list[dict] | None, classes: int | None,
            columns: set[str] | None = None) -> Curves:
    rows = sorted((r for r in history if r.get("epoch") is not None and math.isfinite(_num(r["epoch"]))),
                  key=lambda r: _num(r["epoch"]))
    dedup: dict[int, dict] = {}
    for row in rows:
        dedup[int(_num(row["epoch"]))] = row
    rows = [dedup[k] for k in sorted(dedup)]
    c = Curves(
        epochs=_column(rows, "epoch"), loss=_column(rows, "loss"), val_loss=_column(rows, "val_loss"),
        acc=_column(rows, "accuracy", "acc"), val_acc=_column(rows, "val_accuracy", "val_acc"),
        lr=_column(rows, "lr"), classes=Classes(None, "unknown"),
        columns=frozenset(columns) if columns is not None else ALL_COLUMNS,
    )
    if steps:
        _add_steps(c, _step_table(steps))
    c.classes = Classes(classes, "given") if classes and classes >= 2 else infer_classes(c)
    if c.classes.k == 2:
        c.classes.majority = binary_majority(c)
    return c


def _add_steps(c: Curves, table: np.ndarray) -> None:
    if not len(table):
        return
    step, epoch_of, losses = table[:, 0], table[:, 1], table[:, 2]
    if math.isfinite(losses[0]):
        c.first_step_loss = float(losses[0])
    bad = ~np.isfinite(losses)
    if bad.any() and math.isfinite(epoch_of[int(np.argmax(bad))]):
        c.step_nonfinite_epoch = int(epoch_of[int(np.argmax(bad))]) or None
    ok = np.isfinite(losses) & np.isfinite(epoch_of)
    if not ok.any():
        return
    first_epoch = ok & (epoch_of == epoch_of[ok].min())
    c.first_epoch_peak = float(losses[first_epoch].max())
    keys, inverse = np.unique(epoch_of[ok], return_inverse=True)
    count = np.bincount(inverse)
    total = np.bincount(inverse, weights=losses[ok])
    squares = np.bincount(inverse, weights=losses[ok] ** 2)
    mean = total / count
    usable = (count >= 3) & (mean > 0)
    if usable.any():
        var = np.maximum(squares[usable] / count[usable] - mean[usable] ** 2, 0.0)
        c.step_noise = float(np.median(np.sqrt(var) / mean[usable]))  # one batch around its epoch's mean
    span = step[-1] - step[0] + 1
    if math.isfinite(span) and span > 0:
        c.steps_per_epoch = max(1.0, float(span) / len(keys))


# ---- how many classes ----------------------------------------------------------------------------------
MAX_CLASSES = 1000
CHANCE_LOSS_TOL = 0.04  # a loss within 4% of ln K ...
CHANCE_ACC_TOL = 0.03  # ... with an accuracy within 3 points of 1/K (0.3/K for many classes)


def _binary_entropy(p: float) -> float:
    return -(p * math.log(p) + (1 - p) * math.log(1 - p)) if 0 < p < 1 else 0.0


def infer_classes(c: Curves) -> Classes:
    """The number of classes from the curves alone, only where they show it:
    - a loss at ln K with an accuracy at 1/K in some epoch (a run at chance: untrained, stuck or
      collapsed), the first epochs looked at first;
    - a binary task stuck at its class prior: accuracy at a majority rate p and the loss at the
      entropy of (p, 1 - p);
    - a binary task that learns: every accuracy at least 45% and every loss below ln 2 + 10%.
    Anything else stays unknown (the rules then use levels relative to the run's own start)."""
    pairs = [(c.loss, c.acc), (c.val_loss, c.val_acc)]
    for i in range(c.n):
        for loss_col, acc_col in pairs:
            loss, acc = loss_col[i], acc_col[i]
            if not (math.isfinite(loss) and math.isfinite(acc)) or not 0 < loss < math.log(MAX_CLASSES) + 1:
                continue
            # K from the accuracy (1/K is sharper than ln K for many classes), confirmed by the loss
            k = int(round(1 / acc)) if acc > 1 / (MAX_CLASSES + 0.5) else int(round(math.exp(loss)))
            if 2 <= k <= MAX_CLASSES and abs(loss - math.log(k)) <= CHANCE_LOSS_TOL * math.log(k) \
                    and abs(acc - 1 / k) <= max(CHANCE_ACC_TOL * min(1.0, 10 / k), 0.3 / k):
                return Classes(k, "inferred", f"epoch {c.at(i)}'s loss {loss:.3g} = ln {k} with accuracy "
                                              f"{acc:.0%} = 1/{k}, what guessing gives")
            if 0.5 < acc < 1 and abs(loss - _binary_entropy(acc)) <= CHANCE_LOSS_TOL * max(_binary_entropy(acc), 0.05) \
                    and _constant(acc_col, 0.005):
                return Classes(2, "inferred", f"an accuracy fixed at {acc:.0%} with the loss {loss:.3g} at the "
                                              "entropy of that class balance, a binary task stuck at its class prior")
    accs = np.concatenate([c.acc[np.isfinite(c.acc)], c.val_acc[np.isfinite(c.val_acc)]])
    losses = np.concatenate([c.loss[np.isfinite(c.loss)], c.val_loss[np.isfinite(c.val_loss)]])
    if len(accs) >= 2 and len(losses) >= 2 and accs.min() >= 0.45 and losses.max() <= 1.1 * math.log(2):
        return Classes(2, "inferred", f"accuracies never below {accs.min():.0%} and losses never above "
                                      f"{losses.max():.3g} (ln 2 = 0.693), which only two classes give")
    return Classes(None, "unknown")


def binary_majority(c: Curves) -> float | None:
    """An imbalanced binary task shows where the network answers its majority class for every input:
    the accuracy sits at one share p (above 60%) for the first epochs while the loss stays near the
    entropy of (p, 1 - p). (A run that learns at once also has a high, steady accuracy, but its loss
    falls away from that entropy: that is not the class prior.)"""
    for loss_col, acc_col in ((c.loss, c.acc), (c.val_loss, c.val_acc)):
        k = min(c.n, 3)
        if k < 2 or not np.isfinite(acc_col[:k]).all() or not np.isfinite(loss_col[:k]).all():
            continue
        p = float(acc_col[0])
        prior = _binary_entropy(p)
        held = loss_col[1:k]
        if 0.6 <= p <= 0.98 and float(np.ptp(acc_col[:k])) <= 0.005 and \
                all(abs(v - prior) <= 0.15 * prior for v in held) and float(np.ptp(held)) <= 0.05 * prior:
            return p
    return None


def pct_text(fraction: float) -> str:
    return f"{100 * fraction:.0f}%"


def _constant(values: np.ndarray, tol: float) -> bool:
    finite = values[np.isfinite(values)]
    return len(finite) >= 2 and float(finite.max() - finite.min()) <= tol


# ---- shape measures -----------------------------------------------------------------------------------
def finite_min(a: np.ndarray) -> float:
    """Smallest finite value, inf when there is none (no warnings on all-NaN slices)."""
    finite = a[np.isfinite(a)]
    return float(finite.min()) if len(finite) else math.inf


def log_of(a: np.ndarray) -> np.ndarray:
    return np.log(np.where(a > 0, a, np.nan))


def falling_fit(y: np.ndarray) -> np.ndarray:
    """The closest non-increasing sequence to y (isotonic regression, pool adjacent violators), NaN
    where y is. A healthy log-loss curve is close to its falling fit; a curve that goes up again and
    again sits above it."""
    out = np.full_like(y, np.nan)
    idx = np.flatnonzero(np.isfinite(y))
    if not len(idx):
        return out
    blocks: list[list[float]] = []  # [sum, count]
    for v in y[idx]:
        blocks.append([v, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] < blocks[-1][0] / blocks[-1][1]:
            s, n = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += n
    values = np.concatenate([np.full(int(n), s / n) for s, n in blocks])
    out[idx] = values
    return out


def rises(values: np.ndarray, rel: float, floor: float = 0.0, start: int = 1) -> list[tuple[int, float]]:
    """(index, relative rise) of every epoch whose value is more than `rel` above the epoch before and
    more than `floor` above it in absolute terms, from index `start` on."""
    out = []
    for i in range(max(1, start), len(values)):
        a, b = values[i - 1], values[i]
        if math.isfinite(a) and math.isfinite(b) and a > 0 and b > a * (1 + rel) and b - a > floor:
            out.append((i, b / a - 1))
    return out


def zigzags(values: np.ndarray, rel: float, start: int = 1) -> int:
    """Peaks: epochs more than `rel` above both neighbours (from index `start`: a high first
    validation point is not a zigzag)."""
    count = 0
    for i in range(max(1, start), len(values) - 1):
        a, b, d = values[i - 1], values[i], values[i + 1]
        if all(math.isfinite(x) and x > 0 for x in (a, b, d)) and b > a * (1 + rel) and b > d * (1 + rel):
            count += 1
    return count


def thirds_slopes(y: np.ndarray) -> tuple[float, float] | None:
    """Mean change per epoch of a (log) curve over its first and its last third (None: too short)."""
    y = y[np.isfinite(y)]
    if len(y) < 4:
        return None
    k = max(1, len(y) // 3)
    return (y[k] - y[0]) / k, (y[-1] - y[-1 - k]) / k


def flat_start(y: np.ndarray, tol: float) -> int:
    """How many epochs from the first one stay within `tol` (in log) of the first value."""
    count = 0
    for v in y:
        if not math.isfinite(v) or abs(v - y[0]) > tol:
            break
        count += 1
    return count


def falling_share(values: np.ndarray) -> float:
    """The share of epoch-to-epoch changes that go down."""
    v = values[np.isfinite(values)]
    if len(v) < 2:
        return 0.0
    return float(np.mean(np.diff(v) < 0))


# ---- per-layer probes (they confirm a curve's symptom, never replace it) ---------------------------------
@dataclass
class ProbeSummary:
    saturated: float | None = None  # worst layer's saturated fraction, at the first probe
    dead: float | None = None  # worst hidden layer's dead fraction, median over probes
    grad_ratio: float | None = None  # first / last layer gradient norm, median over probes
    update_ratio: float | None = None  # median update/weight ratio over layers and probes


def summarize_probes(probes: dict[int, list[dict]] | None) -> ProbeSummary:
    out = ProbeSummary()
    if not probes:
        return out
    try:
        items = sorted(((int(k), v) for k, v in probes.items() if isinstance(v, list) and v), key=lambda kv: kv[0])
    except (TypeError, ValueError):
        return out
    if not items:
        return out

    def values(layers: list[dict], key: str) -> list[float]:
        return [v for v in (_num(layer.get(key)) for layer in layers if isinstance(layer, dict)) if math.isfinite(v)]

    sat = values(items[0][1], "saturated_fraction")
    out.saturated = max(sat) if sat else None
    deads, ratios, updates = [], [], []
    for step, layers in items:
        d = values(layers, "dead_fraction")
        if d:
            deads.append(max(d))
        g = [_num(layer.get("grad_norm")) if isinstance(layer, dict) else math.nan for layer in layers]
        if len(g) >= 2 and math.isfinite(g[0]) and math.isfinite(g[-1]) and g[-1] > 0 and step > 0:
            ratios.append(g[0] / g[-1])
        if step > 0:
            updates += [u for u in values(layers, "update_ratio") if u >= 0]
    out.dead = float(np.median(deads)) if deads else None
    out.grad_ratio = float(np.median(ratios)) if ratios else None
    out.update_ratio = float(np.median(updates)) if updates else None
    return out
