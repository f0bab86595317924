"""The TUI benchmark (issue 4): key-press latency while 8 runs stream, memory after a long stream, first paint.

``python bench/bench_tui.py [--quick] [--neighbour] [--tmpdir DIR] [--out FILE]`` prints a table (metric, size,
value, target, PASS/MISS; ``info`` rows have no target) and writes it as JSON to ``bench/results/tui.json``
(``tui-quick.json`` with ``--quick``: 200 tasks, 20,000 chunks, 30 presses, 2 paints; ``-neighbour`` added with
``--neighbour``). A benchmark, not a
test: a MISS is reported, never raised.

The load. A project of 2,000 generated tasks (``bench/generate.py``) whose default agent is a real ``cli``
agent: a small Python program that reads its prompt and prints fixed 64-byte lines at 250 lines per
second, one ``write`` per line. The app (``create_app``, headless under ``run_test(size=(120, 40))``)
dispatches with its own key ``a``, which starts the plan's ``parallel_max`` = 8 ready tasks in a driver
process (engine/launcher.py): 2,000 chunks per second in all, each read from a pipe by the driver's runner
(``output.txt``, ``events.jsonl``), then read back from ``output.txt`` by the app's run watcher and through
the bus and the session to the output panes, exactly as in use. A chunk is one line; the chunks received are
counted from the bus (``RunOutput`` text; a file read may carry several lines).

Key-press latency. While the 8 runs stream, a thread plays the terminal's input: at a planned moment it
sends ``events.Key`` through the driver (``driver.send_message``, what ``Pilot.press`` does, without the
pilot's waits for idle, which under constant load take up to a second each and are the harness, not the
app). A press is ``down``/``up`` in a board column (the Running column first, then Ready), which moves
the selection, so the detail pane shows another task. Measured: from the planned moment of the press to
the frame that shows it, i.e. the first compositor update whose terminal output (``render_segments``,
which the headless driver skips and this benchmark performs for every frame, as a terminal would)
contains the new task's title in the detail pane, and, in the Running column, also the header of that
task's output pane. The planned moment is the key's arrival, so time the key waits for a busy loop (or
the GIL) is counted. Presses are 30 to 80 ms apart, after the previous one showed. Each column is entered
from a settled selection (no ``TaskSelected`` handled for half a second, seen by ``run_test``'s message
hook); a row says how many went round in the second after ``a`` with no key pressed. Info rows say
where slow presses come from: Textual's layouts of the screen per 100 presses of each column (a full layout
or a reflow after a scroll), the event loop's stalls over 100 ms while keys were pressed (a task asking
to wake every 5 ms, noting each late wake), how many of them the loop's thread spent computing (its own CPU
time, ``time.thread_time``; the others waited for a CPU, i.e. the machine's load), the loop's CPU in all and
per frame while keys were pressed (a figure the load does not inflate: compare trees by it on a busy machine),
and the full (generation 2) garbage collections.

Memory. Resident set size (``VmRSS``) of the process running the app, before dispatch and when the last
of the chunks has arrived; the peak (``VmHWM``); growth over the second half of the stream; the lines each
output pane holds (bounded by the panes' ``MAX_LINES``); the bytes of the runs' ``output.txt`` against
what the agents wrote.

Start-up. ``orchestra --version``, the whole process, median of 5 (it imports none of textual, httpx, pydantic,
networkx). First paint: the real ``orchestra DIR`` (the console script next to this Python) on a fresh copy of
``sample_projects/demo``, started in a detached tmux session of 120x40; from just before ``tmux
new-session`` to the first ``capture-pane`` (polled every 5 ms) that shows the board's columns and the
demo's first task. Median of 5 after one uncounted run (the first run of a new tree compiles bytecode).
Then the same with a CPU-bound neighbour (a Python busy loop, stopped by its pid), as on a busy machine.
``--start-only`` measures only these. The machine's load average is printed: other work on the machine
slows every figure here. ``--neighbour`` runs one CPU-bound process (a Python busy loop, stopped by its pid)
beside the key presses, as on a busy machine; the key-press rows then say so.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("TEXTUAL_COLOR_SYSTEM", "truecolor")  # what a modern terminal offers; read when textual loads

from textual import events
from textual._compositor import CompositorUpdate
from textual.message import Message

from bench.bench_cli import neighbour
from bench.common import Row, machine, table, write_results
from bench.generate import write_project
from orchestra_tui.engine.bus import RunOutput
from orchestra_tui.engine.liveruns import live_runs
from orchestra_tui.engine.runs import OUTPUT_FILE, run_dir
from orchestra_tui.tui.app import OrchestraApp, create_app
from orchestra_tui.tui.messages import TaskSelected
from orchestra_tui.tui.widgets.output import MAX_LINES, OutputPanes

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
DEMO = REPO / "sample_projects" / "demo"
SIZE = (120, 40)
STREAMS = 8  # the generated plan's parallel_max
LINE_BYTES = 64
LATENCY_TARGET_MS = 50.0
RSS_TARGET_MB = 300.0
PAINT_TARGET_S = 1.0
VERSION_TARGET_S = 0.3  # `orchestra --version`: imports nothing heavy (no textual, httpx, pydantic, networkx)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")

# The agent's program: reads the prompt, then writes COUNT lines of LINE_BYTES at RATE lines per second.
STREAMER = r"""
import os, sys, time
count, rate = int(sys.argv[1]), float(sys.argv[2])
sys.stdin.buffer.read()
pid = os.getpid()
start = time.monotonic()
for i in range(count):
    delay = start + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    os.write(1, (f"{pid:>8} chunk {i:>8} ".ljust(WIDTH, "~") + "\n").encode())
