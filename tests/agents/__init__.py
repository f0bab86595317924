"""The agents: HTTP providers against real servers on 127.0.0.1, local processes, the real CLIs, prompts."""
