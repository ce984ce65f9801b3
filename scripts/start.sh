#!/bin/sh
# The README's main command (`npm start`): installs, builds, and runs the main job on the embedded
# default (no Consul, no PostgreSQL).
set -eu
cd "$(dirname "$0")/.."
PNPM="npx --yes pnpm@10.34.8"
$PNPM install --frozen-lockfile
$PNPM run build
$PNPM exec tsx examples/quickstart.ts "$@"
