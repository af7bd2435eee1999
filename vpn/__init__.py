"""VPN server clients: the backend protocol, the Outline client and its emulator."""
