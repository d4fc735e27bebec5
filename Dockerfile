# One image for every taskfleet role: `docker run IMAGE worker | migrate … | board …`.
# (No Docker engine runs on the development machines; this file is not exercised by the tests.)
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY db ./db
COPY bench ./bench
COPY config ./config
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY config ./config
USER node
# The process handles SIGTERM itself (workers drain); no shell in between.
ENTRYPOINT ["node", "--max-semi-space-size=64", "bin/taskfleet.js"]
CMD ["worker", "--health-port", "9464"]
