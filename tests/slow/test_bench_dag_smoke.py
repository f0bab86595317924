"""``bench/bench_dag.py --quick`` runs end to end in a real subprocess and prints and writes every row. No
timing target is asserted here: a benchmark's figures depend on the machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SIZES = ("20 tasks", "50 tasks", "100 tasks")
METRICS = ("layout_dag (CPU)", "draw (index the lines, CPU)", "rows of one 120x40 screen (CPU)")


def test_quick_benchmark_prints_every_row_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "dag.json"
    done = subprocess.run(
        [sys.executable, "bench/bench_dag.py", "--quick", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    assert document["benchmark"] == "dag" and document["quick"] is True
    rows = {(row["metric"], row["size"]): row for row in document["rows"]}
    for size in SIZES:
        for metric in METRICS:
            row = rows[(metric, size)]
            assert row["value"] > 0 and row["verdict"] == "info"
            assert any(line.startswith(metric) and size in line for line in done.stdout.splitlines())
    assert rows[("layout_dag (CPU)", "100 tasks")]["note"].startswith("177 edges, ")
    assert [size for metric, size in rows if metric == "layout_dag growth"] == ["50 / 20 tasks", "100 / 50 tasks"]
