"""The engine benchmark: what ``orchestra run`` costs per task, and how close its schedules come to optimal.

``python bench/bench_engine.py [--quick] [--tmpdir DIR] [--out FILE]`` prints a table (metric, size, value,
target, PASS/MISS; ``info`` rows have no target) and the machine, and writes the same as JSON to
``bench/results/engine.json`` (``engine-quick.json`` with ``--quick``). A benchmark, not a test: a MISS is
reported, never raised.

- Scheduler overhead: the real ``orchestra run -j 4`` in a subprocess on N independent ``shell`` tasks whose
  command is ``true``, with ``auto_complete`` (so each task commits its start and its completion, fsync'd,
  and gets its run directory): tasks per second over the whole command.
- Makespan: the real ``Scheduler`` on random DAGs of 200 tasks whose agent sleeps each task's
  ``estimated_hours``, on an event loop with a virtual clock (it jumps to the next timer whenever the loop
  would wait; the engine's own work takes no virtual time), so the figure is the ordering's quality alone.
  Value: the worst makespan / max(critical path, total hours / parallel) over the DAGs, for the engine's
  next-task order and for the seed's plain priority-first order (first ready task of the highest
  priority, in plan order). The targeted rows give every task the same priority, so the order is about
  the graph; the ``mixed priorities`` rows show what a person's priorities cost.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Row, machine, table, write_results
from orchestra_tui.agents.base import AgentRequest, Usability
from orchestra_tui.agents.events import AgentEvent, Finished
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.scheduler import Scheduler
from orchestra_tui.graph import TaskGraph
from orchestra_tui.models import PRIORITY_RANK, AgentConfig, AgentTask, AgentType

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
PRIORITIES = ("critical", "high", "medium", "low")
PRIORITY_WEIGHTS = (5, 25, 50, 20)
HOURS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0)


@dataclass(frozen=True)
class Sizes:
    instant_tasks: int
    dag_tasks: int
    dags: int  # random DAGs per parallelism and order


FULL = Sizes(2_000, 200, 5)
QUICK = Sizes(200, 200, 1)


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
        at_most: float | None = None,
        at_least: float | None = None,
        note: str = "",
    ) -> None:
        if at_most is not None:
            target, verdict = f"<= {at_most:g}", "PASS" if value <= at_most else "MISS"
        elif at_least is not None:
            target, verdict = f">= {at_least:g} {unit}", "PASS" if value >= at_least else "MISS"
        else:
            target, verdict = "-", "info"
        self.rows.append(Row(metric, size, value, unit, target, verdict, note))
        print(f"  {metric} [{size}]: {show(value, unit)} {verdict}", file=sys.stderr, flush=True)


def show(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.3f}"
    if unit == "tasks/s":
        return f"{value:,.0f} tasks/s"
    return f"{value:.2f} {unit}"


def write_plan(root: Path, tasks: list[dict[str, Any]], **project: Any) -> None:
    root.mkdir(parents=True)
    document = {"project": {"id": root.name, "name": root.name, **project}, "tasks": tasks}
    (root / "orchestra.toml").write_bytes(tomli_w.dumps(document).encode())


# ------------------------------------------------------------------------------ scheduler overhead


def bench_overhead(results: Results, base: Path, count: int) -> None:
    root = base / "instant"
    write_plan(
        root,
        [{"id": f"T{i:05d}", "title": "instant", "commands": ["true"]} for i in range(count)],
        parallel_max=4,
        auto_complete=True,
        default_agent="shell",
    )
    subprocess.run(
        [sys.executable, "-m", "orchestra_tui", "-p", str(root), "validate"], check=True, capture_output=True
    )
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "orchestra_tui", "-p", str(root), "run", "-j", "4"],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"orchestra run failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    with Project.open(root) as project:
        completed = sum(task.status == "completed" for task in project.tasks.values())
        entries = len(project.history())
    if completed != count:
        raise RuntimeError(f"orchestra run completed {completed} of {count} tasks")
    results.add(
        "orchestra run: instant shell tasks, parallel 4",
        f"{count:,} tasks",
        count / elapsed,
        "tasks/s",
        at_least=200,
        note=f"whole command, {elapsed:.1f} s; {entries / count:.2f} durable history entries per task",
    )


# ---------------------------------------------------------------------------------------- makespan


class _VirtualSelector:
    """The loop's selector, except that waiting for a timer advances the virtual clock instead of sleeping."""

    def __init__(self, real: Any, loop: VirtualClockLoop) -> None:
        self._real = real
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        events = self._real.select(0)
        if events or timeout == 0:
            return events
        if timeout is None:
            return self._real.select(None)
        self._loop.now += timeout
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs ``run_in_executor`` work at once, in the loop's thread: no real work is left outstanding while
    the virtual clock jumps."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:
            future.set_exception(error)
        return future


class VirtualClockLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self._selector = _VirtualSelector(self._selector, self)
        self.set_default_executor(_InlineExecutor())

    def time(self) -> float:
        return self.now


