"""Agent runs on Ray vs here: the overhead of a remote run of an instant task, the first streamed chunk's
latency, the throughput of one-second tasks on a 2-node local cluster (``ray.cluster_utils.Cluster``, one
CPU a node) against the ideal (2 tasks/s), a worktree shell task end to end (the runner: worktree, agent,
commit; on Ray also the base bundle out, the clone, the new commits' bundle back and the fetch), and the reattach
time: from the SIGKILL of the process running a streaming run (``orchestra run``'s driver) to the first text
the next ``orchestra run`` (a new process: its start, Ray's connection, finding the run's host) writes to the run's
output.

``python bench/bench_ray.py [--quick] [--out FILE]`` prints a table and the machine and writes the same as JSON
to ``bench/results/ray.json``. The agent is an ``openai`` agent against a stdlib server on 127.0.0.1 that streams
two chunks (the second after ``--delay`` seconds for the throughput rows). Medians of the runs; the machine is
shared, so the load average is printed with the figures. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Row, machine, table, write_results
from orchestra_tui.agents.base import AgentRequest
from orchestra_tui.agents.events import Finished, TextDelta
from orchestra_tui.agents.ray_remote import RayAgent
from orchestra_tui.agents.registry import build_agent
from orchestra_tui.agents.transport import close_http_client
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.runner import Runner
from orchestra_tui.models import AgentConfig, AgentTask

REPO = Path(__file__).resolve().parents[1]


def serve(delay: float, ticks: int = 0) -> ThreadingHTTPServer:
    """An OpenAI-compatible stream: one chunk, ``delay`` seconds, the rest (``ticks``: that many chunks instead,
    ``delay`` seconds apart)."""
    chunks = [("tick ", delay)] * ticks if ticks else [("Hel", delay), ("lo", 0.0)]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            for text, pause in chunks:
                delta = {"choices": [{"index": 0, "delta": {"content": text}}]}
                self.wfile.write(b"data: " + json.dumps(delta).encode() + b"\n\n")
                self.wfile.flush()
                time.sleep(pause)
            end = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            self.wfile.write(b"data: " + json.dumps(end).encode() + b"\n\ndata: [DONE]\n\n")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def config(server: ThreadingHTTPServer) -> AgentConfig:
    return AgentConfig(type="openai", model="m", base_url=f"http://127.0.0.1:{server.server_port}/v1", max_attempts=1)


def request(index: int) -> AgentRequest:
    return AgentRequest(f"run-{index}", AgentTask("T-1", "Greet"), "Say hello", Path("."), env={})


async def one(agent: Any, index: int) -> tuple[float, float]:
    """(seconds to the first text, seconds to the end) of one run."""
    start = time.perf_counter()
    first = end = 0.0
    async for event in agent.run(request(index)):
        if isinstance(event, TextDelta) and not first:
            first = time.perf_counter() - start
        elif isinstance(event, Finished):
            end = time.perf_counter() - start
    return first, end


async def latencies(agent: Any, runs: int) -> tuple[float, float]:
    await one(agent, -1)  # warm: the connection, the worker, the remote function
    results = [await one(agent, index) for index in range(runs)]
    return statistics.median(r[0] for r in results), statistics.median(r[1] for r in results)


async def throughput(agent: Any, tasks: int) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(one(agent, index) for index in range(tasks)))
    return tasks / (time.perf_counter() - start)


def worktree_repo(root: Path, executor: str, count: int) -> Path:
    """A git repository whose plan has ``count`` worktree shell tasks, each writing one file (each stays in
    review with its worktree: the cap is raised to hold them all)."""
    root.mkdir(parents=True)
    tasks = "".join(
        f'[[tasks]]\nid = "W-{index}"\ntitle = "W"\ncommands = ["echo {index} > w{index}.txt"]\n\n'
        for index in range(count)
    )
    (root / "orchestra.toml").write_text(
        f'[project]\nid = "b"\nexecutor = "{executor}"\nworkspace = "worktree"\nauto_complete = false\n'
        f"max_worktrees = {count}\n\n{tasks}"
    )
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "p"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True)
    return root


async def worktree_runs(root: Path, count: int) -> float:
    """The median seconds of one worktree task's run (one at a time), the first run left out (warm-up)."""
    seconds = []
    with Project.open(root, actor="bench") as project:
        runner = Runner(project)
        for index in range(count):
            start = time.perf_counter()
            result = await runner.execute(f"W-{index}")
            assert result.status == "review", result.error
            seconds.append(time.perf_counter() - start)
    return statistics.median(seconds[1:])


def orchestra_run(root: Path, address: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestra_tui", "-p", str(root), "run"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RAY_ADDRESS": address},
    )


