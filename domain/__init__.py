"""Business rules: every operation the bot, the API, the worker and the CLI perform."""
