"""Git worktrees per task and the merge queue (issue 11). Below the engine: imports models and errors only."""
