# tradekit bot image. Build: docker build -t tradekit .   Run (the offline demo):
#   docker run -p 8000:8000 -e TRADEKIT_API_TOKEN=<secret> -v tradekit-data:/data tradekit
# Settings (docs/deploy.md): TRADEKIT_CONFIG (the config file), PORT (the API's port),
# TRADEKIT_API_TOKEN (required: the API listens beyond loopback), DATABASE_URL (optional).
ARG BASE=python:3.11-slim

# -- build: the locked dependencies, the core and the three shipped plugins into /opt/tradekit
FROM ${BASE} AS build
ARG UV_VERSION=0.13.9
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/tradekit
RUN python3 -m venv /opt/uv && /opt/uv/bin/pip install "uv==${UV_VERSION}"
WORKDIR /src
# The third-party dependencies first, from the lock file alone: a layer that later builds reuse
# while only tradekit's own code changes.
COPY pyproject.toml uv.lock ./
COPY plugins/bithumb/pyproject.toml plugins/bithumb/
COPY plugins/breakout/pyproject.toml plugins/breakout/
COPY plugins/slack/pyproject.toml plugins/slack/
RUN /opt/uv/bin/uv sync --locked --no-dev --no-editable --extra postgres --no-install-workspace
COPY README.md LICENSE ./
COPY src ./src
COPY plugins ./plugins
# --no-dev: no test tools; the default `plugins` group brings the shipped plugins;
# --no-editable: the code is copied into the environment, /src is not needed at run time.
RUN /opt/uv/bin/uv sync --locked --no-dev --no-editable --extra postgres \
    && /opt/tradekit/bin/tradekit plugins

# -- runtime: the environment, the examples, a non-root user, data on /data
FROM ${BASE}
ENV PATH=/opt/tradekit/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TRADEKIT_CONFIG=/app/examples/demo.yaml \
    TRADEKIT_DATA_DIR=/data \
    PORT=8000
RUN useradd --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin \
        tradekit \
    && mkdir -p /data && chown tradekit:tradekit /data
COPY --from=build /opt/tradekit /opt/tradekit
COPY examples /app/examples
# Relative SQLite URLs (sqlite:///tradekit.db) land on the volume.
WORKDIR /data
VOLUME ["/data"]
USER 10001:10001
EXPOSE 8000
# SIGTERM: the bot waits for the order that is out (at most 50 s), then stores its events (at most
# 30 s) and tries the notifiers (5 s): at most 85 s. Give it 120 s before a kill: docker stop -t 120,
# compose's stop_grace_period, Railway's drainingSeconds, Render's maxShutdownDelaySeconds.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4)"]
ENTRYPOINT ["tradekit", "--log-json"]
CMD ["run", "--hosted"]
