"""Who uses the service: Telegram users and API tokens."""
