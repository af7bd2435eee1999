#!/bin/sh
# The container's entrypoint. No arguments: `serve`. A program found on PATH (sh, python…)
# runs as given; anything else is a main.py command: migrate, backup, server add …
# `serve` applies pending migrations itself when MIGRATE_ON_START=1 (the image's default).
set -eu
if [ "$#" -gt 0 ] && command -v "$1" >/dev/null 2>&1; then
  exec "$@"
fi
exec python main.py "$@"
