"""Shared fixtures: projects are always copied into tmp_path; the repo's sample projects are never written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample_projects"


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(SAMPLES / "demo", target, ignore=shutil.ignore_patterns(".orchestra", "build"))
    return target


def write_plan(root: Path, body: str, project_id: str = "t") -> Path:
    """Write an orchestra.toml with a [project] table and ``body`` (tasks etc.)."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "orchestra.toml"
    path.write_text(f'[project]\nid = "{project_id}"\nname = "Test"\n\n' + body)
    return path


def task_block(task_id: str, deps: list[str] | None = None, **fields: object) -> str:
    lines = ["[[tasks]]", f'id = "{task_id}"', f'title = "Task {task_id}"', f"dependencies = {list(deps or [])!r}".replace("'", '"')]
    for key, value in fields.items():
        lines.append(f"{key} = {value!r}".replace("'", '"') if not isinstance(value, bool) else f"{key} = {str(value).lower()}")
    return "\n".join(lines) + "\n\n"
