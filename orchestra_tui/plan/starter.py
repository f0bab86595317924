"""The commented starter ``orchestra.toml`` that ``orchestra init`` writes."""

from __future__ import annotations

import tomli_w


def _toml_string(value: str) -> str:
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


_STARTER = """\
# orchestra.toml - the plan of this project. Edit it by hand and keep it in git.
#   orchestra validate     checks it and lists every problem
#   orchestra              opens the live board;  orchestra run  runs ready tasks headless
#
# Strings in [project], [agents.*] and [[webhooks]] may use ${{VAR}} or ${{VAR:-default}};
# they are read from the environment when the plan is loaded. Strings in tasks are expanded only
# when a task runs, so a secret never ends up in orchestra's history.

[project]
id = {project_id}          # short identifier used in state, reports and webhooks
name = {name}         # display name
description = ""           # what the project is about, in a sentence or two
parallel_max = 4           # how many tasks may run at once (1-256)
default_agent = "shell"    # agent for tasks that do not name one
auto_complete = false      # false: a task whose run and verify succeed waits in "review" for you
                           # true: it is completed right away

# ----------------------------------------------------------------------------------------- agents
# An agent turns a task into work. Two exist without any table:
#   shell        runs the task's `commands` in the project directory (exit codes decide success)
#   interactive  shows you the prompt and copies it to the clipboard; you complete the task
# API keys are read from the environment variable named by api_key_env; the key itself is never
# written to any file. Uncomment and adapt the agents you want, then set `agent = "NAME"` on tasks.

[agents.shell]
type = "shell"

# [agents.claude]
# type = "anthropic"
# model = "claude-sonnet-4-5"
# api_key_env = "ANTHROPIC_API_KEY"
# capabilities = ["code", "design"]
# max_tokens = 8192

# [agents.gpt]
# type = "openai"                          # also any OpenAI-compatible server: vLLM, llama.cpp,
# model = "gpt-4o"                         # LM Studio, OpenRouter, LiteLLM...
# base_url = "https://api.openai.com/v1"   # includes /v1
# api_key_env = "OPENAI_API_KEY"

# [agents.gemini]
# type = "gemini"
# model = "gemini-2.5-pro"
# api_key_env = "GEMINI_API_KEY"

# [agents.llama]
# type = "ollama"                          # a local model through Ollama; no key needed
# model = "llama3.1"
# base_url = "http://localhost:11434"

# [agents.litellm]
# type = "openai"                          # a LiteLLM proxy (`litellm --config litellm.yaml`): every
# model = "claude-sonnet-4-5"              # provider behind one endpoint; model is a model_name there
# base_url = "http://127.0.0.1:4000/v1"
# api_key_env = "LITELLM_API_KEY"          # the proxy's master key

# Coding-agent CLIs: the prompt goes to their stdin; they edit files in the project directory.
# [agents.claude-code]
# type = "cli"                             # Claude Code (npm @anthropic-ai/claude-code); stream-json needs
# command = ["claude", "-p", "--output-format", "stream-json", "--verbose", "--permission-mode", "acceptEdits"]
# output_format = "stream-json"            # --verbose; acceptEdits lets it write files here, nothing else
# prompt_via = "stdin"

# [agents.codex]
# type = "cli"                             # Codex (npm @openai/codex), with its own ~/.codex/config.toml
# command = ["codex", "exec", "--json", "--sandbox", "workspace-write", "--skip-git-repo-check"]
# output_format = "jsonl"                  # workspace-write: it may write in this directory only
# prompt_via = "stdin"

# --------------------------------------------------------------------------------------- webhooks
# [[webhooks]]
# url = "https://example.com/hooks/orchestra"
# events = ["task_completed", "task_failed", "run_finished"]
# secret_env = "ORCHESTRA_WEBHOOK_SECRET"  # signs each body (header X-Orchestra-Signature)

# ------------------------------------------------------------------------------------------ tasks
# One [[tasks]] per piece of work. Only id and title are required. Other keys:
#   description, agent, priority (critical | high | medium | low, default medium),
#   phase (planning | design | development | testing | deployment | maintenance, default development),
#   dependencies (task ids), estimated_hours (> 0, default 1), deliverables, success_criteria,
#   commands (for the shell agent), verify (commands that must all exit 0 after a successful run),
#   inputs (files put into an AI agent's prompt), output (file an AI agent's answer is written to),
#   tags, notes, metadata.

[[tasks]]
id = "HELLO-1"
title = "Write a greeting"
description = "Create out/hello.txt containing a greeting."
priority = "high"
phase = "development"
estimated_hours = 0.1
commands = ["mkdir -p out", "echo 'Hello from orchestra' > out/hello.txt"]
deliverables = ["out/hello.txt"]
success_criteria = ["out/hello.txt exists and is not empty"]
verify = ["test -s out/hello.txt"]
tags = ["example"]

[[tasks]]
id = "HELLO-2"
title = "Count the words of the greeting"
description = "Write the number of words in out/hello.txt to out/words.txt."
dependencies = ["HELLO-1"]
estimated_hours = 0.1
commands = ["wc -w < out/hello.txt > out/words.txt"]
deliverables = ["out/words.txt"]
verify = ["test -s out/words.txt"]
tags = ["example"]

[[tasks]]
id = "HELLO-3"
title = "Write a small report"
description = "Combine the greeting and its word count into out/report.txt."
agent = "shell"
priority = "low"
phase = "testing"
dependencies = ["HELLO-1", "HELLO-2"]
estimated_hours = 0.2
commands = [
  "echo 'Greeting:' > out/report.txt",
  "cat out/hello.txt >> out/report.txt",
  "echo 'Words:' >> out/report.txt",
  "cat out/words.txt >> out/report.txt",
]
deliverables = ["out/report.txt"]
success_criteria = ["out/report.txt holds the greeting and its word count"]
verify = ["grep -q 'Hello from orchestra' out/report.txt"]
tags = ["example"]
notes = "Run `orchestra run` to execute all three in dependency order, or `orchestra next` to see what is ready."
"""


def starter_plan(project_id: str, name: str) -> str:
    """A commented, valid ``orchestra.toml`` for ``orchestra init``: learn-by-reading, runs offline."""
    return _STARTER.format(project_id=_toml_string(project_id), name=_toml_string(name))
