"""Real git repositories for the workspace tests (the real ``git`` binary, never a stub)."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from orchestra_tui.workspace.git import clean_env


def git(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """stdout of ``git ARGS`` in ``cwd`` (raises on failure), without its final newline."""
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, env=clean_env(env), check=True)
    return result.stdout.decode("utf-8", "replace").removesuffix("\n")


def make_repo(path: Path, files: Mapping[str, str | bytes] | None = None, branch: str = "main") -> Path:
    """A repository at ``path`` on ``branch`` with ``files`` committed (default: a README), identity set locally."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "--quiet", "-b", branch)
    git(path, "config", "user.name", "Test Person")
    git(path, "config", "user.email", "person@example.com")
    write(path, files or {"README.md": "hello\n"})
    git(path, "add", "--all")
    git(path, "commit", "--quiet", "-m", "initial")
    return path


def write(root: Path, files: Mapping[str, str | bytes]) -> None:
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)


def commit(root: Path, files: Mapping[str, str | bytes], message: str = "change") -> str:
    """Write ``files``, commit them, and return the new head."""
    write(root, files)
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", message)
    return git(root, "rev-parse", "HEAD")


def worktree_paths(root: Path) -> set[Path]:
    """What ``git worktree list`` says, as resolved paths, the main work tree left out."""
    out = git(root, "worktree", "list", "--porcelain", "-z")
    paths = {
        Path(field.removeprefix("worktree ")).resolve() for field in out.split("\0") if field.startswith("worktree ")
    }
    return paths - {root.resolve()}
