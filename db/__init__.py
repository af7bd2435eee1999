"""Database models, configuration and aerich migrations."""
