"""``bench/bench_worktrees.py --quick`` runs end to end in a real subprocess and writes every row (no timing
asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_worktree_benchmark_quick(tmp_path: Path) -> None:
    out = tmp_path / "worktrees.json"
    command = [sys.executable, "bench/bench_worktrees.py", "--quick", "--tmpdir", str(tmp_path), "--out", str(out)]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["rows"]
    assert {row["metric"] for row in rows} == {
        "floor: git worktree add alone",
        "root task dispatch (no workspace call)",
        "worktree task dispatch",
        "worktree task dispatch / floor",
        "worktree task dispatch, include .env",
        "worktree task dispatch, include .env / floor",
        "remove a worktree (branch kept)",
    }
    assert all(row["verdict"] in ("PASS", "MISS", "info") for row in rows)
    assert "worktree task dispatch / floor" in result.stdout
