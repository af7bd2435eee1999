#!/bin/sh
# TEST AID, not for operators. Builds local stand-ins for the base images the Dockerfile and
# compose.yaml name (python:3.11-slim, postgres:16-alpine, redis:7-alpine, nginx:1.27-alpine)
# from Debian bookworm's packages, for machines that run podman but cannot pull images.
# Each is tagged with the exact name the files use, so they build and run unchanged. Real
# operators pull the real images; nothing here is used by them.
#
#   tests/containers/standin-images.sh            # build the ones that are missing
#   STANDIN_REBUILD=1 tests/containers/standin-images.sh
#
# Needs: podman, mmdebstrap, a reachable Debian mirror (MIRROR). Where egress TLS is
# intercepted, the host's extra CAs (/usr/local/share/ca-certificates) are trusted inside the
# Python stand-in, so `pip install` in the Dockerfile reaches PyPI as the host does.
set -eu

MIRROR=${MIRROR:-http://deb.debian.org/debian}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /var/tmp/vpnkeys-standin.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

PYTHON=docker.io/library/python:3.11-slim
POSTGRES=docker.io/library/postgres:16-alpine
REDIS=docker.io/library/redis:7-alpine
NGINX=docker.io/library/nginx:1.27-alpine
SERVICES=localhost/vpnkeys-standin-services:bookworm

missing() {
  [ "${STANDIN_REBUILD:-}" = 1 ] && return 0
  for image in "$@"; do podman image exists "$image" || return 0; done
  return 1
}

# The host's extra CAs, copied into a rootfs (mmdebstrap hooks get the rootfs as $1).
CA_HOOK='mkdir -p "$1/usr/local/share/ca-certificates" &&
  { cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/" 2>/dev/null || true; } &&
  chroot "$1" update-ca-certificates >/dev/null'

rootfs() {  # rootfs NAME PACKAGES [mmdebstrap options…]: a minbase bookworm tarball
  name=$1 packages=$2
  shift 2
  mmdebstrap --quiet --variant=minbase --include="$packages" \
    --customize-hook="$CA_HOOK" \
    --customize-hook='chroot "$1" apt-get clean' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/*' \
    "$@" bookworm "$WORK/$name.tar" "$MIRROR"
}

# python:3.11-slim: Debian's python3.11 as a venv at /usr/local, so `python` and `pip` are on
# PATH and packages land in /usr/local/lib/python3.11/site-packages, as in the real image.
# postgres, redis and nginx share one rootfs; each image adds its entrypoint and defaults.
# The two rootfs are made at once (mostly downloads), then imported.
python=0 services=0
missing "$PYTHON" && python=1
missing "$POSTGRES" "$REDIS" "$NGINX" && services=1
if [ "$python" = 1 ]; then
  rootfs python ca-certificates,netbase,tzdata,python3.11,python3.11-venv \
    --customize-hook='chroot "$1" python3.11 -m venv /usr/local' &
  python_job=$!
fi
if [ "$services" = 1 ]; then
  rootfs services ca-certificates,postgresql-15,redis-server,redis-tools,nginx \
    --customize-hook='chroot "$1" pg_dropcluster 15 main' \
    --customize-hook='rm -f "$1/etc/nginx/sites-enabled/default"' \
    --customize-hook='ln -sf /dev/stdout "$1/var/log/nginx/access.log"' \
    --customize-hook='ln -sf /dev/stderr "$1/var/log/nginx/error.log"' \
    --customize-hook="upload $HERE/standin-entrypoint.sh /usr/local/bin/standin-entrypoint" \
    --customize-hook='chmod 755 "$1/usr/local/bin/standin-entrypoint"' &
  services_job=$!
fi
[ "$python" = 0 ] || wait "$python_job"
[ "$services" = 0 ] || wait "$services_job"

if [ "$python" = 1 ]; then
  podman import --quiet \
    --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    "$WORK/python.tar" "$PYTHON" >/dev/null
fi
if [ "$services" = 1 ]; then
  podman import --quiet \
    --change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENTRYPOINT ["standin-entrypoint"]' \
    "$WORK/services.tar" "$SERVICES" >/dev/null
  image() {  # image NAME CONTAINERFILE-LINES…
    name=$1
    shift
    printf 'FROM %s\n' "$SERVICES" >"$WORK/Containerfile"
    printf '%s\n' "$@" >>"$WORK/Containerfile"
    podman build --quiet --tag "$name" --file "$WORK/Containerfile" "$WORK" >/dev/null
  }
  image "$POSTGRES" 'ENV PGDATA=/var/lib/postgresql/data' 'VOLUME /var/lib/postgresql/data' \
    'EXPOSE 5432' 'STOPSIGNAL SIGINT' 'CMD ["postgres"]'
  image "$REDIS" 'WORKDIR /data' 'VOLUME /data' 'EXPOSE 6379' 'CMD ["redis-server"]'
  image "$NGINX" 'EXPOSE 80' 'STOPSIGNAL SIGQUIT' 'CMD ["nginx", "-g", "daemon off;"]'
fi
podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'docker.io/library|standin'
