"""The HTTP API: aiohttp application over the domain layer."""
