"""Every table of the service, found from the ORM models, and their values as plain JSON.

Backups are generic: a model another part of the service adds is backed up and restored
without any change here. Tables come in an order that satisfies their foreign keys; a key
that points back (``vpn_keys.previous``) or around a cycle is restored in a second pass.
"""

import base64
import datetime
import decimal
import enum
import uuid
from dataclasses import dataclass, field
from typing import Any

from tortoise import Tortoise, fields
from tortoise.fields.base import Field
from tortoise.models import Model

# The migration tool's own bookkeeping is restored by migrating, never copied.
SKIPPED_APPS = ("aerich",)


@dataclass
class Table:
    """One model's table: its columns in backup order, and the columns restored afterwards."""

    name: str
    model: type[Model]
    columns: list[str]
    fields: dict[str, Field]
    pk: str
    references: dict[str, str] = field(default_factory=dict)  # column -> referenced table
    deferred: list[str] = field(default_factory=list)  # columns set by the second pass

    @property
    def generated_pk(self) -> bool:
        """Whether the database numbers new rows (a sequence to move past restored ids)."""
        pk = self.model._meta.pk
        return bool(pk.generated) and isinstance(pk, fields.IntField | fields.BigIntField)


def _models() -> list[type[Model]]:
    found = []
    for app in Tortoise.apps.values():
        for model in app.values():
            if model.__module__.split(".")[0] not in SKIPPED_APPS and not model._meta.abstract:
                found.append(model)
    return sorted(found, key=lambda m: m._meta.db_table)


def _table(model: type[Model]) -> Table:
    meta = model._meta
    columns, by_column, references = [], {}, {}
    for name, column in meta.fields_db_projection.items():
        columns.append(column)
        by_column[column] = meta.fields_map[name]
    for name in meta.fk_fields | meta.o2o_fields:
        relation = meta.fields_map[name]
        column = meta.fields_db_projection[relation.source_field or f"{name}_id"]
        references[column] = relation.related_model._meta.db_table
    return Table(meta.db_table, model, columns, by_column, meta.db_pk_column, references)


def service_tables() -> list[Table]:
    """Every table, parents before children (initialised ORM required)."""
    pending = {t.name: t for t in map(_table, _models())}
    ordered: list[Table] = []
    placed: set[str] = set()
    while pending:
        ready = [
            t for t in pending.values() if set(t.references.values()) - {t.name} <= placed
        ] or [next(iter(pending.values()))]  # a cycle: break it at the first table
        for table in ready:
            table.deferred = [c for c, ref in table.references.items() if ref not in placed]
            ordered.append(table)
            placed.add(table.name)
            del pending[table.name]
    return ordered


def to_json(column: Field, raw: Any) -> Any:
    """A database value (of either dialect) as plain JSON."""
    value = column.to_python_value(raw)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def to_database(column: Field, value: Any, model: type[Model]) -> Any:
    """A plain JSON value as the parameter the database takes for ``column``."""
    if value is None:
        return None
    if isinstance(column, fields.JSONField):
        return column.to_db_value(value, model)
    if isinstance(column, fields.BinaryField):
        value = base64.b64decode(value)
    elif isinstance(column, fields.TimeDeltaField):
        value = datetime.timedelta(seconds=value)
    # Passing the class, not an instance, keeps ``auto_now`` from stamping the current time.
    return column.to_db_value(column.to_python_value(value), model)
