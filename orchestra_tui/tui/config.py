"""The user's TUI settings: ``config.toml`` in orchestra's user config directory (posting's practice).

::

    theme = "light"            # remembered whenever the theme changes (--theme, the palette)
    screenshots = "~/shots"    # the palette's Screenshot saves here (default: .orchestra/screenshots/)

    [keymap]                   # binding id = keys (comma-separated); ids are listed by `?`
    dispatch = "ctrl+d"
    quit = "q,ctrl+q"

    [notify]                   # when a person is needed (tui/alerts.py): a toast always, and
    bell = false               # the terminal bell
    desktop = "auto"           # an OSC 9 desktop notification: "auto" (a terminal known to show it), "on", "off"

The directory is ``$ORCHESTRA_CONFIG_DIR`` when set (tests point it at a temporary one), else
platformdirs' user config directory for ``orchestra`` (``userconfig.py``, which also reads ``allow_env``).
"""

from __future__ import annotations

from pathlib import Path

import tomli_w
from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import OrchestraError
from ..store import fsio
from ..userconfig import CONFIG_ENV, CONFIG_FILE, config_home, read_config
from .alerts import NotifyConfig

__all__ = ["CONFIG_ENV", "CONFIG_FILE", "TuiConfig", "config_home", "load_config", "save_config"]


class TuiConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    theme: str | None = None
    keymap: dict[str, str] = {}
    table_sort: str | None = None  # the table view's sort column, remembered
    table_reverse: bool | None = None
    notify: NotifyConfig | None = None  # None: the defaults, and nothing written back
    screenshots: str | None = None  # the folder screenshots go to (default: the project's .orchestra/screenshots/)
    allow_env: list[str] | None = None  # read by the core (userconfig.py); kept when the theme is remembered


def load_config(directory: Path) -> TuiConfig:
    """The settings in ``directory`` (defaults when there is no file); a bad file is a one-line OrchestraError."""
    path = directory / CONFIG_FILE
    data = read_config(directory)
    try:
        return TuiConfig.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise OrchestraError(f"{path}: field {where!r}: {first['msg']}") from None


def save_config(directory: Path, config: TuiConfig) -> None:
    """Write the settings atomically (a crash leaves the old file or the new one)."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fsio.atomic_write(directory / CONFIG_FILE, tomli_w.dumps(config.model_dump(exclude_none=True)).encode())
    except OSError as error:
        raise OrchestraError(fsio.describe_os_error(error, directory / CONFIG_FILE)) from None
