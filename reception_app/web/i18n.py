"""The portal's languages: English (the words in the templates and the code) and Portuguese, from
gettext catalogs (``web/locale/<lang>/LC_MESSAGES/portal.po``, read with Babel), chosen from the
visitor's choice (the ``lang`` cookie, set by the language switch) or else the browser's
``Accept-Language``.

Dates, times and money on the page follow the visitor's language in the branch's country where
they share a language (``pt`` at a ``pt_BR`` branch → ``pt_BR``), else the language's usual
country (``pt_BR``, ``en_GB``): :func:`page_locale`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from babel.core import Locale, negotiate_locale
from babel.messages.pofile import read_po

#: The languages the portal speaks, the first the default.
LANGUAGES: tuple[str, ...] = ("en", "pt")
#: Each language's own name, for the switch.
LANGUAGE_NAMES = {"en": "English", "pt": "Português"}
#: The country a language's dates and money follow when the branch is elsewhere.
_USUAL = {"en": "en_GB", "pt": "pt_BR"}


@cache
def _catalog(lang: str) -> dict[str, str]:
    """msgid → translation of ``lang`` (empty for English: the msgids are the English words)."""
    if lang == "en":
        return {}
    path = resources.files(__package__) / "locale" / lang / "LC_MESSAGES" / "portal.po"
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy}


@dataclass(frozen=True)
class Translator:
    """The page's language: ``gettext(msgid, **values)`` translates and fills ``%(name)s``."""

    lang: str

    def gettext(self, message: str, **values: Any) -> str:
        text = _catalog(self.lang).get(message, message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        return self.gettext(singular if n == 1 else plural, n=n, **values)

    __call__ = gettext


def translator(lang: str) -> Translator:
    return Translator(lang if lang in LANGUAGES else LANGUAGES[0])


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    """The visitor's language: their own choice (cookie) if the portal speaks it, else the best
    match of ``Accept-Language`` (``"pt-BR,pt;q=0.9,en;q=0.8"`` → ``pt``), else English."""
    if cookie in LANGUAGES:
        return str(cookie)
    wanted: list[tuple[float, str]] = []
    for i, part in enumerate((accept_language or "")[:500].split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag:
            wanted.append((-q, f"{i:03d}{tag.replace('-', '_')}"))
    preferred = [tag[3:] for _, tag in sorted(wanted)]
    found = negotiate_locale(preferred, list(LANGUAGES), sep="_")
    if found is None:
        found = negotiate_locale([p.split("_")[0] for p in preferred], list(LANGUAGES), sep="_")
    return found if found in LANGUAGES else LANGUAGES[0]


def page_locale(lang: str, branch_locale: str) -> str:
    """The locale of dates, times and money on a page in ``lang`` about a branch of ``branch_locale``."""
    try:
        if Locale.parse(branch_locale).language == lang:
            return branch_locale
    except (ValueError, TypeError):
        pass
    return _USUAL.get(lang, "en_GB")
