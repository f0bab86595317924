"""The engine's event bus: publishing never waits for a subscriber, a full queue merges text instead of
dropping it, state events are always kept, and a project's history entries arrive as events."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from orchestra_tui.engine.bus import (
    Bus,
    HistoryAppended,
    RunEnded,
    RunOutput,
    RunStarted,
    RunUsage,
    TaskChanged,
)
from orchestra_tui.engine.project import Project

from ..helpers.plans import task_block, write_plan


def texts(events: list[object], run_id: str, source: str = "agent") -> str:
    return "".join(e.text for e in events if isinstance(e, RunOutput) and e.run_id == run_id and e.source == source)


def test_every_subscriber_gets_every_event_in_order() -> None:
    bus = Bus()
    first, second = bus.subscribe(), bus.subscribe()
    events = [RunStarted("r1", "A", "shell"), RunUsage("r1", "A", 1, 2, None), RunEnded("r1", "A", "review")]
    for event in events:
        bus.publish(event)
    assert first.drain() == events
    assert second.drain() == events
    assert first.drain() == []


def test_a_full_queue_merges_text_per_run_and_keeps_every_state_event() -> None:
    bus = Bus()
    slow = bus.subscribe(maxsize=4)
    bus.publish(RunStarted("r1", "A", "shell"))
    bus.publish(RunStarted("r2", "B", "shell"))
    for i in range(500):
        bus.publish(RunOutput("r1", "A", f"a{i} "))
        bus.publish(RunUsage("r2", "B", i, i, None))  # never merged: the queue grows past its bound for these
        bus.publish(RunOutput("r2", "B", f"b{i} "))
    bus.publish(RunEnded("r1", "A", "review"))
    bus.publish(RunEnded("r2", "B", "failed", "boom"))
    events = slow.drain()
    # Not one character lost or reordered within a run, though 1,000 text events were squeezed.
    assert texts(events, "r1") == "".join(f"a{i} " for i in range(500))
    assert texts(events, "r2") == "".join(f"b{i} " for i in range(500))
    assert len([e for e in events if isinstance(e, RunOutput)]) <= 6  # merged: about one item per run
    assert slow.merged > 900
    assert [e.input_tokens for e in events if isinstance(e, RunUsage)] == list(range(500))
    assert [e.task_id for e in events if isinstance(e, RunEnded)] == ["A", "B"]
    # A run's text never moves past the end of that run.
    for run_id in ("r1", "r2"):
        positions = [i for i, e in enumerate(events) if getattr(e, "run_id", None) == run_id]
        last_text = max(i for i in positions if isinstance(events[i], RunOutput))
        assert last_text < next(i for i in positions if isinstance(events[i], RunEnded))


def test_text_for_different_sources_of_a_run_is_never_merged_together() -> None:
    bus = Bus()
    sub = bus.subscribe(maxsize=1)
    bus.publish(RunOutput("r", "A", "answer "))
    bus.publish(RunOutput("r", "A", "$ make test\n", "verify"))
    bus.publish(RunOutput("r", "A", "more", "agent"))
    bus.publish(RunOutput("r", "A", "ok\n", "verify"))
    events = sub.drain()
    assert texts(events, "r") == "answer more"
    assert texts(events, "r", "verify") == "$ make test\nok\n"


def test_publishing_does_not_wait_for_a_subscriber_that_never_reads() -> None:
    bus = Bus()
    stuck = bus.subscribe(maxsize=10)
    fast = bus.subscribe(maxsize=10)
    chunk = "x" * 100
    for _ in range(100_000):  # returns: nothing waits for the readers
        bus.publish(RunOutput("r", "A", chunk))
    assert len(stuck) == 1 and len(fast) == 1  # merged into one waiting item per subscriber
    assert len(stuck.drain()[0].text) == 100 * 100_000


async def test_a_slow_async_subscriber_does_not_slow_the_publisher_or_a_fast_one() -> None:
    bus = Bus()
    fast, slow = bus.subscribe(maxsize=8), bus.subscribe(maxsize=8)
    got_fast: list[object] = []
    got_slow: list[object] = []

    async def read(sub, into: list[object], pause: float) -> None:
        async for event in sub:
            into.append(event)
            await asyncio.sleep(pause)

    readers = [asyncio.create_task(read(fast, got_fast, 0)), asyncio.create_task(read(slow, got_slow, 0.02))]
    for i in range(2_000):
        bus.publish(RunOutput("r", "A", f"{i},"))
        if i % 100 == 0:
            await asyncio.sleep(0)  # the publisher yields now and then, as the engine does
    bus.publish(RunEnded("r", "A", "review"))
    behind = len(slow)  # what the slow reader had not taken yet when the publisher was done
    fast.close()
    slow.close()
    await asyncio.wait_for(asyncio.gather(*readers), 30)
    assert behind > 0  # the publisher never waited for the slow reader to catch up
    expected = "".join(f"{i}," for i in range(2_000))
    assert texts(got_fast, "r") == expected and texts(got_slow, "r") == expected
    assert isinstance(got_slow[-1], RunEnded) and isinstance(got_fast[-1], RunEnded)
    assert len(got_slow) < 200  # it read merged chunks rather than 2,000 events


async def test_get_wakes_up_for_an_event_published_from_another_thread() -> None:
    bus = Bus()
    sub = bus.subscribe()
    thread = threading.Timer(0.05, lambda: bus.publish(RunStarted("r", "A", "shell")))
    thread.start()
    event = await asyncio.wait_for(sub.get(), 5)
    thread.join()
    assert event == RunStarted("r", "A", "shell")


async def test_a_closed_subscription_ends_iteration_after_what_it_holds() -> None:
    bus = Bus()
    sub = bus.subscribe()
    bus.publish(RunStarted("r", "A", "shell"))
    sub.close()
    bus.publish(RunEnded("r", "A", "review"))  # after close: not delivered
    seen = [event async for event in sub]
    assert seen == [RunStarted("r", "A", "shell")]


def test_watch_turns_history_entries_into_task_and_entry_events(tmp_path: Path) -> None:
    write_plan(tmp_path, task_block("A") + task_block("B", ["A"]))
    with Project.open(tmp_path, actor="cli") as project:
        bus = Bus()
        bus.watch(project)
        sub = bus.subscribe()
        project.start("A")
        project.fail("A", "it broke")
        project.record_run("B", {"input_tokens": 5}, "tokens")
        events = sub.drain()
    changed = [e for e in events if isinstance(e, TaskChanged)]
    assert [(e.task_id, e.before, e.after, e.actor) for e in changed] == [
        ("A", "pending", "in_progress", "cli"),
        ("A", "in_progress", "failed", "cli"),
    ]
    assert changed[1].reason == "it broke"
    entries = [e for e in events if isinstance(e, HistoryAppended)]
    assert [e.entry.action for e in entries] == ["start", "fail", "run"]
    assert entries[2].tasks == ("B",)
    assert all(isinstance(e.entry.id, str) and len(e.entry.id) == 8 for e in entries)
