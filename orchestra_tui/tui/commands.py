"""Jump to any task: a command-palette provider that finds tasks by id and title, fuzzily (issue 14 item 14).

It is one of the palette's providers (``ctrl+p`` finds tasks next to the actions) and the only one of the
palette ``:`` opens, as k9s does. Choosing a task selects it on the view on show.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Protocol, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from ..statuses import STATUS_MARKS

if TYPE_CHECKING:
    from ..engine.project import Project

MAX_HITS = 200  # tasks offered for one query (a plan may have thousands)


class _HasProject(Protocol):
    @property
    def project(self) -> Project: ...


class TaskJumps(Protocol):
    """What the provider needs of its app: the open project, and selecting a task on the view on show. A
    protocol, so that this module stays below ``app`` (which lists the provider) rather than importing it."""

    @property
    def session(self) -> _HasProject: ...

    def jump_to(self, task_id: str) -> None: ...


class TaskCommands(Provider):
    """Tasks by ``id title``; the hit says the task's status."""

    @property
    def _app(self) -> TaskJumps:
        return cast("TaskJumps", self.app)

    def _tasks(self) -> list[tuple[str, str, str]]:
        project = self._app.session.project
        graph = project.graph
        return [(task_id, task.title, graph.status_of(task_id).value) for task_id, task in project.tasks.items()]

    async def discover(self) -> Hits:
        for task_id, title, status in self._tasks()[:MAX_HITS]:
            yield DiscoveryHit(
                f"{task_id}  {title}",
                partial(self._app.jump_to, task_id),
                help=f"{STATUS_MARKS.get(status, '?')} {status}",
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        found = []
        for task_id, title, status in self._tasks():
            text = f"{task_id}  {title}"
            score = matcher.match(text)
            if score > 0:
                found.append((score, text, task_id, status))
        found.sort(key=lambda hit: -hit[0])
        for score, text, task_id, status in found[:MAX_HITS]:
            yield Hit(
                score,
                matcher.highlight(text),
                partial(self._app.jump_to, task_id),
                text=text,
                help=f"{STATUS_MARKS.get(status, '?')} {status}",
            )
