"""Secrets tests' tools: scanning every file for planted values, allowing variables in the user's config."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest


def readable(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            return data + gzip.decompress(data)
        except (OSError, EOFError):
            return data
    return data


def files_holding(root: Path, needles: list[bytes]) -> tuple[int, list[str]]:
    """(files searched, 'path: needle' for each hit) over every file below ``root``."""
    searched, hits = 0, []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        try:
            data = readable(path)
        except FileNotFoundError:  # gone since the listing (a webhook sender removed a delivery it sent)
            continue
        searched += 1
        hits += [f"{path.relative_to(root)}: {needle.decode()}" for needle in needles if needle in data]
    return searched, hits


def allow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """The user's own config (not the repository's) allows these variables to be sent."""
    config = tmp_path / "user-config"
    config.mkdir(exist_ok=True)
    (config / "config.toml").write_text(f"allow_env = {list(names)!r}\n".replace("'", '"'))
    monkeypatch.setenv("ORCHESTRA_CONFIG_DIR", str(config))
