"""The command-line face: ``orchestra`` (typer). Its commands live in ``cli.main``; the console-script entry is
``orchestra_tui.entry``, which hands over to the app and the MCP server (``cli.handoff``).

Nothing here is imported by the layers below; importing this package does not import typer or rich.
"""
