"""The reports' SQL: one ``.sql`` file per report in this package, read with ``importlib.resources``.

A file is a sequence of named statements and fragments, each starting at a line ``-- name: <name>``
(the text before the first one is the file's header). A statement includes a fragment with a block
comment ``/*@name*/`` (a fragment of the same file) or ``/*@file.name*/`` (of another file, e.g.
``/*@definitions.report_appointment*/``); includes are expanded when the file is first read, so the
planner sees one plain statement. Other block comments (``/*region*/``, ``/*sets*/`` …) are markers the
report code replaces at run time.

``--`` comments are removed on reading (outside string literals), so they may say anything; SQLAlchemy's
``text()`` would otherwise take a ``:word`` in a comment for a bind parameter.

Errors: ``KeyError`` for an unknown file or statement, ``ValueError`` for an include cycle — both
programming errors, raised the first time the statement is asked for.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

__all__ = ["statement", "statements"]

_NAME = re.compile(r"^--\s*name:\s*([A-Za-z_]\w*)\s*$")
_INCLUDE = re.compile(r"/\*@([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)?)\*/")


def _strip_comments(line: str) -> str:
    """``line`` without its ``--`` comment (a ``--`` inside a string literal is kept)."""
    quoted = False
    for i, ch in enumerate(line):
        if ch == "'":
            quoted = not quoted
        elif not quoted and line.startswith("--", i):
            return line[:i].rstrip()
    return line.rstrip()


@cache
def statements(file: str) -> dict[str, str]:
    """The named statements and fragments of ``<file>.sql`` as written (includes not expanded, comments
    removed, surrounding blank lines dropped)."""
    resource = files(__package__).joinpath(f"{file}.sql")
    if not resource.is_file():
        raise KeyError(f"{file}.sql")
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in resource.read_text(encoding="utf-8").splitlines():
        m = _NAME.match(line.strip())
        if m:
            if m.group(1) in out:
                raise ValueError(f"{file}.sql: {m.group(1)} defined twice")
            current = out[m.group(1)] = []
        elif current is not None:
            text = _strip_comments(line)
            if text.strip():
                current.append(text)
    return {name: "\n".join(lines) for name, lines in out.items()}


@cache
def statement(file: str, name: str) -> str:
    """Statement ``name`` of ``<file>.sql`` with its includes expanded (cached)."""
    return _expand(file, name, ())


def _expand(file: str, name: str, seen: tuple[str, ...]) -> str:
    key = f"{file}.{name}"
    if key in seen:
        raise ValueError("include cycle: " + " -> ".join((*seen, key)))
    text = statements(file)[name]

    def include(m: re.Match[str]) -> str:
        ref = m.group(1)
        other, _, part = ref.rpartition(".")
        return _expand(other or file, part, (*seen, key))

    return _INCLUDE.sub(include, text)
