"""``python -m orchestra_tui`` is ``orchestra``."""

from orchestra_tui.entry import main

main()
