# The geo-callfs node's container image, built by `cdk deploy` (or `docker build .`).
# Stage 1 installs the production dependencies exactly as locked and fetches the RDS certificate
# bundle; stage 2 is the runtime: the node's sources, those dependencies, a non-root user.
# The node runs as `node --import tsx app/main.ts`, configured only by CALLFS_ variables.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: the node needs none at run time (embedded Postgres is never used here).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
# The CA bundle that signs RDS certificates, so the node verifies the database (sslmode=verify-full).
RUN node -e "fetch('https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem').then(async (r) => { if (!r.ok) throw new Error('HTTP ' + r.status); require('node:fs').writeFileSync('/app/rds-global-bundle.pem', await r.text()); })"

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chmod=0444 /app/rds-global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem
COPY --from=build /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY app ./app
COPY regions ./regions
COPY --chmod=0555 infra/image/start-node.sh /usr/local/bin/start-node
# The official image's unprivileged user; the root filesystem can be mounted read-only (the
# node writes only to /tmp, which the task definition mounts as a scratch volume).
USER node
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/start-node"]
