"""Which files hold a project's plan, and the project id a directory name gives."""

from __future__ import annotations

import re

from ..projectfiles import PLAN_FILE, SEED_CONFIG_FILE, find_plan

__all__ = ["PLAN_FILE", "SEED_CONFIG_FILE", "find_plan", "slug"]


def slug(name: str) -> str:
    """A project id made from a directory name."""
    slug = re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-._")
    return slug or "project"
