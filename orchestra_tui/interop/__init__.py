"""Other tools' task files in and out: Taskmaster's ``tasks.json`` (``taskmaster`` reads, ``taskmaster_export`` writes).

Engine-level: these modules read and build files and task records; the faces print what they report.
"""
