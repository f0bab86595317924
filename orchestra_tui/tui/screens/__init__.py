"""The app's screens: the main screen and every screen pushed over it (dialogs, help, one task, rollback)."""
