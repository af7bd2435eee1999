# vpnkeys: the bot, the HTTP API and the lifecycle worker in one process.
#   docker build -t vpnkeys .
#   docker run -p 8080:8080 -v vpnkeys-data:/data -v vpnkeys-backups:/backups --env-file .env vpnkeys
# Any main.py command runs in the same image: `docker run … vpnkeys server add fra1 '{…}'`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 vpnkeys \
    && useradd --system --uid 10001 --gid vpnkeys --home-dir /app --shell /usr/sbin/nologin vpnkeys

WORKDIR /app
# Dependencies first (from pyproject.toml), so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY main.py ./
COPY api ./api
COPY bot ./bot
COPY cli ./cli
COPY db ./db
COPY domain ./domain
COPY vpn ./vpn
COPY deploy/docker-entrypoint.sh /usr/local/bin/vpnkeys-entrypoint
RUN mkdir -p /data /backups && chown vpnkeys:vpnkeys /data /backups

USER vpnkeys
ENV API_HOST=0.0.0.0 \
    API_PORT=8080 \
    DATABASE_URL=sqlite:///data/vpnkeys.sqlite3 \
    BACKUP_DIR=/backups \
    MIGRATE_ON_START=1
VOLUME ["/data", "/backups"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('API_PORT', '8080'), timeout=4)"

STOPSIGNAL SIGTERM
ENTRYPOINT ["vpnkeys-entrypoint"]
CMD ["serve"]
