# One image for every Ripple service: `ripple manager|reporter|agent ...`
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
RUN pip install --no-cache-dir . && useradd --uid 10001 ripple
USER 10001
ENTRYPOINT ["ripple"]
