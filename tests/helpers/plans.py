"""Plans for tests: ``write_plan`` (an orchestra.toml with a [project] table), ``task_block``; the repo's paths."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


SAMPLES = REPO / "sample_projects"


def write_plan(root: Path, body: str, project_id: str = "t") -> Path:
    """Write an orchestra.toml with a [project] table and ``body`` (tasks etc.)."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "orchestra.toml"
    path.write_text(f'[project]\nid = "{project_id}"\nname = "Test"\n\n' + body)
    return path


def task_block(task_id: str, deps: list[str] | None = None, **fields: object) -> str:
    lines = [
        "[[tasks]]",
        f'id = "{task_id}"',
        f'title = "Task {task_id}"',
        f"dependencies = {list(deps or [])!r}".replace("'", '"'),
    ]
    for key, value in fields.items():
        lines.append(
            f"{key} = {value!r}".replace("'", '"') if not isinstance(value, bool) else f"{key} = {str(value).lower()}"
        )
    return "\n".join(lines) + "\n\n"


def claude_plan(root: Path, url: str) -> Path:
    """One task ``A`` on a priced Anthropic model (claude-sonnet-4-5: $3 / $15 per million tokens) served at ``url``
    (its key: ``ANTHROPIC_API_KEY``)."""
    agent = (
        '[agents.claude]\ntype = "anthropic"\nmodel = "claude-sonnet-4-5"\n'
        f'base_url = "{url}"\napi_key_env = "ANTHROPIC_API_KEY"\nmax_attempts = 1\n\n'
    )
    return write_plan(root, agent + task_block("A", agent="claude"))
