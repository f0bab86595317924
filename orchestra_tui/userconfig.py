"""The user's own settings: ``config.toml`` in orchestra's user config directory, never the repository's.

The directory is ``$ORCHESTRA_CONFIG_DIR`` when set (tests point it at a temporary one), else platformdirs'
user config directory for ``orchestra`` (``~/.config/orchestra`` on Linux). The TUI keeps its settings in
the same file (``tui/config.py``); the core reads only ``allow_env``::

    allow_env = ["MY_TOKEN"]   # variables a plan may put in an agent's URL, headers or body, or a webhook URL

Because a plan may come from someone else, this list lives where only the person using orchestra writes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import platformdirs

CONFIG_ENV = "ORCHESTRA_CONFIG_DIR"
CONFIG_FILE = "config.toml"


def config_home(given: Path | str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    if given is not None:
        return Path(given)
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    return platformdirs.user_config_path("orchestra")


def read_config(directory: Path) -> dict[str, object]:
    """The parsed ``config.toml`` in ``directory`` ({} when there is none); a bad file is a one-line OrchestraError."""
    import tomllib  # (on first use: ``answers.py`` finds the file without reading it, before anything heavy)

    from .errors import OrchestraError

    path = directory / CONFIG_FILE
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise OrchestraError(f"cannot read {path}: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise OrchestraError(f"{path}: {error}") from None


def allowed_env(environ: Mapping[str, str] | None = None) -> frozenset[str]:
    """The variables the user allows plans to send (``allow_env``); a bad file is a one-line OrchestraError."""
    from .errors import OrchestraError

    directory = config_home(environ=environ)
    names = read_config(directory).get("allow_env", [])
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise OrchestraError(f"{directory / CONFIG_FILE}: field 'allow_env': expected a list of variable names")
    return frozenset(names)
