"""``bench/bench_startup.py --quick`` runs end to end in a real subprocess and prints every row (no timing is
asserted: the figures are the benchmark's, in README)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quick_startup_benchmark_prints_every_row() -> None:
    done = subprocess.run(
        [sys.executable, "bench/bench_startup.py", "--quick"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    for name in (
        "--version",
        "next --json @100",
        "next --json @100 cold",
        "next --json @500",
        "import taskmaster @200",
        "load + validate @1,000",
    ):
        assert any(line.startswith(name + " ") for line in done.stdout.splitlines()), (name, done.stdout)
    assert "next --json @100 / --version" in done.stdout and "next --json @100 cold / --version" in done.stdout
    assert "load average (1 min) over the run: " in done.stdout