""".replace("WIDTH", str(LINE_BYTES - 1))


@dataclass(frozen=True)
class Sizes:
    tasks: int
    chunks: int  # in all, over the STREAMS runs
    rate: float  # chunks per second, in all
    presses_ready: int
    presses_running: int
    paints: int


FULL = Sizes(2_000, 200_000, 2_000.0, 200, 100, 5)
QUICK = Sizes(200, 20_000, 2_000.0, 20, 10, 2)


# ------------------------------------------------------------------------------------------ results


class Results:
    def __init__(self) -> None:
        self.rows: list[Row] = []

    def add(
        self,
        metric: str,
        size: str,
        value: float,
        unit: str,
        *,
        below: float | None = None,
        at_least: float | None = None,
        note: str = "",
    ) -> None:
        if below is not None:
            target, verdict = f"< {show(below, unit)}", "PASS" if value < below else "MISS"
        elif at_least is not None:
            target, verdict = f">= {show(at_least, unit)}", "PASS" if value >= at_least else "MISS"
        else:
            target, verdict = "-", "info"
        self.rows.append(Row(metric, size, value, unit, target, verdict, note))
        print(f"  {metric} [{size}]: {show(value, unit)} {verdict}", file=sys.stderr, flush=True)

    def skip(self, metric: str, size: str, unit: str, note: str) -> None:
        self.rows.append(Row(metric, size, 0.0, unit, "-", "skipped", note))
        print(f"  {metric} [{size}]: skipped ({note})", file=sys.stderr, flush=True)


def show(value: float, unit: str) -> str:
    if (
        unit in ("chunks/s", "events/s", "frames/s", "messages/s", "bytes", "lines", "presses")
        or float(value).is_integer()
    ):
        return f"{value:,.0f} {unit}"
    return f"{value:,.1f} {unit}"


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def memory_mb() -> tuple[float, float]:
    """This process's resident set size now and at its peak (VmRSS, VmHWM), in MB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


# ------------------------------------------------------------------------------------------ the project


def streaming_project(root: Path, sizes: Sizes) -> None:
    """The generated plan, with the streaming ``cli`` agent as every task's agent."""
    write_project(root, sizes.tasks)
    path = root / "orchestra.toml"
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    per_run, rate = sizes.chunks // STREAMS, sizes.rate / STREAMS
    document["agents"]["stream"] = {
        "type": "cli",
        "command": [sys.executable, "-c", STREAMER, str(per_run), str(rate)],
        "prompt_via": "stdin",
    }
    document["project"]["default_agent"] = "stream"
    document["project"]["parallel_max"] = STREAMS
    path.write_text(tomli_w.dumps(document), encoding="utf-8")


# ------------------------------------------------------------------------------------------ watching frames


