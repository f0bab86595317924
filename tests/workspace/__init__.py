"""The workspace: git worktrees per task, the git wrapper, landing the integration branch (real git)."""
