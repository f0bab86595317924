"""Output delay from a run another process owns to the TUI (issue 10): p50/p95, target p95 <= 500 ms.

``python bench/bench_tui_foreign.py [--lines N] [--runs R] [--out FILE]`` starts ``orchestra run`` in a process
of its own on a plan of ``R`` parallel shell tasks, each printing ``N`` lines of its wall-clock time every 20 ms
(one ``write`` per line, flushed). The app (``create_app``, headless, 120x40) opens on the same project: the
engine's ``RunWatcher`` finds the runs in ``.orchestra/runs/`` and tails their ``output.txt`` every
``liveruns.POLL``; the session batches the text per frame and the app hands it to the output panes. Measured
per line: from the time the task printed it to the moment the app handles the ``RunOutputArrived`` carrying
it (same machine, same clock). Lines printed before the app was up (the text so far) are left out. Prints a
table and writes JSON to ``bench/results/tui-foreign.json``. A benchmark, not a test: a MISS is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import Row, machine, table, write_results  # noqa: E402
from orchestra_tui.engine.liveruns import live_runs  # noqa: E402
from orchestra_tui.tui.app import OrchestraApp, create_app  # noqa: E402
from orchestra_tui.tui.messages import RunOutputArrived  # noqa: E402

TARGET_P95_MS = 500.0
PRINTER = (
    "import sys,time\nfor i in range({lines}):\n    print(f'@{{time.time():.6f}}', flush=True)\n    time.sleep(0.02)\n"
)


def write_project(root: Path, runs: int, lines: int) -> None:
    root.mkdir(parents=True)
    (root / "printer.py").write_text(PRINTER.format(lines=lines))
    tasks = "".join(
        f'[[tasks]]\nid = "T{i}"\ntitle = "Printer {i}"\ncommands = ["{sys.executable} printer.py"]\n\n'
        for i in range(runs)
    )
    (root / "orchestra.toml").write_text(
        f'[project]\nid = "bench"\nname = "Bench"\nparallel_max = {runs}\nauto_complete = true\n\n{tasks}'
    )


class Measured(OrchestraApp):
    """The app, noting when each line of a run's output reaches it."""

    delays: list[float]
    ready: float  # the wall-clock time the app was up: lines printed before it are the text so far

    def on_run_output_arrived(self, message: RunOutputArrived) -> None:
        now = time.time()
        for part in message.text.split("@")[1:]:
            with contextlib.suppress(ValueError, IndexError):  # a line cut at the batch's edge
                printed = float(part.split()[0])
                if printed >= self.ready:
                    self.delays.append(now - printed)
        super().on_run_output_arrived(message)


async def measure(root: Path, config: Path, runs: int, lines: int) -> list[float]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestra_tui", "-p", str(root), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**env, "ORCHESTRA_CONFIG_DIR": str(config)},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while len(live_runs(root)) < runs:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("the runs did not start")
            time.sleep(0.02)
        app = create_app(root, config_dir=config)
        app.__class__ = Measured
        app.delays, app.ready = [], float("inf")
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            app.ready = time.time()
            while process.poll() is None:
                await pilot.pause(0.1)
            await pilot.pause(0.5)
            return list(app.delays)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=250)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "tui-foreign.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as base:
        root = Path(base) / "p"
        write_project(root, args.runs, args.lines)
        load_before = os.getloadavg()[0]
        delays = asyncio.run(measure(root, Path(base) / "config", args.runs, args.lines))
        info = machine(Path(base))
    if len(delays) < 2:
        raise SystemExit("no output measured")
    ms = sorted(delay * 1000 for delay in delays)
    p50, p95 = statistics.median(ms), ms[int(0.95 * (len(ms) - 1))]
    size = f"{args.runs} runs x {args.lines} lines"
    rows = [
        Row("foreign output delay p50", size, p50, "ms", "", "info", f"{len(ms)} lines"),
        Row(
            "foreign output delay p95",
            size,
            p95,
            "ms",
            f"<= {TARGET_P95_MS:.0f}",
            "PASS" if p95 <= TARGET_P95_MS else "MISS",
            f"load {load_before:.2f} at start",
        ),
        Row("foreign output delay max", size, ms[-1], "ms", "", "info"),
    ]
    print(table(rows, lambda value, unit: f"{value:.0f} {unit}"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_results(args.out, "tui-foreign", rows, machine=info)


if __name__ == "__main__":
    main()