class FrameWatch:
    """Turns every frame the app composes into terminal output (as the real driver would), counts them, and
    tells a waiting thread when the needles it expects have all been on screen."""

    def __init__(self, app: OrchestraApp) -> None:
        self.app = app
        self.frames = 0
        self.bytes = 0
        self.first: float | None = None  # perf_counter of the first frame
        self._pending: frozenset[str] = frozenset()
        self._shown_at: float | None = None
        self._shown = threading.Event()
        self._display = app._display
        app._display = self.display  # type: ignore[method-assign]

    def display(self, screen: Any, renderable: Any) -> None:
        self._display(screen, renderable)
        if renderable is None or self.app._batch_count or not isinstance(renderable, CompositorUpdate):
            return
        text = renderable.render_segments(self.app.console)
        now = time.perf_counter()
        self.frames += 1
        self.bytes += len(text)
        if self.first is None:
            self.first = now
        pending = self._pending
        if pending:
            plain = ANSI.sub("", text)
            left = frozenset(needle for needle in pending if needle not in plain)
            self._pending = left
            if not left:
                self._shown_at = now
                self._shown.set()

    def expect(self, needles: Sequence[str]) -> None:
        """From another thread, before the key is sent."""
        self._shown.clear()
        self._shown_at = None
        self._pending = frozenset(needles)

    def missing(self) -> list[str]:
        """The needles not shown since the last ``expect``."""
        return sorted(self._pending)

    def wait(self, timeout: float) -> float | None:
        """The moment every needle had been shown, or None if not within ``timeout`` seconds."""
        return self._shown_at if self._shown.wait(timeout) else None


def press_column(
    app: OrchestraApp,
    watch: FrameWatch,
    rows: list[str],
    needles: Callable[[str], list[str]],
    count: int,
    seed: int,
    streaming: Callable[[], bool],
) -> tuple[list[float], int]:
    """In a thread: up to ``count`` presses walking ``rows`` down then up (the cursor starts on the first
    row), while ``streaming()``. Returns the latencies in ms and how many presses did not show within 5 s."""
    rng = random.Random(seed)
    driver = app._driver
    assert driver is not None
    latencies: list[float] = []
    missed = 0
    index, step = 0, 1
    for _ in range(count):
        if not streaming():
            break
        if not 0 <= index + step < len(rows):
            step = -step
        index += step
        watch.expect(needles(rows[index]))
        planned = time.perf_counter() + rng.uniform(0.030, 0.080)
        time.sleep(max(0.0, planned - time.perf_counter()))
        driver.send_message(events.Key("down" if step > 0 else "up", None))
        shown = watch.wait(5.0)
        if shown is None:
            missed += 1
            print(
                f"  a press to {rows[index]} did not show within 5 s (selected: {app.selected}; never shown: "
                f"{watch.missing()})",
                file=sys.stderr,
                flush=True,
            )
        else:
            latencies.append((shown - planned) * 1000)
    return latencies, missed


# ------------------------------------------------------------------------------------------ streaming


class OutputCount:
    """Counts the streamed text on the bus (its own subscription, drained every 0.1 s) and samples RSS."""

    def __init__(self, app: OrchestraApp, total: int) -> None:
        self.subscription = app.session.bus.subscribe(maxsize=1_000_000)
        self.total = total
        self.chunks = 0
        self.events = 0
        self.first: float | None = None
        self.last: float | None = None
        self.rss_at_total: float | None = None
        self.samples: list[tuple[int, float]] = []  # (chunks so far, RSS MB)
        self.task = asyncio.create_task(self._count())

    async def _count(self) -> None:
        while True:
            for event in self.subscription.drain():
                if isinstance(event, RunOutput):
                    now = time.perf_counter()
                    self.first = self.first or now
                    self.last = now
                    self.events += 1
                    self.chunks += event.text.count("\n")
            rss = memory_mb()[0]
            if not self.samples or self.samples[-1][0] != self.chunks:
                self.samples.append((self.chunks, rss))
            if self.chunks >= self.total and self.rss_at_total is None:
                self.rss_at_total = rss
            await asyncio.sleep(0.1)

    def close(self) -> None:
        self.task.cancel()
        self.subscription.close()


