"""The Qt front end: windows, dialogs, the day grid and the background runner.

Only this package imports Qt. On Python 3.11 PySide6 is pinned below 6.12 in
pyproject.toml: 6.12.0 drops references to ``None`` and ``True`` there (every
``Signal.emit()``), and CPython aborts after a few thousand signals; from 3.12
those objects are immortal and 6.12 is fine.
"""
