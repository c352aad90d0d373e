# syntax=docker/dockerfile:1
# One image for every Ripple service: `ripple manager|reporter|agent ...` (and the tools).
# Runs as user ripple (uid/gid 10001, home /home/ripple), with a read-only root filesystem in
# the Helm chart and in docker-compose.yml: everything a service writes goes to /tmp or to the
# home's caches (an emptyDir or a tmpfs there).

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
RUN python -m venv /opt/ripple && /opt/ripple/bin/pip install --no-cache-dir . \
    && /opt/ripple/bin/ripple --help >/dev/null

FROM python:3.11-slim
# a user with a home: Helm's SDK (the agent's helmCharts) and other tools read and write
# under $HOME (caches, configuration); the chart points the Helm cache at an emptyDir
# (RIPPLE_HELM_CACHE_DIR, HELM_*_HOME), these are the defaults elsewhere
RUN groupadd --gid 10001 ripple \
    && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/ripple \
        --shell /usr/sbin/nologin ripple \
    && mkdir -p /home/ripple/.cache/ripple/helm /home/ripple/.config /home/ripple/.local/share \
    && chown -R 10001:10001 /home/ripple
COPY --from=build /opt/ripple /opt/ripple
ENV PATH=/opt/ripple/bin:$PATH \
    HOME=/home/ripple \
    XDG_CACHE_HOME=/home/ripple/.cache \
    XDG_CONFIG_HOME=/home/ripple/.config \
    XDG_DATA_HOME=/home/ripple/.local/share \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# numeric, so that Kubernetes' runAsNonRoot can verify it
USER 10001:10001
WORKDIR /home/ripple
# 8080: the manager's REST API; 9090: /livez, /readyz, /metrics (--metrics-port)
EXPOSE 8080 9090
ENTRYPOINT ["ripple"]
CMD ["--help"]