def run_delay() -> float:
    """Seconds this thread has spent runnable but waiting for a CPU (Linux ``/proc/thread-self/schedstat``,
    its second field; 0 where it cannot be read)."""
    try:
        return int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class Pauses:
    """The event loop's stalls (a task asks to wake every 5 ms; a wake over 100 ms late is a stall) with the CPU
    the loop's thread used during each (``time.thread_time``: a stall with little of it waited for a CPU, i.e.
    the machine's load, not the app), and the durations of full (generation 2) garbage collections, in ms."""

    def __init__(self) -> None:
        self.stalls: list[float] = []
        self.stall_cpu: list[float] = []
        self.stall_queued: list[float] = []  # of each stall, the time the thread was runnable but had no CPU
        self.full_gcs: list[float] = []
        self._gc_started = 0.0
        gc.callbacks.append(self._gc)
        self.task = asyncio.create_task(self._beat())

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                self._gc_started = time.perf_counter()
            else:
                self.full_gcs.append((time.perf_counter() - self._gc_started) * 1000)

    async def _beat(self) -> None:
        last, cpu, queued = time.perf_counter(), time.thread_time(), run_delay()
        while True:
            await asyncio.sleep(0.005)
            now, now_cpu, now_queued = time.perf_counter(), time.thread_time(), run_delay()
            if now - last > 0.1:
                self.stalls.append((now - last) * 1000)
                self.stall_cpu.append((now_cpu - cpu) * 1000)
                self.stall_queued.append((now_queued - queued) * 1000)
            last, cpu, queued = now, now_cpu, now_queued

    def close(self) -> None:
        self.task.cancel()
        gc.callbacks.remove(self._gc)


