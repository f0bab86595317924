"""The answers of read-only commands, kept so that asking again of the same files prints the same bytes at once.

``orchestra next`` spends most of its time importing (pydantic, the models, the engine) to answer a question
whose answer is a function of a few files. As git's index spares ``git status`` re-reading files, the answer of
an allowlisted command (:data:`COMMANDS`) that succeeded quietly (exit 0, nothing on stderr) is kept in
``.orchestra/answers.json`` under a key, and a later identical invocation whose key matches prints it and exits
from ``entry.py``, before typer or pydantic is imported.

The key is an HMAC-SHA256, under this user's key (``signing.py``), of everything the answer depends on: the
code (orchestra's version, the interpreter, and the size and mtime of each of orchestra's source files and
of each import directory, as Python's own bytecode cache tells code apart), the command, the project
directory, the whole environment (secrets are redacted from output, agents' keys looked up, the user config
found through it), whether stdout is a terminal, the full contents of every file opening the project to read
it reads (the plan files, the store's files named in ``projectfiles.STATE_READ``, the user's ``config.toml``),
and the listings of the state directory and its checkpoints (a symlink there, a missing snapshot beside
checkpoints: notes on stderr). Nothing else goes in: ``next`` reads no clock and no run's liveness. A command
whose files changed while it ran is not kept.

The file is signed like the plan cache: one a checkout ships, a damaged one, another user's or a symlink is
ignored (never followed) and rewritten. It holds one answer per allowlisted command. Standard library and
platformdirs only, and only for the allowlisted commands: hashing, JSON and the key are imported in the functions
that use them, so that ``--version`` and every other command import nothing more for this module.
"""

from __future__ import annotations

import io
import os
import stat
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .projectfiles import CHECKPOINT_DIR, PLAN_FILES, PLAN_READS, STATE_DIR, STATE_READ, holds_project
from .version import __version__

ANSWERS_FILE = "answers.json"
#: The command lines (after the project option) whose answers are kept, and the name each is kept under.
COMMANDS = {("next",): "next", ("next", "--json"): "next --json"}
PROJECT_ENV = "ORCHESTRA_PROJECT"  # the CLI's --project from the environment (then the normal way is taken)
_FORMAT = "orchestra answers 1"
_PACKAGE = Path(__file__).resolve().parent


class Question:
    """An allowlisted command on a project: ``key`` stands for everything its answer depends on; ``plans``: the
    plan files' bytes it covers, by path; ``seen``: what the files it covers were when the key was made (see
    :func:`_seen`). (A plain class: ``dataclasses`` costs a served answer ~5 ms.)"""

    __slots__ = ("command", "key", "plans", "root", "seen")

    def __init__(self, root: Path, command: str, key: str, plans: Mapping[str, bytes], seen: str | None) -> None:
        self.root, self.command, self.key, self.plans, self.seen = root, command, key, plans, seen

    @property
    def path(self) -> Path:
        return self.root / STATE_DIR / ANSWERS_FILE

    def stored(self) -> str | None:
        """The kept answer, when it was kept under this very key (else None: ask the normal way)."""
        import hmac

        entry = _entries(self.path).get(self.command)
        if not (isinstance(entry, dict) and isinstance(entry.get("text"), str) and isinstance(entry.get("key"), str)):
            return None
        return str(entry["text"]) if hmac.compare_digest(entry["key"], self.key) else None

    def _unchanged(self, environ: Mapping[str, str]) -> bool:
        """Whether the files the key covers are as they were when it was made: the same times, sizes and inodes
        (a few ``stat`` calls), or, when they had changed too recently for their times to tell, the same key."""
        if self.seen is not None:
            return _seen(_inputs(self.root, environ), self.root) == self.seen
        after = _key(self.root, self.command, environ)
        return after is not None and after[0] == self.key

    def keep(self, text: str, environ: Mapping[str, str]) -> None:
        """Keep ``text`` as the answer, unless what it depends on changed while it was computed (best effort)."""
        import json

        from .signing import write_signed

        try:
            unchanged = self._unchanged(environ)
        except (OSError, ValueError):  # (a file went away meanwhile: the answer was printed, keeping it is a bonus)
            return
        if not unchanged or any(PLAN_READS.get(path) != data for path, data in self.plans.items()):
            return  # changed meanwhile, or the plan read was not the one keyed by (edited and put back)
        entries = {name: entry for name, entry in _entries(self.path).items() if name in COMMANDS.values()}
        entries[self.command] = {"key": self.key, "text": text}
        payload = json.dumps({"format": _FORMAT, "answers": entries}, ensure_ascii=False).encode()
        write_signed(self.path.parent, ANSWERS_FILE, payload)


