# SignalDesk service image: `docker build -t signaldesk .` (docs/deploy.md).
# Two stages: the first installs into a virtual environment, the second copies only
# that environment onto a slim base and runs it as an unprivileged user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml requirements.lock README.md LICENSE MANIFEST.in .env.example ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
# The same pinned versions as `make test` and CI (requirements.lock), runtime part only,
# with psycopg for a PostgreSQL SIGNALDESK_DATABASE (docs/scale.md).
RUN python -m venv /opt/signaldesk \
    && /opt/signaldesk/bin/pip install --no-cache-dir --constraint requirements.lock \
        '.[postgresql]'

FROM python:3.11-slim
# libpq: the client library psycopg calls for a PostgreSQL database.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/signaldesk \
        --create-home --shell /usr/sbin/nologin signaldesk
COPY --from=build /opt/signaldesk /opt/signaldesk
ENV PATH=/opt/signaldesk/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SIGNALDESK_DATABASE=/var/lib/signaldesk/signaldesk.db
USER 10001:10001
WORKDIR /var/lib/signaldesk
# The database (and its backups) live on a volume: a new container keeps the feeds,
# the briefings and the Slack installations of the old one.
VOLUME ["/var/lib/signaldesk"]
# Slack HTTP mode listens here (SIGNALDESK_SLACK_PORT); Socket Mode and Discord need no port.
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["signaldesk", "healthcheck"]
ENTRYPOINT ["signaldesk"]
CMD ["run"]
