"""The architecture rules that import-linter cannot check, run by ``make lint`` and by
tests/unit/test_architecture.py.

Three rules, each over the project's own code (``reception_app/`` and the migrations in ``db/``;
tests are not checked):

- ``sql``: no SQL text outside ``reception_app/store/``, ``reception_app/services/`` and ``db/``. A
  string literal (not a docstring) holding a statement or a clause of one — ``SELECT … FROM``,
  ``INSERT INTO``, ``UPDATE x SET``, ``DELETE FROM``, ``CREATE``/``DROP``/``ALTER`` of a table,
  function, trigger, role …, ``GRANT``/``REVOKE``, ``LISTEN``/``NOTIFY``, ``COPY``, ``WITH x AS (``,
  ``WHERE x =`` — is SQL. Keywords are matched in upper case only (the project writes SQL that way),
  so a label such as "Select a patient" is not. The front doors (ui, cli, reminders, reports, the
  coming web and api) ask the services; the services own the queries; store/ owns the connection.
- ``private-import``: no ``_private`` name of one of our modules is used by another: neither
  ``from .scheduling import _insert`` nor ``scheduling._insert(...)`` on an imported module. What
  another module needs is public (no underscore) and documented. Dunder names are not private.
- ``qt-contract``: the import-linter contract "qt-only-in-ui" in pyproject.toml names every
  top-level module of ``reception_app`` except ``ui`` (a new package such as ``web`` must be added
  there, or it could import Qt unchecked). The layers contract checks its own completeness
  (``exhaustive = true``).

Usage: ``python tools/check_architecture.py [ROOT]`` prints one line per violation,
``path:line: rule: message``, grouped by file, and exits 1 if there is any (0 if none). ROOT is the
repository (default: this file's parent's parent). :func:`check` returns the list instead.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "reception_app"
#: Where SQL text belongs (paths relative to the repository, as posix strings).
SQL_HOMES = ("reception_app/store/", "reception_app/services/", "db/")
#: The folders checked, and the dotted package each one is installed as (pyproject's package-dir).
SOURCES = {"reception_app": "reception_app", "db": "reception_app.migrations"}
#: The import-linter contract that keeps Qt inside ui/, and the packages allowed to import Qt.
QT_CONTRACT_ID = "qt-only-in-ui"
QT_PACKAGES = ("ui",)

_ID = r"[A-Za-z_][\w.]*"
#: SQL statements and clauses, upper-case keywords only (see the module docstring).
SQL_PATTERN = re.compile(
    rf"""
      \bSELECT\b[\s\S]*?\bFROM\b
    | \bSELECT\s+(?:DISTINCT\s+)?{_ID}\s*\(
    | \bINSERT\s+INTO\b
    | \bUPDATE\s+(?:ONLY\s+)?{_ID}(?:\s+(?:AS\s+)?\w+)?\s+SET\b
    | \bDELETE\s+FROM\b
    | \b(?:CREATE|DROP|ALTER)\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+|UNIQUE\s+|MATERIALIZED\s+)?
        (?:TABLE|INDEX|VIEW|FUNCTION|PROCEDURE|TRIGGER|ROLE|USER|DATABASE|SCHEMA|EXTENSION|SEQUENCE|TYPE
          |POLICY|DOMAIN)\b
    | \bGRANT\s+[\s\S]+?\s(?:TO|ON)\s
    | \bREVOKE\s+[\s\S]+?\sFROM\s
    | \bTRUNCATE\s+(?:TABLE\s+)?{_ID}
    | \b(?:LISTEN|UNLISTEN|NOTIFY)\s+{_ID}
    | \bCOPY\s+{_ID}\s*(?:\([^)]*\)\s*)?(?:FROM|TO)\b
    | \bWITH\s+(?:RECURSIVE\s+)?\w+(?:\s*\([^)]*\))?\s+AS\s+(?:NOT\s+)?(?:MATERIALIZED\s+)?\(
    | \bWHERE\s+{_ID}\s*(?:=|<|>|!=|\bIN\b|\bIS\b|\bLIKE\b|\bBETWEEN\b)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, order=True)
class Violation:
    """One broken rule: ``path`` (posix, relative to the repository), 1-based ``line``, ``rule``
    (``sql``, ``private-import`` or ``qt-contract``) and a one-line ``message``."""

    path: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.message}"


def is_private(name: str) -> bool:
    """Whether ``name`` is private by Python's convention: one leading underscore, not a dunder."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def looks_like_sql(text: str) -> str | None:
    """The first SQL statement or clause found in ``text`` (whitespace collapsed), else None."""
    match = SQL_PATTERN.search(text)
    return None if match is None else " ".join(match.group(0).split())


def _docstring_nodes(tree: ast.AST) -> set[int]:
    """The ``id()`` of every docstring constant of the module, its classes and functions."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                ids.add(id(body[0].value))
    return ids


