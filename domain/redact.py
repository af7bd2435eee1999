"""Describing errors for logs and outbox rows without leaking secrets."""

import re

from domain.errors import DomainError

# Access URLs (ss://…), server API URLs and webhook URLs may carry credentials.
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_LIMIT = 200


def redact(text: str) -> str:
    """``text`` with every URL replaced by ``<url>``."""
    return _URL.sub("<url>", text)


def describe(exc: BaseException) -> str:
    """A short, secret-free description: the class name and a redacted message."""
    message = exc.message if isinstance(exc, DomainError) else str(exc)
    text = type(exc).__name__ + (f": {redact(message)}" if message else "")
    return text[:_LIMIT]
