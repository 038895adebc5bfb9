"""The portal's Portuguese catalog covers every word of the portal, with the same placeholders,
and the language is chosen as a visitor expects."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from reception_app.web import i18n

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "reception_app" / "web" / "locale" / "pt" / "LC_MESSAGES" / "portal.po"
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def test_every_word_of_the_portal_has_its_portuguese_translation(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import portal_catalog
    finally:
        sys.path.pop(0)
    pot = tmp_path / "portal.pot"
    portal_catalog.extract(pot)
    with pot.open("rb") as fh:
        wanted = {str(m.id) for m in read_po(fh) if m.id}
    with PO.open("rb") as fh:
        have = {str(m.id): str(m.string) for m in read_po(fh, locale="pt_BR") if m.id}
    assert wanted, "nothing was extracted"
    missing = sorted(w for w in wanted if not have.get(w))
    assert not missing, f"untranslated (run tools/portal_catalog.py, then translate): {missing}"
    for msgid in wanted:
        assert set(_PLACEHOLDER.findall(msgid)) == set(_PLACEHOLDER.findall(have[msgid])), msgid


def test_the_language_follows_the_choice_then_the_browser():
    assert i18n.choose_language(None, "pt-BR,pt;q=0.9,en;q=0.8") == "pt"
    assert i18n.choose_language(None, "en-US,en;q=0.9,pt;q=0.5") == "en"
    assert i18n.choose_language(None, "de-DE,de;q=0.9,pt;q=0.3") == "pt"
    assert i18n.choose_language(None, "fr") == "en"
    assert i18n.choose_language(None, None) == "en"
    assert i18n.choose_language("en", "pt-BR") == "en"
    assert i18n.choose_language("xx", "pt-BR") == "pt"
    assert i18n.page_locale("pt", "pt_BR") == "pt_BR"
    assert i18n.page_locale("pt", "en_GB") == "pt_BR"
    assert i18n.page_locale("en", "pt_BR") == "en_GB"


def test_translations_fill_their_placeholders():
    t = i18n.translator("pt")
    assert t("Hello, %(name)s", name="Maria") == "Olá, Maria"
    assert i18n.translator("en")("Hello, %(name)s", name="Maria") == "Hello, Maria"
    assert subprocess.run([sys.executable, "-c", "import reception_app.web.i18n"], check=False).returncode == 0
