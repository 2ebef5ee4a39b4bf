"""One line that says where a run stands: queue position, epoch, ETA, images/s and device while it
runs; how it ended once it has. Pure: the Train page draws it, the tests check it."""
from __future__ import annotations

from dataclasses import dataclass

from core.runs.store import RunRecord


@dataclass(frozen=True)
class Progress:
    fraction: float  # 0..1, for a progress bar
    text: str
    active: bool  # queued or running: the page keeps polling


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _best(history: list[dict]) -> str:
    scored = [row for row in history if row.get("val_accuracy") is not None]
    if not scored:
        return ""
    best = max(scored, key=lambda row: row["val_accuracy"])
    return f" · best validation accuracy {best['val_accuracy']:.1%} at epoch {best['epoch']}"


def summarize(run: RunRecord, history: list[dict], last_step: int, now: float,
              queue_position: int | None = None) -> Progress:
    """`last_step`: the newest stored step (0 before the first report); `queue_position`: the
    worker's position (1 = next) when the run waits in this server's queue."""
    epochs = run.config.epochs
    done = len(history)
    if run.status == "queued":
        if queue_position is None:
            where = "waiting in the queue"
        elif queue_position <= 1:
            where = "next in the queue: it starts when the run before it ends"
        else:
            ahead = queue_position - 1
            where = f"waiting in the queue: {ahead} run{'s' if ahead != 1 else ''} ahead of this one"
        return Progress(0.0, f"Queued, {where}.", True)
    total_steps = (run.steps_per_epoch or 0) * epochs
    if run.status == "running":
        if not run.steps_per_epoch or run.started_at is None:
            return Progress(0.0, f"Starting on {run.device or 'the device'}: loading the data and building the model…", True)
        fraction = min(1.0, last_step / total_steps) if total_steps else done / epochs
        epoch_now = min(epochs, done + 1)
        parts = [f"Epoch {epoch_now}/{epochs}", f"step {last_step:,}/{total_steps:,}"]
        elapsed = now - run.started_at
        if last_step > 0:
            parts.append(f"about {_duration(elapsed / last_step * (total_steps - last_step))} left")
        if history and history[-1].get("images_per_s"):
            parts.append(f"{history[-1]['images_per_s']:,.0f} images/s")
        parts.append(run.device)
        return Progress(fraction, " · ".join(parts), True)
    took = _duration((run.finished_at or now) - run.started_at) if run.started_at is not None else "no time"
    speed = f" · {run.images_per_second:,.0f} images/s" if run.images_per_second else ""
    device = f" · {run.device}" if run.device else ""
    if run.status == "completed":
        stopped = f" of {epochs} ({run.message})" if done < epochs and run.message else ""
        text = f"Completed {done} epoch{'' if done == 1 else 's'}{stopped} in {took}{speed}{device}{_best(history)}."
        return Progress(1.0, text, False)
    fraction = min(1.0, last_step / total_steps) if total_steps else done / epochs
    reason = run.error or run.message
    kept = f"{done} of {epochs} epochs kept"
    text = {
        "diverged": f"Diverged: {reason}. {kept}.",
        "failed": f"Failed: {reason}. {kept}.",
        "cancelled": f"Cancelled: {reason or 'stopped by a user'}. {kept}.",
        "interrupted": f"Interrupted: {reason or 'the server stopped during the run'}. {kept}.",
    }.get(run.status, f"{run.status}: {reason}")
    return Progress(fraction, text, False)
