"""Screenshots (the palette's "Screenshot"): an SVG of the screen saved under the project, never lost.

Textual saves into ``~/Downloads`` and says only "Failed to save screenshot" when it does not exist
(issue 14 item 8). Here the folder is ``screenshots`` in config.toml when set (``~`` expanded, created
with its parents), else ``.orchestra/screenshots/`` in the project (private, like the rest of
``.orchestra/``); the notification names the file written, or the one-line reason it could not be.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ..errors import OrchestraError
from ..projectfiles import STATE_DIR
from ..store import fsio

FOLDER = "screenshots"  # under .orchestra/ when config.toml names no folder


def folder_for(project_root: Path, configured: str | None) -> Path:
    """Where screenshots go (not created)."""
    return Path(configured).expanduser() if configured else project_root / STATE_DIR / FOLDER


def save(svg: str, project_root: Path, configured: str | None, name: str | None = None) -> Path:
    """Write ``svg`` to ``name`` (default: a name made of the time) in the screenshots folder, creating the
    folder; returns its path. Raises a one-line OrchestraError when the folder cannot be made or the file written."""
    folder = folder_for(project_root, configured)
    path = folder / Path(name or f"orchestra-{datetime.now():%Y-%m-%dT%H-%M-%S-%f}.svg").name
    try:
        if configured:
            folder.mkdir(parents=True, exist_ok=True)
        else:
            fsio.private_dir(project_root / STATE_DIR)
            fsio.private_dir(folder)
        fsio.atomic_write(path, svg.encode())
    except OSError as error:
        raise OrchestraError(f"screenshot not saved: {fsio.describe_os_error(error, path)}") from None
    return path
