"""Typed errors raised by VPN server clients; messages never contain the server's secret URL."""


class VpnError(Exception):
    """Base class: a VPN server call failed."""

    def __init__(self, server: str, message: str) -> None:
        super().__init__(f"server {server!r}: {message}")
        self.server = server
        self.message = message


class VpnNotFound(VpnError):
    """The server does not have the requested object (HTTP 404)."""


class VpnConflict(VpnError):
    """The server refused because the object exists or the value clashes (HTTP 409)."""


class VpnInvalid(VpnError):
    """The server rejected the request as malformed (HTTP 400)."""


class VpnUnavailable(VpnError):
    """The server failed, timed out, dropped the connection or answered 5xx."""


class VpnNoAnswer(VpnUnavailable):
    """The request may have reached the server, but no answer came back: it may have acted."""


class VpnTimeout(VpnNoAnswer):
    """The server did not answer within the configured timeout."""


class VpnCertificateMismatch(VpnUnavailable):
    """The server's TLS certificate does not match the pinned SHA-256 fingerprint."""