def poll(condition: Any, limit: float = 120.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("the reattach run did not get there in time")
        time.sleep(0.01)


def reattach_once(folder: Path, url: str, address: str) -> float:
    """Seconds from the SIGKILL of a streaming run's driver to the first new text the next ``orchestra run`` wrote."""
    import signal

    from orchestra_tui.engine.runs import OUTPUT_FILE, read_events, run_dir, runs_dir

    root = folder
    root.mkdir()
    (root / "orchestra.toml").write_text(
        f'[project]\nid = "bench"\nexecutor = "ray"\n\n[agents.remote]\ntype = "openai"\nmodel = "m"\n'
        f'base_url = "{url}/v1"\nmax_attempts = 1\n\n[[tasks]]\nid = "S-1"\ntitle = "S"\nagent = "remote"\n'
    )
    first = orchestra_run(root, address)
    poll(lambda: runs_dir(root).is_dir() and any(runs_dir(root).iterdir()))
    (run_id,) = os.listdir(runs_dir(root))
    output = run_dir(root, run_id) / OUTPUT_FILE
    poll(lambda: output.exists() and output.stat().st_size > 0)
    owner = next(e["pid"] for e in read_events(root, run_id) if e["event"] == "run")
    os.kill(owner, signal.SIGKILL)
    killed, size = time.perf_counter(), output.stat().st_size
    first.wait(60)
    second = orchestra_run(root, address)
    poll(lambda: output.stat().st_size > size)
    seconds = time.perf_counter() - killed
    second.wait(120)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    import ray
    from ray import cluster_utils

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    runs, tasks = (5, 10) if args.quick else (20, 40)
    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False)
    instant, slow, ticking = serve(0.0), serve(1.0), serve(0.05, ticks=200)
    rows: list[Row] = []
    try:

        async def measure() -> None:
            local_first, local_end = await latencies(build_agent("local", config(instant)), runs)
            remote_first, remote_end = await latencies(RayAgent("remote", config(instant)), runs)
            await close_http_client()
            rows.append(Row("instant run, here", f"{runs} runs", local_end * 1000, "ms", "", "info"))
            rows.append(Row("instant run, on Ray", f"{runs} runs", remote_end * 1000, "ms", "", "info"))
            overhead = (remote_end - local_end) * 1000
            rows.append(Row("overhead of a remote run", f"{runs} runs", overhead, "ms", "", "info"))
            rows.append(Row("first chunk, here", f"{runs} runs", local_first * 1000, "ms", "", "info"))
            rows.append(Row("first chunk, on Ray", f"{runs} runs", remote_first * 1000, "ms", "", "info"))
            rate = await throughput(RayAgent("remote", config(slow)), tasks)
            note = f"{rate / 2.0:.0%} of the ideal 2/s (2 nodes x 1 CPU)"
            rows.append(Row("1-second tasks on 2 nodes", f"{tasks} tasks", rate, "tasks/s", "", "info", note))
            with tempfile.TemporaryDirectory(prefix="bench-ray-") as folder:
                here = await worktree_runs(worktree_repo(Path(folder) / "here", "local", runs + 1), runs + 1)
                there = await worktree_runs(worktree_repo(Path(folder) / "ray", "ray", runs + 1), runs + 1)
            rows.append(Row("worktree shell task, here", f"{runs} runs", here * 1000, "ms", "", "info"))
            rows.append(Row("worktree shell task, on Ray", f"{runs} runs", there * 1000, "ms", "", "info"))
            note = "bundle out, clone, commit, bundle back, fetch"
            rows.append(
                Row("overhead of a remote worktree run", f"{runs} runs", (there - here) * 1000, "ms", "", "info", note)
            )
            url, count = f"http://127.0.0.1:{ticking.server_port}", 3 if args.quick else 7
            with tempfile.TemporaryDirectory(prefix="bench-ray-") as folder:
                took = [reattach_once(Path(folder) / f"r{index}", url, cluster.address) for index in range(count)]
            note = "SIGKILL of the driver to the first re-streamed text of the next `orchestra run`"
            rows.append(Row("reattach", f"{count} runs", statistics.median(took) * 1000, "ms", "", "info", note))

        asyncio.run(measure())
    finally:
        ray.shutdown()
        cluster.shutdown()
        instant.shutdown()
        slow.shutdown()
        ticking.shutdown()
    print(table(rows, lambda value, unit: f"{value:.1f} {unit}"))
    facts = machine(Path(tempfile.gettempdir()))
    facts["ray"] = ray.__version__
    print("\n".join(f"{key}: {value}" for key, value in facts.items()))
    write_results(args.out or REPO / "bench" / "results" / "ray.json", "ray", rows, quick=args.quick, machine=facts)


if __name__ == "__main__":
    main()
