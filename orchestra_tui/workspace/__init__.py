"""Where tasks do their work: git worktrees, their branches, and the merge queue (issue 11). Below the engine."""
