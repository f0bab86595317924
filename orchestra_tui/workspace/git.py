"""The real ``git`` binary, run as a subprocess with a clean environment (docs/ARCHITECTURE.md C13).

Invariants: no inherited variable redirects git to another repository, index or object store (a hook or an
agent that exported ``GIT_DIR`` cannot aim orchestra at the wrong repository); messages are in English
(``LC_ALL=C``) and git never prompts; a repository with no identity commits as ``orchestra``; every failure
is one ``GitError`` line naming the git command and git's first line of complaint. Plain subprocesses are
clearer here than GitPython: every call is the command a person could type.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from ..errors import GitError, quoted

MIN_GIT = (2, 38)  # merge-tree --write-tree
IDENTITY = ("-c", "user.name=orchestra", "-c", "user.email=orchestra@localhost")
_REDIRECTS = frozenset(
    {
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
        "GIT_PREFIX",
        "GIT_QUARANTINE_PATH",
        "GIT_REPLACE_REF_BASE",
        "GIT_GRAFT_FILE",
        "GIT_SHALLOW_FILE",
        "GIT_CONFIG",
        "GIT_CONFIG_PARAMETERS",
        "GIT_CONFIG_COUNT",
        "GIT_EDITOR",
        "GIT_SEQUENCE_EDITOR",
        "GIT_PAGER",
    }
)
_UNSAFE_REF = re.compile(r"[^A-Za-z0-9_.\-]")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment minus what redirects git, with English messages and no prompt."""
    env = {key: value for key, value in os.environ.items() if key not in _REDIRECTS and not key.startswith("GIT_TRACE")}
    env.update(LC_ALL="C", LANGUAGE="C", GIT_TERMINAL_PROMPT="0", GIT_PAGER="cat", GIT_EDITOR="true")
    if extra:
        env.update(extra)
    return env


