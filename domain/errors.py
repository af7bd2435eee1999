"""Typed domain errors: a stable ``code`` and a message that is safe to show anyone."""


class DomainError(Exception):
    """Base class of every error the domain raises on purpose."""

    code = "error"

    def __init__(self, message: str, **params: object) -> None:
        super().__init__(message)
        self.message = message
        self.params = params


class NotFound(DomainError):
    """A user, server or key does not exist (or is not where the caller said)."""

    code = "not_found"


class Conflict(DomainError):
    """The request clashes with the current state (demo used, key taken, key deleted…)."""

    code = "conflict"


class Invalid(DomainError):
    """The input is well-formed but not acceptable."""

    code = "invalid"


class Unauthorized(DomainError):
    """A missing, unknown or revoked API token."""

    code = "unauthorized"


class ServerUnavailable(DomainError):
    """The VPN server failed, refused or dropped the call; nothing was changed."""

    code = "server_unavailable"


class ServerTimeout(ServerUnavailable):
    """The VPN server did not answer in time; nothing was changed."""

    code = "server_timeout"
