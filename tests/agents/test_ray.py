"""Agent runs on a Ray cluster (``executor = "ray"``), on a real 2-node ``ray.cluster_utils.Cluster`` started by
the tests (two raylets on this machine, each with one CPU and a custom resource naming it), against a real HTTP
server on 127.0.0.1: text streams back before the run ends, runs go where their resources say, cancelling stops
the remote stream, the engine records outcome, tokens and cost as for a local run, file-bound agents are
refused with the reason outside worktree mode and run there in it (git bundles out and back, verify on the
worker, the merge queue as locally), ``ps`` and ``agents`` say where runs are and what the cluster has, a node
killed mid-run fails its task ``interrupted``, and a planted key never reaches Ray's files or object store.

Ray is an extra (``.ci/run`` installs it); the cluster is started once for the module (about 10-20 s)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from orchestra_tui.agents import Failed, Finished, TextDelta, UsageUpdate
from orchestra_tui.agents.base import AgentRequest, Placement
from orchestra_tui.agents.ray_remote import HOST_IDLE, RayAgent, connect, failure, resource_options, travelling
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.runs import OUTPUT_FILE, is_live, read_events, run_dir
from orchestra_tui.errors import MergeConflictError, OrchestraError
from orchestra_tui.models import AgentConfig, AgentTask
from orchestra_tui.redaction import REGISTRY

from ..helpers.cli import as_json, cli, ok
from ..helpers.fakeserver import FakeServer, Reply
from ..helpers.waits import wait_for

ray = pytest.importorskip("ray", reason="Ray is an extra: pip install 'orchestra-tui[ray]' (.ci/run installs it)")
cluster_utils = pytest.importorskip("ray.cluster_utils")
cloudpickle = pytest.importorskip("ray.cloudpickle")

pytestmark = pytest.mark.slow

PLANTED = "sk-planted-0123456789abcdef"  # a key only the workers' environment holds
STORE = 80 * 1024**2  # the head's object store (Ray's minimum is 75 MiB): small, so that it spills early
SSE = (("content-type", "text/event-stream"),)


def chunk(text: str) -> bytes:
    return b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}).encode() + b"\n\n"


def ending(prompt_tokens: int = 100, completion_tokens: int = 20) -> bytes:
    done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    usage = {"choices": [], "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}}
    return b"".join(b"data: " + json.dumps(item).encode() + b"\n\n" for item in (done, usage)) + b"data: [DONE]\n\n"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two nodes: the head (``head_box``) and a worker (``worker_box``), one CPU each; workers see ``PLANTED``."""
    os.environ["PLANTED_KEY"] = PLANTED  # inherited by the raylets, hence by the workers: their own environment
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    temp = Path(f"/tmp/orchray-{os.getpid()}")
    (temp / "ray").mkdir(parents=True, exist_ok=True)  # Ray writes its address file under RAY_TMPDIR/ray/
    os.environ["RAY_TMPDIR"] = str(temp)  # not /tmp/ray, which a fresh machine lacks
    spill = {"type": "filesystem", "params": {"directory_path": str(temp / "spill")}}
    made = cluster_utils.Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "resources": {"head_box": 1},
            "include_dashboard": False,
            "temp_dir": str(temp),
            "object_store_memory": STORE,
            "_system_config": {
                "object_spilling_config": json.dumps(spill),
                "min_spilling_size": 0,
            },
        },
    )
    made.add_node(num_cpus=1, resources={"worker_box": 1})
    made.wait_for_nodes()
    connect(made.address)  # as orchestra connects: also what the cluster tells this process goes to the log
    made.temp = temp
    try:
        yield made
    finally:
        ray.shutdown()
        made.shutdown()
        os.environ.pop("PLANTED_KEY", None)
        os.environ.pop("RAY_TMPDIR", None)


def agent(server: FakeServer, **fields: Any) -> RayAgent:
    config = AgentConfig(
        type="openai",
        model="gpt-test",
        base_url=f"{server.url}/v1",
        api_key_env="PLANTED_KEY",
        max_attempts=1,
        **fields,
    )
    return RayAgent("remote", config)


def request(prompt: str = "Say hello", run_id: str | None = None) -> AgentRequest:
    """A request with a run id of its own (a run's actor is named after it)."""
    run_id = run_id or f"run-{uuid.uuid4().hex[:8]}"
    return AgentRequest(run_id, AgentTask("T-1", "Greet", "Say hello"), prompt, Path("."), env={})


async def test_text_streams_back_while_the_remote_run_goes_on(cluster: Any, server: FakeServer) -> None:
    gate = threading.Event()
    server.reply(Reply(200, SSE, [chunk("Hel"), gate, chunk("lo"), ending()]))
    remote = agent(server)
    events: list[Any] = []
    async with asyncio.timeout(120):
        stream = remote.run(request())
        first = await anext(stream)
        assert first == TextDelta("Hel") and not gate.is_set()  # it arrived while the server still held the rest
        gate.set()
        events = [event async for event in stream]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["lo"]
    assert isinstance(events[-1], Finished) and events[-1].text == "Hello"
    assert any(isinstance(e, UsageUpdate) and e.input_tokens == 100 for e in events)
    (recorded,) = server.requests
    assert recorded.headers["authorization"] == f"Bearer {PLANTED}"  # the key came from the worker's environment
    wait_for(lambda: not hosted_runs(), "no run left", 30)  # its host forgets a run once it is read to its end
    wait_for(lambda: "-" not in [a["name"] for a in orchestra_actors()], "the idle host gone", HOST_IDLE + 30)