@cache
def git_version() -> tuple[int, ...] | None:
    """The installed git's version (major, minor, patch), None when there is no ``git`` on PATH."""
    binary = shutil.which("git")
    if binary is None:
        return None
    try:
        text = subprocess.run([binary, "--version"], capture_output=True, env=clean_env(), check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    match = re.search(rb"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(part or 0) for part in match.groups()) if match else None


def require_git(minimum: tuple[int, ...] = MIN_GIT) -> None:
    """Raise a ``GitError`` naming the version needed when git is missing or older than ``minimum``."""
    needed = ".".join(map(str, minimum))
    found = git_version()
    if found is None:
        raise GitError(f"git not found on PATH: worktrees need git {needed} or newer")
    if found < minimum:
        have = ".".join(map(str, found))
        raise GitError(f"git {have} is too old: worktrees need git {needed} or newer")


def _first_line(data: bytes) -> str:
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines() if line.strip()]
    return next((line for line in lines if line.startswith(("fatal:", "error:"))), lines[0] if lines else "")


@cache
def _identity(cwd: str, home: str | None, global_config: str | None) -> tuple[str, ...]:
    code, _ = Git(Path(cwd))._status(["config", "user.email"])
    return () if code == 0 else IDENTITY


class Git:
    """git commands run in ``cwd`` (a work tree, a worktree or a git directory)."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = Path(cwd)

    def __repr__(self) -> str:
        return f"Git({str(self.cwd)!r})"

    def identity(self) -> tuple[str, ...]:
        """``-c`` options giving git a committer identity when the user has none (looked up once per place)."""
        return _identity(str(self.cwd), os.environ.get("HOME"), os.environ.get("GIT_CONFIG_GLOBAL"))

    def _call(
        self, args: list[str], input: bytes | None, env: Mapping[str, str] | None
    ) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(
                ["git", *args], cwd=self.cwd, input=input, capture_output=True, env=clean_env(env), check=False
            )
        except FileNotFoundError as error:
            if not self.cwd.is_dir():
                raise GitError(f"no such directory: {self.cwd}") from None
            require_git()
            raise GitError(f"git {args[0]}: {error.strerror}") from None

    def _status(self, args: list[str]) -> tuple[int, str]:
        result = self._call(args, None, None)
        return result.returncode, result.stdout.decode("utf-8", "replace").removesuffix("\n")

    def run_bytes(self, *args: str, input: bytes | None = None, env: Mapping[str, str] | None = None) -> bytes:
        """Raw stdout of ``git ARGS``; a non-zero exit raises one ``GitError`` line."""
        result = self._call([*self.identity(), *args], input, env)
        if result.returncode != 0:
            command = next((arg for arg in args if not arg.startswith("-")), "git")
            reason = _first_line(result.stderr) or _first_line(result.stdout) or f"exited {result.returncode}"
            raise GitError(f"git {command}: {reason}")
        return result.stdout

    def run(
        self, *args: str, input: bytes | None = None, check: bool = True, env: Mapping[str, str] | None = None
    ) -> str:
        """stdout of ``git ARGS`` without its final newline; ``check=False`` never raises on a non-zero exit."""
        if not check:
            return self.run_status(*args, input=input, env=env)[1]
        return self.run_bytes(*args, input=input, env=env).decode("utf-8", "replace").removesuffix("\n")

    def run_status(
        self, *args: str, input: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> tuple[int, str]:
        """Exit code and stdout (without its final newline) of ``git ARGS``; never raises on a non-zero exit."""
        result = self._call([*self.identity(), *args], input, env)
        return result.returncode, result.stdout.decode("utf-8", "replace").removesuffix("\n")

    def ok(self, *args: str) -> bool:
        return self._call(list(args), None, None).returncode == 0

    def rev(self, ref: str) -> str | None:
        """The commit ``ref`` names (full sha), None when it names none."""
        code, out = self._status(["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"])
        return out if code == 0 and out else None

    def branch(self) -> str | None:
        """The checked-out branch's short name; None when HEAD is detached."""
        code, out = self._status(["symbolic-ref", "--quiet", "--short", "HEAD"])
        return out if code == 0 and out else None


def toplevel(path: Path) -> Path | None:
    """The top of the work tree holding ``path``; None when it is in none (or there is no git)."""
    if git_version() is None:
        return None
    code, out = Git(path)._status(["rev-parse", "--show-toplevel"])
    return Path(out) if code == 0 and out else None


def open_repo(path: Path) -> Git:
    """A ``Git`` at the top of the work tree holding ``path``, after checking git's version; a one-line
    ``GitError`` when ``path`` is in no repository or in a bare one."""
    require_git()
    probe = Git(path)
    code, out = probe._status(["rev-parse", "--is-bare-repository", "--is-inside-work-tree"])
    if code != 0:
        raise GitError(f'not a git repository: {path} (worktrees need one: `git init` it, or set workspace = "root")')
    bare, inside = ([*out.splitlines(), "", ""])[:2]
    if bare == "true":
        raise GitError(
            f'{path} is a bare git repository: worktrees need a work tree (clone it, or set workspace = "root")'
        )
    if inside != "true":
        raise GitError(f"not inside a git work tree: {path}")
    top = toplevel(path)
    if top is None:
        raise GitError(f"not inside a git work tree: {path}")
    return Git(top)


def require_branch(git: Git) -> str:
    """The checked-out branch, or a ``GitError`` when HEAD is detached (or the repository has no commit)."""
    name = git.branch()
    if name is None:
        head = git.rev("HEAD")
        where = f"at {head[:12]}" if head else "with no commit"
        raise GitError(f"HEAD is detached {where} in {git.cwd}: check out a branch first (`git switch BRANCH`)")
    if git.rev("HEAD") is None:
        raise GitError(f"branch {quoted(name)} has no commit yet in {git.cwd}: commit something first")
    return name


def ref_component(text: str) -> str:
    """``text`` as one valid ref component: characters other than letters, digits, ``_.-`` become ``%XX``
    (so distinct texts stay distinct), as do a leading dot, a dot after a dot and the dot of a ``.lock`` end."""
    encoded = "".join(
        "".join(f"%{byte:02X}" for byte in char.encode()) if _UNSAFE_REF.match(char) else char for char in text
    )
    encoded = re.sub(r"(?<=\.)\.", "%2E", encoded)
    if encoded.startswith("."):
        encoded = "%2E" + encoded[1:]
    if encoded.endswith(".lock"):
        encoded = encoded[:-5] + "%2Elock"
    return encoded or "%"
