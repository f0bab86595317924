"""Issue 15 item 3: the kept answers of ``orchestra next`` (``answers.py``) are the answers the engine gives.

A kept answer is printed only while everything it depends on is as it was: checked here in process over random
sequences of changes against a cold run each time, and end to end through real ``python -m orchestra_tui``
processes (the warm one importing neither typer nor pydantic). Forged, damaged and linked files are ignored.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestra_tui import answers, signing
from orchestra_tui.projectfiles import JOURNAL_FILE, SNAPSHOT_FILE, STATE_DIR

from ..helpers.cli import cli
from ..helpers.plans import task_block, write_plan

IDS = ("A", "B", "C", "D")
SHAPES = (["next"], ["next", "--json"])


def plan_body(titles: Mapping[str, str] | None = None, agent: str | None = None) -> str:
    """Four tasks, B and C after A, D after both; ``titles`` overrides some titles."""
    titles = titles or {}
    deps = {"A": [], "B": ["A"], "C": ["A"], "D": ["B", "C"]}
    extra = {"agent": agent} if agent else {}
    blocks = [task_block(t, deps[t], **extra).replace(f'"Task {t}"', f'"{titles.get(t, "Task " + t)}"') for t in IDS]
    agents = '[agents.keyed]\ntype = "anthropic"\napi_key_env = "H32_TEST_KEY"\n\n' if agent == "keyed" else ""
    return agents + "".join(blocks)


def cold(root: Path, shape: list[str]) -> tuple[int, str, str]:
    """The answer computed the normal way (typer in process, no kept answer consulted)."""
    result = cli(root, *shape)
    return result.exit_code, result.stdout, result.stderr


def ask_and_check(root: Path, shape: list[str]) -> bool:
    """What ``entry`` does, in process: a kept answer, if any, must be the cold one; a quiet success is kept
    (unless something changed while it ran). Whether a kept answer was there."""
    question = answers.ask(["-p", str(root), *shape])
    assert question is not None
    kept = question.stored()
    code, out, err = cold(root, shape)
    if kept is not None:
        assert (code, kept, err) == (0, out, "")
    if code == 0 and not err:
        question.keep(out, os.environ)
    return kept is not None


STEPS = st.one_of(
    st.tuples(st.sampled_from(["start", "complete", "fail"]), st.sampled_from(IDS)),
    st.tuples(
        st.sampled_from(
            ["rollback", "undo", "retitle", "retitle same size", "damage journal", "tear journal", "repair"]
        ),
        st.just(""),
    ),
)


def apply_step(root: Path, step: tuple[str, str]) -> None:
    action, task = step
    if action in ("start", "complete"):
        cli(root, action, task)
    elif action == "fail":
        cli(root, "fail", task, "--reason", "no")
    elif action == "rollback":
        cli(root, "rollback", "1", "--yes")
    elif action in ("undo", "repair"):
        cli(root, action)
    elif action.startswith("retitle"):  # every title, so that whichever task is next is retitled
        plan = root / "orchestra.toml"
        before = os.stat(plan)
        text = plan.read_text()
        swapped = text.replace('title = "Task ', 'title = "\0').replace('title = "Work ', 'title = "Task ')
        plan.write_text(swapped.replace('title = "\0', 'title = "Work '))
        if action.endswith("same size"):  # the same size and mtime: only the contents tell
            os.utime(plan, ns=(before.st_atime_ns, before.st_mtime_ns))
    else:
        with open(root / STATE_DIR / JOURNAL_FILE, "ab") as journal:
            journal.write(b"ORCH" if action == "tear journal" else b"\x00garbage\n" * 3)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(STEPS, min_size=1, max_size=8))
def test_a_kept_answer_is_always_the_cold_answer(steps: list[tuple[str, str]]) -> None:
    with tempfile.TemporaryDirectory(prefix="answers-") as temp:
        root = Path(temp)
        write_plan(root, plan_body())
        for step in [("", ""), *steps]:
            if step[0]:
                apply_step(root, step)
            for shape in SHAPES:
                ask_and_check(root, shape)  # the first after a change: cold, kept if quiet
                ask_and_check(root, shape)  # the second: served when kept, and equal to the cold one


def test_the_second_quiet_ask_is_served(tmp_path: Path) -> None:
    write_plan(tmp_path, plan_body())
    cli(tmp_path, "next")  # the first open writes the state: not kept while its files change
    assert not ask_and_check(tmp_path, ["next", "--json"])
    assert ask_and_check(tmp_path, ["next", "--json"])
    assert not ask_and_check(tmp_path, ["next"]) and ask_and_check(tmp_path, ["next"])


def settled(root: Path) -> None:
    """Wait until the project's files changed longer ago than a file system's clock could miss (bounded)."""
    time.sleep(2 * answers.RACY_NS / 1e9)


@pytest.mark.parametrize("same_size", [True, False])
def test_a_state_file_changed_while_the_command_ran_is_not_kept_though_only_its_times_are_looked_at(
    tmp_path: Path, same_size: bool
) -> None:
    """Files that changed long enough ago are looked at again with ``stat`` only (not hashed a second time): a
    change meanwhile, even one keeping the size and putting the mtime back, still keeps the answer out."""
    write_plan(tmp_path, plan_body())
    cli(tmp_path, "next")
    settled(tmp_path)
    question = answers.ask(["-p", str(tmp_path), "next", "--json"])
    assert question is not None and question.seen is not None  # the cheap look, not the second hash
    out = cold(tmp_path, ["next", "--json"])[1]
    snapshot = tmp_path / STATE_DIR / SNAPSHOT_FILE
    before, data = snapshot.stat(), snapshot.read_bytes()
    assert b"pending" in data
    snapshot.write_bytes(data.replace(b"pending", b"PENDING") if same_size else data + b" ")
    os.utime(snapshot, ns=(before.st_atime_ns, before.st_mtime_ns))
    question.keep(out, os.environ)
    assert question.stored() is None


def test_an_answer_over_settled_files_is_kept_after_one_look(tmp_path: Path) -> None:
    write_plan(tmp_path, plan_body())
    cli(tmp_path, "next")
    settled(tmp_path)
    question = answers.ask(["-p", str(tmp_path), "next"])
    assert question is not None and question.seen is not None
    out = cold(tmp_path, ["next"])[1]
    question.keep(out, os.environ)
    assert question.stored() == out != ""


def orchestra(root: Path, *args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "orchestra_tui", "-p", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ if env is None else env),
    )
    return done


def test_end_to_end_warm_answers_follow_every_change(tmp_path: Path) -> None:
    """Real processes: each answer equals the cold one, through start / complete / fail / rollback / plan edits."""
    write_plan(tmp_path, plan_body())
    changes = [
        ("start", "A"),
        ("complete", "A"),
        ("retitle same size", ""),
        ("fail", "B"),
        ("rollback", ""),
        ("damage journal", ""),
    ]
    for step in [("", ""), *changes]:
        if step[0]:
            apply_step(tmp_path, step)
        for shape in SHAPES:
            runs = [orchestra(tmp_path, *shape) for _ in range(3)]  # (cold, kept, served) or (served...)
            expected = cold(tmp_path, shape)  # after them: the first process has to see the change itself
            assert all((done.returncode, done.stdout, done.stderr) == expected for done in runs), step
    served = json.loads(signing.unsign((tmp_path / STATE_DIR / answers.ANSWERS_FILE).read_bytes()) or b"{}")
    assert sorted(served["answers"]) == ["next", "next --json"]


WHAT_WAS_IMPORTED = (
    "import sys\nfrom orchestra_tui.entry import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
    "print(' '.join(m for m in ('typer', 'pydantic', 'click', 'orchestra_tui.cli.main') if m in sys.modules),"
    " file=sys.stderr)"
)


def test_a_served_answer_imports_neither_typer_nor_pydantic(tmp_path: Path) -> None:
    write_plan(tmp_path, plan_body())
    runs = [
        subprocess.run(
            [sys.executable, "-c", WHAT_WAS_IMPORTED, "-p", str(tmp_path), "next", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        for _ in range(3)
    ]
    assert runs[0].stdout == runs[1].stdout == runs[2].stdout and '"A"' in runs[2].stdout
    assert runs[0].stderr.split() == ["pydantic"]  # the first, cold, runs the engine (without typer: test_direct)
    assert runs[2].stderr.split() == []


def test_the_environment_is_part_of_the_question(tmp_path: Path) -> None:
    """Plain ``next`` says when the pick's agent lacks its key: setting the variable changes the answer."""
    write_plan(tmp_path, plan_body(agent="keyed"))
    env = {k: v for k, v in os.environ.items() if k != "H32_TEST_KEY"}
    without = [orchestra(tmp_path, "next", env=env).stdout for _ in range(3)]
    assert without[0] == without[2] and "H32_TEST_KEY" in without[2]
    with_key = orchestra(tmp_path, "next", env={**env, "H32_TEST_KEY": "x"}).stdout
    assert "H32_TEST_KEY" not in with_key and with_key.startswith("next: A")