async def test_resources_place_runs_on_the_node_that_has_them(cluster: Any, server: FakeServer) -> None:
    server.reply(*(Reply(200, SSE, [chunk("ok"), ending()]) for _ in range(4)))
    nodes = {node["NodeID"]: node["Resources"] for node in ray.nodes() if node["Alive"]}
    placed: dict[str, set[str]] = {}
    async with asyncio.timeout(180):
        for box in ("head_box", "worker_box"):
            remote = agent(server, resources={box: 1})
            for index in range(2):
                events = [event async for event in remote.run(request(run_id=f"{box}-{index}"))]
                assert isinstance(events[-1], Finished)
            placed[box] = {placement.node_id for placement in remote.placements.values()}
    assert len(placed["head_box"]) == 1 and len(placed["worker_box"]) == 1
    assert placed["head_box"] != placed["worker_box"]
    for box, node_ids in placed.items():
        assert all(box in nodes[node_id] for node_id in node_ids)


async def test_cancelling_the_run_stops_the_remote_stream(cluster: Any, server: FakeServer) -> None:
    never = threading.Event()  # the server would hold the answer for a minute
    server.reply(Reply(200, SSE, [chunk("working"), never, ending()]))
    remote = agent(server)

    async def consume(seen: asyncio.Event) -> None:
        async for event in remote.run(request()):
            if isinstance(event, TextDelta):
                seen.set()

    seen = asyncio.Event()
    async with asyncio.timeout(180):
        task = asyncio.create_task(consume(seen))
        await seen.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        for _ in range(300):  # the worker closed its HTTP response: the server sees the client go
            if server.client_gone:
                break
            await asyncio.sleep(0.1)
    assert server.client_gone == 1 and not never.is_set()
    wait_for(lambda: not hosted_runs(), "no run left", 30)  # a cancelled run is forgotten too


async def test_file_bound_agents_are_refused_with_the_reason(cluster: Any) -> None:
    for kind in ("shell", "cli", "interactive"):
        config = AgentConfig(type=kind, command=["true"] if kind == "cli" else [])
        events = [event async for event in RayAgent(kind, config).run(request())]
        assert len(events) == 1 and isinstance(events[0], Failed)
        assert "cannot run on Ray" in events[0].message or "do not travel to Ray" in events[0].message


async def test_check_says_whether_the_cluster_has_what_the_agent_asks(cluster: Any, server: FakeServer) -> None:
    assert (await agent(server).check({})).usable
    lacking = await agent(server, resources={"gpu_box": 1}).check({})
    assert not lacking.usable and lacking.reason.endswith("; it lacks gpu_box 1 (it has 0)")
    assert lacking.reason.startswith("Ray at ") and " answers: 2 node(s), CPU 2, " in lacking.reason


def test_resource_options_map_to_rays() -> None:
    assert resource_options({"CPU": 2, "memory": 4e9, "GPU": 1, "gpu_box": 1}) == {
        "num_cpus": 2,
        "memory": 4e9,
        "num_gpus": 1,
        "resources": {"gpu_box": 1},
    }


async def test_a_key_in_the_prompt_is_never_pickled_and_the_worker_puts_it_back(
    cluster: Any, server: FakeServer
) -> None:
    """The prompt holds an expanded ``${PLANTED_KEY}`` (as a task string that uses it does): what is pickled for
    Ray holds ``${PLANTED_KEY}`` instead, the worker expands it from its own environment (the server gets the
    key), and no file of Ray's sessions or spill folder holds it."""
    REGISTRY.register("PLANTED_KEY", PLANTED)  # as expand_env does when a task string uses ${PLANTED_KEY}
    prompt = f"Use the token {PLANTED} to call the service.\n" + "x" * 200_000
    payload, names = travelling({"prompt": prompt})
    assert PLANTED.encode() not in cloudpickle.dumps(payload) and names == ["PLANTED_KEY"]
    server.reply(Reply(200, SSE, [chunk("ok"), ending()]))
    async with asyncio.timeout(180):
        events = [event async for event in agent(server).run(request(prompt))]
    assert isinstance(events[-1], Finished)
    (recorded,) = server.requests
    assert f"Use the token {PLANTED}" in recorded.body.decode()
    assert not [path for path in files_of_ray(cluster) if PLANTED.encode() in path.read_bytes()]


