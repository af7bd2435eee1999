#!/bin/sh
# TEST AID: the entrypoint of the local postgres/redis/nginx stand-in images (see
# standin-images.sh). It honours what compose.yaml relies on from the real images:
# postgres: POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, PGDATA (initialised on first start,
#   password auth over TCP, listening on every address), run as the postgres user;
# redis-server: /data as its directory, protected mode off (as the real image builds it),
#   run as the redis user; anything else (nginx, pg_isready, redis-cli, sh) runs as given.
set -eu

as() {  # as USER COMMAND…: drop root for the server process
  user=$1
  shift
  exec setpriv --reuid="$user" --regid="$user" --init-groups "$@"
}

case "${1:-}" in
postgres)
  : "${PGDATA:=/var/lib/postgresql/data}" "${POSTGRES_USER:=postgres}"
  : "${POSTGRES_DB:=$POSTGRES_USER}" "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
      echo "standin postgres: POSTGRES_PASSWORD is not set" >&2
      exit 1
    fi
    pwfile=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
    chown postgres "$pwfile"
    setpriv --reuid=postgres --regid=postgres --init-groups \
      initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
      --auth-host="$POSTGRES_HOST_AUTH_METHOD" -D "$PGDATA" >/dev/null
    rm -f "$pwfile"
    printf 'host all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"
    printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"
    if [ "$POSTGRES_DB" != postgres ]; then
      setpriv --reuid=postgres --regid=postgres --init-groups \
        postgres --single -D "$PGDATA" postgres >/dev/null <<SQL
CREATE DATABASE "$POSTGRES_DB" OWNER "$POSTGRES_USER";
SQL
    fi
  fi
  as postgres "$@"
  ;;
redis-server)
  mkdir -p /data && chown redis:redis /data
  shift
  case "${1:-}" in
  *.conf) conf=$1 && shift && as redis redis-server "$conf" "$@" ;;
  *) as redis redis-server --protected-mode no "$@" ;;
  esac
  ;;
esac
exec "$@"
