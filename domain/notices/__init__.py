"""Telling people and systems: the outbox, Telegram notices, broadcasts, webhooks."""
