"""`python -m core bench-class`: what a class watching the Wall costs the training it watches.

A real dashboard server (`python -m core.serve`, core/bench/harness.py) and N students, each a real
Streamlit session on the Wall page (pages/wall.py): a headless websocket client that speaks
Streamlit's protocol as the browser does, without drawing. It connects to /_stcore/stream, asks for
the page by its url path ("wall"), and when the server says `auto_rerun` (the Wall's
`@st.fragment(run_every=...)`) it sends the fragment's rerun every interval with `is_auto_rerun`,
the page's script hash and the hashes of the big messages it holds (the browser's message cache,
so the server may answer with references as it does to a browser). The connections are spread over
one poll interval, as browsers opened at different moments would be.

While they watch, the simple CNN trains on mnist5k: `python -m core train` in a subprocess writing
into the server's own run store, so every step it logs moves the store's change counter the Wall
polls. (The server's worker only takes runs submitted inside the server process, through the Train
page, whose name box is a browser cookie component a headless client cannot fill.) The same run
with nobody connected is the unwatched speed; watched and unwatched runs alternate W U U W so drift
hits both. On one machine the training shares its cores with the server and the clients, but not
the server's interpreter lock (on a class server the run trains inside the server process).

- server CPU per poll: the server process's CPU time (/proc, utime + stime) while the class watched,
  minus its CPU rate with nobody connected (the unwatched runs) times the same seconds, divided by
  the fragment reruns the clients sent;
- max_wait_first_run_s: `owners` people each queue one tiny run (8x8 digits, an MLP, one epoch) on
  core's worker (one slot, fair turns), in this process over the same store, after one warm-up run;
  the longest wait from a run being queued to its start. This comes first, so that the Wall the
  students watch afterwards is a lesson's: the class's runs as tiles beside the one training.
"""
from __future__ import annotations

import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect

from core.bench.harness import ROOT, Server
from core.config import RunConfig
from core.runs.people import Person, new_token, person_id
from core.runs.store import RunStore
from core.runs.worker import Worker

PAGE = "wall"  # the Wall's url_path in app.py's st.navigation
CAPTION = "training ·"  # in the Wall's status line: "3 training · 0 waiting · ..."
SPREAD_SECONDS = 2.0  # the connections are spread over one of the Wall's poll intervals
MESSAGE_AGE = 2  # runs a big message stays in a client's cache unused (Streamlit's global.maxCachedMessageAge)
FRAGMENT_DONE = ForwardMsg.ScriptFinishedStatus.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
APP_DONE = ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY
DEFAULT_STUDENTS = 30
DEFAULT_EPOCHS = 5
REPEATS = 2  # watched and unwatched runs each: W U U W
OWNERS = 30
TINY_RUN = RunConfig(dataset="digits", model="mlp", depth=1, width=32, epochs=1)