def project(root: Path, url: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    big = "x" * 200_000  # a prompt over Ray's inline limit (100 KB): it goes through the object store
    (root / "notes.txt").write_text(big)
    (root / "orchestra.toml").write_text(
        '[project]\nid = "r"\nexecutor = "ray"\n\n'
        f'[agents.remote]\ntype = "openai"\nmodel = "gpt-test"\nbase_url = "{url}/v1"\napi_key_env = "PLANTED_KEY"\n'
        "max_attempts = 1\nprice_input = 1.0\nprice_output = 2.0\n\n"
        '[[tasks]]\nid = "R-1"\ntitle = "Remote"\nagent = "remote"\ninputs = ["notes.txt"]\n'
        'description = "Use the token ${PLANTED_KEY} to call the service."\n\n'
        '[[tasks]]\nid = "L-1"\ntitle = "A shell task"\ncommands = ["echo hi"]\n'
    )
    return root


def test_orchestra_run_on_ray_records_the_outcome_and_no_key_reaches_rays_files(
    cluster: Any, server: FakeServer, tmp_path: Path
) -> None:
    server.reply(Reply(200, SSE, [chunk("done "), chunk("remotely"), ending(1000, 200)]))
    root = project(tmp_path / "p", server.url)
    result = cli(root, "run", env={"PLANTED_KEY": PLANTED})
    assert result.exit_code == 1  # L-1 failed: a shell task does not go to Ray
    assert PLANTED not in result.stdout + result.stderr
    task = as_json(root, "show", "R-1")
    assert isinstance(task, dict) and task["status"] == "review"
    assert (task["input_tokens"], task["output_tokens"], task["cost_usd"]) == (1000, 200, 0.0014)
    shell = as_json(root, "show", "L-1")
    assert isinstance(shell, dict) and shell["status"] == "failed" and "do not travel to Ray" in shell["last_error"]
    (recorded,) = server.requests
    assert PLANTED in recorded.body.decode()  # the worker put the key back into the prompt from its environment

    REGISTRY.clear()
    leaks = [path for path in files_of_ray(cluster) if PLANTED.encode() in path.read_bytes()]
    assert leaks == []


def files_of_ray(cluster: Any) -> list[Path]:
    """Every file of the cluster's sessions (logs, spilled objects) and of the object store's shared memory."""
    places = [cluster.temp, Path("/dev/shm")]
    found = []
    for place in places:
        for path in place.rglob("*") if place.is_dir() else ():
            if path.is_file() and not path.is_symlink() and path.stat().st_size < 2**31:
                found.append(path)
    return found


def placed_project(root: Path, url: str) -> Path:
    """One remote task whose agent asks for the worker node's custom resource."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "orchestra.toml").write_text(
        '[project]\nid = "w"\nexecutor = "ray"\n\n'
        f'[agents.remote]\ntype = "openai"\nmodel = "gpt-test"\nbase_url = "{url}/v1"\napi_key_env = "PLANTED_KEY"\n'
        "max_attempts = 1\nresources = { worker_box = 1 }\n\n"
        '[[tasks]]\nid = "W-1"\ntitle = "Where"\nagent = "remote"\ndescription = "Say where you are."\n'
    )
    return root


def spawn_run(root: Path, cluster: Any) -> subprocess.Popen[bytes]:
    """``orchestra run`` in a process of its own, attached to the test cluster."""
    return subprocess.Popen(
        [sys.executable, "-m", "orchestra_tui", "-p", str(root), "run"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "RAY_ADDRESS": cluster.address},
    )


def placed_row(root: Path) -> dict[str, Any] | None:
    rows = as_json(root, "ps")
    assert isinstance(rows, list)
    return next((row for row in rows if row["node_id"]), None)


def test_ps_shows_the_node_and_worker_of_a_run_on_ray_from_another_process(
    cluster: Any, server: FakeServer, tmp_path: Path
) -> None:
    """``orchestra run`` in one process runs the task on the worker node; ``ps`` in another names that node and
    the worker's pid, in the table and in ``--json``."""
    gate = threading.Event()
    server.reply(Reply(200, SSE, [chunk("working"), gate, ending()]))
    root = placed_project(tmp_path / "p", server.url)
    worker = next(node for node in ray.nodes() if node["Alive"] and "worker_box" in node["Resources"])
    runner = spawn_run(root, cluster)
    try:
        wait_for(lambda: placed_row(root), "a placed run in ps", 120)
        row = placed_row(root)
        assert row is not None and row["task_id"] == "W-1" and row["pgid"] is None
        assert (row["node_id"], row["node_ip"]) == (worker["NodeID"], worker["NodeManagerAddress"])
        assert isinstance(row["worker_pid"], int) and row["worker_pid"] not in (os.getpid(), runner.pid)
        assert row["where"] == f"{worker['NodeManagerAddress']} / {worker['NodeID'][:8]} pid {row['worker_pid']}"
        table = ok(root, "ps", env={"COLUMNS": "250"}).stdout
        assert table.splitlines()[0].split()[-1] == "WHERE" and table.splitlines()[1].endswith(row["where"])
    finally:
        gate.set()
        _, err = runner.communicate(timeout=120)
    assert runner.returncode == 0, err
    task = as_json(root, "show", "W-1")
    assert isinstance(task, dict) and task["status"] == "review"


def test_agents_says_whether_the_cluster_answers_and_what_it_has(
    cluster: Any, server: FakeServer, tmp_path: Path
) -> None:
    root = placed_project(tmp_path / "p", server.url)
    rows = as_json(root, "agents")
    assert isinstance(rows, list)
    remote = next(row for row in rows if row["name"] == "remote")
    assert remote["executor"] == "ray" and remote["usable"], remote
    assert remote["check"].startswith(f"Ray at {ray.get_runtime_context().gcs_address} answers: 2 node(s), CPU 2, ")
    assert "head_box 1" in remote["check"] and "worker_box 1" in remote["check"]
    table = ok(root, "agents", env={"COLUMNS": "300"}).stdout
    assert "✓ yes: Ray at " in table and "worker_box 1" in table
    shell = next(row for row in rows if row["name"] == "shell")
    assert shell["usable"] and shell["check"].endswith("; a shell agent runs there in worktree mode only")
    interactive = next(row for row in rows if row["name"] == "interactive")
    assert not interactive["usable"] and "cannot run on Ray" in interactive["problems"][0]


def doomed_project(root: Path, url: str) -> Path:
    """D-1 runs on the node that will be killed; E-1 (one run at a time) only after D-1 has ended."""
    root.mkdir(parents=True, exist_ok=True)
    agent_table = (
        f'type = "openai"\nmodel = "gpt-test"\nbase_url = "{url}/v1"\napi_key_env = "PLANTED_KEY"\nmax_attempts = 1\n'
    )
    (root / "orchestra.toml").write_text(
        '[project]\nid = "d"\nexecutor = "ray"\nparallel_max = 1\n\n'
        f"[agents.doomed]\n{agent_table}resources = {{ doomed_box = 1 }}\n\n"
        f"[agents.steady]\n{agent_table}resources = {{ worker_box = 1 }}\n\n"
        '[[tasks]]\nid = "D-1"\ntitle = "Doomed"\nagent = "doomed"\ndescription = "Work on the doomed node."\n\n'
        '[[tasks]]\nid = "E-1"\ntitle = "Afterwards"\nagent = "steady"\ndescription = "Work afterwards."\n'
    )
    return root


def test_a_worker_node_killed_mid_run_fails_the_task_interrupted_and_the_engine_goes_on(
    cluster: Any, server: FakeServer, tmp_path: Path
) -> None:
    """A node added for this test takes D-1's run; it is killed while the server holds the rest of the answer. D-1
    fails ``interrupted`` (one line, naming the node) with the text that arrived kept, its outcome is committed once,
    and the same ``orchestra run`` goes on to run E-1."""
    node = cluster.add_node(num_cpus=1, resources={"doomed_box": 1})
    cluster.wait_for_nodes()
    gate = threading.Event()
    server.reply(Reply(200, SSE, [chunk("partial "), gate, chunk("never"), ending()]))
    server.reply(Reply(200, SSE, [chunk("after"), ending()]))
    root = doomed_project(tmp_path / "p", server.url)
    runner = spawn_run(root, cluster)
    try:
        wait_for(lambda: placed_row(root), "D-1 placed", 120)
        row = placed_row(root)
        assert row is not None and row["task_id"] == "D-1" and row["node_id"] == node.node_id
        output = run_dir(root, row["run_id"]) / OUTPUT_FILE
        wait_for(lambda: output.read_bytes() == b"partial ", "the first text", 60)
        cluster.remove_node(node, allow_graceful=False)
        _, err = runner.communicate(timeout=180)
    finally:
        gate.set()
        if runner.poll() is None:
            runner.kill()
            runner.wait(timeout=30)
    assert runner.returncode == 1, err  # a task failed
    failed = as_json(root, "show", "D-1")
    assert isinstance(failed, dict) and failed["status"] == "failed", failed
    print(failed["last_error"])
    assert failed["last_error"].startswith("interrupted: ") and "\n" not in failed["last_error"]
    assert output.read_bytes() == b"partial "
    after = as_json(root, "show", "E-1")
    assert isinstance(after, dict) and after["status"] == "review"
    ends = [e for e in read_events(root, row["run_id"]) if e["event"] == "end"]
    assert len(ends) == 1 and ends[0]["status"] == "failed"
    with Project.open(root, repair=False) as project:
        actions = [entry.action for entry in project.history() if "D-1" in entry.summary]
    assert actions.count("fail") == 1, actions


def test_what_the_cluster_tells_every_process_goes_to_the_log_not_to_stdout(
    cluster: Any, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A message Ray publishes to every connected process (as when it marks a node dead) is logged as one
    printable line, and nothing of it reaches this process's stdout: in the test process, whose ``ps`` ran
    in-process, ``orchestra ps --json`` once began with such a line."""
    caplog.set_level(logging.INFO, logger="orchestra_tui.agents.ray")
    connect(cluster.address)
    mark = uuid.uuid4().hex
    gcs = ray._private.worker.global_worker.gcs_client
    ray._private.utils.publish_error_to_driver("node_removed", f"node {mark} marked dead \x1b[31mred", gcs_client=gcs)
    logged = wait_for(lambda: [r.getMessage() for r in caplog.records if mark in r.getMessage()], "the message", 30)
    assert logged == [f"ray (raylet): node {mark} marked dead \u241b[31mred"]
    out, err = capfd.readouterr()
    assert mark not in out and mark not in err


def test_rays_errors_become_one_line_failures() -> None:
    """Each of Ray's errors for a run, as the run's ``Failed``: a lost node, worker or output is ``interrupted``;
    what the agent raised on the worker reads as it would have here; never a traceback."""
    rx = ray.exceptions
    placed = Placement("0123456789abcdef", "10.0.0.7", 4242)
    cases = [
        (rx.NodeDiedError("Task failed because the node died.\nMore..."), "interrupted"),
        (rx.WorkerCrashedError(), "interrupted"),
        (
            rx.OutOfMemoryError("Task was killed due to the node running low on memory.\nMemory on the node..."),
            "interrupted",
        ),
        (rx.ObjectLostError("ab" * 14, None, "call site"), "interrupted"),
        (rx.TaskCancelledError(), "cancelled"),
        (rx.TaskUnschedulableError("no node has gpu_box\ndetails"), "error"),
        (
            rx.RayTaskError("run_on_worker", "Traceback (most recent call last):\n...", ValueError("boom\nmore")),
            "error",
        ),
        (rx.RayTaskError("run_on_worker", "Traceback ...", OrchestraError("agent x: no such model")), "error"),
        (rx.RaySystemError("the GCS went away\ntrace"), "error"),
    ]
    found = [failure("remote", error, placed) for error, _ in cases]
    assert [event.kind for event in found] == [kind for _, kind in cases]
    assert all("\n" not in event.message and "Traceback" not in event.message for event in found)
    assert found[0].message == "interrupted: the Ray node running agent remote died (node 10.0.0.7 / 01234567)"
    assert (
        found[1].message == "interrupted: the Ray worker running agent remote died (node 10.0.0.7 / 01234567, pid 4242)"
    )
    assert found[6].message == "internal error in agent remote on its Ray worker: ValueError: boom"
    assert found[7].message == "agent x: no such model"
    assert found[8].message == "agent remote: Ray failed: RaySystemError: System error: the GCS went away"
    assert failure("remote", rx.NodeDiedError("x"), None).message.endswith("(node ?)")


def git(repo: Path, *args: str) -> str:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    done = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=environ)
    return done.stdout.strip()


def shell_task(task_id: str, command: str, verify: list[str]) -> str:
    return (
        f'[[tasks]]\nid = "{task_id}"\ntitle = "Task {task_id}"\ncommands = {json.dumps([command])}\n'
        f"verify = {json.dumps(verify)}\n\n"
    )


def test_worktree_tasks_run_on_ray_come_back_as_bundles_and_merge_or_conflict(cluster: Any, tmp_path: Path) -> None:
    """Shell tasks in worktree mode on Ray: the base travels as a bundle, the worker edits its clone and runs the
    verify there (``pwd`` shows where), the new commits come back into the task branch; X merges, Y (the same line)
    conflicts and stays in review, V's failing verify fails it."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Person")
    git(root, "config", "user.email", "person@example.com")
    (root / "shared.txt").write_text("line one\nline two\nline three\n")
    (root / "orchestra.toml").write_text(
        '[project]\nid = "t"\nexecutor = "ray"\nworkspace = "worktree"\nauto_complete = false\nparallel_max = 2\n\n'
        + shell_task("X", "sed -i '2s/.*/two by X/' shared.txt", ["pwd", "grep -q 'two by X' shared.txt"])
        + shell_task("Y", "sed -i '2s/.*/two by Y/' shared.txt", [])
        + shell_task("V", "echo v > v.txt", ["test -f nowhere.txt"])
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "plan")
    result = cli(root, "run")
    assert result.exit_code == 1, result.output  # V failed its verify
    with Project.open(root, actor="cli") as project:
        x, y, v = (project.tasks[name] for name in ("X", "Y", "V"))
        assert (x.status.value, y.status.value, v.status.value) == ("review", "review", "failed")
        assert v.last_error == "verify failed: `test -f nowhere.txt` exited with 1"
        assert git(root, "show", f"{x.worktree.branch}:shared.txt").splitlines()[1] == "two by X"
        assert git(root, "show", f"{v.worktree.branch}:v.txt") == "v"  # a failed run's changes are kept too
        events = read_events(root, x.last_run_id)
        assert [e["event"] for e in events if e["event"] in ("placement", "verify")] == [
            "placement",
            "verify",
            "verify",
        ]
        verified = (run_dir(root, x.last_run_id) / "verify.txt").read_text()
        assert (
            verified.startswith("$ pwd\n") and "orchestra-run-" in verified and ".orchestra/worktrees" not in verified
        )
        project.complete("X")
        with pytest.raises(MergeConflictError, match="Y conflicts with"):
            project.complete("Y")
        assert project.tasks["Y"].status.value == "review" and project.tasks["Y"].worktree.conflict_files == [
            "shared.txt"
        ]
    assert git(root, "show", "orchestra/t/integration:shared.txt").splitlines()[1] == "two by X"
    assert git(root, "status", "--porcelain") == ""  # the user's checkout untouched


def test_a_key_only_the_workers_have_does_not_hold_a_ray_task_back(
    cluster: Any, server: FakeServer, tmp_path: Path
) -> None:
    """The key is not set here, only in the workers' environment: the task is not refused as unusable, it runs
    there with the workers' key, and ``orchestra agents`` does not call the agent unusable."""
    server.reply(Reply(200, SSE, [chunk("ok"), ending()]))
    root = placed_project(tmp_path / "p", server.url)
    result = cli(root, "run", env={"PLANTED_KEY": None})
    assert result.exit_code == 0, result.output
    task = as_json(root, "show", "W-1")
    assert isinstance(task, dict) and task["status"] == "review", task
    (recorded,) = server.requests
    assert recorded.headers["authorization"] == f"Bearer {PLANTED}"
    shown = cli(root, "agents", "--offline", "--json", env={"PLANTED_KEY": None})
    remote = next(row for row in json.loads(shown.stdout) if row["name"] == "remote")
    assert (remote["key"], remote["usable"], remote["problems"]) == ("missing", True, [])


def marked(marker: str) -> list[int]:
    """The pids whose command line holds ``marker`` (looked up, never signalled by it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_orchestra_cancel_stops_a_shell_task_running_on_a_ray_worker(cluster: Any, tmp_path: Path) -> None:
    """A worktree shell task on Ray, its command asleep on the worker: ``orchestra cancel`` from another process
    cancels the task, and the command's process group on the worker is gone within seconds."""
    marker = f"orchestra-cancel-{os.getpid()}-{tmp_path.name}"
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "orchestra.toml").write_text(
        '[project]\nid = "c"\nexecutor = "ray"\nworkspace = "worktree"\n\n'
        + shell_task("S", f"sleep 600; : {marker}", [])
    )
    git(root, "add", "-A")
    git(root, "-c", "user.name=P", "-c", "user.email=p@example.com", "commit", "-q", "-m", "plan")
    runner = spawn_run(root, cluster)
    try:
        wait_for(lambda: marked(marker), "the command running on the worker", 120)
        row = placed_row(root)
        assert row is not None and row["task_id"] == "S"
        assert ok(root, "cancel", "S").stdout.startswith("S cancelled")
        wait_for(lambda: not marked(marker), "the command gone", 30)
        runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(timeout=30)
    task = as_json(root, "show", "S")
    assert isinstance(task, dict) and task["status"] == "cancelled"


def status(root: Path, task_id: str) -> str:
    task = as_json(root, "show", task_id)
    assert isinstance(task, dict)
    return str(task["status"])


def run_span(root: Path, run_id: str) -> tuple[str, str, str | None, str]:
    """A run's start and end times (ISO, comparable), the node it ran on and when its work was done (its changes
    committed to its branch: its slot frees then, while its outcome commits with the next start)."""
    events = read_events(root, run_id)
    placed = next((e["node_id"] for e in events if e["event"] == "placement"), None)
    end = next(e["time"] for e in events if e["event"] == "end")
    return events[0]["time"], end, placed, next((e["time"] for e in events if e["event"] == "committed"), end)


def test_eight_worktree_shell_tasks_across_both_nodes(cluster: Any, tmp_path: Path) -> None:
    """A1-A4 and B1-B4 (B_i after A_i) in worktree mode on Ray, two at a time: A1 streams ``begun`` while it waits
    for the test's gate (so the others run on the other node meanwhile), every B_i's verify on its worker finds
    A_i's file (it started from A_i's merged work), both nodes took runs, never more than two at once, all merged."""
    gate = tmp_path / "gate"
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    wait = f"echo begun; for n in $(seq 1 1200); do [ -e {gate} ] && break; sleep 0.05; done; echo a1 > a1.txt"
    tasks = shell_task("A1", wait, [])
    tasks += "".join(shell_task(f"A{i}", f"echo a{i} > a{i}.txt", []) for i in range(2, 5))
    for i in range(1, 5):
        tasks += shell_task(f"B{i}", f"echo b{i} > b{i}.txt", [f"test -f a{i}.txt"]) + f'dependencies = ["A{i}"]\n\n'
    (root / "orchestra.toml").write_text(
        '[project]\nid = "e"\nexecutor = "ray"\nworkspace = "worktree"\nauto_complete = true\nparallel_max = 2\n\n'
        + tasks
    )
    git(root, "add", "-A")
    git(root, "-c", "user.name=P", "-c", "user.email=p@example.com", "commit", "-q", "-m", "plan")
    runner = spawn_run(root, cluster)
    try:
        wait_for(lambda: (row := placed_row(root)) is not None and row["task_id"] == "A1", "A1 placed", 120)
        row = placed_row(root)
        assert row is not None
        output = run_dir(root, row["run_id"]) / OUTPUT_FILE
        wait_for(lambda: output.read_bytes() == b"begun\n", "A1's first line while it runs", 60)
        assert status(root, "A1") == "in_progress"
        wait_for(lambda: status(root, "A2") == "completed", "A2 done meanwhile", 120)
        gate.touch()
        _, err = runner.communicate(timeout=300)
    finally:
        gate.touch()
        if runner.poll() is None:
            runner.kill()
            runner.wait(timeout=30)
    assert runner.returncode == 0, err
    with Project.open(root, repair=False) as project:
        tasks_now = project.tasks
        assert {task.status.value for task in tasks_now.values()} == {"completed"}
        spans = {task_id: run_span(root, str(task.last_run_id)) for task_id, task in tasks_now.items()}
    nodes = {span[2] for span in spans.values()}
    assert len(nodes) == 2 and None not in nodes
    for i in range(1, 5):
        assert spans[f"B{i}"][0] >= spans[f"A{i}"][1]  # B_i began after A_i ended
    moments = sorted([(span[0], 1) for span in spans.values()] + [(span[3], -1) for span in spans.values()])
    running = peak = 0
    for _, change in moments:
        running += change
        peak = max(peak, running)
    assert peak <= 2
    merged = git(root, "ls-tree", "--name-only", "orchestra/e/integration").split()
    assert {f"a{i}.txt" for i in range(1, 5)} | {f"b{i}.txt" for i in range(1, 5)} <= set(merged)


def test_worktree_setup_runs_on_the_worker_and_a_failed_one_fails_the_task(cluster: Any, tmp_path: Path) -> None:
    """``worktree_setup`` runs in the worker's clone before the agent, not here: its output reaches the run's
    ``setup.txt`` (``pwd`` shows where), what it made is there for the agent and verify; a failing setup fails the
    task with the local reason, its output kept, the agent never started."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    flag = tmp_path / "fail-setup"
    setup = ["pwd", f'test ! -e "{flag}" || exit 3', "echo ready > .ready"]
    (root / "orchestra.toml").write_text(
        f'[project]\nid = "s"\nexecutor = "ray"\nworkspace = "worktree"\nworktree_setup = {json.dumps(setup)}\n\n'
        + shell_task("S", "cat .ready > seen.txt", ["grep -q ready seen.txt"])
    )
    git(root, "add", "-A")
    git(root, "-c", "user.name=P", "-c", "user.email=p@example.com", "commit", "-q", "-m", "plan")
    result = cli(root, "run")
    assert result.exit_code == 0, result.output
    with Project.open(root, repair=False) as project:
        task = project.tasks["S"]
        assert task.status.value == "review"
        logged = (run_dir(root, str(task.last_run_id)) / "setup.txt").read_text()
        assert logged.startswith("$ pwd\n") and "orchestra-run-" in logged
        assert ".orchestra/worktrees" not in logged and logged.count("$ pwd") == 1  # it did not run here too
        assert git(root, "show", f"{task.worktree.branch}:seen.txt") == "ready"
    flag.touch()  # from now on the setup's second command fails (the worker is on this machine)
    failing = root.parent / "failing"
    failing.mkdir()
    (failing / "orchestra.toml").write_text((root / "orchestra.toml").read_text().replace('id = "s"', 'id = "f"'))
    git(failing, "init", "-q", "-b", "main")
    git(failing, "add", "-A")
    git(failing, "-c", "user.name=P", "-c", "user.email=p@example.com", "commit", "-q", "-m", "plan")
    result = cli(failing, "run")
    assert result.exit_code == 1, result.output
    with Project.open(failing, repair=False) as project:
        task = project.tasks["S"]
        assert task.status.value == "failed"
        assert (
            task.last_error
            == f'worktree setup failed: `test ! -e "{flag}" || exit 3` exited 3 (its output is in the run\'s log)'
        )
        logged = (run_dir(failing, str(task.last_run_id)) / "setup.txt").read_text()
        assert f'$ test ! -e "{flag}" || exit 3' in logged and "echo ready" not in logged
        assert (run_dir(failing, str(task.last_run_id)) / OUTPUT_FILE).read_bytes() == b""  # the agent never ran


def reattach_project(root: Path, url: str) -> Path:
    """One remote task (auto-completed) whose answer the test's server holds back midway."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "orchestra.toml").write_text(
        '[project]\nid = "a"\nexecutor = "ray"\nauto_complete = true\n\n'
        f'[agents.remote]\ntype = "openai"\nmodel = "gpt-test"\nbase_url = "{url}/v1"\napi_key_env = "PLANTED_KEY"\n'
        "max_attempts = 1\n\n"
        '[[tasks]]\nid = "A-1"\ntitle = "Slow"\nagent = "remote"\ndescription = "Answer slowly."\n'
    )
    return root


