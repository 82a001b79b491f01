# One image for every DaaS service; docker-compose.yml picks the command (`daas indexer`,
# `daas runner`, `daas api`, `daas db upgrade`). The API serves the web dashboard built in stage one.
FROM node:20-bookworm-slim AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web ./
RUN npm run build

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY pyproject.toml README.md ./
COPY daas ./daas
COPY indexer ./indexer
COPY runner ./runner
COPY api ./api
COPY emulator ./emulator
RUN pip install . && rm -rf build *.egg-info
COPY --from=web /web/dist /app/web/dist
ENV DAAS_API__WEB_DIR=/app/web/dist

# An unprivileged user for the indexer and API; the runner's compose service runs as root because
# it talks to the host's Docker socket (which is root-equivalent anyway).
RUN useradd --system --uid 10001 --home-dir /var/lib/daas --create-home daas
USER daas
ENV DAAS_DATA_DIR=/var/lib/daas
VOLUME ["/var/lib/daas"]

ENTRYPOINT ["daas"]
CMD ["--help"]
