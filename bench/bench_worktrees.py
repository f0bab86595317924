"""The worktree benchmark: what giving a task its own git worktree costs at dispatch (issue 11).

``python bench/bench_worktrees.py [--quick] [--tmpdir DIR] [--out FILE]`` prints a table and the machine, and
writes the same as JSON to ``bench/results/worktrees.json`` (``worktrees-quick.json`` with ``--quick``). A
benchmark, not a test: a MISS is reported, never raised.

On generated repositories of 1,000 and 20,000 committed files (100 per directory, plus an ignored ``.env``),
interleaved in the same run so they see the same load:

- floor: ``git worktree add -b BRANCH PATH BASE`` alone, as one subprocess (what any tool giving a task a
  worktree pays);
- worktree dispatch: ``workspace.worktrees.create`` as the runner calls it (path checks, the task branch,
  ``git worktree add -B``), with and without a ``worktree_include`` pattern (``.env``), which walks the
  untracked files of the main tree;
- root dispatch: what a ``root`` task pays for its workspace: nothing (no call is made), shown as 0.

Each value is the median over the rounds, in ms per dispatch; the target is worktree dispatch within 1.5x of
the floor. Removing a worktree (``remove``) is shown for information.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Row, machine, table, write_results
from orchestra_tui.workspace import worktrees as wt
from orchestra_tui.workspace.git import Git, clean_env

TARGET_RATIO = 1.5
FILES_PER_DIR = 100


def make_repo(root: Path, files: int) -> str:
    """A repository with ``files`` small committed files and an ignored ``.env``; returns its head."""
    root.mkdir(parents=True)
    env = clean_env()
    for index in range(files):
        folder = root / "src" / f"d{index // FILES_PER_DIR:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{index:05d}.py").write_text(f"VALUE = {index}\n")
    (root / ".gitignore").write_text(".env\n.orchestra/\n")
    (root / ".env").write_text("TOKEN=local\n")
    (root / ".orchestra").mkdir(mode=0o700)
    for args in (
        ["init", "--quiet", "-b", "main"],
        ["add", "--all"],
        ["-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "--quiet", "-m", "files"],
    ):
        subprocess.run(["git", *args], cwd=root, env=env, check=True)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, env=env, check=True, capture_output=True, text=True
    ).stdout.strip()


def _ms(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def measure(root: Path, base: str, rounds: int) -> dict[str, list[float]]:
    """Interleaved rounds of the floor, create (with and without an include) and remove, in ms."""
    git = Git(root)
    env = clean_env()
    samples: dict[str, list[float]] = {"floor": [], "create": [], "create+include": [], "remove": []}
    floor_dir = root / ".orchestra" / "floor"
    for index in range(rounds + 1):  # round 0 warms the caches and is dropped
        path = floor_dir / f"f{index}"
        argv = ["git", "worktree", "add", "--quiet", "-b", f"floor/{index}", str(path), base]
        floor = _ms(lambda argv=argv: subprocess.run(argv, cwd=root, env=env, check=True))
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=root, env=env, check=True)
        plain = _ms(lambda index=index: wt.create(git, root, "bench", f"T{index}", base))
        removed = _ms(lambda index=index: wt.remove(git, root, f"T{index}"))
        included = _ms(lambda index=index: wt.create(git, root, "bench", f"I{index}", base, include=[".env"]))
        wt.remove(git, root, f"I{index}")
        if index:
            samples["floor"].append(floor)
            samples["create"].append(plain)
            samples["create+include"].append(included)
            samples["remove"].append(removed)
    return samples


def rows_for(size: str, samples: dict[str, list[float]]) -> list[Row]:
    median = {key: statistics.median(values) for key, values in samples.items()}
    floor = median["floor"]
    rows = [
        Row("floor: git worktree add alone", size, floor, "ms", "", "info", f"{len(samples['floor'])} rounds"),
        Row("root task dispatch (no workspace call)", size, 0.0, "ms", "", "info"),
    ]
    for key, label in (
        ("create", "worktree task dispatch"),
        ("create+include", "worktree task dispatch, include .env"),
    ):
        ratio = median[key] / floor
        verdict = "PASS" if ratio <= TARGET_RATIO else "MISS"
        rows.append(Row(label, size, median[key], "ms", "", "info"))
        rows.append(Row(f"{label} / floor", size, ratio, "x", f"<= {TARGET_RATIO}", verdict))
    rows.append(Row("remove a worktree (branch kept)", size, median["remove"], "ms", "", "info"))
    return rows


def show(value: float, unit: str) -> str:
    return f"{value:.2f}x" if unit == "x" else f"{value:.1f} ms"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small repositories and few rounds (a smoke run)")
    parser.add_argument("--tmpdir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    sizes = [(200, 3)] if args.quick else [(1_000, 15), (20_000, 9)]
    started = datetime.now(UTC).isoformat(timespec="seconds")
    base_dir = Path(tempfile.mkdtemp(prefix="orchestra-bench-wt-", dir=args.tmpdir))
    rows: list[Row] = []
    try:
        for files, rounds in sizes:
            root = base_dir / f"repo{files}"
            head = make_repo(root, files)
            rows += rows_for(f"{files:,} files", measure(root, head, rounds))
        info = machine(base_dir)
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)
    print(table(rows, show))
    print()
    for key, value in info.items():
        print(f"{key}: {value}")
    name = "worktrees-quick.json" if args.quick else "worktrees.json"
    out = args.out or Path(__file__).resolve().parent / "results" / name
    write_results(out, "worktrees", rows, quick=args.quick, started=started, machine=info)
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
