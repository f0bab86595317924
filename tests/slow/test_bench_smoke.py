"""The benchmarks work: the generator writes valid, deterministic plans, and ``bench_foundation.py --quick``
runs end to end in a real subprocess and prints every row. No timing target is asserted here."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from bench.generate import write_project
from orchestra_tui.plan import load_plan

REPO = Path(__file__).resolve().parents[2]
ROWS = [
    "commit p50 (durable, with history)",
    "commit p95",
    "floor p50 (frame append + fdatasync)",
    "commit p50 / floor p50",
    "commit p50 growth (large / small)",
    "history bytes per change (journal, median)",
    "checkpoint bytes per change (du checkpoints/ / commits)",
    "history bytes per change amortised (journal + checkpoints)",
    "rollback 100 changes back",
    "history listing (fresh open, uncached)",
    "rollback 100 changes back (fresh open)",
    "load and validate the plan (parse, schema, dependencies)",
    "open: first (plan + first commit of every task)",
    "open: second (same project)",
    "open: third (plan cache written by the second)",
    "next_task: first call after open",
    "next_task: p50 of 20 calls",
    "orchestra next --json (whole process, median)",
]
PER_SIZE = {
    "commit p50 (durable, with history)",
    "commit p95",
    "floor p50 (frame append + fdatasync)",
    "commit p50 / floor p50",
}


def test_generated_plan_is_valid_deterministic_and_acyclic_by_construction(tmp_path: Path) -> None:
    path = write_project(tmp_path / "a", 60, seed=3)
    plan = load_plan(tmp_path / "a")
    assert [task.task_id for task in plan.tasks] == [f"T{i:05d}" for i in range(1, 61)]
    position = {task.task_id: index for index, task in enumerate(plan.tasks)}
    assert all(position[dep] < position[task.task_id] for task in plan.tasks for dep in task.dependencies)
    assert sum(bool(task.dependencies) for task in plan.tasks) > 30
    assert len({task.priority for task in plan.tasks}) >= 3 and len({task.phase for task in plan.tasks}) >= 3
    assert all(len(task.description) >= 80 and task.deliverables and task.success_criteria for task in plan.tasks)
    assert write_project(tmp_path / "b", 60, seed=3).read_bytes() == path.read_bytes()
    assert write_project(tmp_path / "c", 60, seed=4).read_bytes() != path.read_bytes()


def test_generate_main_writes_a_project_from_the_shell(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "bench/generate.py", str(tmp_path / "p"), "25", "--seed", "7"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "25 tasks, seed 7" in done.stdout
    assert len(load_plan(tmp_path / "p").tasks) == 25


def test_quick_benchmark_prints_every_row_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "foundation.json"
    done = subprocess.run(
        [sys.executable, "bench/bench_foundation.py", "--quick", "--tmpdir", str(tmp_path), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for metric in ROWS:
        printed = [line for line in lines if line.startswith(metric + "  ")]
        assert len(printed) == (3 if metric in PER_SIZE else 1), f"row {metric!r}: {printed}"
        assert all(re.split(r"\s{2,}", line)[4] in ("PASS", "MISS", "info") for line in printed), printed
    assert any(line.startswith("machine: nproc ") for line in lines)
    assert any(line.startswith("temp dir: ") and " on " in line for line in lines)

    document = json.loads(out.read_text())
    assert document["quick"] is True
    rows = document["rows"]
    assert sorted({row["metric"] for row in rows}) == sorted(ROWS)
    for row in rows:
        assert isinstance(row["value"], (int, float)) and row["value"] >= 0, row
        assert row["verdict"] in (("info",) if row["target"] == "-" else ("PASS", "MISS")), row
    targeted = {row["metric"] for row in rows if row["target"] != "-"}
    assert "commit p50 / floor p50" in targeted and "orchestra next --json (whole process, median)" in targeted
    assert not list(tmp_path.glob("orchestra-bench-*")), "the benchmark left its temporary projects behind"
