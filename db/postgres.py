"""PostgreSQL connections of the ORM's pool, given back to the pool without a round trip.

asyncpg's pool sends ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL``
each time a connection is given back: one more round trip per query made through the pool
(every ORM statement outside a transaction), which doubled the database time of the hot
reads. Nothing here leaves session state on a pooled connection (the worker leader's
advisory lock has a connection of its own; no ``SET``, ``LISTEN`` or cursor outlives a
statement), and asyncpg still rolls back a transaction left open before giving it back.
"""

import asyncpg


class PooledConnection(asyncpg.Connection):
    """An asyncpg connection whose release sends nothing to the server."""

    def get_reset_query(self) -> str:
        """No reset query (see the module's docstring)."""
        return ""
