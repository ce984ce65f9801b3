#!/bin/sh
# The README's main command (`npm start`): installs, builds, seeds the demo configs into the embedded
# store (PGlite in ./.summit/data; no Consul, no PostgreSQL needed) and runs the sidecar agent on
# http://127.0.0.1:7070 until Ctrl-C. CONSUL_HTTP_ADDR / DATABASE_URL switch on the real tiers.
set -eu
cd "$(dirname "$0")/.."
PNPM="npx --yes pnpm@10.34.8"
$PNPM install --frozen-lockfile
$PNPM run build
if [ -z "${CONSUL_HTTP_ADDR:-}" ] && [ -z "${DATABASE_URL:-}" ]; then
  node_modules/.bin/tsx examples/seed-demo.ts
fi
PORT=${SUMMIT_AGENT_PORT:-7070}
SPORT=${SUMMIT_SERVER_PORT:-7080}
cat >&2 <<MSG
summit-config agent starting (Ctrl-C stops it); its "agent listening" line has the URL it bound
(SUMMIT_AGENT_PORT=0 picks a free port). With the default port, try:
  curl -s 'http://127.0.0.1:$PORT/v1/config/app:demo/database'
  curl -s 'http://127.0.0.1:$PORT/v1/config/app:demo/database?environment=production-eu&explain=1'
  curl -s 'http://127.0.0.1:$PORT/v1/config/app:demo/checkout?ctx.userId=u-42'
The config server (authenticated API) listens on http://127.0.0.1:$SPORT; its admin
token is in .summit/admin-token (written on first start, mode 0600):
  curl -s -H "authorization: Bearer \$(cat .summit/admin-token)" http://127.0.0.1:$SPORT/api/v1/configs
  node packages/agent/bin/summit-config.js list     # the CLI goes through the running server
MSG
exec node packages/agent/bin/summit-config.js agent --config examples/agent.yaml "$@"
