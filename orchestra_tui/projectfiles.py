"""Where a project keeps its files, and finding a project from a directory (as git finds its repository).

One place for the names, because the answers of read-only commands (``answers.py``) are keyed by the contents
of every file such a command reads: the plan and the store name their files from here, so that list cannot drift
from what they open. Standard library only: it is imported before anything heavy.
"""

from __future__ import annotations

from pathlib import Path

PLAN_FILE = "orchestra.toml"
SEED_CONFIG_FILE = "orchestration.config.json"
PLAN_FILES = (PLAN_FILE, SEED_CONFIG_FILE)  # in the project directory; the first present is the plan

#: The bytes of each plan file as this process's plan loader last read them, by path: ``answers.py`` keeps an
#: answer only when they are the bytes it was keyed by (not a file edited and put back while the command ran).
PLAN_READS: dict[str, bytes] = {}

STATE_DIR = ".orchestra"
SNAPSHOT_FILE = "project_state.json"
JOURNAL_FILE = "journal.log"
CHECKPOINT_DIR = "checkpoints"
WEBHOOKS_DIR = "webhooks"
WEBHOOKS_CURSOR = "cursor"  # in WEBHOOKS_DIR: the last entry whose events were queued

#: What opening a project to read it reads in its state directory, besides the listings (``answers.py``): the
#: snapshot, the journal, and the webhooks' cursor (which says whether the history is read for lost events).
STATE_READ = (SNAPSHOT_FILE, JOURNAL_FILE, f"{WEBHOOKS_DIR}/{WEBHOOKS_CURSOR}")


def find_plan(root: Path) -> Path | None:
    """``orchestra.toml`` in ``root``, else the seed's ``orchestration.config.json``, else None."""
    root = Path(root)
    for name in PLAN_FILES:
        candidate = root / name
        if candidate.is_file():
            return candidate
    return None


def holds_project(directory: Path) -> bool:
    """``directory`` holds a plan, or the state of a project built with the Python API."""
    return find_plan(directory) is not None or (directory / STATE_DIR / JOURNAL_FILE).exists()


def nearest_project(root: Path) -> Path | None:
    """``root`` if it holds a project, else its nearest parent that does, else None."""
    if holds_project(root):
        return root
    return next((parent for parent in root.resolve().parents if holds_project(parent)), None)
