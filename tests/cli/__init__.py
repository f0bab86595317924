"""The faces other than the TUI: the ``orchestra`` command, the seed's Python API and script flags, MCP."""
