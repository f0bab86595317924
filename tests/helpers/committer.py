"""A fork server for the crash and fault-injection tests: it imports the engine once, then forks one
committer per request, so a committer costs a fork (milliseconds) rather than an interpreter start and a
test can kill hundreds of them.

Run as ``python tests/helpers/committer.py``. One JSON object per line each way::

    stdin   {"root": DIR, "seed": N, "checkpoint_every": K, "fault": [STEP, NTH] | null, "max_commits": M}
    stdout  {"pid": PID}                          the committer (the test kills it with SIGKILL)
            {"opened": SEQ, "digest": D}          Project.open returned
            {"begin": SEQ, "action": A}           about to commit entry SEQ
            {"commit": SEQ, "digest": D}          the commit returned: entry SEQ is durable
            {"skip": true}                        the action changed nothing
            {"fault": STEP}                       the fault hook fires (the committer kills itself)
            {"finished": N} / {"error": TEXT}
            {"done": PID, "signal": S, "code": C}  the committer is dead and reaped

The committer drives a real ``Project`` with a seeded random mix of every action (start, review, complete,
fail, cancel, retry, record_run, add/update/remove, rollback, undo) and reports a digest of the state after
each commit, so the test knows exactly which states were committed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sys
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from orchestra_tui.engine.project import Project
from orchestra_tui.store import fsio
from orchestra_tui.store import store as store_module
from orchestra_tui.store.journal import dumps

PROJECT_ID = "crash"
MAX_API_TASKS = 6
RUN_SECONDS = 5.0


def write_crash_plan(root: Path, n_tasks: int = 12) -> None:
    """A small plan: chains of three tasks (T-0 <- T-1 <- T-2, T-3 <- ...), hours 1-4."""
    root.mkdir(parents=True, exist_ok=True)
    parts = [
        f'[project]\nid = "{PROJECT_ID}"\nname = "Crash test"\ndefault_agent = "shell"\n\n[agents.shell]\ntype '
        '= "shell"\n'
    ]
    for i in range(n_tasks):
        deps = [f"T-{i - 1}"] if i % 3 else []
        parts.append(
            f'[[tasks]]\nid = "T-{i}"\ntitle = "Task {i}"\ndescription = "Step {i} of the crash-test plan."\n'
            f"estimated_hours = {1 + i % 4}\ndependencies = {json.dumps(deps)}\n"
        )
    (root / "orchestra.toml").write_text("\n".join(parts), encoding="utf-8")


def state_digest(tasks: dict[str, Any], meta: dict[str, Any]) -> str:
    """The identity of a state: equal digests mean equal task records and meta, byte for byte."""
    return hashlib.sha256(dumps({"tasks": tasks, "meta": meta})).hexdigest()


def emit(**message: Any) -> None:
    # One os.write per line: lines stay whole in the pipe (< PIPE_BUF) and nothing waits in a buffer at a kill.
    os.write(1, (json.dumps(message) + "\n").encode())


Action = tuple[str, Callable[[], Any]]


def actions(project: Project, rng: random.Random) -> list[Action]:
    """Every action the current state allows, each as (the history entry's action name, call)."""
    out: list[Action] = []
    ready = {task.task_id for task in project.ready_tasks()}
    api_tasks = [task_id for task_id, task in project.tasks.items() if task.origin == "api"]
    for task_id, task in sorted(project.tasks.items()):
        status = task.status.value
        if task_id in ready:
            out += [
                ("start", partial(project.start, task_id, f"run-{rng.randrange(10**6)}")),
                ("complete", partial(project.complete, task_id)),
            ]
        if status == "in_progress":
            out += [("review", partial(project.review, task_id)), ("complete", partial(project.complete, task_id))]
        if status in ("pending", "in_progress", "review"):
            out.append(("fail", partial(project.fail, task_id, f"attempt failed ({rng.randrange(1000)})")))
        if status == "review":
            out.append(("complete", partial(project.complete, task_id)))
        if status in ("review", "failed", "cancelled"):
            out.append(("retry", partial(project.retry, task_id, rng.random() < 0.5)))
        if status not in ("completed", "cancelled") and rng.random() < 0.2:
            out.append(("cancel", partial(project.cancel, task_id)))
    some = rng.choice(sorted(project.tasks))
    tokens = (project.tasks[some].input_tokens or 0) + rng.randrange(1, 500)
    out.append(
        ("run", partial(project.record_run, some, {"input_tokens": tokens, "cost_usd": tokens / 1e5}, f"{some} ran"))
    )
    if len(api_tasks) < MAX_API_TASKS:
        new_id = f"X-{project.store.seq}"
        spec = {
            "id": new_id,
            "title": f"Extra {new_id}",
            "dependencies": [rng.choice(sorted(project.tasks))],
            "estimated_hours": 2,
        }
        out.append(("add", partial(project.add_tasks, [spec])))
    for task_id in api_tasks:
        out.append(("update", partial(project.update_task, task_id, {"notes": f"note {rng.randrange(10**6)}"})))
        if not project.graph.dependents(task_id):
            out.append(("remove", partial(project.remove_task, task_id)))
    return out


def step(project: Project, rng: random.Random) -> Action:
    roll, seq = rng.random(), project.store.seq
    if roll < 0.06 and seq > 2:
        target = rng.randint(max(1, seq - 40), seq - 1)
        return "rollback", partial(project.rollback, target)
    if roll < 0.10:
        return "undo", project.undo
    return rng.choice(actions(project, rng))


def install_fault(step_name: str, nth: int) -> None:
    seen = 0

    def hook(name: str) -> None:
        nonlocal seen
        if name == step_name:
            seen += 1
            if seen == nth:
                emit(fault=name)
                os.kill(os.getpid(), signal.SIGKILL)

    fsio.fault_hook = hook


def run(request: dict[str, Any]) -> None:
    rng = random.Random(request["seed"])
    store_module.CHECKPOINT_EVERY = request["checkpoint_every"]
    if request.get("fault"):
        install_fault(*request["fault"])
    project = Project.open(request["root"], actor="cli")
    store = project.store
    emit(opened=store.seq, digest=state_digest(store.tasks, store.meta))
    deadline = time.monotonic() + RUN_SECONDS
    done = 0
    while done < request["max_commits"] and time.monotonic() < deadline:
        action, call = step(project, rng)
        emit(begin=store.seq + 1, action=action)
        entry = call()
        if entry is None:
            emit(skip=True)
            continue
        emit(commit=entry.seq, digest=state_digest(store.tasks, store.meta))
        done += 1
    emit(finished=done)
    time.sleep(RUN_SECONDS)  # wait to be killed, so the pid stays this process's until the server reaps it


def serve() -> None:
    for line in sys.stdin:  # ends when the test closes our stdin
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                run(request)
            except BaseException:
                emit(error=traceback.format_exc())
                code = 3
            os._exit(code)
        emit(pid=pid)
        _, status = os.waitpid(pid, 0)
        emit(
            done=pid,
            signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            code=os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        )


if __name__ == "__main__":
    serve()
