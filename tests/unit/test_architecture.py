"""The architecture rules hold (the same checks as ``make lint``), and the checker of the rules that
import-linter cannot see (tools/check_architecture.py) finds what it should and nothing else.

- The import-linter contracts of pyproject.toml (layers; Qt only in ui/; private modules) are kept:
  ``lint-imports`` is run on the installed package.
- tools/check_architecture.py finds no SQL text outside store/, services/ and db/, no ``_private``
  name used across modules, and a Qt contract that names every top-level module but ui.
- The checker itself, on small source trees written here: SQL in a front door is found, in
  services/ or a docstring or lower-case prose it is not; ``from m import _x`` and ``m._x`` across
  modules are found, dunders and a module's own names are not.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_architecture", ROOT / "tools" / "check_architecture.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("check_architecture", module)   # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


ca = _load_checker()


def test_the_import_linter_contracts_are_kept() -> None:
    run = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
                          "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


def test_no_sql_outside_its_homes_no_private_names_across_modules() -> None:
    violations = ca.check(ROOT)
    assert violations == [], "\n".join(map(str, violations))


# -- the checker on small trees -------------------------------------------------------------------
QT_CONTRACT = """
[[tool.importlinter.contracts]]
id = "qt-only-in-ui"
name = "Qt only in ui"
type = "forbidden"
source_modules = [{sources}]
forbidden_modules = ["PySide6"]
"""


def _tree(root: Path, files: dict[str, str], qt_sources: tuple[str, ...] = ("services",)) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    for package in ("reception_app", "reception_app/ui", "reception_app/services", "db"):
        (root / package).mkdir(parents=True, exist_ok=True)
        (root / package / "__init__.py").touch()
    sources = ", ".join(f'"reception_app.{s}"' for s in qt_sources)
    (root / "pyproject.toml").write_text(QT_CONTRACT.format(sources=sources))
    return root


def _found(root: Path) -> list[tuple[str, int, str]]:
    return [(v.path, v.line, v.rule) for v in ca.check(root)]


def test_sql_is_found_in_a_front_door_and_not_in_services_docstrings_or_prose(tmp_path: Path) -> None:
    _tree(tmp_path, {
        "reception_app/ui/grid.py": '''\
            """The grid. It used to run SELECT id FROM appointment itself (a docstring: not checked)."""
            LABEL = "Select a patient from the list"
            EMPTY = "Nothing to update; delete the filter to see more"
            QUERY = "SELECT id FROM appointment WHERE branch_id = :b"
            def listen(conn, channel):
                conn.execute(f"LISTEN {channel}")
            ''',
        "reception_app/services/day.py": '''\
            QUERY = "SELECT id FROM appointment WHERE branch_id = :b"
            CHANGE = "UPDATE appointment SET status = 'cancelled' WHERE id = :a"
            ''',
        "db/0001.py": 'DDL = "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$"\n',
    })
    assert _found(tmp_path) == [("reception_app/ui/grid.py", 4, "sql"), ("reception_app/ui/grid.py", 6, "sql")]


def test_each_kind_of_statement_is_sql_and_prose_is_not() -> None:
    for text in ("INSERT INTO patient (name) VALUES (:n)", "UPDATE ONLY reminder r SET status = 'sent'",
                 "DELETE FROM booking", "CREATE TABLE t (id int)", "DROP TRIGGER IF EXISTS x ON y",
                 "ALTER ROLE clinic_desk LOGIN", "GRANT SELECT ON patient TO clinic_reception",
                 "REVOKE ALL ON patient FROM PUBLIC", "NOTIFY clinic_day", "COPY staging FROM STDIN",
                 "WITH picked AS (SELECT 1)", " WHERE a.id = :a", "SELECT set_config('x', 'y', true)"):
        assert ca.looks_like_sql(text) is not None, text
    for text in ("Select the day", "Delete from the list?", "Create a user", "update the roster",
                 "The SELECT key opens it", "Press Enter to insert into the queue"):
        assert ca.looks_like_sql(text) is None, text


def test_private_names_across_modules_are_found_own_and_dunder_names_are_not(tmp_path: Path) -> None:
    _tree(tmp_path, {
        "reception_app/services/core.py": '''\
            __all__ = ["place"]
            def _judge(): return 1
            def place(): return _judge()
            ''',
        "reception_app/services/visits.py": '''\
            from . import core
            from .core import __all__, _judge, place
            def go():
                return core._judge() + core.place() + _judge() + place()
            ''',
        "reception_app/ui/dialog.py": '''\
            import reception_app.services.core as booking_core
            from ..services import core
            def f(widget):
                return booking_core._judge(), core.__doc__, widget._private_state
            ''',
    })
    assert _found(tmp_path) == [
        ("reception_app/services/visits.py", 2, "private-import"),
        ("reception_app/services/visits.py", 4, "private-import"),
        ("reception_app/ui/dialog.py", 4, "private-import"),
    ]


def test_a_top_level_module_missing_from_the_qt_contract_is_found(tmp_path: Path) -> None:
    _tree(tmp_path, {"reception_app/web/__init__.py": "", "reception_app/cli.py": ""}, qt_sources=("services", "cli"))
    assert [v.message.split()[0] for v in ca.check(tmp_path)] == ["reception_app.web"]
    _tree(tmp_path, {}, qt_sources=("services", "cli", "web"))
    assert ca.check(tmp_path) == []