def _cpu_seconds(pid: int) -> float:
    """CPU seconds a process (all its threads) has used so far: utime + stime from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Student:
    """One headless Wall session: its counters are read by the bench's thread while it runs."""

    def __init__(self, url: str, delay: float, page: str = PAGE):
        self.url, self.delay, self.page = url, delay, page
        self.ready = asyncio.Event()  # the first whole run drawn and the fragment's auto-rerun known
        self.page_hash = ""
        self.cache: dict[str, tuple[ForwardMsg, int]] = {}  # hash -> (message, the run it was last used in)
        self.runs = 0
        self.pollers: dict[str, asyncio.Task] = {}
        self.polls_sent = self.polls_answered = self.bytes = self.references = 0
        self.captions = self.running = self.charts = 0  # the Wall's status line; those with a run training
        self.tiles = 0  # the most runs one chart showed
        self.last_caption = ""
        self.pending_since: float | None = None
        self.latencies: list[float] = []

    async def watch(self, stop: asyncio.Event) -> None:
        await asyncio.sleep(self.delay)
        async with connect(self.url, subprotocols=["streamlit"], max_size=None) as ws:
            self.ws = ws
            await self._rerun(page_name=self.page)
            reader, stopped = asyncio.create_task(self._read()), asyncio.create_task(stop.wait())
            await asyncio.wait([reader, stopped], return_when=asyncio.FIRST_COMPLETED)
            for task in [reader, stopped, *self.pollers.values()]:
                task.cancel()
            if not stop.is_set():  # the server closed the session, or a message made no sense
                reader.result()
                raise RuntimeError("the server closed a student's session")

    async def _rerun(self, fragment_id: str = "", page_name: str = "") -> None:
        back = BackMsg()
        state = back.rerun_script
        state.query_string = ""
        state.page_name = page_name
        state.page_script_hash = self.page_hash
        state.widget_states.SetInParent()
        state.cached_message_hashes.extend(self.cache)
        if fragment_id:
            state.fragment_id, state.is_auto_rerun = fragment_id, True
            self.polls_sent += 1
            if self.pending_since is None:
                self.pending_since = time.perf_counter()
        await self.ws.send(back.SerializeToString())

    async def _poll(self, fragment_id: str, interval: float) -> None:
        """The browser's setInterval: a rerun of the fragment every interval, answered or not."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            due += interval
            await asyncio.sleep(max(0.0, due - loop.time()))
            await self._rerun(fragment_id)

    async def _read(self) -> None:
        async for data in self.ws:
            self.bytes += len(data)
            msg = ForwardMsg()
            msg.ParseFromString(data)
            self._handle(msg)

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session" and msg.new_session.page_script_hash:
            self.page_hash = msg.new_session.page_script_hash
        elif kind == "navigation" and msg.navigation.page_script_hash:
            self.page_hash = msg.navigation.page_script_hash
        elif kind == "auto_rerun":
            fragment_id = msg.auto_rerun.fragment_id
            if fragment_id in self.pollers:
                self.pollers[fragment_id].cancel()
            self.pollers[fragment_id] = asyncio.create_task(self._poll(fragment_id, msg.auto_rerun.interval))
        elif kind == "stop_auto_rerun":
            for fragment_id in msg.stop_auto_rerun.fragment_ids:
                task = self.pollers.pop(fragment_id, None)
                if task is not None:
                    task.cancel()
        elif kind == "delta":
            if msg.metadata.cacheable:
                self.cache[msg.hash] = (msg, self.runs)
            self._look(msg)
        elif kind == "ref_hash":
            self.references += 1
            cached = self.cache.get(msg.ref_hash)
            if cached is None:
                raise RuntimeError(f"the server referred to message {msg.ref_hash}, which this client does not hold")
            self.cache[msg.ref_hash] = (cached[0], self.runs)
            self._look(cached[0])
        elif kind == "script_finished":
            self._finished(msg.script_finished)

    def _look(self, msg: ForwardMsg) -> None:
        if msg.delta.WhichOneof("type") != "new_element":
            return
        element = msg.delta.new_element
        kind = element.WhichOneof("type")
        if kind == "markdown" and CAPTION in element.markdown.body:
            self.captions += 1
            self.running += not element.markdown.body.startswith("0 ")
            self.last_caption = element.markdown.body
        elif kind == "vega_lite_chart":
            self.charts += 1
            facet = json.loads(element.vega_lite_chart.spec).get("facet", {})
            self.tiles = max(self.tiles, len(facet.get("sort", [])))  # a cell per run shown

    def _finished(self, status: int) -> None:
        self.runs += 1
        self.cache = {h: (m, run) for h, (m, run) in self.cache.items() if self.runs - run <= MESSAGE_AGE}
        if status == FRAGMENT_DONE:
            self.polls_answered += 1
            if self.pending_since is not None:
                self.latencies.append(time.perf_counter() - self.pending_since)
                self.pending_since = None
        elif status == APP_DONE and self.pollers:
            self.ready.set()

    def counters(self) -> dict:
        return {"polls": self.polls_sent, "answered": self.polls_answered, "bytes": self.bytes,
                "captions": self.captions, "charts": self.charts, "references": self.references,
                "latencies": len(self.latencies)}


class Class:
    """N students on the Wall, in an event loop on a thread of their own; counters() reads them."""

    def __init__(self, port: int, students: int, page: str = PAGE):
        url = f"ws://127.0.0.1:{port}/_stcore/stream"
        self.students = [Student(url, SPREAD_SECONDS * i / students, page) for i in range(students)]
        self._thread = threading.Thread(target=self._run, name="bench-class-students", daemon=True)
        self._started = threading.Event()
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the bench's thread by start() and stop()
            self.error = exc
        finally:
            self._started.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        watching = [asyncio.create_task(s.watch(self._stop)) for s in self.students]
        ready = asyncio.gather(*(s.ready.wait() for s in self.students))
        done, _ = await asyncio.wait([ready, *watching], return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:  # a session ended (or failed) before the class was ready
            ready.cancel()
            for task in done:
                task.result()
            raise RuntimeError("a student's session ended before the Wall was drawn")
        self._started.set()
        await asyncio.gather(*watching)

    def start(self, timeout: float = 120.0) -> "Class":
        self._thread.start()
        if not self._started.wait(timeout):
            raise RuntimeError(f"the {len(self.students)} students did not all see the Wall within {timeout} s")
        if self.error is not None:
            raise RuntimeError(f"a student's session failed: {self.error!r}") from self.error
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(30)
        if self.error is not None:
            raise RuntimeError(f"a student's session failed: {self.error!r}") from self.error

    def counters(self) -> dict:
        totals: dict = {}
        for student in self.students:
            for key, value in student.counters().items():
                totals[key] = totals.get(key, 0) + value
        return totals


class Window:
    """What a stretch of time cost: the server's CPU, this process's CPU (the students' clients), the
    store's change counter and the students' counters, from start() to stop()."""

    def __init__(self, server: Server, store: RunStore, watchers: "Class | None"):
        self.server, self.store, self.watchers = server, store, watchers

    def _now(self) -> dict:
        return {"seconds": time.perf_counter(), "server_cpu": _cpu_seconds(self.server.process.pid),
                "clients_cpu": time.process_time(), "changes": self.store.changes(),
                **(self.watchers.counters() if self.watchers else {})}

    def start(self) -> None:
        self.first = self._now()

    def stop(self) -> None:
        last = self._now()
        self.used = {key: last[key] - self.first[key] for key in last}


def _train(home: Path, store: RunStore, epochs: int, train_subset: int, name: str, window: Window) -> float:
    """One run of the simple CNN on mnist5k into the server's store, in its own process; its images/s.
    The window covers the run while it is stored as running (not the process's start-up)."""
    command = [sys.executable, "-m", "core", "train", "--db", str(home / "runs.db"), "--epochs", str(epochs),
               "--train-subset", str(train_subset), "--name", name, "--json"]
    newest = max((r.id for r in store.runs(limit=1)), default=0)
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "TUNELAB_HOME": str(home), "TUNELAB_OFFLINE": "1"})
    run = None
    while process.poll() is None and (run is None or run.status == "queued"):
        time.sleep(0.05)  # watching the store for the run to start (it is the newest)
        run = next((r for r in store.runs(limit=1) if r.id > newest), None)
    window.start()
    while process.poll() is None and store.get(run.id).status == "running":
        time.sleep(0.1)  # and to finish
    window.stop()
    out, err = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"training failed ({process.returncode}): {err[-2000:]}")
    return float(json.loads(out)["images_per_second"])


