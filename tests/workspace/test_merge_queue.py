"""Worktree tasks end to end with the real ``git`` (issue 11): a worktree per run from the integration tip, the
merge queue in completion order, conflicts kept in review, rollback/undo moving the integration branch, the
user's checkout untouched."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestra_tui.engine.integration import INTENT_FILE, integration
from orchestra_tui.engine.project import Project
from orchestra_tui.engine.scheduler import Scheduler
from orchestra_tui.errors import IntegrationMovedError, MergeConflictError, OrchestraError

BRANCH = "orchestra/t/integration"


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=env).stdout.strip()


def make_repo(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Person")
    git(root, "config", "user.email", "person@example.com")
    (root / "README.md").write_text("# project\n")
    (root / "shared.txt").write_text("line one\nline two\nline three\n")
    return root


def task(task_id: str, commands: list[str], deps: list[str] = (), **fields: object) -> str:
    lines = ["[[tasks]]", f'id = "{task_id}"', f'title = "Task {task_id}"', f"dependencies = {json.dumps(list(deps))}"]
    lines.append(f"commands = {json.dumps(commands)}")
    lines += [f"{key} = {json.dumps(value)}" for key, value in fields.items()]
    return "\n".join(lines) + "\n\n"


def write_plan(root: Path, tasks: str, *, auto_complete: bool = True, extra: str = "") -> None:
    (root / "orchestra.toml").write_text(
        f'[project]\nid = "t"\nname = "Test"\nparallel_max = 4\nauto_complete = {str(auto_complete).lower()}\n'
        f'workspace = "worktree"\n{extra}\n' + tasks
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "plan")


def checkout_snapshot(root: Path) -> dict[str, object]:
    """Every byte of the user's checkout (outside .git and .orchestra), its status, HEAD and branches' tips."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in (".git", ".orchestra") or not path.is_file():
            continue
        files[rel.as_posix()] = path.read_bytes()
    return {
        "files": files,
        "status": git(root, "status", "--porcelain=v1", "--untracked-files=all"),
        "head": git(root, "symbolic-ref", "HEAD"),
        "main": git(root, "rev-parse", "main"),
        "index": (root / ".git" / "index").read_bytes(),
    }


def run_all(root: Path) -> None:
    async def go() -> None:
        with Project.open(root, actor="cli") as project:
            await Scheduler(project).run()

    asyncio.run(go())


def first_parent_order(root: Path) -> list[str]:
    return git(root, "rev-list", "--first-parent", "--reverse", BRANCH).split()