def ask(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Question | None:
    """The question ``argv`` asks when it is one whose answer may be kept, else None (the normal way)."""
    environ = os.environ if environ is None else environ
    parsed = _parse(argv, environ)
    if parsed is None:
        return None
    given, command = parsed
    try:
        root = Path(given)
        if not root.is_dir() or not holds_project(root):
            return None  # not a project (an error), or one found above it (a note): the normal way says so
        root = root.resolve()
        keyed = _key(root, command, environ)
    except (OSError, ValueError):
        return None
    return None if keyed is None else Question(root, command, *keyed)


def _parse(argv: Sequence[str], environ: Mapping[str, str]) -> tuple[str, str] | None:
    """(the project directory as given, the command) for exactly ``[-p DIR | --project DIR | --project=DIR]``
    and an allowlisted command; None for anything else."""
    args = list(argv)
    given: str | None = None
    if len(args) >= 2 and args[0] in ("-p", "--project"):
        given, args = args[1], args[2:]
    elif args and args[0].startswith("--project="):
        given, args = args[0].removeprefix("--project="), args[1:]
    command = COMMANDS.get(tuple(args))
    if command is None:
        return None
    if given is None:
        if environ.get(PROJECT_ENV) is not None or os.path.isdir(args[0]):
            return None  # the project from the environment, or `orchestra DIR` for a directory named `next`
        given = "."
    return None if not given or given.startswith("-") else (given, command)


def _entries(path: Path) -> dict[str, Any]:
    """The signed file's answers by command ({} when it is missing, a symlink, damaged or not signed by us)."""
    import json

    from .signing import read_nofollow, unsign

    try:
        payload = unsign(read_nofollow(path))
        document = json.loads(payload) if payload is not None else None
    except (OSError, ValueError):
        return {}
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        return {}
    answers = document.get("answers")
    return answers if isinstance(answers, dict) else {}


def _key(root: Path, command: str, environ: Mapping[str, str]) -> tuple[str, dict[str, bytes], str | None] | None:
    """The HMAC of everything the answer of ``command`` on ``root`` depends on (see the module's docstring), the
    plan files' bytes it covers, and what its files were before they were read (:func:`_seen`); None without a
    user key."""
    import hashlib
    import hmac
    import time

    from .signing import user_key

    secret = user_key()
    if secret is None:
        return None
    inputs = _inputs(root, environ)
    seen = _seen(inputs, root, since=time.time_ns() - RACY_NS)  # before reading: a later change then shows
    digest = hmac.new(secret, digestmod=hashlib.sha256)

    def put(part: str | bytes) -> None:
        data = part.encode("utf-8", "surrogateescape") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)

    for part in (_FORMAT, __version__, sys.version, sys.executable, command, str(root)):
        put(part)
    put(repr(sorted(environ.items())))
    put(repr(sys.stdout is not None and sys.stdout.isatty()))
    _code(put)
    plans: dict[str, bytes] = {}
    for path, follow in inputs:
        tag, data = _content(path, follow)
        put(str(path))
        put(tag)
        put(data)
        if tag == "=" and path.parent == root and path.name in PLAN_FILES:
            plans[str(path)] = data
    state = root / STATE_DIR
    put(_kind(state))  # the store refuses a linked state directory, or another user's: never kept from one
    for directory in (state, state / CHECKPOINT_DIR):
        put(_listing(directory))
    return digest.hexdigest(), plans, seen


def _inputs(root: Path, environ: Mapping[str, str]) -> list[tuple[Path, bool]]:
    """Every file a read of ``root`` opens, and whether its reader follows a symlink (the plan's and the config's
    do; the store never follows one in its directory: there it is a note on stderr, so never kept)."""
    from .userconfig import CONFIG_FILE, config_home

    state = root / STATE_DIR
    return [
        *((root / name, True) for name in PLAN_FILES),
        *((state / name, False) for name in STATE_READ),
        (config_home(environ=environ) / CONFIG_FILE, True),
    ]


#: How recent a change may be and still be told apart by a later look at the file's times: a file system stamps
#: them from a clock that moves a tick (1-10 ms) at a time, so a file changed in the tick of the first look and
#: again in the same tick would look unchanged ("racily clean", as git calls it). Two ticks of the coarsest clock.
RACY_NS = 20_000_000