def _first_run_waits(store: RunStore, owners: int, timeout: float = 600.0) -> list[float]:
    """Each of `owners` people queues one tiny run at once on one worker slot: the seconds each
    waited from being queued to starting (the store's created_at and started_at)."""
    worker = Worker(store, device="cpu", slots=1)
    try:
        # one run first, as a server has trained one before the class arrives: the data set and the
        # libraries are loaded (seconds, once per server), so the waits are the queue's, not the cold start's
        worker.submit(TINY_RUN, name="warm-up")
        if not worker.wait_idle(timeout):
            raise RuntimeError(f"the warm-up run did not finish within {timeout} s")
        ids = [worker.submit(TINY_RUN, name=f"first run {i + 1}",
                             by=Person(person_id(new_token()), f"student {i + 1}")) for i in range(owners)]
        if not worker.wait_idle(timeout):
            raise RuntimeError(f"{owners} tiny runs did not finish within {timeout} s")
    finally:
        worker.shutdown()
    records = [store.get(i) for i in ids]
    return [r.started_at - r.created_at for r in records]


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def measure(students: int = DEFAULT_STUDENTS, epochs: int = DEFAULT_EPOCHS, repeats: int = REPEATS,
            owners: int = OWNERS, train_subset: int = 0, log: Callable[[str], None] = lambda line: None) -> dict:
    order = [kind for i in range(repeats) for kind in (("watched", "unwatched") if i % 2 == 0
                                                        else ("unwatched", "watched"))]
    speeds: dict[str, list[float]] = {"watched": [], "unwatched": []}
    used: dict[str, dict[str, float]] = {"watched": {}, "unwatched": {}}
    captions, running, charts, tiles, latencies = [], [], [], [], []
    with tempfile.TemporaryDirectory(prefix="tunelab-bench-class-") as tmp:
        home = Path(tmp)
        server = Server(home).start()
        store = RunStore(home / "runs.db")
        try:
            waits = _first_run_waits(store, owners)  # first: the Wall then shows the class's runs, as in a lesson
            log(f"{owners} first runs: the last started after {max(waits):.1f} s")
            for n, kind in enumerate(order, 1):
                watchers = Class(server.port, students).start() if kind == "watched" else None
                window = Window(server, store, watchers)
                try:
                    speeds[kind].append(_train(home, store, epochs, train_subset, f"{kind} {n}", window))
                finally:
                    if watchers:
                        watchers.stop()
                for key, value in window.used.items():
                    used[kind][key] = used[kind].get(key, 0) + value
                if watchers:
                    captions += [s.captions for s in watchers.students]
                    running += [s.running for s in watchers.students]
                    charts += [s.charts for s in watchers.students]
                    tiles += [s.tiles for s in watchers.students]
                    latencies += [t for s in watchers.students for t in s.latencies]
                log(f"{kind} run {n}/{len(order)}: {speeds[kind][-1]:.0f} images/s")
        finally:
            server.stop()
    on, off = used["watched"], used["unwatched"]
    baseline = off["server_cpu"] / off["seconds"] * on["seconds"]
    polls = on["polls"]
    watched, unwatched = _median(speeds["watched"]), _median(speeds["unwatched"])
    latencies.sort()
    return {
        "students": students,
        "training_images_per_s_watched": watched,
        "training_images_per_s_unwatched": unwatched,
        "ratio": watched / unwatched,
        "server_cpu_ms_per_poll": 1000 * (on["server_cpu"] - baseline) / polls if polls else math.nan,
        "max_wait_first_run_s": max(waits),
        "sessions": "websocket",
        "training": "python -m core train into the server's store (a subprocess)",
        "config": f"mnist5k, simple_cnn, adam lr 0.001, batch 64, {epochs} epochs"
                  + (f", {train_subset} training images" if train_subset else ""),
        "order": order,
        "watched_images_per_s": speeds["watched"],
        "unwatched_images_per_s": speeds["unwatched"],
        "polls": polls,
        "polls_answered": on["answered"],
        "polls_per_student_per_s": polls / students / on["seconds"],
        "poll_seconds_median": _median(latencies),
        "poll_seconds_p95": latencies[int(0.95 * (len(latencies) - 1))] if latencies else math.nan,
        "kb_per_answered_poll": on["bytes"] / 1024 / on["answered"] if on["answered"] else math.nan,
        "references_received": on["references"],
        "wall_captions_seen_min": min(captions),
        "wall_captions_with_a_run_training_seen_min": min(running),
        "wall_charts_seen_min": min(charts),
        "wall_tiles_seen_max": max(tiles),
        "store_changes_while_watched": on["changes"],
        "watched_seconds": on["seconds"],
        "server_cpu_s_watched": on["server_cpu"],
        "server_cpu_s_baseline": baseline,
        "server_cores_per_student": (on["server_cpu"] - baseline) / on["seconds"] / students,
        "clients_cpu_s": on["clients_cpu"],
        "first_run_owners": owners,
        "first_run_waits_s": sorted(waits),
        "cores": os.cpu_count(),
    }


