"""The TUI through Textual's Pilot, snapshots, and a real terminal (tmux)."""
