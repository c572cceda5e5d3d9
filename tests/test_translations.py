"""Languages: the catalogues are complete and current, templates mark every text, pages and e-mails translate.

Message ids are Danish; English (en) and Norwegian Bokmål (nb) come from scheduler/translations/.
After changing texts run `make translations`, translate the new entries, and the .mo files are
compiled by `make install` / `make test` (see the Makefile).
"""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from babel.messages.pofile import read_po
from jinja2 import Environment

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "scheduler" / "translations"
TEMPLATES = ROOT / "templates"
LANGUAGES = ("en", "nb")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def _catalog(path: Path):  # type: ignore[no-untyped-def]
    with path.open("rb") as f:
        return read_po(f)


def _ids(catalog) -> set[str]:  # type: ignore[no-untyped-def]
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


# (a) The .pot is current ----------------------------------------------------------------------

def test_pot_is_up_to_date_with_code_and_templates(tmp_path):
    fresh = tmp_path / "messages.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run([str(pybabel), "-q", "extract", "-F", "babel.cfg", "-k", "N_", "-k", "lazy_gettext",
                    "-o", str(fresh), "."], cwd=ROOT, check=True)
    current, committed = _ids(_catalog(fresh)), _ids(_catalog(TRANSLATIONS / "messages.pot"))
    assert len(current) > 400  # the extraction really found the app's texts
    assert current == committed, (f"run `make translations`; new: {sorted(current - committed)}, "
                                  f"gone: {sorted(committed - current)}")


# (b) Every message is translated ----------------------------------------------------------------

@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogue_translates_every_message(language):
    catalog = _catalog(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po")
    template = _ids(_catalog(TRANSLATIONS / "messages.pot"))
    assert _ids(catalog) >= template, f"missing in {language}: {sorted(template - _ids(catalog))}"
    problems = []
    for message in catalog:
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        if message.fuzzy or not all(s and s.strip() for s in strings):
            problems.append(f"untranslated or fuzzy: {ids[0]!r}")
            continue
        wanted = sorted(PLACEHOLDER.findall(ids[0]))
        for string in strings:
            if sorted(PLACEHOLDER.findall(string)) != wanted:
                problems.append(f"placeholders differ: {ids[0]!r} -> {string!r}")
    assert not problems, "\n".join(problems)


# (c) No unmarked text in templates --------------------------------------------------------------

# Visible texts that are the same in every language.
ALLOWED_TEXT = {"CPR", "PIN", "ICS", "CSV", "TOML", "JSON", "Excel", "Outlook", "Google", "webcal",
                "·", "–", "—", "|", "/", ":", "×", "»", "«"}
VISIBLE_ATTRIBUTES = {"placeholder", "title", "alt", "aria-label"}
HOLE = "\x00"  # stands in for every {{ }}, {% %} and {% trans %} text, so it never counts as literal


def _literal_markup(source: str) -> str:
    """The template's own text outside {{ }}, {% %}, comments and {% trans %} blocks."""
    env = Environment(extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    out: list[str] = []
    in_trans = 0
    previous = None
    for _, kind, value in env.lex(source):
        if kind == "name" and previous == "block_begin":
            in_trans += {"trans": 1, "endtrans": -1}.get(value, 0)
        if kind == "data" and not in_trans:
            out.append(value)
        elif kind in ("data", "variable_begin", "block_begin"):
            out.append(HOLE)
        if kind != "whitespace":
            previous = kind
    return "".join(out)


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        if tag in ("script", "style"):
            self._hidden += 1
        self.texts += [value for name, value in attrs if name in VISIBLE_ATTRIBUTES and value]
        if tag == "input" and dict(attrs).get("type") in ("submit", "button"):
            self.texts.append(dict(attrs).get("value") or "")

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        if not self._hidden:
            self.texts.append(data)


def unmarked_texts(source: str, *, html: bool) -> list[str]:
    markup = _literal_markup(source)
    if html:
        parser = _VisibleText()
        parser.feed(markup)
        parser.close()
        texts = parser.texts
    else:
        texts = [markup]
    found = []
    for text in texts:
        for piece in text.split(HOLE):
            piece = " ".join(piece.split())
            if re.search(r"[^\W\d_]", piece) and piece not in ALLOWED_TEXT:
                found.append(piece)
    return found


def test_the_checker_finds_unmarked_text():
    source = ('<p title="Hej">Dav {{ name }} <b>{{ _("Gem") }}</b> {% trans %}Ok{% endtrans %} CPR</p>'
              '{# en note #}<script>var x = "y";</script>')
    assert unmarked_texts(source, html=True) == ["Hej", "Dav"]
    assert unmarked_texts('{{ _("Kære %(name)s", name=name) }}\nHilsen', html=False) == ["Hilsen"]


TEMPLATE_FILES = sorted(p for p in TEMPLATES.rglob("*") if p.suffix in (".html", ".txt"))


def test_every_template_text_is_marked_for_translation():
    assert TEMPLATE_FILES
    problems = [f"{path.relative_to(ROOT)}: {text!r}" for path in TEMPLATE_FILES
                for text in unmarked_texts(path.read_text(encoding="utf-8"), html=path.suffix == ".html")]
    assert not problems, "wrap these in _():\n" + "\n".join(problems)


# (d) Pages and e-mails come out in the chosen language ---------------------------------------

@pytest.mark.parametrize(("language", "expected", "danish"), [
    ("en", "New discharge meeting", "Ny udskrivningssamtale"),
    ("nb", "Ny utskrivningssamtale", "Ny udskrivningssamtale"),
])
def test_pages_are_in_the_users_language(factory, session, login, language, expected, danish):
    secretary = factory.secretary()
    secretary.language = language
    client = login(secretary, session)
    page = client.get("/meetings/").text
    assert expected in page
    assert f'<html lang="{language}">' in page
    if expected != danish:
        assert danish not in page


def test_email_is_rendered_in_norwegian():
    from scheduler.services.mail_render import MailRenderer

    renderer = MailRenderer(templates_dir=TEMPLATES, translations_dir=TRANSLATIONS,
                            zone=ZoneInfo("Europe/Copenhagen"))
    meeting = SimpleNamespace(start_at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC), meeting_type="discharge",
                              video_join_url="https://meet.example.org/abc", video_guest_pin=None)
    text, html = renderer.render("citizen_invite", language="nb", meeting=meeting, kind="invite", name="Kari",
                                 organizer_name="Udskrivningssamtaler", kind_title="Utskrivningssamtale (video)",
                                 discharge=True)
    for body in (text, html):
        assert "Kjære Kari" in body
        assert "Slik deltar du" in body
        assert "Sådan deltager du" not in body
    assert renderer.gettext("nb", "Invitation: udskrivningssamtale %(when)s", when="1.12.") == \
        "Invitasjon: utskrivningssamtale 1.12."
