"""The asyncio scheduler (engine/scheduler.py): order, parallelism, slots kept busy, stopping, cancellation."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchestra_tui.agents.base import AgentRequest
from orchestra_tui.agents.events import AgentEvent, Finished, TextDelta
from orchestra_tui.engine.bus import Bus, RunOutput
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.runner import CANCELLED
from orchestra_tui.engine.runs import OUTPUT_FILE, run_dir
from orchestra_tui.engine.scheduler import Scheduler
from orchestra_tui.errors import OrchestraError, TransitionError, UnknownTaskError
from orchestra_tui.graph import TaskGraph

from ..helpers.agents import ScriptedAgent, SleepAgent, agent_tables
from ..helpers.plans import task_block, write_plan
from ..helpers.waits import until


def plan_with(root: Path, body: str, *, parallel: int = 4, auto_complete: bool = True) -> None:
    path = write_plan(root, body)
    settings = (
        f'name = "Test"\nparallel_max = {parallel}\n'
        f'auto_complete = {str(auto_complete).lower()}\ndefault_agent = "sleeper"'
    )
    path.write_text(agent_tables("sleeper") + path.read_text().replace('name = "Test"', settings))
    text = path.read_text()  # [agents.*] must follow [project]: move it after the project table
    head, _, rest = text.partition("[project]")
    project_table, _, tasks = rest.partition("\n\n")
    path.write_text("[project]" + project_table + "\n\n" + head + tasks)


def random_dag(seed: int, count: int) -> list[tuple[str, list[str], float]]:
    """``count`` tasks, each depending on up to three earlier ones, with hours 0.5 to 3 (all medium priority)."""
    rng = random.Random(seed)
    tasks = []
    for index in range(count):
        earlier = [f"T{j:02d}" for j in range(index)]
        deps = rng.sample(earlier, k=min(len(earlier), rng.choice([0, 1, 1, 2, 2, 3])))
        tasks.append((f"T{index:02d}", sorted(deps), rng.choice([0.5, 1.0, 1.5, 2.0, 3.0])))
    return tasks


class GateAgent(SleepAgent):
    """Each run waits until the test releases it, so the test decides when tasks end and checks, between two
    ends, what the scheduler started: an order of events, not a measure of time."""

    def __init__(self) -> None:
        super().__init__(scale=0)
        self.waiting: dict[str, asyncio.Event] = {}
        self.started: list[str] = []

    async def run(self, request: AgentRequest) -> AsyncIterator[AgentEvent]:
        task_id = request.task.task_id
        gate = self.waiting[task_id] = asyncio.Event()
        self.started.append(task_id)
        await gate.wait()  # the test pops the gate from ``waiting`` as it opens it
        yield Finished(f"{task_id} result")


async def test_random_dag_keeps_every_slot_busy_while_a_task_is_ready(tmp_path: Path) -> None:
    """Greedy list scheduling on a random DAG: after each task ends, every free slot is filled with a ready
    task (so the makespan is what the order allows), no task starts before its dependencies end, never more
    than four at once. The makespan itself, a figure, is for bench/."""
    tasks = random_dag(seed=7, count=50)
    deps_of = {task_id: set(deps) for task_id, deps, _hours in tasks}
    plan_with(tmp_path, "".join(task_block(t, deps, estimated_hours=hours) for t, deps, hours in tasks), parallel=4)
    agent, done = GateAgent(), set[str]()

    def expected_running() -> int:
        started = set(agent.started)
        ready = [t for t in deps_of if t not in started and deps_of[t] <= done]
        return min(4, len(agent.waiting) + len(ready))

    with Project.open(tmp_path, actor="scheduler") as project:
        run = asyncio.ensure_future(Scheduler(project, agents={"sleeper": agent}).run())
        try:
            for _step in range(len(tasks)):
                await until(
                    None,
                    lambda: len(agent.waiting) == expected_running() and agent.waiting,
                    f"{expected_running()} running after {sorted(done)} ended",
                    timeout=20.0,
                )
                assert len(agent.waiting) <= 4
                for task_id in agent.waiting:
                    assert deps_of[task_id] <= done, f"{task_id} started before {deps_of[task_id] - done} ended"
                finished = min(agent.waiting)
                done.add(finished)
                agent.waiting.pop(finished).set()
            summary = await asyncio.wait_for(run, 60)
        finally:
            run.cancel()
        assert len(summary.results) == 50 and all(r.status == "completed" for r in summary.results)
        assert all(project.task(t).status == "completed" for t in deps_of)
    assert sorted(agent.started) == sorted(deps_of)


async def test_dispatch_follows_next_task_order(tmp_path: Path) -> None:
    body = (
        task_block("LOW", priority="low", estimated_hours=9)
        + task_block("SHORT", priority="high", estimated_hours=1)
        + task_block("LONG", priority="high", estimated_hours=1)
        + task_block("AFTER", ["LONG"], priority="low", estimated_hours=5)
        + task_block("CRIT", priority="critical", estimated_hours=0.5)
        + task_block("B2", priority="high", estimated_hours=2)
        + task_block("A2", priority="high", estimated_hours=2)
    )
    plan_with(tmp_path, body, parallel=1)
    agent = SleepAgent(0.001)
    with Project.open(tmp_path, actor="scheduler") as project:
        expected = []
        graph = TaskGraph.build(project.tasks.values())
        while (task_id := graph.next_task()) is not None:
            expected.append(task_id)
            graph.set_status(task_id, "completed")
        await asyncio.wait_for(Scheduler(project, agents={"sleeper": agent}).run(), 60)
    order = sorted(agent.spans, key=lambda t: agent.spans[t][0])
    assert order == expected == ["CRIT", "LONG", "A2", "B2", "SHORT", "LOW", "AFTER"]


async def test_a_finishing_task_unblocks_its_dependants_at_once(tmp_path: Path) -> None:
    plan_with(
        tmp_path,
        task_block("QUICK", estimated_hours=1)
        + task_block("SLOW", estimated_hours=10)
        + task_block("NEXT", ["QUICK"], estimated_hours=1),
        parallel=2,
    )
    agent = SleepAgent(0.1)
    with Project.open(tmp_path, actor="scheduler") as project:
        await asyncio.wait_for(Scheduler(project, agents={"sleeper": agent}).run(), 60)
    quick_end, next_start, slow_end = agent.spans["QUICK"][1], agent.spans["NEXT"][0], agent.spans["SLOW"][1]
    assert next_start - quick_end < 0.25 and next_start < slow_end - 0.5


async def test_without_auto_complete_it_stops_when_nothing_is_ready(tmp_path: Path) -> None:
    plan_with(tmp_path, task_block("A") + task_block("B") + task_block("C", ["A"]), auto_complete=False)
    with Project.open(tmp_path, actor="scheduler") as project:
        summary = await asyncio.wait_for(Scheduler(project, agents={"sleeper": SleepAgent(0.001)}).run(), 60)
        assert sorted(r.task_id for r in summary.results) == ["A", "B"]
        assert [project.status_of(t).value for t in ("A", "B", "C")] == ["review", "review", "blocked"]
        assert {entry.actor for entry in project.history()[1:]} == {"scheduler"}


async def test_until_runs_only_that_task_and_what_it_needs(tmp_path: Path) -> None:
    body = (
        task_block("ROOT")
        + task_block("MID", ["ROOT"])
        + task_block("GOAL", ["MID"])
        + task_block("SIDE", ["ROOT"])
        + task_block("OTHER")
        + task_block("LATER", ["GOAL"])
    )
    plan_with(tmp_path, body, parallel=4)
    agent = SleepAgent(0.001)
    with Project.open(tmp_path, actor="scheduler") as project:
        summary = await asyncio.wait_for(Scheduler(project, agents={"sleeper": agent}).run(until="GOAL"), 60)
        assert sorted(agent.spans) == ["GOAL", "MID", "ROOT"]
        assert [r.task_id for r in summary.results] == ["ROOT", "MID", "GOAL"]
        assert project.status_of("OTHER") == "ready" and project.status_of("LATER") == "ready"


async def test_a_failed_task_holds_its_dependants_and_the_rest_still_runs(tmp_path: Path) -> None:
    body = (
        agent_tables("broken") + task_block("BAD", agent="broken") + task_block("AFTER", ["BAD"]) + task_block("FINE")
    )
    plan_with(tmp_path, body)
    agents = {"sleeper": SleepAgent(0.001), "broken": ScriptedAgent([TextDelta("no")], name="broken")}
    with Project.open(tmp_path, actor="scheduler") as project:
        summary = await asyncio.wait_for(Scheduler(project, agents=agents).run(), 60)
        assert [r.task_id for r in summary.failed] == ["BAD"]
        assert project.status_of("FINE") == "completed" and project.status_of("AFTER") == "blocked"


async def test_a_task_whose_agent_is_missing_fails_with_the_reason_instead_of_looping(tmp_path: Path) -> None:
    plan_with(tmp_path, agent_tables("ghost") + task_block("A", agent="ghost") + task_block("B"))
    bus = Bus()
    with Project.open(tmp_path, actor="scheduler") as project:
        summary = await asyncio.wait_for(Scheduler(project, agents={"sleeper": SleepAgent(0.001)}, bus=bus).run(), 60)
        assert project.task("A").status == "failed" and "unknown agent 'ghost' for A" in project.task("A").last_error
        assert project.task("B").status == "completed" and summary.skipped == ["A"]


async def test_a_task_another_process_starts_first_is_skipped(tmp_path: Path) -> None:
    plan_with(tmp_path, task_block("A") + task_block("B"), parallel=2)
    agent = SleepAgent(0.001)
    with Project.open(tmp_path, actor="scheduler") as project, Project.open(tmp_path, actor="cli") as other:
        scheduler = Scheduler(project, agents={"sleeper": agent})
        assert scheduler.fill() == ["A", "B"]  # jobs created; none has begun
        other.start("A")  # a person starts A from another terminal before the scheduler's commit
        await asyncio.wait_for(asyncio.gather(*scheduler.jobs.values()), 60)
        assert sorted(agent.spans) == ["B"]
        project.refresh()
        assert project.task("A").status == "in_progress" and project.task("A").last_run_id is None
        assert scheduler.next_ready() is None  # skipped from now on


async def test_cancelling_the_run_fails_the_running_tasks_and_keeps_their_output(tmp_path: Path) -> None:
    plan_with(
        tmp_path,
        "".join(task_block(f"L{i}", estimated_hours=100) for i in range(3)) + task_block("WAIT", ["L0"]),
        parallel=2,
    )
    bus = Bus()
    seen = bus.subscribe()
    with Project.open(tmp_path, actor="scheduler") as project:
        scheduler = Scheduler(project, agents={"sleeper": SleepAgent(1.0)}, bus=bus)
        main = asyncio.create_task(scheduler.run())
        outputs = 0
        while outputs < 2:  # both running tasks have streamed their first line
            event = await asyncio.wait_for(seen.get(), 30)
            outputs += isinstance(event, RunOutput)
        main.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(main, 30)
        assert sorted(scheduler.summary.cancelled) == ["L0", "L1"]
        for task_id in ("L0", "L1"):
            task = project.task(task_id)
            assert task.status == "failed" and task.last_error == CANCELLED
            assert (run_dir(tmp_path, task.last_run_id) / OUTPUT_FILE).read_text() == f"{task_id} working\n"
        assert project.task("L2").status == "pending" and project.status_of("WAIT") == "blocked"
        assert scheduler.jobs == {}


async def test_cancelling_before_any_job_began_starts_nothing(tmp_path: Path) -> None:
    plan_with(tmp_path, task_block("A") + task_block("B"), parallel=2)
    with Project.open(tmp_path, actor="scheduler") as project:
        scheduler = Scheduler(project, agents={"sleeper": SleepAgent(1.0)})
        main = asyncio.create_task(scheduler.run())
        await asyncio.sleep(0)  # run() has dispatched two jobs, which have not run yet
        assert len(scheduler.jobs) == 2
        main.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(main, 30)
        assert scheduler.summary.cancelled == []
        assert [project.task(t).status for t in ("A", "B")] == ["pending", "pending"]
        await asyncio.sleep(0.2)  # the worker threads making run directories finish; they are removed
        runs = tmp_path / ".orchestra" / "runs"
        assert not runs.exists() or list(runs.iterdir()) == []


async def test_dispatch_refuses_in_one_line_what_is_not_ready_already_running_or_over_the_limit(tmp_path: Path) -> None:
    plan_with(
        tmp_path,
        "".join(task_block(t, estimated_hours=100) for t in ("A", "B", "C", "F")) + task_block("D", ["A"]),
        parallel=2,
    )
    with Project.open(tmp_path, actor="scheduler") as project:
        scheduler = Scheduler(project, agents={"sleeper": SleepAgent(1.0)})
        project.fail("F", "broken")
        with pytest.raises(TransitionError, match=r"^cannot dispatch D: it is blocked, waiting on A$"):
            scheduler.dispatch("D")
        with pytest.raises(TransitionError, match=r"^cannot dispatch F: it is failed; r retries it$"):
            scheduler.dispatch("F")
        with pytest.raises(UnknownTaskError):
            scheduler.dispatch("NOPE")
        scheduler.dispatch("A")
        with pytest.raises(TransitionError, match=r"^A is already running$"):
            scheduler.dispatch("A")
        scheduler.dispatch("B")
        with pytest.raises(
            OrchestraError, match=r"^2 tasks are running, the plan's parallel_max; C can start when one ends$"
        ):
            scheduler.dispatch("C")
        assert sorted(scheduler.jobs) == ["A", "B"]
        assert await scheduler.cancel_all() == []  # neither had begun: nothing was started
        assert [project.task(t).status for t in ("A", "B", "C")] == ["pending"] * 3


async def test_cancel_stops_one_tasks_run_and_says_whether_it_had_begun(tmp_path: Path) -> None:
    plan_with(tmp_path, "".join(task_block(t, estimated_hours=100) for t in ("A", "B", "C")), parallel=2)
    bus = Bus()
    seen = bus.subscribe()
    with Project.open(tmp_path, actor="scheduler") as project:
        scheduler = Scheduler(project, agents={"sleeper": SleepAgent(1.0)}, bus=bus)
        assert scheduler.fill() == ["A", "B"]
        streamed: set[str] = set()
        while streamed != {"A", "B"}:  # both runs have begun and streamed their first line
            event = await asyncio.wait_for(seen.get(), 30)
            if isinstance(event, RunOutput):
                streamed.add(event.task_id)
        assert await asyncio.wait_for(scheduler.cancel("A"), 30) is True
        task = project.task("A")
        assert task.status == "failed" and task.last_error == CANCELLED
        assert (run_dir(tmp_path, task.last_run_id) / OUTPUT_FILE).read_text() == "A working\n"
        assert sorted(scheduler.jobs) == ["B"] and project.task("B").status == "in_progress"  # the other run goes on
        assert await scheduler.cancel("A") is False  # nothing of A goes here any more
        scheduler.dispatch("C")
        assert await asyncio.wait_for(scheduler.cancel("C"), 30) is False  # stopped before its run began
        assert project.task("C").status == "pending"
        assert await asyncio.wait_for(scheduler.cancel_all(), 30) == ["B"]
        assert project.task("B").last_error == CANCELLED and scheduler.jobs == {}


async def test_the_scheduler_picks_up_a_review_completed_from_another_process(tmp_path: Path) -> None:
    plan_with(
        tmp_path,
        agent_tables("slow") + task_block("A") + task_block("SLOW", agent="slow") + task_block("B", ["A"]),
        auto_complete=False,
    )
    with Project.open(tmp_path, actor="scheduler") as project, Project.open(tmp_path, actor="cli") as person:
        gate = asyncio.Event()

        class Gated(ScriptedAgent):
            async def run(self, request):  # type: ignore[override]
                await gate.wait()
                yield Finished("slow done")

        agents = {"sleeper": SleepAgent(0.001), "slow": Gated([], name="slow")}
        scheduler = Scheduler(project, agents=agents)
        main = asyncio.create_task(scheduler.run())
        for _ in range(200):
            person.refresh()
            if person.task("A").status == "review":
                break
            await asyncio.sleep(0.01)
        # Accepted from another terminal while SLOW still runs: in a thread, as another process would, for the
        # scheduler's group commit (holding the project lock until its fdatasync is told on this loop) goes on.
        await asyncio.to_thread(person.complete, "A")
        gate.set()
        summary = await asyncio.wait_for(main, 30)
        assert sorted(r.task_id for r in summary.results) == ["A", "B", "SLOW"]


def test_the_engine_imports_no_face_toolkit() -> None:
    code = (
        "import sys, orchestra_tui.engine.scheduler, orchestra_tui.engine.runner, orchestra_tui.engine.bus, "
        "orchestra_tui.engine.runs\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'typer', 'rich', 'click'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "", done.stdout + done.stderr


async def test_a_run_whose_outcome_is_being_committed_is_neither_dropped_nor_cancelled(tmp_path: Path) -> None:
    """A run's end is a group commit: once it is applied the task has moved on by the run's own hand, before the
    job has collected its result. A look for superseded runs at that moment (here from a listener, which runs
    right then) must leave the job alone, and the run must end with its outcome."""
    plan_with(tmp_path, "".join(task_block(f"T{index}") for index in range(6)), parallel=4)
    with Project.open(tmp_path, actor="scheduler") as project:
        scheduler = Scheduler(project, agents={"sleeper": SleepAgent(0)})
        dropped: list[str] = []
        project.store.listeners.append(
            lambda entry, _changes: dropped.extend(scheduler.drop_superseded()) if entry.action == "complete" else None
        )
        summary = await asyncio.wait_for(scheduler.run(), 60)
    assert dropped == []
    assert sorted(result.task_id for result in summary.results) == [f"T{index}" for index in range(6)]
    assert {result.status for result in summary.results} == {"completed"}


async def test_a_cancel_that_comes_while_the_outcome_commits_comes_too_late(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job is cancelled from inside the end's fdatasync (the journal's fault seam, in the writer thread):
    the outcome lands, and the job returns it rather than failing the task ``cancelled by user``."""
    from orchestra_tui.store import fsio

    plan_with(tmp_path, task_block("A"), parallel=1)
    loop = asyncio.get_running_loop()
    syncs: list[str] = []

    with Project.open(tmp_path, actor="scheduler") as project:
        scheduler = Scheduler(project, agents={"sleeper": SleepAgent(0)})

        def hook(step: str) -> None:
            if step == "journal.before-fsync":
                syncs.append(step)
                if len(syncs) == 2:  # the first is the start's; this one is the end's
                    loop.call_soon_threadsafe(scheduler.jobs["A"].cancel)

        monkeypatch.setattr(fsio, "fault_hook", hook)
        job = scheduler.dispatch("A")
        result = await asyncio.wait_for(job, 60)
        assert result is not None and result.status == "completed" and result.error is None
        assert project.task("A").status == "completed"
