"""orchestra beside its peers, in one invocation, interleaved and repeated, on the same generated plans.

1. Taskmaster (``task-master`` from npm ``task-master-ai``): ``next``, ``list`` and marking a task done, on the
   same plan (orchestra's generated plan, exported with ``orchestra export taskmaster``). Each round runs every
   operation once with each tool, alternating which goes first.
2. ``orchestra run`` against Dask (``LocalCluster``) and Prefect 3 (``ThreadPoolTaskRunner``): the same
   independent ``sh -c true`` tasks, parallelism 4, each a whole process from start to exit. orchestra commits
   every start and end durably; Dask keeps nothing, Prefect records task runs in its (ephemeral) database.

A peer that is not installed is skipped with a message. Dask and Prefect are looked for in ``--peers-python``
(default ``/tmp/peers-venv/bin/python``: ``python3 -m venv --system-site-packages /tmp/peers-venv &&
/tmp/peers-venv/bin/pip install "dask[distributed]" prefect``). Prints medians, the ratios (peer / orchestra: above 1,
orchestra is faster), the load average over the run and every version.

    python bench/peers.py [--quick] [--tasks N] [--run-tasks N] [--rounds N] [--neighbour] [--only taskmaster|run]
                          [--peer Dask|Prefect ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import tomli_w

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_cli import ENV, _command, neighbour
from bench.common import machine
from bench.generate import plan_document

PEERS_PYTHON = "/tmp/peers-venv/bin/python"
loads: list[float] = []


def timed(argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 1800) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env or ENV, capture_output=True, text=True, timeout=timeout)
    elapsed = time.perf_counter() - started
    loads.append(os.getloadavg()[0])
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])}... exited {done.returncode}: {(done.stderr or done.stdout)[-300:]}")
    return elapsed


# ------------------------------------------------------------------------------------------ Taskmaster


def taskmaster(base: Path, n: int, rounds: int) -> list[tuple[str, float, float]]:
    program = shutil.which("task-master")
    if program is None:
        print("Taskmaster: skipped (task-master is not installed: npm install -g task-master-ai)")
        return []
    root = base / f"tm-{n}"
    root.mkdir()
    # Taskmaster takes numeric ids or three letters and a number: TSK-00001 rather than the generator's T00001.
    document = plan_document(n)
    for task in document["tasks"]:
        task["id"] = "TSK-" + task["id"][1:]
        task["dependencies"] = ["TSK-" + dep[1:] for dep in task.get("dependencies", [])]
    (root / "orchestra.toml").write_bytes(tomli_w.dumps(document).encode())
    orchestra = [*_command(), "-p", str(root)]
    timed([*orchestra, "export", "taskmaster"], root)
    home = base / "tm-home"
    home.mkdir(exist_ok=True)
    tm_env = {"HOME": str(home), "PATH": os.environ["PATH"], "NO_COLOR": "1", "CI": "1"}
    ready = json.loads(
        subprocess.run(
            [*orchestra, "list", "--json", "--status", "ready"], capture_output=True, text=True, env=ENV, check=True
        ).stdout
    )
    targets = [task["task_id"] for task in ready]
    ops: dict[str, tuple[Callable[[int], list[str]], Callable[[int], list[str]]]] = {
        "next": (lambda r: [*orchestra, "next", "--json"], lambda r: [program, "next", "-p", str(root)]),
        "list": (lambda r: [*orchestra, "list", "--json"], lambda r: [program, "list", "-p", str(root)]),
        "set done": (
            lambda r: [*orchestra, "complete", targets[2 * r]],
            lambda r: [program, "set-status", f"--id={targets[2 * r + 1]}", "--status=done", "-p", str(root)],
        ),
    }
    timed(ops["next"][0](0), root)
    timed(ops["next"][1](0), root, tm_env)  # first-run notices, caches
    times: dict[str, tuple[list[float], list[float]]] = {op: ([], []) for op in ops}
    for r in range(rounds):
        for op, (ours, theirs) in ops.items():
            pair = [(0, ours(r), ENV), (1, theirs(r), tm_env)]
            for index, argv, env in pair if r % 2 == 0 else reversed(pair):
                times[op][index].append(timed(argv, root, env))
    return [(f"{op} ({n:,} tasks)", statistics.median(a), statistics.median(b)) for op, (a, b) in times.items()]


# --------------------------------------------------------------------------------- run: Dask, Prefect

DASK = """
import subprocess, sys
from dask.distributed import Client, LocalCluster
def task(i):
    return subprocess.run(["sh", "-c", "true"]).returncode