def kept_file(root: Path) -> Path:
    return root / STATE_DIR / answers.ANSWERS_FILE


def keep_one(root: Path) -> answers.Question:
    write_plan(root, plan_body())
    cli(root, "next")
    question = answers.ask(["-p", str(root), "next", "--json"])
    assert question is not None
    question.keep(cold(root, ["next", "--json"])[1], os.environ)
    assert question.stored() is not None
    return question


def test_a_forged_answer_is_ignored_and_rewritten(tmp_path: Path) -> None:
    """A checkout may ship ``answers.json`` with the right key but its own answer: its MAC does not verify."""
    question = keep_one(tmp_path)
    payload = json.dumps(
        {"format": "orchestra answers 1", "answers": {"next --json": {"key": question.key, "text": "x"}}}
    )
    forged = signing.mac(b"k" * 32, payload.encode()).encode() + b"\n" + payload.encode()
    kept_file(tmp_path).write_bytes(forged)
    assert question.stored() is None
    done = orchestra(tmp_path, "next", "--json")
    assert done.stdout == cold(tmp_path, ["next", "--json"])[1] and done.stderr == ""
    # Rewritten and signed with this user's key. (Not ``question.stored()``: the key covers ``sys.path``, which
    # the python agent's tests extend in this process, so this process's key need not be the command's.)
    payload = signing.unsign(kept_file(tmp_path).read_bytes())
    assert payload is not None and json.loads(payload)["answers"]["next --json"]["text"] == done.stdout


