"""Big, realistic plans for benchmarks and tests: ``write_project(dir, n_tasks, seed=0)``.

Task ids are ``T00001``...; each task depends on a few earlier tasks (mostly recent ones, sometimes far
back), so the plan is a DAG with long chains and fan-in, as a real multi-week project is. Priorities,
phases and hours are mixed; titles, descriptions, deliverables and success criteria have the lengths a
person writes. The same ``(n_tasks, seed)`` always gives the same file.

From the shell: ``python bench/generate.py DIR N_TASKS [--seed S]``.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

import tomli_w

PRIORITIES = ("critical", "high", "medium", "low")
PRIORITY_WEIGHTS = (5, 25, 50, 20)
PHASES = ("planning", "design", "development", "testing", "deployment", "maintenance")
HOURS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0)
# How many dependencies a task has (0..4), and how often.
DEPENDENCY_COUNTS = (0, 1, 2, 3, 4)
DEPENDENCY_WEIGHTS = (8, 40, 30, 15, 7)
RECENT_WINDOW = 40

_VERBS = (
    "implement",
    "design",
    "refactor",
    "document",
    "test",
    "migrate",
    "benchmark",
    "review",
    "harden",
    "extract",
    "validate",
    "profile",
    "wire up",
    "replace",
    "simplify",
    "cache",
    "parallelise",
    "deploy",
)
_NOUNS = (
    "parser",
    "scheduler",
    "storage layer",
    "HTTP client",
    "retry policy",
    "configuration loader",
    "dependency graph",
    "report generator",
    "command-line interface",
    "event stream",
    "authentication",
    "rate limiter",
    "search index",
    "billing export",
    "audit log",
    "notification service",
    "data model",
    "migration script",
    "health check",
    "dashboard",
    "plugin registry",
    "session store",
    "queue consumer",
)
_WORDS = (
    "the",
    "module",
    "must",
    "handle",
    "every",
    "edge",
    "case",
    "without",
    "regressions",
    "and",
    "keep",
    "latency",
    "under",
    "budget",
    "while",
    "existing",
    "callers",
    "continue",
    "to",
    "work",
    "unchanged",
    "errors",
    "are",
    "reported",
    "with",
    "context",
    "so",
    "operators",
    "can",
    "act",
    "on",
    "them",
    "data",
    "flows",
    "through",
    "a",
    "single",
    "well",
    "tested",
    "path",
    "configuration",
    "is",
    "read",
    "once",
    "at",
    "startup",
    "documented",
    "in",
    "README",
    "covered",
    "by",
    "integration",
    "tests",
    "against",
    "real",
    "services",
    "where",
    "possible",
    "behaviour",
    "matches",
    "specification",
    "section",
)
_DIRS = ("src", "docs", "tests", "scripts", "deploy", "schemas")
_EXTS = (".py", ".md", ".toml", ".sql", ".yaml", ".json")


def _sentence(rng: random.Random, low: int, high: int) -> str:
    words = rng.choices(_WORDS, k=rng.randint(low, high))
    return " ".join(words).capitalize() + "."


def _task(rng: random.Random, index: int, n_tasks: int) -> dict[str, Any]:
    task_id = f"T{index + 1:05d}"
    verb, noun = rng.choice(_VERBS), rng.choice(_NOUNS)
    count = min(index, rng.choices(DEPENDENCY_COUNTS, DEPENDENCY_WEIGHTS)[0])
    dependencies: set[int] = set()
    while len(dependencies) < count:
        if rng.random() < 0.8:
            dependencies.add(rng.randrange(max(0, index - RECENT_WINDOW), index))
        else:
            dependencies.add(rng.randrange(0, index))
    phase_index = min(len(PHASES) - 1, int(len(PHASES) * index / n_tasks) + rng.choice((-1, 0, 0, 0, 1)))
    slug = noun.replace(" ", "_").replace("-", "_").lower()
    task: dict[str, Any] = {
        "id": task_id,
        "title": f"{verb.capitalize()} the {noun} ({task_id})",
        "description": " ".join(_sentence(rng, 8, 20) for _ in range(rng.randint(2, 5))),
        "priority": rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0],
        "phase": PHASES[max(0, phase_index)],
        "estimated_hours": rng.choice(HOURS),
        "dependencies": [f"T{dep + 1:05d}" for dep in sorted(dependencies)],
        "deliverables": [
            f"{rng.choice(_DIRS)}/{slug}_{index + 1}_{part}{rng.choice(_EXTS)}" for part in range(rng.randint(1, 3))
        ],
        "success_criteria": [_sentence(rng, 6, 14) for _ in range(rng.randint(1, 3))],
        "tags": sorted(
            set(rng.sample(("backend", "frontend", "infra", "docs", "security", "perf", "data"), rng.randint(0, 2)))
        ),
    }
    for key in ("dependencies", "tags"):
        if not task[key]:
            del task[key]
    if rng.random() < 0.3:
        task["commands"] = [f"make -C {rng.choice(_DIRS)} {slug}"]
    return task


def plan_document(n_tasks: int, seed: int = 0) -> dict[str, Any]:
    """The plan as a TOML-ready dict."""
    if n_tasks < 1:
        raise ValueError("n_tasks must be at least 1")
    rng = random.Random(seed)
    return {
        "project": {
            "id": f"bench-{n_tasks}",
            "name": f"Generated benchmark project ({n_tasks} tasks, seed {seed})",
            "description": "A generated plan: a random DAG of tasks with realistic text.",
            "parallel_max": 8,
            "default_agent": "shell",
        },
        "agents": {"shell": {"type": "shell"}},
        "tasks": [_task(rng, index, n_tasks) for index in range(n_tasks)],
    }


def write_project(directory: Path | str, n_tasks: int, seed: int = 0) -> Path:
    """Write ``DIRECTORY/orchestra.toml`` with ``n_tasks`` tasks (the directory is created); returns the file."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "orchestra.toml"
    path.write_text(tomli_w.dumps(plan_document(n_tasks, seed)), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a generated orchestra.toml of N tasks into DIR.")
    parser.add_argument("directory", type=Path)
    parser.add_argument("n_tasks", type=int)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.n_tasks < 1:
        parser.error("N_TASKS must be at least 1")
    path = write_project(args.directory, args.n_tasks, args.seed)
    print(f"wrote {path} ({args.n_tasks} tasks, seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