def orchestra_actors() -> list[dict[str, Any]]:
    return [actor for actor in ray.util.list_named_actors(all_namespaces=True) if actor["namespace"] == "orchestra"]


def hosted_runs() -> list[str]:
    """The runs the projects' run hosts keep (a host leaving meanwhile has none)."""
    runs = []
    for actor in orchestra_actors():
        with suppress(ValueError, ray.exceptions.RayActorError):
            runs += ray.get(ray.get_actor(actor["name"], namespace="orchestra").hosted.remote(), timeout=30)
    return runs


def orchestra_on(cluster: Any, root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """``orchestra -p ROOT ARGS`` in a new process that finds the test's cluster as a person's would."""
    return subprocess.run(
        [sys.executable, "-m", "orchestra_tui", "-p", str(root), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env={**os.environ, "RAY_ADDRESS": cluster.address},
        timeout=120,
    )


def completed_once(root: Path, run_id: str, output: Path, server: FakeServer) -> None:
    """A-1's run, taken over, ended once, completed, with exactly what the agent wrote, from one request; its
    history has one completion and no failure; nothing is left on the project's host."""
    assert output.read_bytes() == b"before after"
    assert [e["status"] for e in read_events(root, run_id) if e["event"] == "end"] == ["completed"]
    assert len(server.requests) == 1  # the agent ran once
    with Project.open(root, repair=False) as project:
        actions = [entry.action for entry in project.history() if "A-1" in entry.summary]
    assert actions.count("complete") == 1 and "fail" not in actions, actions
    wait_for(lambda: not hosted_runs(), "no run left", 30)


def kill_owner_mid_run(root: Path, cluster: Any) -> tuple[str, Path]:
    """``orchestra run`` of A-1; once its first text is in the run's output, its driver (the run's owner) is
    SIGKILLed by pid and the ``run`` that followed it is waited for. The run's id and output file."""
    first = spawn_run(root, cluster)
    try:
        wait_for(lambda: placed_row(root), "A-1 placed", 120)
        row = placed_row(root)
        assert row is not None and row["owner_pid"] not in (None, first.pid)
        output = run_dir(root, row["run_id"]) / OUTPUT_FILE
        wait_for(lambda: output.read_bytes() == b"before ", "the first text", 60)
        os.kill(row["owner_pid"], signal.SIGKILL)
        first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(timeout=30)
    wait_for(lambda: not is_live(root, row["run_id"]), "the dead driver's lock released", 30)
    return row["run_id"], output


def test_a_run_whose_orchestrator_was_killed_is_taken_over_by_the_next_one_from_its_actor(
    cluster: Any, server: FakeServer, tmp_path: Path
) -> None:
    """The process running A-1 on Ray is SIGKILLed mid-answer; its actor runs on. The next ``orchestra run`` finds
    the actor by name, reads the rest from it: the output has the text before and after once each, the run one
    end, the task one completion, and no actor is left."""
    gate = threading.Event()
    server.reply(Reply(200, SSE, [chunk("before "), gate, chunk("after"), ending()]))
    root = reattach_project(tmp_path / "p", server.url)
    try:
        run_id, output = kill_owner_mid_run(root, cluster)
        assert hosted_runs() == [run_id]  # the run lives on
        second = spawn_run(root, cluster)
        wait_for(lambda: any(e["event"] == "reattached" for e in read_events(root, run_id)), "the run taken over", 120)
        assert output.read_bytes() == b"before "
        gate.set()
        _, err = second.communicate(timeout=120)
    finally:
        gate.set()
    assert second.returncode == 0, err
    task = as_json(root, "show", "A-1")
    assert isinstance(task, dict) and task["status"] == "completed" and task["last_run_id"] == run_id, task
    completed_once(root, run_id, output, server)


def test_a_run_whose_orchestrator_and_actor_are_gone_fails_interrupted_with_its_output_kept(
    cluster: Any, server: FakeServer, tmp_path: Path
) -> None:
    gate = threading.Event()
    server.reply(Reply(200, SSE, [chunk("before "), gate, chunk("never"), ending()]))
    root = reattach_project(tmp_path / "p", server.url)
    try:
        run_id, output = kill_owner_mid_run(root, cluster)
        ray.kill(ray.get_actor("a", namespace="orchestra"), no_restart=True)  # the project's run host
        wait_for(lambda: not orchestra_actors(), "the host gone", 30)
        ok(root, "run", env={"RAY_ADDRESS": cluster.address})
    finally:
        gate.set()
    task = as_json(root, "show", "A-1")
    assert isinstance(task, dict) and task["status"] == "failed" and task["last_error"] == "interrupted", task
    assert output.read_bytes() == b"before "
    assert not any(e["event"] == "reattached" for e in read_events(root, run_id))


def test_cancelling_a_run_whose_orchestrator_was_killed_kills_its_actor_from_a_new_process(
    cluster: Any, server: FakeServer, tmp_path: Path
) -> None:
    """Nobody follows A-1's run once its driver is SIGKILLed; ``orchestra cancel A-1`` in a new process takes the
    run over, commits ``cancelled``, stops the agent on its worker (the server sees its client go) and kills the
    actor; the text that arrived stays."""
    gate = threading.Event()  # the server would hold the rest of the answer until the test ends
    server.reply(Reply(200, SSE, [chunk("before "), gate, chunk("never"), ending()]))
    root = reattach_project(tmp_path / "p", server.url)
    try:
        run_id, output = kill_owner_mid_run(root, cluster)
        assert hosted_runs() == [run_id]
        cancel = orchestra_on(cluster, root, "cancel", "A-1")
        assert cancel.returncode == 0, cancel.stderr
        assert run_id not in hosted_runs()  # stopped and forgotten
        assert f"A-1 cancelled: its run {run_id} was stopped (on its Ray worker)" in cancel.stdout.decode()
        wait_for(lambda: server.client_gone == 1, "the worker closed the agent's HTTP response", 30)
        assert not gate.is_set()
    finally:
        gate.set()
    task = as_json(root, "show", "A-1")
    assert isinstance(task, dict) and task["status"] == "cancelled" and task["last_run_id"] == run_id, task
    assert output.read_bytes() == b"before "
    assert [e["status"] for e in read_events(root, run_id) if e["event"] == "end"] == ["cancelled"]
    assert not is_live(root, run_id)


async def test_a_face_opening_on_a_run_whose_orchestrator_was_killed_hands_it_to_a_driver(
    cluster: Any, server: FakeServer, tmp_path: Path
) -> None:
    """A TUI session opens on A-1 whose driver was SIGKILLed mid-answer (no ``orchestra run`` follows): it hands
    the run to a driver, which reads the rest from the actor and commits it once; the output is exactly what the
    agent wrote."""
    from orchestra_tui.tui.session import Session

    gate = threading.Event()
    server.reply(Reply(200, SSE, [chunk("before "), gate, chunk("after"), ending()]))
    root = reattach_project(tmp_path / "p", server.url)
    try:
        run_id, output = kill_owner_mid_run(root, cluster)
        session = Session.open(root, env={**os.environ, "RAY_ADDRESS": cluster.address})
        try:
            wait_for(lambda: any(e["event"] == "reattached" for e in read_events(root, run_id)), "taken over", 120)
            assert session.taken_over == ["A-1"] and session.recovered == []
            assert output.read_bytes() == b"before "
            gate.set()
            wait_for(lambda: status(root, "A-1") == "completed", "A-1 completed", 120)
        finally:
            await session.close()
    finally:
        gate.set()
    completed_once(root, run_id, output, server)


def test_failing_a_task_whose_run_on_ray_nobody_follows_stops_that_run(
    cluster: Any, server: FakeServer, tmp_path: Path
) -> None:
    """A person fails A-1 (``orchestra fail``) while its run on Ray goes on with nobody following it (its driver
    was SIGKILLed): the run is stopped on its worker and dropped by the project's host, so the host can go idle;
    its end is recorded ``superseded`` and the text that arrived stays."""
    gate = threading.Event()
    server.reply(Reply(200, SSE, [chunk("before "), gate, chunk("never"), ending()]))
    root = reattach_project(tmp_path / "p", server.url)
    try:
        run_id, output = kill_owner_mid_run(root, cluster)
        assert hosted_runs() == [run_id]
        failed = orchestra_on(cluster, root, "fail", "A-1", "-r", "wrong approach")
        assert failed.returncode == 0, failed.stderr
        assert run_id not in hosted_runs()
        wait_for(lambda: server.client_gone == 1, "the worker closed the agent's HTTP response", 30)
    finally:
        gate.set()
    task = as_json(root, "show", "A-1")
    assert isinstance(task, dict) and task["status"] == "failed" and task["last_error"] == "wrong approach", task
    assert output.read_bytes() == b"before "
    assert [e["status"] for e in read_events(root, run_id) if e["event"] == "end"] == ["superseded"]
    assert not is_live(root, run_id)
