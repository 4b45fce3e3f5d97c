# wechat-token-broker container image.
#
#   docker build -t wechat-token-broker:latest .
#   docker compose up -d            (see docker-compose.yml and docs/troubleshooting.md)
#
# Two stages: `build` compiles TypeScript with the dev dependencies; the runtime stage installs production
# dependencies only, copies the compiled dist/, and runs as the unprivileged user 1001.
# NODE_VERSION may be 22 or 24 (current LTS lines); the code itself supports Node >= 20.
ARG NODE_VERSION=22

# ---------------------------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
ENV NPM_CONFIG_AUDIT=false NPM_CONFIG_FUND=false NPM_CONFIG_UPDATE_NOTIFIER=false
# Dependencies first, so the layer is reused while only sources change.
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---------------------------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
WORKDIR /app
ENV NPM_CONFIG_AUDIT=false NPM_CONFIG_FUND=false NPM_CONFIG_UPDATE_NOTIFIER=false

# The service's own user: UID/GID 1001 (the UID the operators' runbooks chown host directories to).
RUN groupadd --system --gid 1001 broker \
 && useradd --system --uid 1001 --gid broker --home-dir /app --no-create-home --shell /usr/sbin/nologin broker

COPY package.json package-lock.json ./
RUN npm ci --omit=dev \
 && npm cache clean --force

# openapi.yam[l] matches nothing when the file is absent; package.json keeps the instruction valid then.
COPY package.json openapi.yam[l] ./
COPY bin ./bin
COPY --from=build /app/dist ./dist

# The code stays owned by root and read-only for the service user; the service writes nothing to disk.
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8084
USER 1001:1001
EXPOSE 8084

# No curl in the image: the CLI checks GET /api/health/live itself (https when TLS_* is set).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "bin/wechat-token-broker.js", "healthcheck", "--timeout", "3s"]

# Exec form: node is PID 1's direct child (or PID 1) and receives SIGTERM for a graceful shutdown. The V8 flags are
# src/cli/nodeFlags.ts's: cheaper token hits after an idle start, and no collection stall every few seconds under
# load, for ~30 MB of memory when idle.
STOPSIGNAL SIGTERM
CMD ["node", "--no-memory-reducer", "--min-semi-space-size=16", "bin/wechat-token-broker.js", "serve"]

LABEL org.opencontainers.image.title="wechat-token-broker" \
      org.opencontainers.image.description="The single source of WeChat access_tokens for an organisation's services" \
      org.opencontainers.image.licenses="MIT"
