"""Memory of a run whatever its output size: peak RSS of the real ``orchestra execute`` and ``orchestra run``.

``python bench/bench_memory.py [--quick] [--size MIB] [--tmpdir DIR] [--out FILE]``: a ``shell`` task whose
command is ``yes | head -c SIZE`` with an ``output`` file (so the whole answer is needed), run by each command
in a subprocess with stdout thrown away; the value is the command's peak resident set (``ru_maxrss`` of the
process, from ``wait4``), beside the same command on a 5-byte output. Default 1 GiB (``--quick``: 64 MiB).
Target: under 200 MB. Prints a table and writes ``bench/results/memory[-quick].json``; a MISS is reported,
never raised.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Row, machine, table, write_results

TARGET_MB = 200.0


def _plan(root: Path, size: int) -> None:
    root.mkdir(parents=True)
    (root / "orchestra.toml").write_text(
        '[project]\nid = "memory"\nname = "memory"\nauto_complete = true\n\n'
        '[[tasks]]\nid = "SMALL"\ntitle = "small"\ncommands = ["echo small"]\noutput = "small.txt"\n\n'
        f'[[tasks]]\nid = "BIG"\ntitle = "big"\ncommands = ["yes | head -c {size}"]\noutput = "big.txt"\n'
    )


def _peak_mb(root: Path, *args: str) -> float:
    """Peak RSS (MB) of one orchestra command run to its end, stdout discarded."""
    command = [sys.executable, "-m", "orchestra_tui", "-p", str(root), *args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited with {process.returncode}")
    return usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 MiB of output instead of 1 GiB")
    parser.add_argument("--size", type=int, metavar="MIB", help="output size in MiB")
    parser.add_argument("--tmpdir", type=Path, help="where the temporary projects go")
    parser.add_argument("--out", type=Path, help="JSON results file")
    args = parser.parse_args()
    mib = args.size or (64 if args.quick else 1024)
    base = Path(tempfile.mkdtemp(prefix="orchestra-memory-", dir=args.tmpdir))
    rows: list[Row] = []
    try:
        for command in (["execute", "SMALL"], ["execute", "BIG"], ["run"]):
            root = base / command[0] / (command[1] if len(command) > 1 else "all")
            _plan(root, mib << 20)
            if command == ["run"]:
                size = f"{mib} MiB + 5 B"
            elif command[1] == "SMALL":
                size = "5 B"
            else:
                size = f"{mib} MiB"
            peak = _peak_mb(root, *command)
            verdict = "PASS" if peak < TARGET_MB else "MISS"
            rows.append(
                Row(
                    f"peak RSS of `orchestra {' '.join(command)}`",
                    size,
                    round(peak, 1),
                    "MB",
                    f"< {TARGET_MB:g} MB",
                    verdict,
                )
            )
            shutil.rmtree(root / ".orchestra" / "runs", ignore_errors=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(table(rows, lambda value, unit: f"{value:g} {unit}"))
    facts = machine(Path(args.tmpdir or tempfile.gettempdir()))
    print("; ".join(f"{key}: {value}" for key, value in facts.items()))
    out = args.out or Path(__file__).resolve().parent / "results" / (
        "memory-quick.json" if args.quick else "memory.json"
    )
    write_results(out, "memory", rows, quick=args.quick, started=datetime.now(UTC).isoformat(), machine=facts)


if __name__ == "__main__":
    main()
