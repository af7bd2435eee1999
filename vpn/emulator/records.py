"""Access keys as the emulator stores them: plain dicts in the API's AccessKey shape."""

import base64
import ipaddress
import secrets
import string
from typing import Any

DEFAULT_METHOD = "chacha20-ietf-poly1305"
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


class KeyRecord(dict[str, Any]):
    """A stored key ``{"id", "name", "password", "port", "method", "dataLimit"?, "accessUrl"}``,
    also readable by attribute (``record.access_url``, ``record.limit``)."""

    @property
    def id(self) -> str:
        return self["id"]

    @property
    def name(self) -> str:
        return self["name"]

    @name.setter
    def name(self, value: str) -> None:
        self["name"] = value

    @property
    def password(self) -> str:
        return self["password"]

    @property
    def port(self) -> int:
        return self["port"]

    @property
    def method(self) -> str:
        return self["method"]

    @property
    def access_url(self) -> str:
        return self["accessUrl"]

    @property
    def limit(self) -> int | None:
        return limit_of(self)


def new_password() -> str:
    """22 random letters and digits, as shadowbox makes them (131 bits)."""
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(22))


def access_url(method: str, password: str, host: str, port: int) -> str:
    """``ss://base64url(method:password)@host:port/?outline=1`` (SIP002, no padding, no name).

    An IPv6 host is written out in full and bracketed, as outline-shadowsocksconfig does.
    """
    userinfo = base64.urlsafe_b64encode(f"{method}:{password}".encode()).decode().rstrip("=")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if isinstance(address, ipaddress.IPv6Address):
        host = "[" + ":".join(f"{int(part, 16):x}" for part in address.exploded.split(":")) + "]"
    return f"ss://{userinfo}@{host}:{port}/?outline=1"


def complete(record: dict[str, Any], key_id: str, host: str, port: int) -> KeyRecord:
    """A full ``KeyRecord`` from a possibly hand-made one (a test's plain ``{"id": …}``)."""
    record = record if isinstance(record, KeyRecord) else KeyRecord(record)
    record.setdefault("id", key_id)
    record.setdefault("name", "")
    if "password" not in record:  # (not ``setdefault``: a new password is 22 random draws)
        record["password"] = new_password()
    record.setdefault("port", port)
    record.setdefault("method", DEFAULT_METHOD)
    if "accessUrl" not in record:
        refresh_url(record, host)
    return record


def refresh_url(record: dict[str, Any], host: str) -> None:
    """Rebuild ``accessUrl`` for ``host`` (what a server restart does after a hostname change)."""
    record["accessUrl"] = access_url(record["method"], record["password"], host, record["port"])


def to_json(record: dict[str, Any]) -> dict[str, Any]:
    """The AccessKey object the API answers, fields in the server's order."""
    order = ("id", "name", "password", "port", "method", "dataLimit", "accessUrl")
    return {field: record[field] for field in order if field in record}


def limit_of(record: dict[str, Any]) -> int | None:
    """The key's own data limit in bytes, or ``None``."""
    limit = record.get("dataLimit")
    return None if limit is None else int(limit["bytes"])


def set_limit(record: dict[str, Any], limit: int | None) -> None:
    """Set or (``None``) remove the key's data limit."""
    if limit is None:
        record.pop("dataLimit", None)
    else:
        record["dataLimit"] = {"bytes": limit}
