"""Detached runs (issue 10): what running tasks in a driver process of their own costs, and how fast another
process sees their output.

``python bench/bench_detached.py [--quick] [--tmpdir DIR] [--out FILE]`` prints a table and the machine (with
its load average), and writes JSON to ``bench/results/detached.json``. A benchmark, not a test.

- Output delay: a detached run (``orchestra run --detach``) of a command printing its wall-clock time every
  50 ms; another process, ``orchestra logs ID --follow``, reads it. Delay = when the follower read a line
  minus the time the line holds. p50 and p95 over every line (target p95 ≤ 500 ms).
- Throughput on N instant ``shell`` tasks (``true``), ``auto_complete`` (each task commits its start and its
  end, fsync'd), parallel 4: ``orchestra run`` as it is now (a starter that spawns the driver and follows it
  from the run files) against the in-process design it replaced (``Scheduler.run`` in the command's own
  process), each the whole command's wall time; median of the repeats (target ≥ 150 tasks/s detached, and
  at least half the in-process rate: on a loaded machine both fall, the ratio is what the design costs).
- Dispatch from the app: the app (``create_app``, headless, 120x40) on a plan of independent tasks that each
  print a line; ``d`` pressed on one task at a time (``Pilot.press``). Latency = from the press to the app
  handling the run's first line (``RunOutputArrived``, the message that writes it into the task's output
  pane; the frame follows within 1/60 s): the driver process starting, its run beginning, the command's
  first line written to ``output.txt``, and the app's run watcher (0.1 s polls) reading it. p50 and p95.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Row, machine, table, write_results
from orchestra_tui.engine.driver import live_drivers

REPO = Path(__file__).resolve().parents[1]
ORCHESTRA = [sys.executable, "-m", "orchestra_tui"]
IN_PROCESS = """
import asyncio, sys
from orchestra_tui.engine.loop import pidfd_child_watcher
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.scheduler import Scheduler

async def main(project):
    with pidfd_child_watcher():
        return await Scheduler(project, parallel=4).run()

with Project.open(sys.argv[1], actor="scheduler") as project:
    summary = asyncio.run(main(project))
assert len(summary.results) == int(sys.argv[2]), len(summary.results)
"""
TICKER = 'python3 -c "import time; [(print(repr(time.time()), flush=True), time.sleep(0.05)) for _ in range({n})]"'


def plan(root: Path, body: str, extra: str = "") -> None:
    root.mkdir(parents=True)
    (root / "orchestra.toml").write_text(f'[project]\nid = "b"\nname = "Bench"\n{extra}\n' + body)


def instant(root: Path, count: int) -> None:
    body = "".join(f'[[tasks]]\nid = "T{i:04d}"\ntitle = "t"\ncommands = ["true"]\n\n' for i in range(count))
    plan(root, body, "auto_complete = true\nparallel_max = 4")


def throughput(base: Path, count: int, repeats: int) -> tuple[list[float], list[float]]:
    detached, in_process = [], []
    for index in range(repeats):
        for name, argv, into in (
            ("d", [*ORCHESTRA, "-p", "{root}", "run", "-j", "4"], detached),
            ("i", [sys.executable, "-c", IN_PROCESS, "{root}", str(count)], in_process),
        ):
            root = base / f"{name}{index}"
            instant(root, count)
            subprocess.run([*ORCHESTRA, "-p", str(root), "list", "--json"], capture_output=True, check=True)
            started = time.perf_counter()
            done = subprocess.run(
                [part.replace("{root}", str(root)) for part in argv], capture_output=True, text=True, cwd=REPO
            )
            seconds = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"{name}: {done.stderr}")
            into.append(count / seconds)
    return detached, in_process


def delays(base: Path, lines: int) -> list[float]:
    root = base / "delay"
    plan(root, f'[[tasks]]\nid = "TICK"\ntitle = "t"\ncommands = [\'{TICKER.format(n=lines)}\']\n')
    subprocess.run([*ORCHESTRA, "-p", str(root), "run", "--detach"], check=True, capture_output=True)
    waited = time.monotonic() + 30
    while not live_drivers(root):  # `run --detach` returns before its driver holds its lock: `logs` would say "no run"
        if time.monotonic() > waited:
            raise SystemExit("the driver did not start within 30 s")
        time.sleep(0.01)
    follower = subprocess.Popen(
        [*ORCHESTRA, "-p", str(root), "logs", "TICK", "--follow"], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    assert follower.stdout is not None
    found, pending, deadline = [], b"", time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([follower.stdout], [], [], 1)
        if not ready:
            continue
        chunk = os.read(follower.stdout.fileno(), 65536)
        now = time.time()
        if not chunk:
            break
        *whole, pending = (pending + chunk).split(b"\n")
        found += [now - float(line) for line in whole if line.strip()]
    follower.wait(timeout=60)
    return found


async def _press_d(root: Path, config: Path, count: int) -> list[float]:
    from orchestra_tui.tui.app import create_app
    from orchestra_tui.tui.messages import RunOutputArrived

    arrived: dict[str, float] = {}

    def hook(message: object) -> None:
        if isinstance(message, RunOutputArrived) and message.task_id not in arrived:
            arrived[message.task_id] = time.perf_counter()

    found = []
    app = create_app(root, config_dir=config)
    async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
        await pilot.pause()
        for index in range(count):
            task_id = f"D{index:02d}"
            app.jump_to(task_id)
            await pilot.pause()
            pressed = time.perf_counter()
            await pilot.press("d")
            deadline = time.monotonic() + 60
            while task_id not in arrived or app.session.project.tasks[task_id].status.value != "completed":
                if time.monotonic() > deadline:
                    raise SystemExit(f"{task_id}: no first line, or not completed, within 60 s")
                await asyncio.sleep(0.002)
            found.append(arrived[task_id] - pressed)
    return found


def dispatch_latency(base: Path, count: int) -> list[float]:
    """Seconds from ``d`` to the run's first line in the app, one run at a time."""
    root = base / "press"
    body = "".join(f'[[tasks]]\nid = "D{i:02d}"\ntitle = "d"\ncommands = ["echo first"]\n\n' for i in range(count))
    plan(root, body, "auto_complete = true")
    return asyncio.run(_press_d(root, base / "config", count))


