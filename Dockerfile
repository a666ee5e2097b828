# One image for every Relaydesk process; the command picks which:
#   server: node server/src/api/main.ts   (default)
#   worker: node worker/src/main.ts
#   migrate: node scripts/migrate.ts
# Node 24 runs the TypeScript sources directly (type stripping): no build step.
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# DNS lookups (webhook targets) use libuv's thread pool; 4 threads is too few.
ENV UV_THREADPOOL_SIZE=16

COPY package.json package-lock.json ./
COPY db/package.json db/
COPY server/package.json server/
COPY worker/package.json worker/
COPY client-sdk/package.json client-sdk/
RUN npm ci --omit=dev --no-audit --no-fund

COPY db db
COPY server server
COPY worker worker
COPY client-sdk client-sdk
COPY scripts scripts

USER node
ENV HOST=0.0.0.0 PORT=3000
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:3000/health').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
CMD ["node", "server/src/api/main.ts"]
