# The API and the worker, one image. TypeScript runs through tsx (never compiled), as in development.
#   docker run <image>                                        the API (default)
#   docker run <image> node --import tsx services/worker/main.ts   the worker
#   docker run <image> node --import tsx scripts/provision/migrate.ts   apply migrations, exit
# Configuration comes from the environment only: see .env.example.

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    LOG_FORMAT=json
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# Everything else that .dockerignore lets through: the services, workflows, activities, domain, db,
# migrations and scripts/provision/migrate.ts.
COPY . .
USER node
EXPOSE 3000
# node runs as PID 1, which gets no default signal handlers; the services install their own SIGTERM
# and SIGINT handlers and close gracefully.
CMD ["node", "--import", "tsx", "services/api/server.ts"]
