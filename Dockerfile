# One image for every taskfleet role; the first argument picks it:
#   docker run IMAGE                                   a worker (the default), health on :9464
#   docker run IMAGE server --host 0.0.0.0 …            the operations server (`board` is its old name)
#   docker run IMAGE migrate --legacy-data /data/legacy  one migration, on the fleet's workers
#   docker run IMAGE run --legacy-data /data/legacy      the whole lifecycle (prepare → … → decommission)
# docker-compose.yml and deploy/kubernetes/ run it; test/deploy-kubernetes.test.ts checks this file
# (no Docker engine runs on the development machines, so it is checked by reading, not by building).

# ---- build: the full dependency tree, to compile TypeScript -------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
# The manifests first, so the dependency layer is cached until they change.
COPY package.json package-lock.json ./
# `npm ci` runs the `prepare` script (`tsc -p tsconfig.build.json`), which compiles src/ and db/ (the
# schema migrations are compiled modules) into dist/; bin/ and config/ are shipped as they are.
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY db ./db
# Then drop the dev dependencies (TypeScript, ESLint, vitest …) from the tree the final image copies.
RUN npm ci --no-audit --no-fund \
    && npm prune --omit=dev --no-audit --no-fund \
    && npm cache clean --force

# ---- runtime: production dependencies, the compiled code, the shipped config ---------------------------
FROM node:20-bookworm-slim
# tini as PID 1 reaps the children a role starts (`run` starts one process per phase, workers start local
# workflow steps) and forwards SIGTERM/SIGINT to node unchanged, so the worker still drains itself.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# package.json: the code finds its package root (config/, bin/) by it.
COPY package.json ./
COPY bin ./bin
# The shipped config, named one by one: a local config/users.yaml (password hashes, maybe a JWT secret)
# must never be baked into an image; the server gets its users file mounted.
COPY config/dagger.yaml config/legacy-mapping.yaml config/verification.yaml config/users.example.yaml ./config/
COPY config/templates ./config/templates
# The mount points of the legacy data and of a role's working files (backups, reports, logs, archive:
# relative paths resolve under the working directory). Owned by the runtime user, so a named volume
# mounted here starts writable by it (Docker copies the directory's owner into a new volume).
RUN mkdir -p /data/legacy /data/work && chown 1000:1000 /data/legacy /data/work
# The node image's unprivileged `node` user, by number: Kubernetes' runAsNonRoot can only verify a
# numeric user.
USER 1000:1000
# The worker's health server (`--health-port`, below); the operations server listens on 3000.
EXPOSE 9464 3000
# /readyz answers 200 when Postgres and the queue answer (src/workers/health-server.ts). The slim image
# has no curl: node's fetch does it. The port is TASKFLEET_HEALTH_PORT when set, else the CMD's 9464.
# Roles without a health server (server, migrate, run) get their own check, or none, from compose/k8s.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.TASKFLEET_HEALTH_PORT || '9464') + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form, no shell: SIGTERM reaches node (through tini), and a worker finishes its active jobs before
# it exits. The flag is the one bin/taskfleet.js's shebang passes (bigger young generation, faster GC).
# The absolute path: the migrate Job and compose service run in a working directory of their own (/data/work).
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--max-semi-space-size=64", "/app/bin/taskfleet.js"]
CMD ["worker", "--health-port", "9464"]
