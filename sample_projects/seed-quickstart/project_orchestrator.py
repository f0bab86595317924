#!/usr/bin/env python3
"""The seed framework's Quick Start, on orchestra: a project defined and driven from a Python script.

    python project_orchestrator.py                 # add the tasks (once), then work through the next one
    python project_orchestrator.py --list          # every task with its status
    python project_orchestrator.py --next          # the recommended task, in full
    python project_orchestrator.py --complete TASK-002
    python project_orchestrator.py --report
    python project_orchestrator.py --list-backups  # the history, newest first
    python project_orchestrator.py --rollback 00000002 --yes

The only change from a seed script is the import line. The state lives in .orchestra/ next to this file.
"""

import sys
from pathlib import Path

from orchestra_tui import AgentTask, ProjectOrchestrator, ProjectPhase, TaskPriority

orchestrator = ProjectOrchestrator(project_root=Path(__file__).resolve().parent)

TASKS = [
    AgentTask(
        task_id="TASK-001",
        title="Create System Design Document",
        agent="interactive",  # a person with an AI chat: the prompt is shown and copied to the clipboard
        description="""
        Design the architecture of a multi-tenant booking platform.

        INPUTS: docs/REQUIREMENTS.md
        REQUIREMENTS:
        1. Components and their responsibilities
        2. Data flow between the web app, the API and the database
        3. Tenant isolation strategy
        OUTPUT: docs/SYSTEM-DESIGN.md
        """,
        priority=TaskPriority.CRITICAL,
        phase=ProjectPhase.DESIGN,
        estimated_hours=8,
        deliverables=["docs/SYSTEM-DESIGN.md"],
        success_criteria=[
            "All components diagrammed",
            "Every external interface named with its protocol",
            "Tenant isolation decided and justified",
        ],
        tags=["architecture"],
    ),
    AgentTask(
        task_id="TASK-002",
        title="Design Database Schema",
        agent="interactive",
        description="Model tenants, users, resources and bookings, with audit fields and soft deletes.",
        priority=TaskPriority.HIGH,
        phase=ProjectPhase.DESIGN,
        dependencies=["TASK-001"],
        estimated_hours=4,
        deliverables=["db/schema.sql"],
        success_criteria=["Every entity of the design is a table", "Foreign keys are indexed"],
    ),
    AgentTask(
        task_id="TASK-003",
        title="Implement Authentication API",
        agent="interactive",
        description="POST /auth/register, POST /auth/login and token refresh, per the design document.",
        priority=TaskPriority.HIGH,
        phase=ProjectPhase.DEVELOPMENT,
        dependencies=["TASK-002"],
        estimated_hours=6,
        deliverables=["src/api/auth.py", "tests/test_auth.py"],
        success_criteria=["All endpoints implemented", "Unit tests pass"],
    ),
    AgentTask(
        task_id="TASK-004",
        title="Build Booking Calendar UI",
        agent="interactive",
        description="A week view of a resource's bookings, with create and cancel.",
        priority=TaskPriority.MEDIUM,
        phase=ProjectPhase.DEVELOPMENT,
        dependencies=["TASK-001"],
        estimated_hours=8,
        deliverables=["web/src/Calendar.tsx"],
        success_criteria=["Bookings render in the right slots", "Cancelling asks for confirmation"],
    ),
    AgentTask(
        task_id="TASK-005",
        title="Write Integration Tests",
        agent="interactive",
        description="End-to-end: register, log in, book a resource, see the booking in the calendar.",
        priority=TaskPriority.HIGH,
        phase=ProjectPhase.TESTING,
        dependencies=["TASK-003", "TASK-004"],
        estimated_hours=5,
        deliverables=["tests/integration/test_booking_flow.py"],
        success_criteria=["The booking flow passes against a fresh database"],
    ),
]

# Idempotent: running the script again adds only what is missing.
missing = [task for task in TASKS if orchestrator.get_task(task.task_id) is None]
if missing:
    print(f"Added {orchestrator.add_tasks(missing)} tasks.")


def work_on_next_task() -> None:
    """One step of the seed's workflow: take the recommended task, execute it, and complete it."""
    next_task = orchestrator.get_next_task()
    if next_task is None:
        print("Nothing is ready: every task is completed or waiting on another.")
    else:
        print(f"Next task: {next_task.task_id} {next_task.title} ({next_task.priority.value}, {next_task.estimated_hours:g}h)")
        # The interactive agent hands the brief to you: printed here, and copied to the clipboard when one exists.
        result = orchestrator.execute_task(next_task.task_id, on_text=lambda text: print(text, end=""))
        print(f"\n{next_task.task_id} is {result.status}.")
        # The seed waits for the agent here; this script completes the task at once to show the whole loop.
        orchestrator.complete_task(next_task.task_id)
        print(f"Completed {next_task.task_id}.")
    report = orchestrator.generate_report()
    print(
        f"Progress: {report['completed_tasks']}/{report['total_tasks']} tasks ({report['completion_percentage']}%), "
        f"{report['estimated_remaining_hours']:g}h remaining; next: {report['next_task'] or 'none'}"
    )


if __name__ == "__main__":
    if len(sys.argv) == 1:
        work_on_next_task()
        print("More: --list, --next, --complete TASK_ID, --report, --list-backups, --rollback ENTRY (see --help)")
        sys.exit(0)
    sys.exit(orchestrator.run_cli())
