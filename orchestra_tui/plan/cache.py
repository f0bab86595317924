"""The parse cache: the parsed TOML keyed by the file's sha256, so an unchanged plan is not parsed again."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

CACHE_FILE = "plan-cache.json"


def _cache_read(cache_dir: Path | None, sha256: str) -> dict[str, Any] | None:
    if cache_dir is None:
        return None
    try:
        cached = json.loads((Path(cache_dir) / CACHE_FILE).read_bytes())
    except Exception:  # noqa: BLE001 - a damaged or missing cache is simply ignored
        return None
    if isinstance(cached, dict) and cached.get("sha256") == sha256 and isinstance(cached.get("data"), dict):
        return cached["data"]
    return None


def _cache_write(cache_dir: Path, sha256: str, data: dict[str, Any]) -> None:
    """Best effort: atomically replace the cache; any failure (unwritable dir, dates in the TOML) is ignored."""
    temp: str | None = None
    try:
        payload = json.dumps({"sha256": sha256, "data": data}, ensure_ascii=False, separators=(",", ":"))
        directory = Path(cache_dir)
        directory.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".plan-cache-", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload)
        os.replace(temp, directory / CACHE_FILE)
        temp = None
    except Exception:  # noqa: BLE001 - never let the cache fail a load
        pass
    finally:
        if temp is not None:
            try:
                os.unlink(temp)
            except OSError:
                pass
