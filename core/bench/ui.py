"""`python -m core bench-ui`: what a person at the Train page waits for, measured in a real browser.

- click to first point: from the click on "Start training" to the first per-step loss of the new run
  drawn in the loss chart (seen in the chart's SVG);
- images/s with the page open (a browser on this machine watching the run live) against headless
  (the same server, the same run, nobody watching), run alternately so drift hits both; the ratio is
  open / headless. `python -m core train` (no server at all) is printed as a reference, and so is the
  CPU the browser took while watching (on a class server the browsers are on other machines).
Needs playwright and a chromium (requirements-dev.txt; Debian's `chromium`).
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.bench.harness import ROOT, Server, open_group, set_number
from core.errors import UserError
from core.runs.store import RunStore

FIRST_POINT_JS = """(run) => Array.from(document.querySelectorAll('h3, h4')).some(h => h.textContent.includes('#' + run + ' '))
    && Array.from(document.querySelectorAll('[data-testid=stVegaLiteChart] [aria-label]'))
       .some(e => (e.getAttribute('aria-label') || '').includes('series: every step;'))"""


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise UserError("bench-ui needs a chromium browser (Debian: apt install chromium)")
    return path


def _open_train_page(page, url: str, epochs: int) -> None:
    page.goto(url + "/train")
    page.get_by_role("button", name="Start training").wait_for()
    open_group(page, "6. Batch size, epochs and seed")
    set_number(page, "Epochs", str(epochs))


def _wait_finished(store: RunStore, run_id: int, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while store.get(run_id) is None or store.get(run_id).status in ("queued", "running"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id} did not finish within {timeout} s")
        time.sleep(0.1)
    return store.get(run_id).images_per_second or 0.0


def _browser_cpu_seconds() -> float:
    """CPU seconds used so far by every chromium process on this machine (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if b"chrom" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


def _watched_run(page, store: RunStore, run_id: int, timeout: float) -> tuple[float, float, float]:
    """Click Start and watch: seconds until the run's first per-step point is drawn, its images/s, and
    the cores the browser used meanwhile."""
    start = page.get_by_role("button", name="Start training")
    cpu0, t0 = _browser_cpu_seconds(), time.perf_counter()
    start.click()
    page.wait_for_function(FIRST_POINT_JS, arg=run_id, timeout=timeout * 1000, polling=20)
    first_point = time.perf_counter() - t0
    speed = _wait_finished(store, run_id, timeout)
    return first_point, speed, (_browser_cpu_seconds() - cpu0) / (time.perf_counter() - t0)


def _unwatched_run(page, store: RunStore, run_id: int, timeout: float) -> float:
    """Click Start, close the page at once (nobody watching): the run's images/s."""
    page.get_by_role("button", name="Start training").click()
    page.wait_for_url(f"**run={run_id}")
    page.goto("about:blank")
    return _wait_finished(store, run_id, timeout)


def _headless_run(epochs: int, home: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-m", "core", "train", "--epochs", str(epochs), "--json", "--db", str(home / "headless.db")],
        cwd=ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, "TUNELAB_HOME": str(home), "TUNELAB_OFFLINE": "1"},
    )
    return float(json.loads(out.stdout)["images_per_second"])


def measure(repeats: int, epochs: int, timeout: float = 300.0) -> dict:
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    with tempfile.TemporaryDirectory(prefix="tunelab-bench-ui-") as tmp:
        home = Path(tmp)
        cli_speed = _headless_run(epochs, home)
        server = Server(home / "server").start()
        try:
            store = RunStore(server.home / "runs.db")
            first_points, watched, unwatched, browser_cores = [], [], [], []
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                page.set_default_timeout(timeout * 1000)
                run_id = 0
                for _ in range(repeats):
                    _open_train_page(page, server.url, epochs)
                    run_id += 1
                    unwatched.append(_unwatched_run(page, store, run_id, timeout))
                    _open_train_page(page, server.url, epochs)
                    run_id += 1
                    first_point, speed, cores = _watched_run(page, store, run_id, timeout)
                    first_points.append(first_point)
                    watched.append(speed)
                    browser_cores.append(cores)
                browser.close()
        finally:
            server.stop()
    ratios = [w / u for w, u in zip(watched, unwatched)]
    return {
        "config": "mnist5k, simple_cnn, adam lr 0.001, batch 64 (the defaults)",
        "epochs": epochs,
        "repeats": repeats,
        "click_to_first_point_s": first_points,
        "click_to_first_point_median_s": statistics.median(first_points),
        "page_open_images_per_s": watched,
        "headless_images_per_s": unwatched,
        "page_open_over_headless": ratios,
        "page_open_over_headless_median": statistics.median(ratios),
        "cli_images_per_s": cli_speed,
        "browser_cores_while_watching": browser_cores,
        "cores": os.cpu_count(),
    }


def format_lines(result: dict) -> list[str]:
    """The numbers of measure() in words, a line each."""
    lines = [f"click to first chart point: median {result['click_to_first_point_median_s']:.2f} s over "
             f"{result['repeats']} runs ({', '.join(f'{t:.2f}' for t in result['click_to_first_point_s'])})"]
    for page_speed, headless, ratio in zip(result["page_open_images_per_s"], result["headless_images_per_s"],
                                           result["page_open_over_headless"]):
        lines.append(f"images/s: page open {page_speed:,.0f}  headless {headless:,.0f}  ratio {ratio:.2f}")
    lines.append(f"reference: python -m core train (no server) {result['cli_images_per_s']:,.0f} images/s")
    lines.append(f"the watching browser used {statistics.median(result['browser_cores_while_watching']):.2f} "
                 f"of this machine's {result['cores']} cores (median)")
    lines.append(f"page open / headless, median: {result['page_open_over_headless_median']:.2f}")
    return lines
