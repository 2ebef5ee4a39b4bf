"""Published curve rules, run on the same inputs as diagnose(), for the Curve Doctor benchmark.

AUTOTRAINER: Zhang, Zhai, Lou, Chen, Chen, Liu, "AUTOTRAINER: An Automatic DNN Training Problem
Detection and Repair System", ICSE 2021; rules as in github.com/shiningrain/AUTOTRAINER,
AutoTrainer/utils/monitor.py (`loss_issue`, `gradient_issue`, `IssueMonitor.determine`) with its
default parameters (beta_1 1e-3, beta_2 1e-4, beta_3 70, gamma 0.7, zeta 0.03, eta 0.2, delta 0.01,
Theta 0.7), checked after every epoch; the first issue found is the diagnosis, as the tool stops there.
Its gradient rules need per-layer gradients: we give them the probes' per-layer gradient norms (first
and last layer) and, for the zero-gradient ratio of the dying-ReLU rule, the layers' mean dead fraction. Its overfitting rule is commented out in that code, so it never reports overfitting.

UMLAUT: Schoop, Huang, Hartmann, "UMLAUT: Debugging Deep Learning Programs using Program Structure,
Model Behavior, and Error Messages", CHI 2021; epoch heuristics as in github.com/BerkeleyHCI/umlaut,
umlaut/heuristics.py: `check_nan_in_loss` (loss is NaN) and `check_overfitting` (validation loss went up
while training loss did not, from one epoch to the next). Its other checks look at the program or the
inputs (normalization, dtype, softmax) or flag validation accuracy above 95% (possible leakage), none of
which is a curve shape in our label set, so they are left out.

Each returns one label from core.doctor.diagnose.HINT_IDS ("healthy" when it reports nothing).
"""
from __future__ import annotations

import math
from typing import Any

AUTOTRAINER_PARAMS = {"beta_1": 1e-3, "beta_2": 1e-4, "beta_3": 70.0, "gamma": 0.7, "zeta": 0.03, "eta": 0.2,
                      "delta": 0.01, "Theta": 0.7}
AUTOTRAINER_TO_HINT = {"explode": "divergence", "relu": "bad_init", "vanish": "bad_init",
                       "not_converge": "too_small_lr", "unstable": "oscillation"}


def _f(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _has_nan(values: list[float]) -> bool:
    return any(not math.isfinite(v) for v in values)


def _column(history: list[dict], *keys: str) -> list[float]:
    out = []
    for row in history:
        value = next((row[k] for k in keys if row.get(k) is not None), None)
        out.append(_f(value))
    return out


def _ol_judge(acc: list[float], threshold: float, rate: float) -> bool:
    """monitor.py ol_judge: pair up local maxima and minima of training accuracy; unstable when the
    number of pairs differing by >= threshold reaches rate x epochs."""
    maximum, minimum = [], []
    for i in range(1, len(acc) - 1):
        if acc[i] - acc[i - 1] >= 0 and acc[i] - acc[i + 1] >= 0:
            maximum.append(acc[i])
        if acc[i] - acc[i - 1] <= 0 and acc[i] - acc[i + 1] <= 0:
            minimum.append(acc[i])
    count = sum(1 for i in range(min(len(maximum), len(minimum))) if maximum[i] - minimum[i] >= threshold)
    return count >= rate * len(acc)


def _max_delta(acc: list[float]) -> float:
    return max([0.0] + [b - a for a, b in zip(acc, acc[1:])])


def _probe_at(probes: dict[int, list[dict]] | None, epoch_end_step: float) -> list[dict] | None:
    if not probes:
        return None
    keys = [k for k in probes if 0 < k <= epoch_end_step]
    return probes[max(keys)] if keys else None


def autotrainer(history: list[dict], steps: list[dict] | None = None, probes: dict[int, list[dict]] | None = None,
                classes: int | None = None, params: dict | None = None, **_: Any) -> str:
    p = {**AUTOTRAINER_PARAMS, **(params or {})}
    rows = sorted(history, key=lambda r: _f(r.get("epoch")))
    total_epoch = len(rows)
    last_step_of_epoch: dict[int, float] = {}
    for s in steps or []:
        e = int(_f(s.get("epoch"))) if math.isfinite(_f(s.get("epoch"))) else 0
        last_step_of_epoch[e] = max(last_step_of_epoch.get(e, 0.0), _f(s.get("step")))
    feature = {"not_converge": False, "unstable_loss": False, "nan_loss": False, "sc_accuracy": False,
               "died_relu": 0, "vanish_gradient": 0, "explode_gradient": 0, "nan_gradient": False}
    for n in range(1, total_epoch + 1):
        h = rows[:n]
        loss, val_loss = _column(h, "loss"), _column(h, "val_loss")
        acc, val_acc = _column(h, "accuracy", "acc"), _column(h, "val_accuracy", "val_acc")
        # gradient_issue, from the latest probe of this epoch
        layers = _probe_at(probes, last_step_of_epoch.get(int(_f(h[-1].get("epoch"))), math.inf))
        if layers:
            norms = [_f(layer.get("grad_norm")) for layer in layers]
            if _has_nan(norms):
                feature["nan_gradient"] = True
            elif len(norms) >= 2 and norms[-1] > 0:
                rate = norms[0] / norms[-1]
                if rate < p["beta_1"] and norms[0] < p["beta_2"]:
                    feature["vanish_gradient"] += 1
                if rate > p["beta_3"]:
                    feature["explode_gradient"] += 1
            dead = [_f(layer.get("dead_fraction")) for layer in layers]
            dead = [d for d in dead if math.isfinite(d)]
            if dead and sum(dead) / len(dead) >= p["gamma"]:
                feature["died_relu"] += 1
        # loss_issue
        if _has_nan(val_loss) or _has_nan(loss) or (val_loss and val_loss[-1] >= 1e5):
            feature["nan_loss"] = True
        elif n >= 0.3 * total_epoch:
            if _ol_judge(acc, p["zeta"], p["eta"]):
                feature["unstable_loss"] = True
            if max(val_acc) < p["Theta"] or max(acc) < p["Theta"]:
                feature["not_converge"] = True
            if _max_delta(val_acc) < p["delta"] and _max_delta(acc) < p["delta"]:
                feature["sc_accuracy"] = True
        # IssueMonitor.determine
        issues = []
        if feature["nan_loss"] or feature["nan_gradient"]:
            issues.append("explode")
        if feature["not_converge"] or feature["sc_accuracy"]:
            if feature["died_relu"] >= 1:
                issues.append("relu")
            elif feature["explode_gradient"] >= 1:
                issues.append("explode")
            elif feature["vanish_gradient"] >= 1:
                issues.append("vanish")
            elif feature["sc_accuracy"]:
                issues.append("not_converge")
        elif feature["unstable_loss"]:
            issues.append("unstable")
        if issues:
            return AUTOTRAINER_TO_HINT[issues[0]]
    return "healthy"


def umlaut(history: list[dict], **_: Any) -> str:
    rows = sorted(history, key=lambda r: _f(r.get("epoch")))
    loss, val_loss = _column(rows, "loss"), _column(rows, "val_loss")
    if any(math.isnan(v) for v in loss):  # check_nan_in_loss
        return "divergence"
    for i in range(1, len(rows)):  # check_overfitting, every epoch after the first
        if val_loss[i] - val_loss[i - 1] > 0 and loss[i] - loss[i - 1] <= 0:
            return "overfitting"
    return "healthy"
