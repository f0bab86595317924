"""The test side of ``committer.py``: start the fork server, run committers, and judge what a kill left.

``Ledger`` follows every committed state the committers reported and decides whether the state found on
disk after a kill is one of the two allowed ones: the last state reported committed, or the state of the
entry that was being committed when the process died (never anything else).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestra_tui.store import Store

from .committer import state_digest
from .disk import digest_of, open_store

SCRIPT = Path(__file__).with_name("committer.py")


@dataclass
class Run:
    pid: int
    events: list[dict[str, Any]]
    signal: int | None
    code: int | None


class ForkServer:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, str(SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._buffer = b""

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def _line(self, deadline: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the fork server stopped answering")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise EOFError("the fork server exited")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def run(
        self,
        request: dict[str, Any],
        *,
        kill_after: float | None = None,
        after_open: bool = False,
        timeout: float = 20.0,
    ) -> Run:
        """One committer. With ``kill_after`` it is SIGKILLed that many seconds after it was forked (or, with
        ``after_open``, after it opened the project); without, it runs until it dies by itself (a fault hook)
        or finishes its commits (then it is killed too)."""
        request = {"checkpoint_every": 256, "fault": None, "max_commits": 10_000, **request}
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(request) + "\n").encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        events: list[dict[str, Any]] = []
        pid = None
        opened = not after_open
        while pid is None or not opened:
            event = self._line(deadline)
            if "pid" in event:
                pid = event["pid"]
            else:
                events.append(event)
                opened = opened or "opened" in event
                assert "error" not in event, event["error"]
        if kill_after is not None:
            time.sleep(kill_after)
            with contextlib.suppress(ProcessLookupError):  # it died by itself: the events say why
                os.kill(pid, signal.SIGKILL)  # not reaped before the server reports it, so the pid is still ours
        while True:
            event = self._line(deadline)
            if event.get("done") == pid:
                return Run(pid, events, event["signal"], event["code"])
            events.append(event)
            if "finished" in event:
                os.kill(pid, signal.SIGKILL)
            assert "error" not in event, event["error"]


@dataclass
class Verdict:
    store: Store
    new: bool  # the entry in flight at the kill was found committed
    repairs: list[str]


@dataclass
class Ledger:
    """Every state reported committed (seq -> digest) and the last one."""

    seq: int
    digest: str
    committed: dict[int, str] = field(default_factory=dict)

    @classmethod
    def start(cls, root: Path) -> Ledger:
        store = open_store(root)
        return cls(store.seq, digest_of(store), {store.seq: digest_of(store)})

    def follow(self, run: Run) -> dict[str, Any] | None:
        """Walk a committer's report; returns the ``begin`` of the commit in flight when it died, if any."""
        pending = None
        for event in run.events:
            if "opened" in event:
                assert (event["opened"], event["digest"]) == (self.seq, self.digest), "opening changed the state"
            elif "begin" in event:
                assert event["begin"] == self.seq + 1, event
                pending = event
            elif "commit" in event:
                assert pending is not None and event["commit"] == pending["begin"], (pending, event)
                self.seq, self.digest = event["commit"], event["digest"]
                self.committed[self.seq] = self.digest
                pending = None
            elif "skip" in event:
                pending = None
        return pending

    def judge(self, root: Path, run: Run) -> Verdict:
        """Reopen after ``run`` died: the state must be exactly the last committed one or the one in flight."""
        pending = self.follow(run)
        store = open_store(root)
        seq, digest = store.seq, digest_of(store)
        new = False
        if (seq, digest) != (self.seq, self.digest):
            assert pending is not None and seq == pending["begin"], (
                f"after the kill the state is entry {seq} ({digest[:12]}), but the last committed was "
                f"{self.seq} ({self.digest[:12]}) and the one in flight {pending}"
            )
            entry = store.resolve(seq)
            assert entry.action == pending["action"], (entry, pending)
            assert state_digest(*store.state_at(self.seq)) == self.digest, "the entry before the one in flight changed"
            self.seq, self.digest, new = seq, digest, True
            self.committed[seq] = digest
        entries = store.history()
        seqs = [entry.seq for entry in entries]
        assert seqs == list(range(1, store.seq + 1)), "history is not every entry from 1 to the current one"
        ids = [entry.id for entry in entries]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        assert set(self.committed) <= set(seqs)
        return Verdict(store, new, list(store.repairs))
