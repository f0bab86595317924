"""A worktree run's files on their way to a remote worker and back, as git bundles (issue 17 item 3).

Here, :meth:`WorktreeFiles.prepare` bundles the task branch at its base (``git bundle create``: the commit and its
history, no working files, no ``.orchestra``). On the worker, :meth:`~WorktreeFiles.unpack` clones the bundle into
a private folder on the task branch, where the agent and the task's ``verify`` run; :meth:`~WorktreeFiles.pack`
commits what the run changed (as a local run's end does) and bundles only the new commits (``base..branch``). Here
again, :meth:`~WorktreeFiles.receive` takes that bundle's pack into the repository and moves the task's worktree
forward to its tip (nothing ran here, so it is a fast-forward): from then on the branch is a local run's, merged
through the queue.

The ``worktree_setup`` commands run there, in the clone, before the agent (what they print comes back into the
run's ``setup.txt``). Untracked ``worktree_include`` files do not travel: they are often ``.env`` files holding
keys, and keys never travel (the workers have their own).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..agents.base import VerifyStep
from ..errors import WorkspaceError
from .git import Git
from .worktrees import commit_all, run_setup

SETUP_LOG = "setup.txt"  # there: next to the clone, outside it (never committed)


@dataclass
class WorktreeFiles:
    """The files of one worktree run (``worktree``: the task's worktree here; ``subdir``: the project's folder in
    it). ``bundle`` is filled by :meth:`prepare`; ``received`` and ``verified`` by :meth:`receive`."""

    worktree: Path
    branch: str
    base: str
    message: str
    subdir: str = "."
    setup: list[str] = field(default_factory=list)  # ``worktree_setup``: run there, before the agent
    setup_log: Path | None = None  # here: the run's ``setup.txt``, where what the setup printed there goes
    bundle: bytes = b""
    received: bool = field(default=False, compare=False)
    verified: list[VerifyStep] | None = field(default=None, compare=False)

    # -- here -------------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Bundle the task branch (at its base: the worktree's head) to travel."""
        here = Git(self.worktree)
        self.base = here.rev("HEAD") or self.base
        self.bundle = here.run_bytes("bundle", "create", "--quiet", "-", self.branch)

    def receive(self, changes: bytes, verified: list[VerifyStep] | None, setup: bytes) -> None:
        """Take the run's new commits into the task branch and move the worktree to them (none: nothing
        changed); ``verified``: the verify steps run there (None: none ran); ``setup``: what the setup printed."""
        self.received, self.verified = True, verified
        if setup and self.setup_log is not None:
            with open(self.setup_log, "ab") as log:
                log.write(setup)
        if not changes:
            return
        tip, pack = _tip_and_pack(changes, self.branch)
        here = Git(self.worktree)
        here.run_bytes("index-pack", "--stdin", "--fix-thin", input=pack)
        here.run("merge", "--ff-only", "--quiet", tip)

    # -- there ------------------------------------------------------------------------------------------

    def unpack(self, into: Path, env: Mapping[str, str]) -> Path:
        """Clone the bundle into ``into`` on the task branch and run the setup commands there (in ``env``); the
        folder the agent works in. A failed setup raises ``WorkspaceError``, as here."""
        if not self.bundle:
            raise WorkspaceError("the task's files were not packed before they travelled")
        source = into / "base.bundle"
        source.write_bytes(self.bundle)
        Git(into).run("clone", "--quiet", "--branch", self.branch, str(source), "work")
        source.unlink()
        for command in self.setup:
            run_setup(into / "work", command, env, into / SETUP_LOG)
        return into / "work" / self.subdir

    def setup_output(self, into: Path) -> bytes:
        """What the setup commands printed (there)."""
        try:
            return (into / SETUP_LOG).read_bytes()
        except FileNotFoundError:
            return b""

    def pack(self, workdir: Path) -> bytes:
        """Commit what the run changed on the task branch; the new commits as a bundle (empty: none)."""
        top = Path(Git(workdir).run("rev-parse", "--show-toplevel"))
        head = commit_all(top, self.message)
        if head == self.base:
            return b""
        return Git(top).run_bytes("bundle", "create", "--quiet", "-", f"{self.base}..{self.branch}")


def _tip_and_pack(bundle: bytes, branch: str) -> tuple[str, bytes]:
    """The commit a bundle gives ``branch`` and its pack (gitformat-bundle: header lines, a blank line, the pack).

    The pack is indexed into the repository as it is (``git index-pack``), not fetched: ``git fetch`` and
    ``git bundle unbundle`` check the new objects against every ref and every worktree's HEAD (``--all``), and a
    worktree another run is adding at that moment has a HEAD that names no object yet, which fails them."""
    header, _, pack = bundle.partition(b"\n\n")
    ref = f"refs/heads/{branch}".encode()
    for line in header.splitlines()[1:]:  # the first line is the signature: "# v2 git bundle"
        sha, _, name = line.partition(b" ")
        if name == ref and not line.startswith((b"-", b"@")):
            return sha.decode(), pack
    raise WorkspaceError(f"the run's changes came back without the branch {branch}")
