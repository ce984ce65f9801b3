#!/bin/sh
# `npm run pack [dir]`: builds the packages and writes installable tarballs into one folder (default
# ./packs). pnpm pack rewrites the `workspace:` ranges to the packages' versions, so npm installs them:
#   npm install ./packs/summit-config-core-0.1.0.tgz ./packs/summit-config-backends-0.1.0.tgz ...
set -eu
cd "$(dirname "$0")/.."
PNPM="npx --yes pnpm@10.34.8"
OUT=${1:-packs}
[ -d node_modules ] || $PNPM install --frozen-lockfile
$PNPM run build >/dev/null
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT"/summit-config-*.tgz
for pkg in core backends secrets server agent; do
  (cd "packages/$pkg" && $PNPM pack --pack-destination "$OUT" >/dev/null)
done
ls "$OUT"/summit-config-*.tgz