@pytest.mark.parametrize("damage", [b"", b"not signed", b"0" * 64 + b"\n{"])
def test_a_damaged_answers_file_is_ignored(tmp_path: Path, damage: bytes) -> None:
    question = keep_one(tmp_path)
    kept_file(tmp_path).write_bytes(damage)
    assert question.stored() is None
    assert orchestra(tmp_path, "next", "--json").stdout == cold(tmp_path, ["next", "--json"])[1]


def test_a_linked_answers_file_is_never_followed(tmp_path: Path) -> None:
    """Even a link to a file this user signed (with the right answer) is not read: the link is someone else's."""
    question = keep_one(tmp_path)
    elsewhere = tmp_path / "elsewhere.json"
    kept_file(tmp_path).rename(elsewhere)
    kept_file(tmp_path).symlink_to(elsewhere)
    assert question.stored() is None
    before = elsewhere.read_bytes()
    orchestra(tmp_path, "next", "--json")
    assert elsewhere.read_bytes() == before


@pytest.mark.parametrize(
    "argv",
    [
        ["next", "--json", "--json"],
        ["list", "--json"],
        ["--version"],
        ["show", "A"],
        ["next", "--jsonx"],
        ["-p"],
        ["-p", "-x", "next"],
        ["--theme", "dark", "next"],
        ["next", "-p", "."],
    ],
)
def test_only_the_exact_allowlisted_shapes_are_asked(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_plan(tmp_path, plan_body())
    monkeypatch.chdir(tmp_path)
    assert answers.ask(argv) is None


def test_the_project_from_elsewhere_goes_the_normal_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$ORCHESTRA_PROJECT, a project found above the directory (a note on stderr), a directory named like the
    command: not asked."""
    write_plan(tmp_path, plan_body())
    (tmp_path / "sub").mkdir()
    assert answers.ask(["next"], {"ORCHESTRA_PROJECT": str(tmp_path)}) is None
    assert answers.ask(["-p", str(tmp_path / "sub"), "next"], {}) is None
    monkeypatch.chdir(tmp_path)
    (tmp_path / "next").mkdir()
    assert answers.ask(["next"], {}) is None
    assert answers.ask(["--project=" + str(tmp_path), "next"], {}) is not None


def test_other_commands_are_unaffected(tmp_path: Path) -> None:
    write_plan(tmp_path, plan_body())
    for _ in range(3):
        done = orchestra(tmp_path, "list", "--json")
        assert done.stdout == cold(tmp_path, ["list", "--json"])[1]
    assert not kept_file(tmp_path).exists()


def test_a_plan_edited_and_put_back_while_the_command_ran_is_not_kept(tmp_path: Path) -> None:
    """The files are the same before and after, but the command read other bytes: its answer is not kept.
    (A comment is edited here: it changes nothing in the state, so only the bytes read tell.)"""
    write_plan(tmp_path, plan_body())
    cli(tmp_path, "next")
    plan = tmp_path / "orchestra.toml"
    original, before = plan.read_bytes(), os.stat(plan)
    question = answers.ask(["-p", str(tmp_path), "next"])
    assert question is not None
    plan.write_bytes(original + b"# edited\n")
    code, out, err = cold(tmp_path, ["next"])
    plan.write_bytes(original)
    os.utime(plan, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (code, err) == (0, "")
    question.keep(out, os.environ)
    assert question.stored() is None
    cold(tmp_path, ["next"])  # read as keyed: kept
    question.keep(out, os.environ)
    assert question.stored() == out


def test_a_linked_state_directory_is_never_followed(tmp_path: Path) -> None:
    """``.orchestra`` replaced by a link to a copy of itself (answers and all): the link is refused, as the store
    refuses it, not answered from."""
    project = tmp_path / "p"
    question = keep_one(project)
    state = project / STATE_DIR
    state.rename(tmp_path / "copy")
    state.symlink_to(tmp_path / "copy")
    assert question.stored() is not None  # (the copy still verifies: the old question's key is not this one)
    linked = answers.ask(["-p", str(project), "next", "--json"])
    assert linked is not None and linked.stored() is None
    done = orchestra(project, "next", "--json")
    assert done.returncode == 1 and "symbolic link" in done.stderr
