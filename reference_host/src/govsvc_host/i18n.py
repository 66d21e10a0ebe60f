"""Languages: Chinese (zh-Hans) is the UI's own language, English comes from a catalogue.

Templates mark text with ``{{ _("…") }}`` (Jinja's i18n extension, new-style gettext, so
``%(name)s`` placeholders are filled and escaped by Jinja). The message ids are the Chinese
text itself; ``locale/en/LC_MESSAGES/messages.po`` translates them. The catalogue is compiled
in memory when the host starts (Babel's ``read_po`` and ``write_mo``): no build step, no
network, and a missing translation shows the Chinese text rather than an error. Update the
catalogue with ``pybabel extract -F reference_host/babel.cfg -o messages.pot
reference_host/src/govsvc_host`` and ``pybabel update``.
"""

from __future__ import annotations

import functools
import gettext
import io
from importlib import resources

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from starlette.requests import Request

__all__ = ["DEFAULT", "LANGUAGES", "language_of", "translations"]

DEFAULT = "zh_Hans"
LANGUAGES = {"zh_Hans": "中文", "en": "English"}
COOKIE = "govsvc_lang"


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``language`` (NullTranslations for the source language)."""
    if language == DEFAULT or language not in LANGUAGES:
        return gettext.NullTranslations()
    po = resources.files("govsvc_host") / "locale" / language / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as source:
        catalog = read_po(source, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def language_of(request: Request, default: str = DEFAULT) -> str:
    """The cookie's choice, else the browser's Accept-Language (en before zh), else default."""
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    accept = request.headers.get("accept-language", "").lower()
    for part in accept.split(","):
        tag = part.split(";")[0].strip()
        if tag.startswith("zh"):
            return DEFAULT
        if tag.startswith("en"):
            return "en"
    return default
