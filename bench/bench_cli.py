"""Whole ``orchestra`` commands at 1,000-10,000 tasks, as a person runs them (issue 15 items 1-4).

Every command is a fresh process, run once per round, the rounds interleaved (so a swing in the machine's load
touches every command alike); figures are medians of wall time and of CPU time (user + system of the child).
Bytecode is written and warm (one run of each first), as an installed orchestra has it.

    python bench/bench_cli.py [--quick] [--rounds N] [--neighbour]

``--neighbour`` keeps one CPU-bound process (``while 1: pass``) running beside the benchmark, stopped by its
pid at the end. Targets: ``next --json`` at 1,000 tasks under 2x ``--version``, at 5,000 under 600 ms;
``report --json`` at 10,000 within 2x ``list --json``; ``list`` and ``backups`` within 1.5x of their ``--json``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine
from bench.generate import write_project
from orchestra_tui.answers import ANSWERS_FILE
from orchestra_tui.projectfiles import STATE_DIR


def _command() -> list[str]:
    script = Path(sys.executable).parent / "orchestra"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "orchestra_tui"]


ENV = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "COLUMNS", "FORCE_COLOR")}


def forget_answers(root: Path) -> None:
    """Remove the project's kept answers (``orchestra_tui/answers.py``): ``next`` then runs the engine, as the
    first ask after a change does (``bench_startup.py`` measures the kept answer apart)."""
    (root / STATE_DIR / ANSWERS_FILE).unlink(missing_ok=True)


def run(args: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds of one whole command (its output discarded; a failure stops the benchmark)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([*_command(), *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, timeout=600)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"orchestra {' '.join(args)} failed: {done.stderr.decode()[-400:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def project(base: Path, n: int, entries: int = 0) -> Path:
    """A generated plan of ``n`` tasks, opened once, with a failed and a cancelled task (so ``report`` has
    blockers), and ``entries`` history entries in all when asked (committed in-process: durable, but quick)."""
    root = base / f"p{n}"
    write_project(root, n)
    run(["-p", str(root), "fail", "T00005", "--reason", "bench"])
    run(["-p", str(root), "cancel", "T00010"])
    if entries:
        from orchestra_tui.engine import Project

        with Project.open(root, actor="cli") as opened:
            ids = [task_id for task_id in opened.graph.ready()][:50]
            while opened.store.seq < entries:
                for task_id in ids:
                    if opened.store.seq >= entries:
                        break
                    opened.start(task_id)
                    opened.fail(task_id, "bench")
                    opened.retry(task_id)
    return root


@contextmanager
def neighbour(on: bool) -> Iterator[None]:
    if not on:
        yield
        return
    busy = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
    try:
        yield
    finally:
        busy.kill()
        busy.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small plans, 3 rounds (a smoke run)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--neighbour", action="store_true", help="one CPU-bound process running beside")
    options = parser.parse_args(argv)
    small, mid, big, entries = (100, 500, 1000, 1000) if options.quick else (1000, 5000, 10000, 10000)
    rounds = 3 if options.quick else options.rounds
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as temp:
        base = Path(temp)
        print(f"generating plans ({small:,} / {mid:,} / {big:,} tasks, {entries:,} history entries)...", flush=True)
        p_small, p_mid = project(base, small), project(base, mid)
        p_big = project(base, big, entries=entries)
        commands = {
            "--version": ["--version"],
            "--help": ["--help"],
            f"next --json @{small:,}": ["-p", str(p_small), "next", "--json"],
            f"next --json @{mid:,}": ["-p", str(p_mid), "next", "--json"],
            f"list @{big:,}": ["-p", str(p_big), "list"],
            f"list --json @{big:,}": ["-p", str(p_big), "list", "--json"],
            f"report --json @{big:,}": ["-p", str(p_big), "report", "--json"],
            f"backups @{entries:,}": ["-p", str(p_big), "backups"],
            f"backups --json @{entries:,}": ["-p", str(p_big), "backups", "--json"],
        }
        for args in commands.values():  # bytecode written, files cached
            run(args)
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        loads = [os.getloadavg()[0]]
        with neighbour(options.neighbour):
            for _ in range(rounds):
                for name, args in commands.items():
                    if args[2:3] == ["next"]:
                        forget_answers(Path(args[1]))
                    wall, cpu = run(args)
                    walls[name].append(wall)
                    cpus[name].append(cpu)
                loads.append(os.getloadavg()[0])
        info = machine(base)
    wall = {name: statistics.median(values) * 1000 for name, values in walls.items()}
    cpu = {name: statistics.median(values) * 1000 for name, values in cpus.items()}
    print(f"\nmachine: {info['nproc']} cores, {info['python']}; neighbour: {'yes' if options.neighbour else 'no'}")
    print(f"load average (1 min) over the run: {min(loads):.1f}-{max(loads):.1f}; {rounds} rounds, medians\n")
    print(f"{'command':<28} {'wall ms':>9} {'cpu ms':>8}")
    for name in commands:
        print(f"{name:<28} {wall[name]:>9.0f} {cpu[name]:>8.0f}")
    print()

    def ratio(label: str, a: str, b: str, target: float) -> None:
        w, c = wall[a] / wall[b], cpu[a] / cpu[b]
        verdict = "PASS" if w <= target else "MISS"
        print(f"{label:<44} wall {w:5.2f}x  cpu {c:5.2f}x  target <= {target}x  {verdict}")

    ratio(f"next --json @{small:,} / --version", f"next --json @{small:,}", "--version", 2.0)
    ratio(f"report --json / list --json @{big:,}", f"report --json @{big:,}", f"list --json @{big:,}", 2.0)
    ratio(f"list / list --json @{big:,}", f"list @{big:,}", f"list --json @{big:,}", 1.5)
    ratio(f"backups / backups --json @{entries:,}", f"backups @{entries:,}", f"backups --json @{entries:,}", 1.5)
    mid_wall = wall[f"next --json @{mid:,}"]
    label = f"next --json @{mid:,} (ms)"
    print(f"{label:<44} wall {mid_wall:5.0f}   target < 600 ms  {'PASS' if mid_wall < 600 else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