def show(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:,.0f} {unit}" if unit != "ms" else f"{value:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 tasks, 1 repeat, 40 lines, 3 presses")
    parser.add_argument("--tmpdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    count, repeats, lines, presses = (100, 1, 40, 3) if args.quick else (500, 3, 200, 15)
    base = Path(tempfile.mkdtemp(prefix="orchestra-bench-", dir=args.tmpdir))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        info = machine(base)
        found = sorted(delays(base, lines))
        p50, p95 = statistics.median(found), found[int(0.95 * (len(found) - 1))]
        detached, in_process = throughput(base, count, repeats)
        load = os.getloadavg()[0]
        pressed = sorted(dispatch_latency(base, presses))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    rows = [
        Row("output delay to `logs --follow`, p50", f"{len(found)} lines", p50 * 1000, "ms", "info", "info"),
        Row(
            "output delay to `logs --follow`, p95",
            f"{len(found)} lines",
            p95 * 1000,
            "ms",
            "≤ 500 ms",
            "PASS" if p95 <= 0.5 else "MISS",
        ),
        Row(
            "`orchestra run` (detached driver), instant shell tasks",
            f"{count}, -j 4",
            statistics.median(detached),
            "tasks/s",
            "≥ 150/s",
            "PASS" if statistics.median(detached) >= 150 else "MISS",
            f"median of {repeats}",
        ),
        Row(
            "in-process Scheduler.run (the design it replaced)",
            f"{count}, -j 4",
            statistics.median(in_process),
            "tasks/s",
            "info",
            "info",
            f"median of {repeats}",
        ),
        Row(
            "detached ÷ in-process tasks/s",
            f"{count}, -j 4",
            statistics.median(detached) / statistics.median(in_process),
            "x",
            "≥ 0.5x",
            "PASS" if statistics.median(detached) >= 0.5 * statistics.median(in_process) else "MISS",
            "the issue's 'no worse than 2x'",
        ),
        Row(
            "`d` in the app to the run's first line there (detached driver), p50",
            f"{len(pressed)} presses",
            statistics.median(pressed) * 1000,
            "ms",
            "info",
            "info",
            f"load {load:.2f} before",
        ),
        Row(
            "`d` in the app to the run's first line there (detached driver), p95",
            f"{len(pressed)} presses",
            pressed[int(0.95 * (len(pressed) - 1))] * 1000,
            "ms",
            "info",
            "info",
        ),
    ]
    print(table(rows, show))
    print("machine: " + ", ".join(f"{key} {value}" for key, value in info.items()))
    print("load after: " + " ".join(f"{load:.2f}" for load in os.getloadavg()))
    out = args.out or REPO / "bench" / "results" / ("detached-quick.json" if args.quick else "detached.json")
    write_results(out, "detached", rows, quick=args.quick, started=started, machine=info)


if __name__ == "__main__":
    main()
