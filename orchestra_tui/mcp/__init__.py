"""The MCP face: ``orchestra mcp`` serves one project to coding agents over stdio (official ``mcp`` SDK, 2.x).

A face like ``cli`` and ``tui``: it loads the SDK (which loads click through uvicorn), so nothing below it
imports this package.
"""
