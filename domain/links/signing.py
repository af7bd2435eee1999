"""Link secrets: a random id stored on the key plus a tag only the installation can compute.

A link's secret is ``<link id><tag>``: the link id (16 URL-safe characters, random, stored in
``vpn_keys.link_id``: 96 bits, or 64 bits of hex digits for keys the links migration filled
in) and a 128-bit HMAC-SHA256 tag of it under ``LINK_SECRET`` (22 characters, never stored).
The tag is what makes a link unguessable: the card can always show the link again (the tag is
recomputed), while the database alone, or a guess, cannot produce a working one.
"""

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from db.models import VPNKey

ID_LENGTH = 16
TAG_LENGTH = 22  # base64url of 16 bytes
SECRET_LENGTH = ID_LENGTH + TAG_LENGTH
PATH = "/conf/"
_CONTEXT = b"vpnkeys-link:"
# Looked up in place of a malformed secret, so every request does the same work.
_NO_ID = "~" * ID_LENGTH


def new_link_id() -> str:
    """A fresh random link id (96 bits)."""
    return secrets.token_urlsafe(12)


@dataclass(frozen=True)
class LinkSigner:
    """Makes and checks the links of one installation (``PUBLIC_URL`` + ``LINK_SECRET``)."""

    public_url: str
    key: bytes = field(repr=False)

    def tag(self, link_id: str) -> str:
        """The tag that makes ``link_id`` a working secret."""
        digest = hmac.new(self.key, _CONTEXT + link_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")

    def secret(self, key: VPNKey) -> str | None:
        """The secret of ``key``'s link (``None`` for a key without a link id)."""
        return key.link_id + self.tag(key.link_id) if key.link_id else None

    def url(self, key: VPNKey) -> str | None:
        """``ssconf://HOST/conf/<secret>#<name>``: what the Outline app is given."""
        return self.url_of(key.link_id, key.name)

    def url_of(self, link_id: str | None, name: str) -> str | None:
        """The link of the key with ``link_id`` and ``name`` (``None`` without a link id)."""
        if not link_id:
            return None
        host = urlsplit(self.public_url).netloc
        secret = link_id + self.tag(link_id)
        return f"ssconf://{host}{PATH}{secret}#{quote(name, safe='')}"

    def link_id_of(self, secret: str) -> tuple[str, bool]:
        """``(link id to look up, whether the tag is right)``, in constant time."""
        if len(secret) != SECRET_LENGTH or not secret.isascii():
            return _NO_ID, hmac.compare_digest(self.tag(_NO_ID), "!" * TAG_LENGTH)
        link_id, tag = secret[:ID_LENGTH], secret[ID_LENGTH:]
        return link_id, hmac.compare_digest(self.tag(link_id), tag)


def dynamic_url(signer: LinkSigner | None, key: VPNKey) -> str | None:
    """The key's dynamic link, or ``None`` when the installation has no ``PUBLIC_URL``."""
    return signer.url(key) if signer is not None else None
