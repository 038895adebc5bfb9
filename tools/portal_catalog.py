"""Keep the portal's Portuguese catalog in step with its words: extract every message of
``reception_app/web`` (templates and code, keywords ``_`` and ``t``) with Babel and update
``reception_app/web/locale/pt/LC_MESSAGES/portal.po`` (new words come in untranslated, words no
longer used are dropped). ``tests/unit/test_portal_i18n.py`` fails while a word lacks its translation.

Usage: ``python tools/portal_catalog.py``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "reception_app" / "web"
PO = WEB / "locale" / "pt" / "LC_MESSAGES" / "portal.po"


def extract(target: Path) -> None:
    """Write the message template of reception_app/web to ``target`` (pybabel extract)."""
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", str(WEB / "babel.cfg"),
                    "-k", "t", "-k", "_", "--no-location", "--sort-output", "--omit-header", "-o", str(target),
                    str(WEB)], check=True, capture_output=True)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        pot = Path(tmp) / "portal.pot"
        extract(pot)
        if PO.exists():
            subprocess.run([sys.executable, "-m", "babel.messages.frontend", "update", "-i", str(pot), "-o", str(PO),
                            "-l", "pt_BR", "--no-fuzzy-matching", "--ignore-obsolete"],
                           check=True, capture_output=True)
        else:
            PO.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "babel.messages.frontend", "init", "-i", str(pot), "-o", str(PO),
                            "-l", "pt_BR"], check=True, capture_output=True)
    print(f"updated {PO.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