async def until(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: not within {timeout:.0f} s: {what}")
        await asyncio.sleep(0.05)


class Selections:
    """Counts the ``TaskSelected`` messages the app handles (``run_test``'s message hook sees every message)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, message: Message) -> None:
        if isinstance(message, TaskSelected):
            self.count += 1


async def quiet(app: OrchestraApp, selections: Selections, task_id: str | None = None, timeout: float = 5.0) -> bool:
    """Whether, within ``timeout`` seconds, the selection is ``task_id`` (when given) and stays put: no
    ``TaskSelected`` handled for half a second."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mark = selections.count
        await asyncio.sleep(0.5)
        if selections.count == mark and (task_id is None or app.selected == task_id):
            return True
    return False


async def bench_streaming(results: Results, base: Path, sizes: Sizes, busy: bool = False) -> None:
    """The streaming part; ``busy``: a CPU-bound neighbour beside the key presses."""
    root = base / "streaming"
    streaming_project(root, sizes)
    size = f"{sizes.tasks:,} tasks"
    load = f"{sizes.tasks:,} tasks, {STREAMS} runs at {sizes.rate:,.0f} chunks/s" + ", a CPU-bound neighbour" * busy
    started = time.perf_counter()
    app = create_app(root, config_dir=base / "config")
    watch = FrameWatch(app)
    selections = Selections()
    async with app.run_test(size=SIZE, message_hook=selections) as pilot:
        await pilot.pause()
        assert watch.first is not None
        results.add(
            "open and first frame, in process (create_app to first frame)",
            size,
            (watch.first - started) * 1000,
            "ms",
            note="headless; the first-paint row is the whole program on the demo",
        )
        gc.collect()
        rss_before = memory_mb()[0]
        count = OutputCount(app, sizes.chunks)
        pauses = Pauses()
        await pilot.press("a")
        await until(lambda: len(live_runs(root)) == STREAMS, 30, f"{STREAMS} runs begun")
        await until(lambda: count.chunks >= min(sizes.chunks // 20, 2 * sizes.rate), 30, "the streams flowing")

        mark = selections.count
        await asyncio.sleep(1.0)
        results.add(
            "selection changes with no key pressed, after `a`",
            load,
            selections.count - mark,
            "messages/s",
            below=1,
            note="TaskSelected handled in the second after the runs began; the presses start from a settled selection",
        )
        app.set_focus(None)  # the board ignores cursor moves while no column has focus: whatever goes round stops
        settled = await quiet(app, selections)

        run_of = {run.task_id: run.run_id for run in live_runs(root)}
        frames, written, chunks, pauses.stalls, pauses.stall_cpu = watch.frames, watch.bytes, count.chunks, [], []
        with neighbour(busy):
            moment, cpu = time.perf_counter(), time.thread_time()
            await measure_presses(results, app, watch, selections, sizes, load, run_of, settled)
            seconds, cpu = time.perf_counter() - moment, time.thread_time() - cpu
        busy = sum(1 for spent in pauses.stall_cpu if spent > 50)
        queued = sum(pauses.stall_queued) / max(1.0, sum(pauses.stalls)) * 100
        results.add(
            "longest event-loop stall while keys were pressed",
            load,
            max(pauses.stalls, default=0.0),
            "ms",
            note=f"{len(pauses.stalls)} stalls over 100 ms in {seconds:.0f} s, {busy} of them with over 50 ms of "
            f"the loop's own CPU; {queued:.0f}% of the stalls' time the loop was runnable with no CPU free",
        )
        results.add(
            "event-loop CPU while keys were pressed",
            load,
            cpu / seconds * 100,
            "% of a core",
            note=f"{cpu * 1000 / max(1, watch.frames - frames):.1f} ms per frame drawn, all of the loop's work "
            "counted; the thread's own CPU time, which the machine's load does not inflate",
        )
        results.add("frames drawn while keys were pressed", load, (watch.frames - frames) / seconds, "frames/s")
        results.add(
            "terminal output while keys were pressed",
            load,
            (watch.bytes - written) / seconds / 1024,
            "KiB/s",
            note="render_segments of every frame (the headless driver skips it)",
        )
        if len(live_runs(root)) != STREAMS:
            results.add(
                "presses cut short: the stream ended",
                load,
                1,
                "presses",
                below=1,
                note="a longer stream gives time for more presses",
            )
        during = (count.chunks - chunks) / seconds

        await until(
            lambda: count.chunks >= sizes.chunks and not live_runs(root),
            sizes.chunks / sizes.rate * 3 + 60,
            f"all {sizes.chunks:,} chunks streamed",
        )
        await pilot.pause()
        pauses.close()
        count.close()
        full = pauses.full_gcs or [0.0]
        results.add(
            "full garbage collection (generation 2), median",
            load,
            statistics.median(full),
            "ms",
            note=(
                f"{len(pauses.full_gcs)} while streaming, longest {max(full):.0f} ms; "
                f"{len(gc.get_objects()):,} objects tracked after"
            ),
        )
        assert count.first is not None and count.last is not None
        streamed = count.last - count.first
        results.add(
            "load: chunks streamed per second (8 runs, whole stream)",
            load,
            count.chunks / streamed,
            "chunks/s",
            at_least=sizes.rate * 0.95,
            note=f"{during:,.0f}/s while keys were pressed; a chunk is one {LINE_BYTES}-byte line written on its own",
        )
        results.add(
            "load: RunOutput events per second (file reads)",
            load,
            count.events / streamed,
            "events/s",
            note="a read may hold several chunks",
        )
        report_memory(results, app, root, sizes, count, rss_before, list(run_of.values()))


async def measure_presses(
    results: Results,
    app: OrchestraApp,
    watch: FrameWatch,
    selections: Selections,
    sizes: Sizes,
    load: str,
    run_of: dict[str, str],
    settled: bool,
) -> None:
    """The key-press rows: the Running column first (its rows leave when the runs end), then Ready."""
    board = app.board
    phases = [
        (
            "running",
            lambda task_id: [f"({task_id})", f"run {run_of[task_id]}"],
            sizes.presses_running,
            "detail pane and that task's output pane",
        ),
        ("ready", lambda task_id: [f"({task_id})"], sizes.presses_ready, "detail pane shows the task"),
    ]

    def streaming() -> bool:
        return len(live_runs(app.session.project.root)) == STREAMS

    for seed, (column, needles, presses, shows) in enumerate(phases):
        rows = board.rows(column)
        metric = f"key press to screen, {column} column"
        why = None if settled else "the selection never settled after `a`"
        if why is None and len(rows) < 2:
            why = f"{len(rows)} rows in the column"
        if why is None:
            board.columns[column].focus()
            focused = await quiet(app, selections)
            board.columns[column].move_cursor(row=0, animate=False)
            if not (focused and await quiet(app, selections, rows[0])):
                why = "the selection did not settle on the column's first row"
        if why is not None:
            for statistic in ("p50", "p95"):
                results.skip(f"{metric}, {statistic}", load, "ms", why)
            continue
        layouts: list[object] = []  # Textual's layouts of the screen (full, or a reflow after a scroll)
        signal = app.screen.screen_layout_refresh_signal
        signal.subscribe(app, layouts.append, immediate=True)
        try:
            latencies, missed = await asyncio.to_thread(
                press_column, app, watch, rows, needles, presses, seed, streaming
            )
        finally:
            signal.unsubscribe(app)
        results.add(
            f"screen layouts per 100 presses, {column} column",
            load,
            len(layouts) * 100 / max(1, len(latencies) + missed),
            "layouts",
            note="full layouts and reflows after a scroll while the presses went, each 5-20 ms of the loop's CPU "
            "on this board; a press that causes one waits for it",
        )
        note = f"{len(latencies)} presses (down/up), {shows}" + (f"; {missed} not shown within 5 s" if missed else "")
        if not await quiet(app, selections):
            note += "; the selection kept changing after the presses"
        if latencies:
            results.add(f"{metric}, p50", load, statistics.median(latencies), "ms", below=LATENCY_TARGET_MS, note=note)
            results.add(f"{metric}, p95", load, percentile(latencies, 0.95), "ms", below=LATENCY_TARGET_MS, note=note)
            results.add(f"{metric}, max", load, max(latencies), "ms")
        else:
            for statistic in ("p50", "p95"):
                results.skip(
                    f"{metric}, {statistic}", load, "ms", note if missed else "the stream ended before the presses"
                )
        if missed:
            results.add(f"{metric}, presses not shown within 5 s", load, missed, "presses", below=1)


def report_memory(
    results: Results,
    app: OrchestraApp,
    root: Path,
    sizes: Sizes,
    count: OutputCount,
    rss_before: float,
    run_ids: list[str],
) -> None:
    size, chunks = f"{sizes.tasks:,} tasks", f"{sizes.chunks:,} chunks"
    assert count.rss_at_total is not None
    rss_after, peak = count.rss_at_total, memory_mb()[1]
    results.add("RSS before dispatch", size, rss_before, "MB")
    results.add(
        f"RSS after {chunks}",
        size,
        rss_after,
        "MB",
        below=RSS_TARGET_MB,
        note=f"+{rss_after - rss_before:.1f} MB over the stream; peak (VmHWM) {peak:.1f} MB",
    )
    half = next(rss for done, rss in count.samples if done >= sizes.chunks // 2)
    results.add(
        "RSS growth over the second half of the stream, per 100,000 chunks",
        size,
        (rss_after - half) / (sizes.chunks - sizes.chunks // 2) * 100_000,
        "MB",
        note="0 when nothing is kept per chunk",
    )
    lines = [pane.line_count for pane in app.query_one(OutputPanes).panes.values()]
    results.add(
        "lines held per output pane (largest)",
        chunks,
        max(lines),
        "lines",
        below=MAX_LINES + 1,
        note=f"{len(lines)} panes; bounded by the panes' MAX_LINES = {MAX_LINES:,}",
    )
    on_disk = sum((run_dir(root, run_id) / OUTPUT_FILE).stat().st_size for run_id in run_ids)
    written = STREAMS * (sizes.chunks // STREAMS) * LINE_BYTES
    results.add(
        "output on disk (output.txt of the 8 runs)",
        chunks,
        on_disk,
        "bytes",
        at_least=written,
        note=f"the agents wrote {written:,} bytes",
    )


# ------------------------------------------------------------------------------------------ first paint


def bench_version(results: Results, runs: int) -> None:
    """``orchestra --version``, the whole process (what a shell prompt or a script pays), median of ``runs``."""
    program = Path(sys.executable).parent / "orchestra"
    if not program.exists():
        results.skip("`orchestra --version`, whole process (median)", "-", "ms", f"no console script at {program}")
        return
    times = []
    for attempt in range(runs + 1):  # the first is not counted (bytecode)
        started = time.perf_counter()
        subprocess.run([str(program), "--version"], check=True, capture_output=True, timeout=60)
        if attempt:
            times.append((time.perf_counter() - started) * 1000)
    results.add(
        "`orchestra --version`, whole process (median)",
        "-",
        statistics.median(times),
        "ms",
        below=VERSION_TARGET_S * 1000,
        note=f"{runs} runs: {', '.join(f'{t:.0f}' for t in times)} ms",
    )


def bench_first_paint(results: Results, base: Path, runs: int, busy: bool = False) -> None:
    metric = "first paint, `orchestra DIR` in tmux (median)" + (", a CPU-bound neighbour" if busy else "")
    size = "demo, 120x40"
    program = Path(sys.executable).parent / "orchestra"
    if shutil.which("tmux") is None:
        results.skip(metric, size, "ms", "tmux is not installed")
        return
    if not program.exists():
        results.skip(metric, size, "ms", f"no console script at {program} (pip install -e .)")
        return
    socket = f"orchestra-bench-{os.getpid()}{'-busy' * busy}"
    tmux = ["tmux", "-L", socket, "-f", "/dev/null"]
    subprocess.run([*tmux, "new-session", "-d", "-s", "keep", "-x", "80", "-y", "24", "sleep 600"], check=True)
    times: list[float] = []
    try:
        for attempt in range(runs + 1):  # the first is not counted
            project = base / f"demo-{attempt}{'-busy' * busy}"
            shutil.copytree(DEMO, project, ignore=shutil.ignore_patterns(".orchestra", "build"))
            session = f"paint{attempt}"
            command = f"env ORCHESTRA_CONFIG_DIR={base / 'config'} {program} {project}"
            started = time.perf_counter()
            subprocess.run(
                [*tmux, "new-session", "-d", "-s", session, "-x", str(SIZE[0]), "-y", str(SIZE[1]), command], check=True
            )
            seconds = None
            while time.perf_counter() - started < 20:
                screen = subprocess.run(
                    [*tmux, "capture-pane", "-p", "-t", session], capture_output=True, text=True, check=False
                ).stdout
                if "DES-001" in screen and "Blocked" in screen and "Ready" in screen:
                    seconds = time.perf_counter() - started
                    break
                time.sleep(0.005)
            subprocess.run([*tmux, "send-keys", "-t", session, "q"], check=False)
            deadline = time.monotonic() + 10
            while (
                subprocess.run([*tmux, "has-session", "-t", session], capture_output=True, check=False).returncode == 0
            ):
                if time.monotonic() > deadline:
                    subprocess.run([*tmux, "kill-session", "-t", session], check=False)
                    break
                time.sleep(0.05)
            if seconds is None:
                raise SystemExit(f"bench: the board did not show within 20 s in tmux; last screen:\n{screen}")
            if attempt:
                times.append(seconds * 1000)
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)
    results.add(
        metric,
        size,
        statistics.median(times),
        "ms",
        below=PAINT_TARGET_S * 1000,
        note=f"{runs} runs: {', '.join(f'{t:.0f}' for t in times)} ms; a fresh copy each, after one uncounted run",
    )


# ------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="200 tasks, 20,000 chunks (10 s of streaming), 30 presses (a smoke run)"
    )
    parser.add_argument(
        "--tmpdir", type=Path, default=None, help="where the temporary projects go (default: the system's)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON results file (default: bench/results/tui[-quick].json)"
    )
    parser.add_argument(
        "--start-only", action="store_true", help="only `orchestra --version` and first paint (idle and busy)"
    )
    parser.add_argument("--neighbour", action="store_true", help="one CPU-bound process running beside the key presses")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    out = args.out or RESULTS_DIR / f"tui{'-quick' * args.quick}{'-neighbour' * args.neighbour}.json"
    base = Path(tempfile.mkdtemp(prefix="orchestra-bench-", dir=args.tmpdir)).resolve()
    print(f"temporary projects under {base}", file=sys.stderr, flush=True)
    results = Results()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    info = machine(base)  # the load average before this benchmark adds its own
    try:
        if not args.start_only:
            asyncio.run(bench_streaming(results, base, sizes, busy=args.neighbour))
        bench_version(results, sizes.paints)
        bench_first_paint(results, base, sizes.paints)
        with neighbour(True):
            bench_first_paint(results, base, sizes.paints, busy=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(table(results.rows, show))
    print()
    print(f"machine: nproc {info['nproc']}, {info['python']}, {info['platform']}, load average {info['load average']}")
    write_results(out, "tui", results.rows, quick=args.quick, started=started, sizes=asdict(sizes), machine=info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
