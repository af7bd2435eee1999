"""Operating the service: logging, backups and restores, the audit log, the settings reference."""
