# The geo-callfs node's container image, built by `cdk deploy` (or `docker build .`).
# Base: the official Node 24 LTS image on Debian 12 (bookworm-slim), pinned by digest so every
# build starts from the same bytes. The digest was taken from public Dockerfiles that pin
# node:24-bookworm-slim (e.g. cyanxxy/open-ocr-cli-mcp, noted there as Node 24.18.0); check it
# with `docker buildx imagetools inspect node:24-bookworm-slim` before bumping it.
#
#   build    all dependencies, `npm run build` (tsc → dist/, D4)
#   deps     production dependencies only, exactly as locked, no install scripts, no optional
#            platform binaries (the embedded Postgres the node never uses here)
#   rds-ca   the RDS certificate bundle, verified against RDS_CA_BUNDLE_SHA256 (required)
#   runtime  dist/, those dependencies, the bundle; non-root; a HEALTHCHECK
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY app ./app
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM ${NODE_IMAGE} AS rds-ca
# The CA bundle that signs RDS certificates, so the node verifies the database (sslmode=verify-full).
# Downloaded only with its SHA-256 given (cdk: -c rdsCaBundleSha256=...; see infra/README.md):
# a changed or tampered bundle fails the build instead of becoming a trust anchor.
ARG RDS_CA_BUNDLE_SHA256=""
ARG RDS_CA_BUNDLE_URL=https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem
RUN node -e " \
  const want = process.env.RDS_CA_BUNDLE_SHA256 ?? ''; \
  if (!/^[0-9a-f]{64}$/.test(want)) { console.error('RDS_CA_BUNDLE_SHA256 must be the SHA-256 (64 hex digits) of ' + process.env.RDS_CA_BUNDLE_URL + ' (see infra/README.md)'); process.exit(1); } \
  fetch(process.env.RDS_CA_BUNDLE_URL, { signal: AbortSignal.timeout(30000) }).then(async (r) => { \
    if (!r.ok) throw new Error('HTTP ' + r.status); \
    const body = Buffer.from(await r.arrayBuffer()); \
    const got = require('node:crypto').createHash('sha256').update(body).digest('hex'); \
    if (got !== want) throw new Error('RDS CA bundle checksum mismatch: got ' + got + ', expected ' + want); \
    require('node:fs').writeFileSync('/rds-global-bundle.pem', body); \
  }).catch((e) => { console.error(e.message); process.exit(1); });"

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=rds-ca --chmod=0444 /rds-global-bundle.pem /etc/ssl/certs/rds-global-bundle.pem
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY --chmod=0555 infra/image/start-node.sh /usr/local/bin/start-node
COPY --chmod=0444 infra/image/healthcheck.mjs /usr/local/lib/geo-callfs/healthcheck.mjs
# The official image's unprivileged user (uid 1000), by number so orchestrators can check it is
# not root; the root filesystem can be mounted read-only (the node writes only to /tmp, which the
# task definition mounts as a scratch volume).
USER 1000:1000
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "/usr/local/lib/geo-callfs/healthcheck.mjs"]
ENTRYPOINT ["/usr/local/bin/start-node"]
