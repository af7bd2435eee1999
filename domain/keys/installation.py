"""This installation: an id made once and kept in the database, part of every key id it makes.

Remote key ids (the ids chosen for ``PUT /access-keys/{id}``) are 16 decimal digits: the
installation's 6-digit prefix (100000-899999) and 10 random digits. They stay plain decimal
below 2**53 (at most 8999999999999999) because Outline's metrics report ``parseInt(id)``,
and never look like Outline's own small counter ids or the legacy scheme.

Legacy ids (``73`` + 13 digits, made before installations existed) keep working as they are.
The reconciler deletes a server key only when it is certainly this installation's: one with
its prefix that no live row holds, or a legacy one this database's history holds as deleted.
Any other legacy key may belong to another installation sharing the server: it is reported
and left alone.
"""

import secrets
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError

from db import reads
from db.models import Installation

PREFIX_LOW, PREFIX_HIGH = 100_000, 899_999
RANDOM_DIGITS = 10
LEGACY_PREFIX, LEGACY_DIGITS = "73", 15


@dataclass(frozen=True, slots=True)
class KeyIds:
    """The key-id scheme of one installation."""

    prefix: str

    def new(self) -> str:
        """A fresh remote key id."""
        return self.prefix + str(secrets.randbelow(10**RANDOM_DIGITS)).zfill(RANDOM_DIGITS)

    def owns(self, remote_id: str) -> bool:
        """Whether ``remote_id`` was made by this installation."""
        return (
            len(remote_id) == len(self.prefix) + RANDOM_DIGITS
            and remote_id.isdigit()
            and remote_id.startswith(self.prefix)
        )


def is_legacy(remote_id: str) -> bool:
    """Whether ``remote_id`` follows the scheme used before installations had ids."""
    return (
        len(remote_id) == LEGACY_DIGITS
        and remote_id.isdigit()
        and remote_id.startswith(LEGACY_PREFIX)
    )


async def key_ids() -> KeyIds:
    """This installation's scheme; the installation is made on first use (race-safe)."""
    rows = await reads.fetch("SELECT key_prefix FROM installation WHERE id = 1")
    if rows:  # every key create asks: one plain query
        return KeyIds(rows[0]["key_prefix"])
    prefix = str(PREFIX_LOW + secrets.randbelow(PREFIX_HIGH - PREFIX_LOW + 1))
    try:
        row = await Installation.create(id=1, key_prefix=prefix)
    except IntegrityError:  # another process made it first
        row = await Installation.get(id=1)
    return KeyIds(row.key_prefix)
