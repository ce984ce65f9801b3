#!/bin/sh
# Debian's Chromium for the console's browser tests (packages/server/test/console), driven by
# playwright-core: Playwright's own browser download is not reachable from these machines.
#
#   scripts/browser.sh            install Debian's chromium when /usr/bin/chromium is missing, print its path
#   scripts/browser.sh path       print the path, or fail with how to install it
#
# SUMMIT_CHROMIUM names another executable. Installing needs root and apt-get, as scripts/services.sh
# installs PostgreSQL; its output goes to .cache/run/apt-chromium.log.
set -eu

ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
RUN="$ROOT/.cache/run"
CHROMIUM=${SUMMIT_CHROMIUM:-/usr/bin/chromium}
HOWTO="install it with: apt-get install -y --no-install-recommends chromium (as root), or run sh scripts/browser.sh as root"

say() { printf 'browser: %s\n' "$*" >&2; }
die() { printf 'browser: error: %s\n' "$*" >&2; exit 1; }

if [ -x "$CHROMIUM" ]; then echo "$CHROMIUM"; exit 0; fi
[ "${1:-install}" = path ] && die "no Chromium at $CHROMIUM: $HOWTO"
[ "$CHROMIUM" = /usr/bin/chromium ] || die "SUMMIT_CHROMIUM=$CHROMIUM is not an executable"
[ "$(id -u)" = 0 ] || die "Chromium is not installed and this user cannot apt-get install it: $HOWTO"
command -v apt-get >/dev/null 2>&1 || die "Chromium is not installed and apt-get is missing: install Chromium and set SUMMIT_CHROMIUM"
mkdir -p "$RUN"
say "no Chromium at $CHROMIUM: installing Debian's chromium package (log: $RUN/apt-chromium.log)"
(apt-get update >"$RUN/apt-chromium.log" 2>&1 \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >>"$RUN/apt-chromium.log" 2>&1) \
  || die "could not install chromium from Debian's packages (see $RUN/apt-chromium.log)"
[ -x "$CHROMIUM" ] || die "the chromium package is installed but $CHROMIUM is missing"
"$CHROMIUM" --version >&2 2>/dev/null || true
echo "$CHROMIUM"
