"""``bench/bench_tui.py --quick`` runs end to end in a real subprocess (the real app headless, eight real
``cli`` agent runs streaming, ``orchestra`` in tmux when tmux is installed) and prints and writes every row.
No timing target is asserted here: a benchmark's figures depend on the machine."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROWS = [
    "open and first frame, in process (create_app to first frame)",
    "selection changes with no key pressed, after `a`",
    "screen layouts per 100 presses, running column",
    "key press to screen, running column, p50",
    "key press to screen, running column, p95",
    "screen layouts per 100 presses, ready column",
    "key press to screen, ready column, p50",
    "key press to screen, ready column, p95",
    "longest event-loop stall while keys were pressed",
    "event-loop CPU while keys were pressed",
    "frames drawn while keys were pressed",
    "full garbage collection (generation 2), median",
    "load: chunks streamed per second (8 runs, whole stream)",
    "RSS before dispatch",
    "RSS after 20,000 chunks",
    "RSS growth over the second half of the stream, per 100,000 chunks",
    "lines held per output pane (largest)",
    "output on disk (output.txt of the 8 runs)",
    "first paint, `orchestra DIR` in tmux (median)",
]
VERDICTS = ("PASS", "MISS", "info", "skipped")


def test_quick_benchmark_prints_every_row_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "tui.json"
    done = subprocess.run(
        [sys.executable, "bench/bench_tui.py", "--quick", "--tmpdir", str(tmp_path), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for metric in ROWS:
        printed = [line for line in lines if line.startswith(metric + "  ")]
        assert len(printed) == 1, f"row {metric!r}: {printed}\n{done.stdout}"
        assert re.split(r"\s{2,}", printed[0])[4] in VERDICTS, printed
    assert any(line.startswith("machine: nproc ") and "load average" in line for line in lines)

    document = json.loads(out.read_text())
    assert document["quick"] is True and document["sizes"]["tasks"] == 200
    rows = {row["metric"]: row for row in document["rows"]}
    assert set(ROWS) <= set(rows)
    for row in rows.values():
        assert row["verdict"] in VERDICTS and isinstance(row["value"], (int, float)) and row["value"] >= 0, row
        assert (row["target"] == "-") == (row["verdict"] in ("info", "skipped")), row
    # What the load and the memory rows stand for holds whatever the machine: everything streamed reached
    # the disk, and no pane holds more than its bound.
    assert rows["output on disk (output.txt of the 8 runs)"]["value"] == 20_000 * 64
    assert 0 < rows["lines held per output pane (largest)"]["value"] <= 2_000
    paint = rows["first paint, `orchestra DIR` in tmux (median)"]
    if shutil.which("tmux") is None:
        assert paint["verdict"] == "skipped", paint
    else:
        assert paint["verdict"] in ("PASS", "MISS") and paint["value"] > 0, paint
    assert not list(tmp_path.glob("orchestra-bench-*")), "the benchmark left its temporary projects behind"
