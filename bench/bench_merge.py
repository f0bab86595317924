"""The merge queue benchmark: how many completed worktree tasks land on the integration branch per second (issue 11).

``python bench/bench_merge.py [--quick] [--branches N] [--tmpdir DIR] [--out FILE]`` prints a table and the
machine, and writes the same as JSON to ``bench/results/merge.json`` (``merge-quick.json`` with ``--quick``).
A benchmark, not a test: a MISS is reported, never raised.

A repository with 200 small committed files; N tasks (200; 50 with ``--quick``) in review, each with its own
task branch adding one file on the integration tip they were dispatched from (made with git plumbing, so the
setup costs no agent run). Then, in the same run:

- floor: the three git commands of one merge alone (``merge-tree --write-tree``, ``commit-tree``,
  ``update-ref`` with the expected old value) for each branch, on a scratch branch;
- merge queue: ``Project.complete`` for each task in turn, as ``c`` / ``orchestra complete`` do it: the queue's
  lock, the recovery check, the merge, the intent file, the branch move and the durable history entry (one
  fdatasync), then the worktree check.

Values are merges per second over the whole sequence, and the median ms per merge; the target is >= 10/s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Row, machine, table, write_results
from orchestra_tui.engine.integration import integration
from orchestra_tui.engine.project import Project
from orchestra_tui.workspace.git import Git

TARGET_PER_SECOND = 10.0
BASE_FILES = 200


def make_project(root: Path, count: int) -> None:
    """A repository with ``BASE_FILES`` committed files and a plan of ``count`` independent worktree tasks."""
    (root / "src").mkdir(parents=True)
    for index in range(BASE_FILES):
        (root / "src" / f"f{index:03d}.txt").write_text(f"{index}\n")
    tasks = "".join(f'[[tasks]]\nid = "T{i:03d}"\ntitle = "Task {i}"\ncommands = ["true"]\n\n' for i in range(count))
    (root / "orchestra.toml").write_text(
        f'[project]\nid = "bench"\nworkspace = "worktree"\nmax_worktrees = 4096\n\n{tasks}'
    )
    git = Git(root)
    git.run("init", "--quiet", "-b", "main")
    git.run("add", "--all")
    git.run("-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "--quiet", "-m", "files")


def task_commit(git: Git, base: str, index: int, index_file: Path) -> str:
    """A commit on ``base`` adding one file, made without a working tree (a temporary index)."""
    env = {"GIT_INDEX_FILE": str(index_file)}
    blob = git.run("hash-object", "-w", "--stdin", input=f"task {index}\n".encode())
    git.run("read-tree", base, env=env)
    git.run("update-index", "--add", "--cacheinfo", f"100644,{blob},tasks/t{index:03d}.txt", env=env)
    tree = git.run("write-tree", env=env)
    return git.run("commit-tree", tree, "-p", base, "-m", f"task {index}", env=env)


def put_in_review(project: Project, count: int, scratch: Path) -> list[str]:
    """Every task dispatched (its worktree record and branch) and in review, as a run leaves it."""
    git = integration(project).git()
    heads = []
    for index in range(count):
        task_id = f"T{index:03d}"
        record = integration(project).dispatch(project.task(task_id))
        head = task_commit(git, record.base, index, scratch / "index")
        git.run("update-ref", f"refs/heads/{record.branch}", head)
        project.start(task_id, run_id=f"bench-{index}", worktree=record)
        project.review(task_id)
        heads.append(head)
    return heads


def floor(git: Git, base: str, heads: list[str]) -> list[float]:
    """The three git commands of each merge alone, on a scratch branch; seconds per merge."""
    ref = "refs/heads/bench-floor"
    git.run("update-ref", ref, base, "")
    tip, times = base, []
    for head in heads:
        started = time.perf_counter()
        tree = git.run("merge-tree", "--write-tree", "--no-messages", tip, head).split("\n", 1)[0]
        commit = git.run("commit-tree", tree, "-p", tip, "-p", head, "-m", "merge")
        git.run("update-ref", ref, commit, tip)
        times.append(time.perf_counter() - started)
        tip = commit
    return times


def queue(project: Project, count: int) -> list[float]:
    times = []
    for index in range(count):
        started = time.perf_counter()
        project.complete(f"T{index:03d}")
        times.append(time.perf_counter() - started)
    return times


def rows_for(label: str, times: list[float], count: int, target: bool) -> list[Row]:
    rate = len(times) / sum(times)
    verdict = ("PASS" if rate >= TARGET_PER_SECOND else "MISS") if target else "info"
    return [
        Row(
            f"{label}: merges per second",
            f"{count} branches",
            rate,
            "/s",
            f">= {TARGET_PER_SECOND:g}" if target else "",
            verdict,
        ),
        Row(f"{label}: median per merge", f"{count} branches", statistics.median(times) * 1000, "ms", "", "info"),
    ]


def show(value: float, unit: str) -> str:
    return f"{value:,.1f} {unit}" if unit == "ms" else f"{value:,.1f}{unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 branches (a smoke run)")
    parser.add_argument("--branches", type=int, default=None, help="how many task branches (default 200)")
    parser.add_argument("--tmpdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    count = args.branches or (50 if args.quick else 200)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    base_dir = Path(tempfile.mkdtemp(prefix="orchestra-bench-merge-", dir=args.tmpdir))
    try:
        root = base_dir / "repo"
        make_project(root, count)
        with Project.open(root, actor="cli") as project:
            heads = put_in_review(project, count, base_dir)
            git = integration(project).git()
            base = git.rev(integration(project).branch())
            assert base is not None
            floor_times = floor(git, base, heads)
            info = machine(base_dir)  # the load while it ran
            queue_times = queue(project, count)
            landed = int(git.run("rev-list", "--first-parent", "--count", f"{base}..{integration(project).branch()}"))
        rows = rows_for("floor (3 git commands)", floor_times, count, False)
        rows += rows_for("merge queue (Project.complete)", queue_times, count, True)
        rows.append(
            Row(
                "merge commits landed",
                f"{count} branches",
                float(landed),
                "",
                "",
                "info" if landed == count else "ERROR",
            )
        )
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)
    print(table(rows, show))
    for key, value in info.items():
        print(f"{key}: {value}")
    out = args.out or Path(__file__).parent / "results" / ("merge-quick.json" if args.quick else "merge.json")
    write_results(out, "merge", rows, quick=args.quick, started=started, machine=info)


if __name__ == "__main__":
    main()
