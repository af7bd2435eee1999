"""VPN servers: registration, look-up, health and statistics."""
