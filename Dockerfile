# One image for every Ripple service: `ripple manager|reporter|agent ...`
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
# a home for the user: Helm's SDK needs a writable cache for charts downloaded from
# repositories (the chart mounts an emptyDir at RIPPLE_HELM_CACHE_DIR; this is the fallback)
RUN pip install --no-cache-dir . && useradd --uid 10001 --create-home ripple \
    && mkdir -p /home/ripple/.cache/ripple/helm && chown -R 10001 /home/ripple/.cache
ENV HOME=/home/ripple XDG_CACHE_HOME=/home/ripple/.cache
USER 10001
ENTRYPOINT ["ripple"]