class SimulatedAgent:
    """Takes each task's ``estimated_hours`` (as seconds of virtual time)."""

    name = "sim"
    config = AgentConfig(type=AgentType.SHELL)

    async def check(self, env: Mapping[str, str]) -> Usability:
        return Usability(True)

    async def run(self, request: AgentRequest) -> AsyncIterator[AgentEvent]:
        await asyncio.sleep(request.task.estimated_hours)
        yield Finished("")


class PriorityOnly(Scheduler):
    """The seed's order: ready tasks by priority, in plan order within a priority."""

    def candidates(self, count: int, allowed: set[str] | None = None) -> list[str]:
        graph, tasks = self.project.graph, self.project.tasks
        ready = [task_id for task_id in tasks if task_id not in self.jobs and graph.status_of(task_id) == "ready"]
        ready.sort(key=lambda task_id: -PRIORITY_RANK[tasks[task_id].priority])  # stable: plan order stays
        return ready[:count]


def random_dag(seed: int, count: int, mixed: bool) -> list[dict[str, Any]]:
    """Each task depends on 0-4 of the 40 tasks before it; hours from half an hour to 12 hours."""
    rng = random.Random(seed)
    tasks = []
    for index in range(count):
        window = list(range(max(0, index - 40), index))
        wanted = rng.choices((0, 1, 2, 3, 4), (8, 40, 30, 15, 7))[0]
        deps = sorted(rng.sample(window, k=min(wanted, len(window))))
        priority = rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0] if mixed else "medium"
        tasks.append(
            {
                "id": f"T{index:03d}",
                "title": f"task {index}",
                "dependencies": [f"T{j:03d}" for j in deps],
                "estimated_hours": rng.choice(HOURS),
                "priority": priority,
            }
        )
    return tasks


def lower_bound(tasks: list[dict[str, Any]], parallel: int) -> float:
    graph = TaskGraph.build(
        AgentTask(
            task_id=t["id"], title=t["title"], dependencies=t["dependencies"], estimated_hours=t["estimated_hours"]
        )
        for t in tasks
    )
    return max(graph.critical_path()[1], sum(t["estimated_hours"] for t in tasks) / parallel)


def makespan(root: Path, tasks: list[dict[str, Any]], parallel: int, order: type[Scheduler]) -> float:
    write_plan(root, tasks, parallel_max=parallel, auto_complete=True)

    async def run() -> float:
        with Project.open(root, actor="scheduler") as project:
            loop = asyncio.get_running_loop()
            started = loop.time()
            summary = await order(project, agents={"shell": SimulatedAgent()}).run()
            if len(summary.results) != len(tasks) or summary.failed:
                raise RuntimeError(
                    f"the simulated run did not complete every task ({len(summary.results)} of {len(tasks)})"
                )
            return loop.time() - started

    with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        return runner.run(run())


def bench_makespan(results: Results, base: Path, sizes: Sizes) -> None:
    count = 0
    for mixed in (False, True):
        for parallel in (2, 4, 8):
            for order, name in ((Scheduler, "next-task order"), (PriorityOnly, "priority only (the seed's)")):
                ratios = []
                for seed in range(sizes.dags):
                    tasks = random_dag(seed, sizes.dag_tasks, mixed)
                    count += 1
                    ratios.append(
                        makespan(base / f"dag-{count}", tasks, parallel, order) / lower_bound(tasks, parallel)
                    )
                metric = f"makespan / lower bound, parallel {parallel}: {name}" + (
                    ", mixed priorities" if mixed else ""
                )
                targeted = order is Scheduler and not mixed
                note = f"worst of {len(ratios)} DAGs; mean {sum(ratios) / len(ratios):.3f}"
                results.add(
                    metric, f"{sizes.dag_tasks} tasks", max(ratios), "x", at_most=1.10 if targeted else None, note=note
                )


# ------------------------------------------------------------------------------------------ report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 instant tasks and one DAG per row (a smoke run)")
    parser.add_argument(
        "--tmpdir", type=Path, default=None, help="where the temporary projects go (default: the system's)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON results file (default: bench/results/engine[-quick].json)"
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    out = args.out or RESULTS_DIR / ("engine-quick.json" if args.quick else "engine.json")
    base = Path(tempfile.mkdtemp(prefix="orchestra-bench-", dir=args.tmpdir)).resolve()
    print(f"temporary projects under {base}", file=sys.stderr, flush=True)
    results = Results()
    started = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        bench_overhead(results, base, sizes.instant_tasks)
        bench_makespan(results, base, sizes)
        info = machine(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(table(results.rows, show))
    print()
    print(f"machine: nproc {info['nproc']}, {info['python']}, {info['platform']}")
    print(f"temp dir: {info['tmpdir']} on {info['filesystem']}")
    write_results(out, "engine", results.rows, quick=args.quick, started=started, machine=info)
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