def _seen(inputs: list[tuple[Path, bool]], root: Path, since: int | None = None) -> str | None:
    """What the files and directories an answer covers are (inode, size, times, mode; the state directory's kind
    and listings), taken before they are read: the same again after the command ran means nothing it read
    changed meanwhile, at the cost of a few ``stat`` calls rather than hashing every file again. None when a file
    changed at or after ``since`` (too recently for its times to tell a further change: the key is made again)."""
    looks: list[str] = []
    for path, follow in inputs:
        try:
            info = os.stat(path) if follow else os.lstat(path)
        except FileNotFoundError:
            looks.append("missing")
            continue
        if since is not None and max(info.st_mtime_ns, info.st_ctime_ns) >= since:
            return None
        looks.append(f"{info.st_ino} {info.st_size} {info.st_mtime_ns} {info.st_ctime_ns} {info.st_mode}")
    state = root / STATE_DIR
    looks += [_kind(state), _listing(state), _listing(state / CHECKPOINT_DIR)]
    return "\n".join(looks)


def _content(path: Path, follow: bool) -> tuple[str, bytes]:
    """The file's bytes, with a tag telling a missing file, one that could not be read (a symlink the store does
    not follow) and an empty file apart. ``follow``: read through a symlink."""
    from .signing import read_nofollow

    try:
        return "=", path.read_bytes() if follow else read_nofollow(path)
    except FileNotFoundError:
        return "missing", b""
    except OSError:
        info = os.lstat(path)
        return f"not read: {stat.S_IFMT(info.st_mode)} {info.st_size} {info.st_mtime_ns} {info.st_ino}", b""


def _kind(path: Path) -> str:
    """The type, mode and owner of ``path`` itself (not followed)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    return f"{info.st_mode} {info.st_uid}"


def _listing(directory: Path) -> str:
    """The names and types in ``directory`` (this file and its temporary files left out)."""
    from .signing import temp_prefix

    try:
        with os.scandir(directory) as entries:
            names = sorted(
                (entry.name, stat.S_IFMT(entry.stat(follow_symlinks=False).st_mode))
                for entry in entries
                if entry.name != ANSWERS_FILE and not entry.name.startswith(temp_prefix(ANSWERS_FILE))
            )
    except FileNotFoundError:
        return "missing"
    except NotADirectoryError:
        return "not a directory"
    return repr(names)


def _code(put: Callable[[str], None]) -> None:
    """What tells this code apart from other code: each of orchestra's files, and each import directory (an
    upgrade of pydantic or networkx changes its site-packages), by size and mtime, as Python's bytecode cache."""
    for directory, dirs, files in os.walk(_PACKAGE):
        dirs[:] = sorted(name for name in dirs if name != "__pycache__")
        for name in sorted(files):
            info = os.stat(os.path.join(directory, name))
            put(f"{directory}/{name} {info.st_size} {info.st_mtime_ns}")
    for entry in sys.path:
        try:
            put(f"{entry} {os.stat(entry or '.').st_mtime_ns}")
        except OSError:
            put(f"{entry} -")


class _Tee(io.TextIOBase):
    """A text stream that passes everything to ``raw`` and keeps a copy (stdout) or notes that it was used
    (stderr); ``cli.safe`` wraps it as it wraps the real stream, so what it keeps is what was printed."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.kept: list[str] = []

    def write(self, text: str) -> int:
        self.kept.append(text)
        return int(self.raw.write(text))

    def flush(self) -> None:
        self.raw.flush()

    def isatty(self) -> bool:
        return bool(self.raw.isatty())

    def fileno(self) -> int:
        return int(self.raw.fileno())

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(self.raw.encoding)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.raw, name)


def answer(question: Question) -> bool:
    """Print the kept answer to ``question`` when there is one; whether it was printed."""
    text = question.stored()
    if text is None:
        return False
    sys.stdout.write(text)
    sys.stdout.flush()
    return True


def record(question: Question, run: Callable[[], object], environ: Mapping[str, str] | None = None) -> None:
    """Run the command the normal way (``run``) and keep its answer when it succeeded quietly."""
    out, err = _Tee(sys.stdout), _Tee(sys.stderr)
    sys.stdout, sys.stderr = out, err
    environ = os.environ if environ is None else environ
    try:
        run()
    except SystemExit as stop:
        if stop.code in (0, None) and not err.kept:
            question.keep("".join(out.kept), environ)
        raise
    if not err.kept:
        question.keep("".join(out.kept), environ)
