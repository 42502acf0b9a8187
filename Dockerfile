# syntax=docker/dockerfile:1
# One image for every obkit component. The entrypoint is node; the first argument picks what runs:
#   docker run IMAGE services/gateway/main.ts      (identity-server | api-manager | gateway | mock-register | banking)
#   docker run IMAGE bin/obkit.ts configure …      (the CLI; the default command prints its help)
# TypeScript runs directly on Node 24 (type stripping), so there is no build step.

# Pinned to the Node version the project's toolchain uses (package.json devDependency "node").
# For reproducible builds, pin the digest too: --build-arg NODE_IMAGE=node:24.21.0-bookworm-slim@sha256:…
# `npm run image` passes a base made locally (image/local-base.ts) where no registry is reachable.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

FROM ${NODE_IMAGE} AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only, exactly as locked. No install scripts: obkit uses no native addons
# (the "node" devDependency, which ships a Node binary, is not installed; the image's own node runs).
# Optional build secrets carry the builder's npm registry settings and CA file (`npm run image` passes
# them; a plain `docker build .` has none and npm uses its defaults); they never land in a layer.
RUN --mount=type=secret,id=npmrc,target=/root/.npmrc \
    --mount=type=secret,id=npm-ca,target=/run/secrets/npm-ca \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="obkit" \
      org.opencontainers.image.description="CDR open-banking Data Holder: identity-server, api-manager, gateway, mock-register, banking" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV NODE_ENV=production
WORKDIR /app

# A fixed non-root uid/gid 10001 (the Helm chart's runAsUser). The only writable path is the state
# directory /var/lib/obkit (plus /tmp), so the container runs with a read-only root filesystem.
# /app/.obkit, the default state_dir relative to the working directory, points there too, so the
# image also works without a configuration file.
RUN groupadd --system --gid 10001 obkit \
 && useradd --system --uid 10001 --gid obkit --home-dir /var/lib/obkit --no-create-home \
      --shell /usr/sbin/nologin obkit \
 && mkdir -p /var/lib/obkit \
 && chown obkit:obkit /var/lib/obkit \
 && chmod 0750 /var/lib/obkit \
 && ln -s /var/lib/obkit /app/.obkit

COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY lib ./lib
COPY services ./services
COPY scripts ./scripts
COPY bin ./bin
COPY apis ./apis

USER 10001:10001
VOLUME ["/var/lib/obkit"]
# identity-server, api-manager, gateway, mock-register, banking (all HTTPS).
EXPOSE 9446 9443 8243 7000 9447

# node handles SIGTERM itself (each service drains in-flight requests before exiting).
ENTRYPOINT ["node"]
CMD ["bin/obkit.ts", "--help"]
