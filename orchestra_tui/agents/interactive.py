"""The ``interactive`` agent: a person does the task.

The run shows the prompt, copies it to the clipboard with the first program that works, and ends with
``Finished(handoff=True)``: the task stays in progress until the person completes (or fails) it from the
CLI or the TUI. The agent never writes to the terminal itself; what it has to say is in its text.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncGenerator, Mapping

from ..models import AgentConfig
from .base import AgentRequest, Usability
from .events import AgentEvent, Finished, TextDelta

#: Tried in this order; the first found on PATH that takes the text wins.
CLIPBOARD_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("wl-copy",),
    ("xclip", "-selection", "clipboard"),
    ("xsel", "--clipboard", "--input"),
    ("pbcopy",),
    ("clip.exe",),
)
CLIPBOARD_TIMEOUT = 5.0


async def copy_to_clipboard(text: str, env: Mapping[str, str]) -> str | None:
    """Put ``text`` on the clipboard; the name of the program that took it, or None when none could.

    Their stdout and stderr go to /dev/null: wl-copy and xclip leave a child serving the selection, which
    must not hold a pipe open.
    """
    search_path = env.get("PATH", os.defpath)
    for argv in CLIPBOARD_COMMANDS:
        program = shutil.which(argv[0], path=search_path)
        if program is None:
            continue
        try:
            process = await asyncio.create_subprocess_exec(
                program,
                *argv[1:],
                env=dict(env),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError:
            continue
        try:
            await asyncio.wait_for(process.communicate(text.encode()), CLIPBOARD_TIMEOUT)
        except TimeoutError:
            pass
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        if process.returncode == 0:
            return argv[0]
    return None


class InteractiveAgent:
    """Hands the task to a person: the prompt as text and on the clipboard, then ``handoff=True``."""

    def __init__(self, name: str, config: AgentConfig) -> None:
        self.name = name
        self.config = config

    async def check(self, env: Mapping[str, str]) -> Usability:
        return Usability(True)

    async def run(self, request: AgentRequest) -> AsyncGenerator[AgentEvent, None]:
        yield TextDelta(request.prompt)
        program = await copy_to_clipboard(request.prompt, request.env)
        clipboard = f"copied to the clipboard with {program}" if program else "clipboard: not available"
        task_id = request.task.task_id
        yield TextDelta(
            f"\n\n[{clipboard}. Do the task, then `orchestra complete {task_id}` "
            f"(or `orchestra fail {task_id} --reason ...`), or use the TUI.]\n"
        )
        yield Finished(text=request.prompt, handoff=True)
