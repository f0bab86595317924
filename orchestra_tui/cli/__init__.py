"""The command-line face: ``orchestra`` (typer). ``main`` is the console-script entry point in ``cli.main``.

Nothing here is imported by the layers below; importing this package does not import typer or rich.
"""
