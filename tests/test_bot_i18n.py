"""The translation catalogs: compiled .mo files match the .po sources, every string used in
the bot is in them, and the Russian one is complete with the same placeholders."""

import gettext
import io
import re
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES = Path(__file__).parent.parent / "bot" / "locales"
# Texts outside bot/ that use the same catalog (what the Outline app shows for a dynamic link).
ALSO_EXTRACTED = [Path(__file__).parent.parent / "api" / "link_texts.py"]
LANGUAGES = ("en", "ru")
FORMATTER = string.Formatter()
REFRESH = "pybabel extract/update/compile (see README, Translations)"


def catalog(language: str) -> Catalog:
    with (LOCALES / language / "LC_MESSAGES" / "messages.po").open("rb") as source:
        return read_po(source, locale=language)


def compiled(data: bytes) -> dict[object, str]:
    translations = gettext.GNUTranslations(io.BytesIO(data))
    return {k: v for k, v in translations._catalog.items() if k != ""}  # type: ignore[attr-defined]


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in FORMATTER.parse(text) if name is not None}


@pytest.mark.parametrize("language", LANGUAGES)
def test_compiled_catalog_is_up_to_date_with_its_po_file(language: str) -> None:
    expected = io.BytesIO()
    write_mo(expected, catalog(language))
    actual = (LOCALES / language / "LC_MESSAGES" / "messages.mo").read_bytes()
    assert compiled(actual) == compiled(expected.getvalue()), f"recompile: {REFRESH}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_string_of_the_bot_is_in_the_catalog(language: str) -> None:
    used = {
        message
        for _, _, message, _, _ in extract_from_dir(
            LOCALES.parent, method_map=[("**.py", "python")]
        )
    } | {
        message
        for path in ALSO_EXTRACTED
        for _, message, _, _ in extract_from_file("python", str(path))
    }
    known = {m.id for m in catalog(language) if m.id}
    assert used - known == set(), f"missing from {language}: {REFRESH}"
    assert known - used == set(), f"obsolete in {language}: {REFRESH}"


def test_russian_is_complete_and_keeps_every_placeholder() -> None:
    ru = catalog("ru")
    assert ru.num_plurals == 3
    for message in ru:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings) and "fuzzy" not in message.flags, message.id
        wanted = placeholders(ids[-1])
        for text in strings:
            assert placeholders(text) == wanted, (message.id, text)
            assert re.findall(r"</?\w+>", text) == re.findall(r"</?\w+>", ids[0]), text
