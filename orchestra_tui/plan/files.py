"""Which files hold a project's plan, and the project id a directory name gives."""

from __future__ import annotations

import re
from pathlib import Path

PLAN_FILE = "orchestra.toml"
SEED_CONFIG_FILE = "orchestration.config.json"


def find_plan(root: Path) -> Path | None:
    """``orchestra.toml`` in ``root``, else the seed's ``orchestration.config.json``, else None."""
    root = Path(root)
    for name in (PLAN_FILE, SEED_CONFIG_FILE):
        candidate = root / name
        if candidate.is_file():
            return candidate
    return None


def slug(name: str) -> str:
    """A project id made from a directory name."""
    slug = re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-._")
    return slug or "project"
