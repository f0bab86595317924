"""An orchestra command that gets stuck in the middle of its commit, holding the state lock (a hung disk, a
stopped process): ``python stuck.py -p ROOT complete ID``. Prints ``stuck`` once it holds the lock, then
sleeps until it is killed (by the test, by its pid)."""

from __future__ import annotations

import sys
import time

from orchestra_tui.entry import main
from orchestra_tui.store import fsio


def hang(step: str) -> None:
    if step == "journal.before-fsync":
        print("stuck", flush=True)
        time.sleep(600)


if __name__ == "__main__":
    fsio.fault_hook = hang
    main(sys.argv[1:])
