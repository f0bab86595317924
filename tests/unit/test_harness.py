"""The test process hands its children the default signal dispositions, however the suite was started."""

from __future__ import annotations

import signal
import subprocess
import sys


def ignored_in_a_child() -> set[int]:
    status = subprocess.run(
        [sys.executable, "-c", "print(open('/proc/self/status').read())"], capture_output=True, text=True, timeout=60
    ).stdout
    mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16)
    return {signum for signum in range(1, 65) if mask & (1 << (signum - 1))}


def test_a_child_of_the_suite_can_be_interrupted_and_hung_up() -> None:
    assert ignored_in_a_child().isdisjoint({signal.SIGINT, signal.SIGHUP, signal.SIGQUIT})
