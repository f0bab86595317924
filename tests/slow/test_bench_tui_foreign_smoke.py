"""``bench/bench_tui_foreign.py`` runs end to end (a real ``orchestra run`` process, the real app headless
following its runs) with a small load, and prints and writes its rows. No timing target is asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROWS = ("foreign output delay p50", "foreign output delay p95", "foreign output delay max")


def test_the_foreign_output_benchmark_prints_and_writes_its_rows(tmp_path: Path) -> None:
    out = tmp_path / "tui-foreign.json"
    done = subprocess.run(
        [sys.executable, "bench/bench_tui_foreign.py", "--runs", "2", "--lines", "100", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for metric in ROWS:
        assert sum(line.startswith(metric + "  ") for line in done.stdout.splitlines()) == 1, done.stdout
    rows = {row["metric"]: row for row in json.loads(out.read_text())["rows"]}
    assert set(ROWS) <= set(rows) and all(rows[metric]["value"] >= 0 for metric in ROWS)