if __name__ == "__main__":
    n, parallel = int(sys.argv[1]), int(sys.argv[2])
    with LocalCluster(n_workers=1, threads_per_worker=parallel, processes=False, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            codes = client.gather(client.map(task, range(n), pure=False))
    assert codes == [0] * n
"""

PREFECT = """
import subprocess, sys
from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner
@task
def one(i):
    return subprocess.run(["sh", "-c", "true"]).returncode
if __name__ == "__main__":
    n, parallel = int(sys.argv[1]), int(sys.argv[2])
    @flow(task_runner=ThreadPoolTaskRunner(max_workers=parallel), log_prints=False)
    def many():
        return [future.result() for future in one.map(range(n))]
    assert many() == [0] * n
"""


def _has(python: str, module: str) -> str | None:
    """The module's version in that interpreter, or None."""
    if not Path(python).exists():
        return None
    done = subprocess.run(
        [python, "-c", f"import {module}; print({module}.__version__)"], capture_output=True, text=True, timeout=300
    )
    return done.stdout.strip() if done.returncode == 0 else None


def runs(
    base: Path, n: int, parallel: int, rounds: int, python: str, only: list[str] | None = None
) -> tuple[list[tuple[str, float, float]], dict]:
    root = base / "run"
    versions: dict[str, str] = {}
    peers: dict[str, list[str]] = {}
    for name, module, script in (("Dask", "distributed", DASK), ("Prefect", "prefect", PREFECT)):
        if only and name not in only:
            continue
        version = _has(python, module)
        if version is None:
            print(f"{name}: skipped (no {module} in {python})")
            continue
        versions[name] = version
        path = base / f"{name.lower()}_run.py"
        path.write_text(textwrap.dedent(script))
        peers[name] = [python, str(path), str(n), str(parallel)]
    document = {
        "project": {
            "id": "run",
            "name": "run",
            "parallel_max": parallel,
            "auto_complete": True,
            "default_agent": "shell",
        },
        "tasks": [{"id": f"T{i:05d}", "title": "instant", "commands": ["true"]} for i in range(n)],
    }
    ours: list[float] = []
    theirs: dict[str, list[float]] = {name: [] for name in peers}
    failed: dict[str, str] = {}
    prefect_env = ENV | {
        "PREFECT_HOME": str(base / "prefect-home"),
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",  # a loaded machine
    }
    for r in range(rounds):
        fresh = root / str(r)
        fresh.mkdir(parents=True)
        (fresh / "orchestra.toml").write_bytes(tomli_w.dumps(document).encode())
        timed([*_command(), "-p", str(fresh), "validate"], fresh)
        order = ["orchestra", *peers] if r % 2 == 0 else [*peers, "orchestra"]
        for name in order:
            if name == "orchestra":
                ours.append(timed([*_command(), "-p", str(fresh), "run", "-j", str(parallel)], fresh))
            elif name not in failed:
                try:
                    theirs[name].append(timed(peers[name], base, prefect_env if name == "Prefect" else ENV))
                except RuntimeError as error:  # told, and left out of the table
                    failed[name] = str(error).splitlines()[-1][-200:]
                    print(f"{name}: failed ({failed[name]})")
    rows = [(f"run {n:,} tasks, parallel {parallel}: orchestra", statistics.median(ours), statistics.median(ours))]
    rows += [
        (f"run {n:,} tasks, parallel {parallel}: {name}", statistics.median(ours), statistics.median(t))
        for name, t in theirs.items()
        if t
    ]
    return rows, versions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 tasks, 200 run tasks, 2 rounds")
    parser.add_argument("--tasks", type=int, default=1000, help="plan size for the Taskmaster comparison")
    parser.add_argument("--run-tasks", type=int, default=2000)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peers-python", default=PEERS_PYTHON)
    parser.add_argument("--neighbour", action="store_true", help="one CPU-bound process running beside")
    parser.add_argument("--only", choices=("taskmaster", "run"), help="only the Taskmaster comparison, or only `run`")
    parser.add_argument(
        "--peer", action="append", choices=("Dask", "Prefect"), help="`run` beside this peer only (repeatable)"
    )
    options = parser.parse_args(argv)
    if options.quick:
        options.tasks, options.run_tasks, options.rounds = 200, 200, 2
    from orchestra_tui import __version__

    versions = {"orchestra": __version__}
    tm = shutil.which("task-master")
    if tm:
        versions["Taskmaster"] = subprocess.run([tm, "--version"], capture_output=True, text=True).stdout.strip()
    loads.append(os.getloadavg()[0])
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as temp, neighbour(options.neighbour):
        base = Path(temp)
        rows, run_rows = [], []
        if options.only != "run":
            rows = taskmaster(base, options.tasks, options.rounds)
        if options.only != "taskmaster":
            run_rows, found = runs(
                base, options.run_tasks, options.parallel, options.rounds, options.peers_python, options.peer
            )
            versions |= found
        info = machine(base)
    print(f"\n{time.strftime('%Y-%m-%d')}; {info['nproc']} cores, {info['platform']}, {info['python']}")
    print(
        f"neighbour: {'one CPU-bound process' if options.neighbour else 'none'}; load average (1 min) during the "
        f"run: {min(loads):.1f}-{max(loads):.1f}; medians of {options.rounds} interleaved rounds"
    )
    print("versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()))
    print(f"\n{'operation':<44} {'orchestra':>10} {'peer':>10} {'peer/orchestra':>15}")
    for label, ours, theirs in rows:
        print(f"{label + ' vs Taskmaster':<44} {ours * 1000:>8.0f}ms {theirs * 1000:>8.0f}ms {theirs / ours:>14.1f}x")
    for label, ours, theirs in run_rows:
        n = options.run_tasks
        print(f"{label:<44} {n / ours:>6.0f}/s   {n / theirs:>6.0f}/s {theirs / ours:>14.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
