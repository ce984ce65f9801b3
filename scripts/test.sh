#!/bin/sh
# The README's test command (`npm test`): installs dependencies, checks format, lint and types,
# starts real Consul and PostgreSQL through scripts/services.sh, runs every test suite, stops them.
set -eu
cd "$(dirname "$0")/.."
PNPM="npx --yes pnpm@10.34.8"
# The clouds cannot be reached: no SDK may probe a metadata address.
export AWS_EC2_METADATA_DISABLED=true METADATA_SERVER_DETECTION=none
$PNPM install --frozen-lockfile
$PNPM run lint
$PNPM run typecheck
sh scripts/services.sh run -- sh scripts/vitest-all.sh "$@"