def test_eight_tasks_merge_in_dependency_order_and_the_pair_conflicts(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    wait = "for i in $(seq 300); do [ -e {0} ] && break; sleep 0.05; done; [ -e {0} ]"
    pair = [
        task(
            name,
            [
                f"sed -i '1s/.*/line one by {name}/' shared.txt",
                f"touch {barrier / name}",
                wait.format(barrier / other),
            ],
            priority="critical",
        )
        for name, other in (("P1", "P2"), ("P2", "P1"))
    ]
    tasks = (
        task("A", ["echo a > a.txt"])
        + task("B", ["echo b > b.txt"])
        + task("C", ["echo c > c.txt"])
        + task("D", ["test -f a.txt", "echo d > d.txt"], ["A"])
        + task("E", ["test -f b.txt", "test -f c.txt", "echo e > e.txt"], ["B", "C"])
        + task("F", ["test -f d.txt", "test -f a.txt", "echo f > f.txt"], ["D"])
        + "".join(pair)
    )
    write_plan(root, tasks)
    (root / "README.md").write_text("# project\nan uncommitted change\n")  # the person's work in progress
    (root / "notes.txt").write_text("untracked\n")
    before = checkout_snapshot(root)

    run_all(root)

    assert checkout_snapshot(root) == before
    with Project.open(root) as project:
        statuses = {task_id: task.status.value for task_id, task in project.tasks.items()}
        clean = ["A", "B", "C", "D", "E", "F"]
        assert all(statuses[t] == "completed" for t in clean), statuses
        pair_status = sorted((statuses["P1"], statuses["P2"]))
        assert pair_status == ["completed", "review"], statuses
        loser = "P1" if statuses["P1"] == "review" else "P2"
        winner = "P2" if loser == "P1" else "P1"
        assert project.tasks[loser].worktree.conflict_files == ["shared.txt"]
        assert project.tasks[loser].worktree.merged is None
        merges = {t: project.tasks[t].worktree.merged for t in [*clean, winner]}
        assert integration(project).recorded_head() == git(root, "rev-parse", BRANCH)
    order = first_parent_order(root)
    position = {t: order.index(commit) for t, commit in merges.items()}
    for dependant, deps in {"D": ["A"], "E": ["B", "C"], "F": ["D"]}.items():
        assert all(position[dep] < position[dependant] for dep in deps)
    assert len(set(position.values())) == 7  # one commit per task
    for commit in merges.values():  # --no-ff: two parents each
        assert len(git(root, "rev-list", "--parents", "-n1", commit).split()) == 3
    tree = git(root, "ls-tree", "--name-only", BRANCH).split()
    assert {"a.txt", "b.txt", "c.txt", "d.txt", "e.txt", "f.txt"} <= set(tree)
    assert git(root, "show", f"{BRANCH}:shared.txt").splitlines()[0] == f"line one by {winner}"
    assert "notes.txt" not in tree and git(root, "show", f"{BRANCH}:README.md") == "# project"
    # merged tasks' worktrees are removed (their branches stay); the one in review keeps its worktree
    assert sorted(os.listdir(root / ".orchestra" / "worktrees")) == [loser]
    assert git(root, "branch", "--list", "orchestra/t/tasks/*").count("orchestra/t/tasks/") == 8


def test_complete_of_the_loser_says_conflict_and_retry_reruns_on_the_new_base(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    write_plan(
        root,
        task("X", ["sed -i '2s/.*/two by X/' shared.txt"]) + task("Y", ["sed -i '2s/.*/two by Y/' shared.txt"]),
        auto_complete=False,
    )
    run_all(root)
    with Project.open(root, actor="cli") as project:
        assert {t.status.value for t in project.tasks.values()} == {"review"}
        project.complete("X")
        with pytest.raises(MergeConflictError, match=r"Y conflicts with orchestra/t/integration in 'shared.txt'"):
            project.complete("Y")
        assert project.tasks["Y"].status.value == "review"
        assert project.tasks["Y"].worktree.conflict_files == ["shared.txt"]
        assert project.history()[-1].action == "conflict"
        project.retry("Y")
        assert project.tasks["Y"].worktree.conflict_files == ["shared.txt"]  # for the prompt of the new run
    run_all(root)
    with Project.open(root, actor="cli") as project:
        y = project.tasks["Y"]
        assert y.status.value == "review" and y.worktree.conflict_files is None
        # the new run started from X's merged work
        assert y.worktree.base == project.tasks["X"].worktree.merged
        project.complete("Y")
    assert git(root, "show", f"{BRANCH}:shared.txt").splitlines()[1] == "two by Y"


def test_rollback_past_two_merges_moves_the_branch_back_and_undo_forward(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    write_plan(root, task("A", ["echo a > a.txt"]) + task("B", ["echo b > b.txt"], ["A"]) + task("C", ["true"], ["B"]))
    main_before = git(root, "rev-parse", "main")
    run_all(root)
    with Project.open(root, actor="cli") as project:
        merged_a = project.tasks["A"].worktree.merged
        tip = git(root, "rev-parse", BRANCH)
        assert project.tasks["C"].worktree.merged == tip
        # the entry right after A's merge: rolling back to it removes B's and C's merges
        target = next(e for e in project.history() if e.extra.get("merge", {}).get("commit") == merged_a)
        changes = project.rollback_changes(target.seq)
        assert integration(project).removed_merges(changes) == ["B", "C"]
        entry = project.rollback(target.seq)
        assert entry is not None and "moved to" in entry.summary
        assert git(root, "rev-parse", BRANCH) == merged_a
        assert project.tasks["B"].status.value == "pending" and project.tasks["B"].worktree is None
        project.undo()
        assert git(root, "rev-parse", BRANCH) == tip
        assert project.tasks["C"].status.value == "completed"
        # task branches are kept throughout
        assert git(root, "rev-parse", "--verify", "orchestra/t/tasks/B")
    assert git(root, "rev-parse", "main") == main_before


def test_a_branch_moved_by_someone_else_is_refused_never_forced(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    write_plan(root, task("A", ["echo a > a.txt"]) + task("B", ["echo b > b.txt"]), auto_complete=False)
    run_all(root)
    foreign = git(root, "commit-tree", git(root, "rev-parse", "main^{tree}"), "-p", BRANCH, "-m", "someone")
    git(root, "update-ref", f"refs/heads/{BRANCH}", foreign)
    with Project.open(root, actor="cli") as project:
        with pytest.raises(IntegrationMovedError, match="someone else moved it"):
            project.complete("A")
        assert project.tasks["A"].status.value == "review"
    assert git(root, "rev-parse", BRANCH) == foreign


def test_an_unrecorded_merge_left_by_a_kill_is_undone_and_the_task_stays_in_review(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    write_plan(root, task("A", ["echo a > a.txt"]), auto_complete=False)
    run_all(root)
    with Project.open(root, actor="cli") as project:
        before = git(root, "rev-parse", BRANCH)
        queue = integration(project).queue()
        head = git(root, "rev-parse", "orchestra/t/tasks/A")
        tree = queue.merge_tree(before, head).tree
        landed = queue.commit(tree, before, head, "A", "Task A")
        # what a process killed between moving the branch and committing the entry leaves
        (project.store.dir / INTENT_FILE).write_text(json.dumps({"from": before, "to": landed, "why": "merge task A"}))
        queue.move(landed, before, "merge task A")
    with Project.open(root, actor="cli") as project:
        assert project.tasks["A"].status.value == "review"
        entry = project.complete("A")
        assert entry.extra["merge"]["before"] == before
        assert project.tasks["A"].status.value == "completed"
        assert not (project.store.dir / INTENT_FILE).exists()
    assert git(root, "rev-list", "--count", f"{before}..{BRANCH}") == "2"  # A's one merge (and its commit), once


def test_root_tasks_outside_git_work_as_before(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    (root / "orchestra.toml").write_text(
        '[project]\nid = "t"\nauto_complete = true\n\n' + task("A", ["echo a > a.txt"])
    )
    run_all(root)
    with Project.open(root) as project:
        assert project.tasks["A"].status.value == "completed" and project.tasks["A"].worktree is None
    assert (root / "a.txt").exists()


def test_worktree_outside_git_fails_the_run_in_one_line(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    (root / "orchestra.toml").write_text(
        '[project]\nid = "t"\nworkspace = "worktree"\n\n' + task("A", ["echo a > a.txt"])
    )
    run_all(root)
    with Project.open(root) as project:
        error = project.tasks["A"].last_error or ""
        assert project.tasks["A"].status.value == "failed" and "git" in error and "\n" not in error


def test_detached_head_is_refused_with_its_reason(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    write_plan(root, task("A", ["true"]))
    git(root, "checkout", "-q", "--detach")
    run_all(root)
    with Project.open(root) as project:
        assert "detached" in (project.tasks["A"].last_error or "")


def test_plan_fields_are_validated_with_file_and_line(tmp_path: Path) -> None:
    from orchestra_tui.plan import load_plan

    (tmp_path / "orchestra.toml").write_text(
        '[project]\nid = "t"\nworkspace = "tree"\nintegration_branch = "a..b"\nmax_worktrees = 0\n'
    )
    with pytest.raises(OrchestraError) as raised:
        load_plan(tmp_path)
    problems = raised.value.problems  # type: ignore[attr-defined]
    assert any("orchestra.toml:3: project: field" in p and "workspace" in p for p in problems), problems
    assert any("orchestra.toml:4: project: field" in p and "integration_branch" in p for p in problems), problems
    assert any("orchestra.toml:5: project: field" in p and "max_worktrees" in p for p in problems), problems


def test_cli_show_report_complete_and_rollback_preview(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from orchestra_tui.cli.main import app

    def cli(*args: str) -> tuple[int, str, str]:
        result = CliRunner().invoke(app, ["-p", str(root), *args])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
        return result.exit_code, result.stdout, result.stderr

    root = make_repo(tmp_path / "repo")
    write_plan(
        root,
        task("X", ["sed -i '2s/.*/two by X/' shared.txt"]) + task("Y", ["sed -i '2s/.*/two by Y/' shared.txt"]),
        auto_complete=False,
    )
    run_all(root)
    code, out, _ = cli("show", "X", "--json")
    workspace = json.loads(out)["workspace"]
    assert code == 0 and workspace["kind"] == "worktree" and workspace["merged"] is None
    assert workspace["branch"] == "orchestra/t/tasks/X" and workspace["path"] == str(root / ".orchestra/worktrees/X")
    assert workspace["head"] == git(root, "rev-parse", "orchestra/t/tasks/X") != workspace["base"]
    assert cli("complete", "X")[0] == 0
    code, _out, err = cli("complete", "Y")
    assert code == 1 and "Y conflicts with orchestra/t/integration in 'shared.txt'" in err and "\n" not in err.strip()
    shown = json.loads(cli("show", "Y", "--json")[1])["workspace"]
    assert shown["conflict_files"] == ["shared.txt"] and shown["merged"] is None
    merged = json.loads(cli("show", "X", "--json")[1])["workspace"]["merged"]
    assert merged == git(root, "rev-parse", BRANCH)
    assert json.loads(cli("report", "--json")[1])["integration_branch"] == BRANCH
    code, out, _ = cli("rollback", "1", "--yes")
    assert code == 0 and "the merges of X come off it" in out
    assert git(root, "rev-parse", BRANCH) != merged


KILLER = """
import os, signal, sys
from pathlib import Path
from orchestra_tui.engine.project import Project
from orchestra_tui.store import fsio

root, step = Path(sys.argv[1]), sys.argv[2]
intent = root / ".orchestra" / "merge.intent"

def hook(name):
    if name == step and intent.exists():
        os.kill(os.getpid(), signal.SIGKILL)

with Project.open(root, actor="cli") as project:
    fsio.fault_hook = hook
    project.complete("A")
"""


@pytest.mark.parametrize("step", ["journal.before-append", "journal.mid-append", "journal.after-fsync"])
def test_sigkill_in_the_middle_of_a_merge_is_recovered(tmp_path: Path, step: str) -> None:
    root = make_repo(tmp_path / "repo")
    write_plan(root, task("A", ["echo a > a.txt"]) + task("B", ["echo b > b.txt"]), auto_complete=False)
    run_all(root)
    before = git(root, "rev-parse", BRANCH)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    killed = subprocess.run([sys.executable, "-c", KILLER, str(root), step], env=env, timeout=120)
    assert killed.returncode == -9
    with Project.open(root, actor="cli") as project:
        a = project.tasks["A"]
        if step == "journal.after-fsync":  # landed and recorded
            assert a.status.value == "completed" and a.worktree.merged == git(root, "rev-parse", BRANCH)
        else:  # the entry is not there (a torn one is set aside): the branch moves back at the next merge
            assert a.status.value == "review"
        project.complete("B")  # the queue recovers first
        if step != "journal.after-fsync":
            assert project.tasks["B"].worktree.merged is not None
            assert git(root, "rev-parse", f"{BRANCH}^1") == before  # A's unrecorded merge is gone from the branch
            project.complete("A")
        assert not (project.store.dir / INTENT_FILE).exists()
        assert integration(project).recorded_head() == git(root, "rev-parse", BRANCH)
        assert {t.worktree.merged for t in project.tasks.values()} <= set(first_parent_order(root))
    assert git(root, "rev-list", "--first-parent", "--count", f"{before}..{BRANCH}") == "2"  # one merge per task


def test_processes_completing_at_the_same_moment_each_merge_once(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    ids = [f"T{i}" for i in range(6)]
    write_plan(root, "".join(task(t, [f"echo {t} > {t}.txt"]) for t in ids), auto_complete=False)
    run_all(root)
    before = git(root, "rev-parse", BRANCH)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "orchestra_tui", "-p", str(root), "complete", t],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for t in ids
    ]
    outcomes = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0] * len(ids), outcomes
    with Project.open(root) as project:
        assert all(project.tasks[t].status.value == "completed" for t in ids)
        merges = [project.tasks[t].worktree.merged for t in ids]
        assert integration(project).recorded_head() == git(root, "rev-parse", BRANCH)
    order = first_parent_order(root)
    assert set(merges) <= set(order) and len(set(merges)) == len(ids)
    assert git(root, "rev-list", "--first-parent", "--count", f"{before}..{BRANCH}") == str(len(ids))
    assert set(git(root, "ls-tree", "--name-only", BRANCH).split()) >= {f"{t}.txt" for t in ids}


def test_cancel_removes_the_worktree_and_keeps_the_branch(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    write_plan(root, task("A", ["echo a > a.txt"]), auto_complete=False)
    run_all(root)
    assert (root / ".orchestra" / "worktrees" / "A").is_dir()  # kept while in review
    with Project.open(root, actor="cli") as project:
        project.cancel("A")
    assert not (root / ".orchestra" / "worktrees" / "A").exists()
    assert git(root, "show", "orchestra/t/tasks/A:a.txt") == "a"


def test_a_dependant_sees_its_dependencies_changes_in_its_worktree(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    write_plan(
        root,
        task("A", ["echo 'made by A' > a.txt", "sed -i '3s/.*/three by A/' shared.txt"])
        + task("B", ["grep -qx 'made by A' a.txt", "grep -qx 'three by A' shared.txt", "pwd > where.txt"], ["A"]),
    )
    run_all(root)
    with Project.open(root) as project:
        assert project.tasks["B"].status.value == "completed", project.tasks["B"].last_error
        assert project.tasks["B"].worktree.base == project.tasks["A"].worktree.merged
    assert git(root, "show", f"{BRANCH}:where.txt") == str(root / ".orchestra" / "worktrees" / "B")
    assert not (root / "a.txt").exists()  # the user's checkout never saw it


def test_max_worktrees_is_enforced_with_a_clear_message(tmp_path: Path) -> None:
    from orchestra_tui.engine.integration import WorktreeCapError
    from orchestra_tui.engine.runner import Runner

    root = make_repo(tmp_path / "repo")
    write_plan(root, task("A", ["true"]) + task("B", ["true"]), auto_complete=False, extra="max_worktrees = 1")
    run_all(root)
    with Project.open(root, actor="cli") as project:
        statuses = sorted(t.status.value for t in project.tasks.values())
        assert statuses == ["pending", "review"]  # the second waited: the cap was reached
        waiting = next(t for t in project.tasks.values() if t.status.value == "pending").task_id
        with pytest.raises(WorktreeCapError, match=r"1 worktrees exist, the cap is 1 \(\[project\] max_worktrees\)"):
            Runner(project).begin(waiting)
        assert project.tasks[waiting].status.value == "pending"


def test_a_retried_conflict_names_the_files_in_the_agents_prompt(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    agent = (
        '[agents.coder]\ntype = "cli"\noutput_format = "text"\n'
        'command = ["sh", "-c", "cat > prompt.txt; sed -i \'2s/.*/two by Y/\' shared.txt; echo done"]\n\n'
    )
    write_plan(
        root,
        agent + task("X", ["sed -i '2s/.*/two by X/' shared.txt"]) + task("Y", [], agent="coder"),
        auto_complete=False,
    )
    run_all(root)
    with Project.open(root, actor="cli") as project:
        project.complete("X")
        with pytest.raises(MergeConflictError):
            project.complete("Y")
        project.retry("Y")
    run_all(root)
    prompt = git(root, "show", "orchestra/t/tasks/Y:prompt.txt")
    assert "## Merge conflict" in prompt and "- shared.txt" in prompt
    with Project.open(root, actor="cli") as project:
        project.complete("Y")


def test_squash_lands_one_single_parent_commit_per_task(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    write_plan(root, task("A", ["echo a > a.txt"]) + task("B", ["echo b > b.txt"], ["A"]), extra='merge = "squash"')
    run_all(root)
    with Project.open(root) as project:
        merged = [project.tasks[t].worktree.merged for t in ("A", "B")]
    assert first_parent_order(root)[-2:] == merged
    for commit in merged:
        assert len(git(root, "rev-list", "--parents", "-n1", commit).split()) == 2
    assert git(root, "log", "-1", "--format=%s", BRANCH) == "Squash task B: Task B"


def test_a_worktree_path_in_the_state_is_not_trusted(tmp_path: Path) -> None:
    """A `.orchestra/` may be someone else's: the worktree a completion commits in is the task's own
    (`.orchestra/worktrees/<id>`), never a path the state names (here another repository of the user's)."""
    from orchestra_tui.store.changes import diff_record
    from orchestra_tui.store.store import Mutation

    root = make_repo(tmp_path / "repo")
    other = make_repo(tmp_path / "other")
    git(other, "add", "-A")
    git(other, "commit", "-q", "-m", "theirs")
    (other / "draft.txt").write_text("not for committing\n")
    before = git(other, "rev-parse", "HEAD")
    write_plan(root, task("X", ["echo x > x.txt"]), auto_complete=False)
    run_all(root)
    with Project.open(root, actor="cli") as project:
        old = project._record("X")
        planted = {**old, "worktree": {**old["worktree"], "path": str(other)}}
        project._commit(lambda: Mutation([diff_record("X", old, planted)], "edit", "planted", {}))
        project.complete("X")
    assert git(other, "rev-parse", "HEAD") == before and "draft.txt" in git(other, "status", "--porcelain")
    assert git(root, "show", f"{BRANCH}:x.txt") == "x"
