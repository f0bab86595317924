"""The DAG view's layout benchmark: how long ``layout_dag`` and ``draw`` take on generated plans.

``python bench/bench_dag.py [--quick] [--out FILE]`` prints a table (metric, size, value: no targets, the
view lays out plans over 800 tasks in a worker) and the machine, and writes the same as JSON to
``bench/results/dag.json`` (``dag-quick.json`` with ``--quick``). The plans come from ``bench.generate`` (in memory,
no files); each
figure is the median of a few runs in this process. ``draw`` only indexes the lines: the view asks for the
rows on screen. Times are CPU time (``time.process_time``): the machine is often shared, and its load
average is printed with the table. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Row, machine, table, write_results
from bench.generate import plan_document
from orchestra_tui.dag_layout import draw, layout_dag

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
FULL = {100: 7, 500: 7, 2_000: 5, 5_000: 3, 10_000: 3}  # tasks -> runs
QUICK = {20: 2, 50: 2, 100: 2}
SCREEN = (120, 40)  # the rows and columns a screenful of the view asks for


def structure(n_tasks: int) -> tuple[list[str], list[tuple[str, str]]]:
    tasks = plan_document(n_tasks)["tasks"]
    return [task["id"] for task in tasks], [(dep, task["id"]) for task in tasks for dep in task.get("dependencies", [])]


def median_ms(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.process_time()
        action()
        times.append((time.process_time() - began) * 1000)
    return statistics.median(times)


def measure(sizes: dict[int, int]) -> list[Row]:
    rows: list[Row] = []
    layouts: dict[int, float] = {}
    for n_tasks, runs in sizes.items():
        layouts[n_tasks] = measure_size(rows, n_tasks, runs)
    for small, large in pairwise(sorted(layouts)):
        size = f"{large:,} / {small:,} tasks"
        rows.append(
            Row(
                "layout_dag growth",
                size,
                layouts[large] / layouts[small],
                "x",
                "-",
                "info",
                f"{large / small:g}x the tasks",
            )
        )
    return rows


def measure_size(rows: list[Row], n_tasks: int, runs: int) -> float:
    """Adds the rows for one plan size; returns the layout's median in ms."""
    ids, edges = structure(n_tasks)
    print(f"{n_tasks:,} tasks, {len(edges):,} edges, {runs} runs...", file=sys.stderr, flush=True)
    size = f"{n_tasks:,} tasks"
    layout = layout_dag(ids, edges)
    elapsed = median_ms(lambda: layout_dag(ids, edges), runs)
    unbounded = sum(layout.layer_of[target] - layout.layer_of[source] - 1 for source, target in edges)
    note = (
        f"{len(edges):,} edges, {layout.dummies:,} dummies (all in layers: {unbounded:,}), "
        f"{layout.highways:,} highways, {len(layout.layers)} layers, {layout.width:,} x {layout.height:,} cells"
    )
    rows.append(Row("layout_dag (CPU)", size, elapsed, "ms", "-", "info", note))
    statuses = dict.fromkeys(ids, "ready")
    rows.append(
        Row("draw (index the lines, CPU)", size, median_ms(lambda: draw(layout, statuses), runs), "ms", "-", "info")
    )
    drawing = draw(layout, statuses)
    columns, lines = SCREEN
    screen = median_ms(lambda: [drawing.line(y, 0, columns) for y in range(min(lines, drawing.height))], runs)
    rows.append(Row(f"rows of one {columns}x{lines} screen (CPU)", size, screen, "ms", "-", "info"))
    return elapsed


def _show(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "x":
        return f"{value:.1f}x"
    return f"{value:.2f} ms" if value < 10 else f"{value:,.0f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes 20/50/100, two runs each (a smoke run)")
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON results file (default: bench/results/dag[-quick].json)"
    )
    args = parser.parse_args(argv)
    out = args.out or RESULTS_DIR / ("dag-quick.json" if args.quick else "dag.json")
    started = datetime.now(UTC).isoformat(timespec="seconds")
    rows = measure(QUICK if args.quick else FULL)
    info = machine(Path(tempfile.gettempdir()))
    print(table(rows, _show))
    print()
    print(f"machine: nproc {info['nproc']}, {info['python']}, {info['platform']}, load average {info['load average']}")
    write_results(out, "dag", rows, quick=args.quick, started=started, machine=info)
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
