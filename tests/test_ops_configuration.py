"""The configuration reference is generated from ``Settings`` and every setting explains itself."""

from pathlib import Path

from domain.operations.reference import configuration_reference, missing_descriptions
from domain.settings import Settings

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
REGENERATE = ".venv/bin/python -m domain.operations.reference > docs/configuration.md"


def test_every_setting_has_a_description() -> None:
    missing = missing_descriptions()
    assert not missing, (
        f"these settings have no description: {', '.join(missing)}. Give each one "
        "Field(..., description='what it does') in domain/settings.py, then run "
        f"`{REGENERATE}`"
    )


def test_the_configuration_reference_is_current() -> None:
    assert DOC.read_text() == configuration_reference(), (
        f"docs/configuration.md is out of date with domain/settings.py: run `{REGENERATE}`"
    )


def test_the_reference_lists_every_setting_by_its_variable() -> None:
    text = DOC.read_text()
    for name in Settings.model_fields:
        assert f"| `{name.upper()}` |" in text
