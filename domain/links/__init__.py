"""Dynamic access keys: one stable ssconf:// link per key, answering its current server."""