def _literal_text(node: ast.AST) -> str | None:
    """The text of a string literal (an f-string's replacement fields read as ``_``), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) and isinstance(part.value, str) else "_"
                       for part in node.values)
    return None


def _module_name(root: Path, path: Path) -> tuple[str, bool]:
    """(dotted name of the module at ``path``, whether it is a package's ``__init__``)."""
    rel = path.relative_to(root)
    top, *rest = rel.with_suffix("").parts
    is_package = rest[-1:] == ["__init__"]
    if is_package:
        rest = rest[:-1]
    return ".".join([*SOURCES[top].split("."), *rest]), is_package


def _module_file(root: Path, dotted: str) -> Path | None:
    """The file of our module ``dotted`` (a ``.py`` or a package's ``__init__.py``), if it exists."""
    for top, package in sorted(SOURCES.items(), key=lambda kv: -len(kv[1])):
        if dotted == package or dotted.startswith(package + "."):
            tail = dotted[len(package):].lstrip(".").split(".") if dotted != package else []
            base = root / top / Path(*tail) if tail else root / top
            for candidate in (base.with_suffix(".py"), base / "__init__.py"):
                if candidate.is_file():
                    return candidate
            return None
    return None


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    """The absolute dotted name of ``from <level dots><target> import …`` written in ``module``."""
    if level == 0:
        return target or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, *([target] if target else [])])


def _is_ours(dotted: str) -> bool:
    return dotted == PACKAGE or dotted.startswith(PACKAGE + ".")


def check_file(root: Path, path: Path) -> list[Violation]:
    """The ``sql`` and ``private-import`` violations of one Python file under ``root``."""
    rel = path.relative_to(root).as_posix()
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=rel)
    module, is_package = _module_name(root, path)
    found: list[Violation] = []

    # Names bound to one of our modules: `from . import scheduling`, `import reception_app.x as x`.
    module_aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.level, node.module)
            if not _is_ours(base):
                continue
            for alias in node.names:
                if is_private(alias.name):
                    found.append(Violation(rel, node.lineno, "private-import",
                                           f"imports {alias.name} from {base}"))
                elif _module_file(root, f"{base}.{alias.name}") is not None:
                    module_aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_ours(alias.name) and alias.asname:
                    module_aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in module_aliases and is_private(node.attr) \
                and module_aliases[node.value.id] != module:
            found.append(Violation(rel, node.lineno, "private-import",
                                   f"uses {node.value.id}.{node.attr} of {module_aliases[node.value.id]}"))

    if not rel.startswith(SQL_HOMES):
        skip = _docstring_nodes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):   # an f-string: its text parts, each value as "_"
                skip.update(id(part) for part in node.values)
        for node in ast.walk(tree):
            text = _literal_text(node) if id(node) not in skip else None
            if text is not None:
                sql = looks_like_sql(text)
                if sql is not None:
                    shown = sql if len(sql) <= 60 else sql[:57] + "..."
                    found.append(Violation(rel, node.lineno, "sql", f"SQL text {shown!r}"))
    return found


def _python_files(root: Path) -> Iterator[Path]:
    for top in SOURCES:
        yield from sorted((root / top).rglob("*.py"))


def check_qt_contract(root: Path) -> list[Violation]:
    """A ``qt-contract`` violation for each top-level module of the package that the contract
    ``qt-only-in-ui`` of pyproject.toml does not name (or one if the contract is missing)."""
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config.get("tool", {}).get("importlinter", {}).get("contracts", [])
    contract = next((c for c in contracts if c.get("id") == QT_CONTRACT_ID), None)
    if contract is None:
        return [Violation("pyproject.toml", 1, "qt-contract", f"no import-linter contract {QT_CONTRACT_ID!r}")]
    named = {m.removeprefix(PACKAGE + ".") for m in contract.get("source_modules", [])}
    package = root / PACKAGE
    tops = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    tops |= {p.parent.name for p in package.glob("*/__init__.py")}
    return [Violation("pyproject.toml", 1, "qt-contract",
                      f"{PACKAGE}.{name} is not a source module of {QT_CONTRACT_ID!r}: it could import Qt")
            for name in sorted(tops - named - set(QT_PACKAGES))]


def check(root: Path, files: Iterable[Path] | None = None) -> list[Violation]:
    """Every violation under the repository ``root`` (of ``files`` only, if given), sorted by file
    and line."""
    found: list[Violation] = []
    for path in (files if files is not None else _python_files(root)):
        found += check_file(root, path)
    if files is None:
        found += check_qt_contract(root)
    return sorted(found)


def main(argv: list[str]) -> int:
    """Print the violations of the repository (``argv[0]``, default this file's grandparent), grouped
    by file; return 1 if there are any."""
    root = Path(argv[0]).resolve() if argv else Path(__file__).resolve().parents[1]
    violations = check(root)
    current = None
    for v in violations:
        if v.path != current:
            current = v.path
            print(f"{v.path}:")
        print(f"  {v}")
    rules = sorted({v.rule for v in violations})
    print(f"check_architecture: {len(violations)} violation(s)" + (f" ({', '.join(rules)})" if rules else ""))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
