"""One of the writers of the concurrency test: ``python contender.py ROOT NAME ACTOR OWN_TASK N``.

Opens the project, prints ``ready``, waits for a line on stdin (so that both writers start together), then
makes N changes, and half-way prints ``half`` and waits for another line (so that, however loaded the machine, one
writer cannot make all its changes before the other makes any: the lock changes hands at least twice). The changes
alternate: a read-modify-write of the counter both writers share (``T-0``'s
``input_tokens``, incremented from the fresh state inside ``Store.commit``) and ``record_run`` on its own
task. Prints one JSON line: the seqs of its entries and the digest of its view after a final refresh.
"""

from __future__ import annotations

import json
import sys

from committer import state_digest  # this script's directory is on sys.path

from orchestra_tui.engine.project import Project
from orchestra_tui.store import Mutation
from orchestra_tui.store.changes import diff_record


def main(root: str, name: str, actor: str, own_task: str, count: int) -> None:
    project = Project.open(root, actor=actor)
    store = project.store
    print("ready", flush=True)
    sys.stdin.readline()

    def increment() -> Mutation:
        old = store.tasks["T-0"]
        new = {**old, "input_tokens": (old["input_tokens"] or 0) + 1}  # None: none counted yet
        return Mutation([diff_record("T-0", old, new)], "run", f"{name} counted", {"tasks": ["T-0"]})

    seqs = []
    for i in range(count):
        if i == count // 2:
            print("half", flush=True)
            sys.stdin.readline()
        if i % 2 == 0:
            entry = store.commit(increment, actor=actor)
        else:
            entry = project.record_run(own_task, {"output_tokens": i}, f"{name} ran {own_task}")
        seqs.append(entry.seq)
    project.refresh()
    print(json.dumps({"seqs": seqs, "digest": state_digest(store.tasks, store.meta), "seq": store.seq}), flush=True)
    project.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