def format_lines(result: dict) -> list[str]:
    """The numbers of measure() in words, a line each."""
    return [
        f"{result['students']} students on the Wall ({result['sessions']} sessions), {result['config']}",
        f"training watched:   {result['training_images_per_s_watched']:.0f} images/s "
        f"({', '.join(f'{v:.0f}' for v in result['watched_images_per_s'])})",
        f"training unwatched: {result['training_images_per_s_unwatched']:.0f} images/s "
        f"({', '.join(f'{v:.0f}' for v in result['unwatched_images_per_s'])})",
        f"watched / unwatched: {result['ratio']:.2f}",
        f"server CPU per poll: {result['server_cpu_ms_per_poll']:.1f} ms over {result['polls']} polls "
        f"({result['polls_answered']} answered, median {result['poll_seconds_median'] * 1000:.0f} ms, "
        f"p95 {result['poll_seconds_p95'] * 1000:.0f} ms, {result['kb_per_answered_poll']:.1f} KB each)",
        f"the students' clients used {result['clients_cpu_s']:.1f} CPU s on this machine "
        f"in {result['watched_seconds']:.0f} s of watching",
        f"longest wait for a first run: {result['max_wait_first_run_s']:.1f} s "
        f"({result['first_run_owners']} people, one tiny run each, one slot)",
    ]
