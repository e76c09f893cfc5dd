# syntax=docker/dockerfile:1
#
# aliyun-sas-exporter container image.
#
#   docker build -t aliyun-sas-exporter \
#     --build-arg VERSION=$(node -p 'require("./package.json").version') \
#     --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) .
#
#   docker run --rm -p 9717:9717 --read-only --init \
#     -e ALIBABA_CLOUD_ACCESS_KEY_ID -e ALIBABA_CLOUD_ACCESS_KEY_SECRET \
#     -v "$PWD/config:/app/config:ro" aliyun-sas-exporter
#
# The configuration is not baked in: mount it at /app/config/exporter.yaml
# (the default --config.file: config/exporter.yaml of the package, /app).
# Nothing is written at run time, so --read-only / readOnlyRootFilesystem work.
# Pin NODE_IMAGE by digest in release builds (node:22-bookworm-slim@sha256:...).

ARG NODE_IMAGE=node:22-bookworm-slim

# --- build: compile TypeScript ---------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

# --- deps: production dependencies only ------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# No dependency needs an install script (checked in package-lock.json);
# --ignore-scripts keeps it that way.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# --- runtime ---------------------------------------------------------------------
FROM ${NODE_IMAGE}

ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG CREATED=unknown

LABEL org.opencontainers.image.title="aliyun-sas-exporter" \
      org.opencontainers.image.description="Prometheus exporter for Alibaba Cloud Security Center (SAS) virus scan tasks (DescribeScanTaskProgress)" \
      org.opencontainers.image.source="https://github.com/aliyun-sas-exporter/aliyun-sas-exporter" \
      org.opencontainers.image.url="https://github.com/aliyun-sas-exporter/aliyun-sas-exporter" \
      org.opencontainers.image.documentation="https://github.com/aliyun-sas-exporter/aliyun-sas-exporter/blob/main/README.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="docker.io/library/node:22-bookworm-slim"

# ALIYUN_SAS_EXPORTER_REVISION feeds aliyun_sas_exporter_build_info{revision}.
ENV NODE_ENV=production \
    ALIYUN_SAS_EXPORTER_REVISION=${REVISION}
WORKDIR /app

# Owned by root and read-only for the runtime user. package.json carries
# "type": "module", which Node needs to load dist/ as ES modules.
COPY package.json package-lock.json LICENSE ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist

# The `node` user of the official image (uid/gid 1000), numeric so that
# Kubernetes' runAsNonRoot can verify it.
USER 1000:1000

EXPOSE 9717

# Node itself, as slim images have no curl or wget. HEALTHCHECK_URL overrides
# the address (e.g. with another --web.listen-address; with TLS or basic auth
# from --web.config.file, disable the check or point it at a plain listener).
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.HEALTHCHECK_URL || 'http://127.0.0.1:9717/-/healthy', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# Flags go after the image name: docker run ... aliyun-sas-exporter --log.level=debug
ENTRYPOINT ["node", "dist/src/main.js"]
