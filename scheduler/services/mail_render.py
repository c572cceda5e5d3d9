"""E-mail bodies from templates/email/, in the recipient's language, without Flask."""
from __future__ import annotations

from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .formatting import format_local

LANGUAGES = ("da", "en", "nb")


class MailRenderer:
    def __init__(self, *, templates_dir: Path, translations_dir: Path, zone: ZoneInfo):
        self.templates_dir = templates_dir
        self.translations_dir = translations_dir
        self.zone = zone

    def translations(self, language: str) -> NullTranslations:
        return _translations(str(self.translations_dir), language if language in LANGUAGES else "da")

    def gettext(self, language: str, message: str, **params: object) -> str:
        text = self.translations(language).gettext(message)
        return text % params if params else text

    def render(self, template: str, /, *, language: str, **context: object) -> tuple[str, str]:
        """(plain text, HTML) of templates/email/<name>.txt and .html."""
        env = self._environment(language if language in LANGUAGES else "da")
        return (env.get_template(f"email/{template}.txt").render(**context),
                env.get_template(f"email/{template}.html").render(**context))

    @cache  # noqa: B019  (one environment per language for the renderer's life)
    def _environment(self, language: str) -> Environment:
        env = Environment(loader=FileSystemLoader(self.templates_dir), extensions=["jinja2.ext.i18n"],
                          autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                          trim_blocks=True, lstrip_blocks=True)
        env.install_gettext_translations(self.translations(language), newstyle=True)  # type: ignore[attr-defined]
        env.filters["local"] = lambda value, fmt="full": format_local(value, zone=self.zone, language=language,
                                                                      fmt=fmt)
        return env


@cache
def _translations(directory: str, language: str) -> NullTranslations:
    if language == "da":  # message ids are Danish
        return NullTranslations()
    return Translations.load(directory, [language])
