"""Start-up, open and import (issue 15 items 3-4, issue 12's import target), as whole processes, interleaved.

    python bench/bench_startup.py [--quick] [--rounds N] [--neighbour]

Each round runs, once each and in turn: ``orchestra --version``; ``orchestra next --json`` on 1,000 tasks answered
from its kept answer (``.orchestra/answers.json``: asking again of unchanged files), and on 1,000 and 5,000 tasks
without one (``cold``: the file removed before each run, as the first ask after a change); ``orchestra import
taskmaster --all-tags --json`` of a generated 5,000-task Taskmaster file (+1,500 subtasks) into a fresh directory;
and a fresh interpreter that loads and validates a 10,000-task plan (``load_plan``, no cache, timed in-process
after its imports, as ``bench_foundation.py`` does). Figures are
medians of wall time and of CPU time (user + system of the child; for the load, the interpreter's own CPU).
Bytecode is written and warm (two runs of each first). ``--neighbour`` keeps one CPU-bound process
(``while 1: pass``) running beside the benchmark, stopped by its pid at the end. A benchmark, not a test.

Targets: ``next --json`` at 1,000 tasks under 2x ``--version``; at 5,000 under 600 ms; load and validate at
10,000 under 1 s; the import at most 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_cli import ENV, forget_answers, neighbour, run
from bench.bench_import import taskmaster_document
from bench.generate import write_project

LOAD = (
    "import json, sys, time\nfrom pathlib import Path\nfrom orchestra_tui.plan import load_plan\n"
    "wall, cpu = time.perf_counter(), time.process_time()\nload_plan(Path(sys.argv[1]), environ={})\n"
    "print(json.dumps([time.perf_counter() - wall, time.process_time() - cpu]))"
)


def load(root: Path) -> tuple[float, float]:
    """Wall and CPU seconds of ``load_plan(root)`` in a fresh interpreter (its imports not counted)."""
    done = subprocess.run(
        [sys.executable, "-c", LOAD, str(root)], capture_output=True, text=True, env=ENV, timeout=600, check=True
    )
    wall, cpu = json.loads(done.stdout)
    return float(wall), float(cpu)


def importer(source: Path, scratch: Path) -> Callable[[], tuple[float, float]]:
    """A function importing ``source`` into a new directory under ``scratch`` each time it is called."""
    count = iter(range(10**6))

    def once() -> tuple[float, float]:
        target = scratch / f"import-{next(count)}"
        target.mkdir()
        return run(["-p", str(target), "import", "taskmaster", str(source), "--all-tags", "--json"])

    return once


def cold(root: Path, args: list[str]) -> Callable[[], tuple[float, float]]:
    """A function running ``orchestra ARGS`` on ``root`` with no kept answer to print (the engine answers)."""

    def once() -> tuple[float, float]:
        forget_answers(root)
        return run(args)

    return once


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small plans, 3 rounds (a smoke run)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--neighbour", action="store_true", help="one CPU-bound process running beside")
    options = parser.parse_args(argv)
    small, mid, big, imported = (100, 500, 1000, 200) if options.quick else (1000, 5000, 10000, 5000)
    rounds = 3 if options.quick else options.rounds
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as temp:
        base = Path(temp)
        print(f"generating plans ({small:,} / {mid:,} / {big:,} tasks, a {imported:,}-task Taskmaster file)...")
        p_small, p_mid, p_big = (write_project(base / f"p{n}", n).parent for n in (small, mid, big))
        source = base / "tasks.json"
        source.write_text(json.dumps(taskmaster_document(imported), indent=2))
        commands: dict[str, Callable[[], tuple[float, float]]] = {
            "--version": lambda: run(["--version"]),
            f"next --json @{small:,}": lambda: run(["-p", str(p_small), "next", "--json"]),
            f"next --json @{small:,} cold": cold(p_small, ["-p", str(p_small), "next", "--json"]),
            f"next --json @{mid:,}": cold(p_mid, ["-p", str(p_mid), "next", "--json"]),
            f"import taskmaster @{imported:,}": importer(source, base),
            f"load + validate @{big:,}": lambda: load(p_big),
        }
        for measure in [*commands.values()] * 2:  # bytecode written, plans opened, answers kept, files cached
            measure()
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        loads = [os.getloadavg()[0]]
        with neighbour(options.neighbour):
            for _ in range(rounds):
                for name, measure in commands.items():
                    wall, cpu = measure()
                    walls[name].append(wall)
                    cpus[name].append(cpu)
                loads.append(os.getloadavg()[0])
    wall = {name: statistics.median(values) * 1000 for name, values in walls.items()}
    cpu = {name: statistics.median(values) * 1000 for name, values in cpus.items()}
    print(f"\nneighbour: {'yes' if options.neighbour else 'no'}; {os.cpu_count()} cores")
    print(f"load average (1 min) over the run: {min(loads):.1f}-{max(loads):.1f}; {rounds} rounds, medians\n")
    print(f"{'command':<30} {'wall ms':>9} {'cpu ms':>8}")
    for name in commands:
        print(f"{name:<30} {wall[name]:>9.0f} {cpu[name]:>8.0f}")
    print()
    version = "--version"
    for next_small in (f"next --json @{small:,}", f"next --json @{small:,} cold"):
        print(
            f"{next_small + ' / --version':<44} wall {wall[next_small] / wall[version]:5.2f}x  "
            f"cpu {cpu[next_small] / cpu[version]:5.2f}x  target < 2x"
        )
    for name, target in (
        (f"next --json @{mid:,}", 600),
        (f"load + validate @{big:,}", 1000),
        (f"import taskmaster @{imported:,}", 1000),
    ):
        verdict = "PASS" if wall[name] <= target else "MISS"
        print(f"{name + ' (ms)':<44} wall {wall[name]:5.0f}  cpu {cpu[name]:5.0f}  target <= {target} ms  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
