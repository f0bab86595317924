"""What the benchmarks share: a result row, the table they print, and the machine they ran on."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Row:
    metric: str
    size: str
    value: float | None
    unit: str
    target: str
    verdict: str  # PASS | MISS | info (no target) | skipped | ERROR
    note: str = ""


def table(rows: list[Row], show: Callable[[float, str], str]) -> str:
    """The rows as an aligned text table (the note column last and unpadded)."""
    header = ("metric", "size", "value", "target", "result", "note")
    cells = [
        (r.metric, r.size, "-" if r.verdict == "skipped" else show(r.value, r.unit), r.target, r.verdict, r.note)
        for r in rows
    ]
    lines = [header, *cells]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    out = []
    for index, line in enumerate(lines):
        out.append(
            "  ".join(cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=True)) + "  " + line[-1]
        )
        if index == 0:
            out.append("  ".join("-" * width for width in widths) + "  ----")
    return "\n".join(line.rstrip() for line in out)


def machine(base: Path) -> dict[str, str]:
    """Cores, Python, platform, load, and the file system the temporary projects live on."""
    df = subprocess.run(["df", "-T", str(base)], capture_output=True, text=True, check=False).stdout.splitlines()
    fields = df[-1].split() if len(df) > 1 else []
    work = Path("/work")
    same = work.exists() and os.stat(base).st_dev == os.stat(work).st_dev
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "load average": " ".join(f"{load:.2f}" for load in os.getloadavg()),
        "tmpdir": str(base),
        "filesystem": f"{fields[1]} ({fields[0]} on {fields[-1]})" if len(fields) >= 7 else "unknown",
        "same_filesystem_as_work": "yes" if same else "no",
    }


def write_results(out: Path, benchmark: str, rows: list[Row], **fields: object) -> None:
    """The run as JSON (``fields``: quick, started, machine, ...), for comparing runs over time."""
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {"benchmark": benchmark, **fields, "rows": [asdict(row) for row in rows]}
    out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
