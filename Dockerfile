# The API and the worker, one image, running the JavaScript that `npm run build` compiles (dist/;
# the worker's workflow bundle is built here once, not at every start).
#   docker run <image>                         the API (default)
#   docker run <image> node dist/worker.js     the worker
#   docker run <image> node dist/migrate.js    apply migrations, exit
# Configuration comes from the environment only: see .env.example.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

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
# package.json says "type": "module", which dist/*.js need.
COPY package.json ./
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000
# node runs as PID 1, which gets no default signal handlers; the services install their own SIGTERM
# and SIGINT handlers and close gracefully.
CMD ["node", "dist/api.js"]
