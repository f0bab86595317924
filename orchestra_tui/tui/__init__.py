"""The Textual face: a live board, the dependency DAG, the history timeline and streaming output panes.

It only reads the engine's state, subscribes to its event bus, and calls its actions (through
``session.Session``); no business logic lives in widgets.
"""
