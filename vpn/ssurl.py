"""Reading the credentials back out of a Shadowsocks ``ss://`` access URL."""

import base64
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a key needs to be re-created with the same access URL."""

    method: str
    password: str
    port: int
    host: str = ""


def parse_access_url(access_url: str) -> Credentials:
    """Split ``ss://base64url(method:password)@host:port/…``; ``ValueError`` if malformed."""
    parts = urlsplit(access_url)
    if parts.scheme != "ss" or not parts.username or parts.port is None or not parts.hostname:
        raise ValueError("not a shadowsocks access URL")
    userinfo = parts.username
    padded = userinfo + "=" * (-len(userinfo) % 4)
    method, sep, password = base64.urlsafe_b64decode(padded).decode().partition(":")
    if not sep:
        raise ValueError("access URL has no method:password")
    return Credentials(method=method, password=password, port=parts.port, host=parts.hostname)
