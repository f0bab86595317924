"""Taskmaster import and the MCP server's size: whole-process wall time of ``orchestra import taskmaster`` on
the largest corpus file and on a generated 5,000-task file, and the bytes (and approximate tokens) of the
MCP server's ``tools/list`` answer.

``python bench/bench_import.py [--quick] [--out FILE]`` prints a table and the machine, and writes the same as
JSON to ``bench/results/import.json`` (``import-quick.json`` with ``--quick``). Each import runs in a fresh
process into a fresh directory (the plan written, validated and loaded, the statuses committed durably);
the figures are the medians of a few runs, wall time and the process's CPU time (what the wall time would be
on an idle core; the machine these ran on is shared). Tokens are approximated as bytes / 4. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Row, machine, table, write_results

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
CORPUS = next(
    (
        path / "corpus" / "taskmaster"
        for path in (REPO.parent / "shared", REPO.parents[1] / "shared")
        if (path / "corpus" / "taskmaster").is_dir()
    ),
    REPO.parent / "shared" / "corpus" / "taskmaster",
)
LARGEST = "01-eyaltoledano__claude-task-master.json"
ENTRY = [sys.executable, "-m", "orchestra_tui"]
TARGET_5000 = 1.0  # seconds, whole process
TOOLS_LIST_LIMIT = 12 * 1024


def taskmaster_document(n_tasks: int, seed: int = 0) -> dict[str, Any]:
    """A tagged tasks.json of ``n_tasks`` tasks as Taskmaster writes them: dependencies on earlier tasks,
    details and a test strategy each, a tenth of the tasks with three subtasks in a chain."""
    rng = random.Random(seed)
    tasks = []
    for number in range(1, n_tasks + 1):
        deps = sorted(rng.sample(range(1, number), k=min(number - 1, rng.randint(0, 3))))
        task: dict[str, Any] = {
            "id": number,
            "title": f"Task {number}: build part {number}",
            "description": f"Build part {number} of the system.",
            "status": rng.choice(["pending", "pending", "done", "in-progress"]),
            "priority": rng.choice(["high", "medium", "low"]),
            "dependencies": deps,
            "details": f"Implementation notes for part {number}.\nUse the shared helpers.",
            "testStrategy": f"Unit tests cover part {number}.",
            "subtasks": [],
        }
        if number % 10 == 0:
            task["subtasks"] = [
                {
                    "id": sub,
                    "title": f"Step {sub} of {number}",
                    "description": "A step.",
                    "status": "pending",
                    "dependencies": [sub - 1] if sub > 1 else [],
                    "details": "",
                }
                for sub in (1, 2, 3)
            ]
        tasks.append(task)
    return {
        "master": {
            "tasks": tasks,
            "metadata": {"created": "2026-01-01T00:00:00Z", "description": "Tasks for master context"},
        }
    }


def import_seconds(source: Path, runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of the whole import process."""
    walls, cpus = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-import-") as scratch:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            result = subprocess.run(
                [*ENTRY, "-p", scratch, "import", "taskmaster", str(source), "--all-tags", "--json"],
                capture_output=True,
                text=True,
                timeout=300,
            )
            walls.append(time.perf_counter() - start)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
            if result.returncode != 0:
                raise RuntimeError(result.stderr.strip())
    return statistics.median(walls), statistics.median(cpus)


async def tools_list_bytes() -> tuple[int, int]:
    """(bytes of the compact ``tools/list`` result, number of tools), from the real server over stdio."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    with tempfile.TemporaryDirectory(prefix="bench-mcp-") as scratch:
        Path(scratch, "orchestra.toml").write_text('[project]\nid = "b"\n\n[[tasks]]\nid = "A"\ntitle = "a"\n')
        async with Client(StdioServerParameters(command=ENTRY[0], args=[*ENTRY[1:], "mcp", "-p", scratch])) as client:
            tools = (await client.list_tools()).tools
    data = {"tools": [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]}
    return len(json.dumps(data, separators=(",", ":")).encode()), len(tools)


def measure(quick: bool) -> list[Row]:
    runs = 1 if quick else 5
    rows = []
    largest = CORPUS / LARGEST
    wall, cpu = import_seconds(largest, runs)
    size = f"{largest.stat().st_size / 1e6:.1f} MB, 114 tasks, 638 subtasks"
    rows.append(Row("import taskmaster, largest corpus file (whole process, median)", size, wall, "s", "-", "info"))
    rows.append(Row("  the same, CPU time (user + system)", size, cpu, "s", "-", "info"))
    n_tasks = 200 if quick else 5_000
    with tempfile.TemporaryDirectory(prefix="bench-tm-") as scratch:
        generated = Path(scratch) / "tasks.json"
        generated.write_text(json.dumps(taskmaster_document(n_tasks), indent=2))
        wall, cpu = import_seconds(generated, runs)
    verdict = "PASS" if wall <= TARGET_5000 else "MISS"
    size = f"{n_tasks:,} tasks (+{3 * (n_tasks // 10):,} subtasks)"
    rows.append(
        Row(
            "import taskmaster, generated file (whole process, median)",
            size,
            wall,
            "s",
            f"<= {TARGET_5000:g} s" if not quick else "-",
            verdict if not quick else "info",
        )
    )
    rows.append(
        Row("  the same, CPU time (user + system)", size, cpu, "s", "-", "info", "the wall time on an idle core")
    )
    size_bytes, count = asyncio.run(tools_list_bytes())
    rows.append(
        Row(
            "MCP tools/list (compact JSON)",
            f"{count} tools",
            size_bytes,
            "B",
            f"< {TOOLS_LIST_LIMIT:,} B",
            "PASS" if size_bytes < TOOLS_LIST_LIMIT else "MISS",
            f"~{size_bytes // 4:,} tokens (bytes/4)",
        )
    )
    return rows


def _show(value: float, unit: str) -> str:
    return f"{value:,.0f} B" if unit == "B" else f"{value * 1000:,.0f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run each, a 200-task generated file (a smoke run)")
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON results file (default: bench/results/import[-quick].json)"
    )
    args = parser.parse_args(argv)
    out = args.out or RESULTS_DIR / ("import-quick.json" if args.quick else "import.json")
    started = datetime.now(UTC).isoformat(timespec="seconds")
    rows = measure(args.quick)
    info = machine(Path(tempfile.gettempdir()))
    print(table(rows, _show))
    print()
    print(f"machine: nproc {info['nproc']}, {info['python']}, {info['platform']}, load average {info['load average']}")
    write_results(out, "import", rows, quick=args.quick, started=started, machine=info)
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
