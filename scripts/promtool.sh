#!/bin/sh
# Checks and unit-tests the Prometheus alerting rules in deploy/prometheus with promtool:
#
#   scripts/promtool.sh           promtool check rules alerts.yml, then promtool test rules alerts.test.yml
#   scripts/promtool.sh path      print the promtool used (installing it when missing)
#
# promtool comes from Debian's prometheus package. When it is not on PATH (and SUMMIT_PROMTOOL does
# not name one), the package is downloaded with apt-get (no install, no service started) and only
# promtool is unpacked from it into .cache/bin, as scripts/services.sh does for Consul. Output of
# apt-get goes to .cache/run/apt-prometheus.log.
set -eu

ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
CACHE="$ROOT/.cache"
RUN="$CACHE/run"
RULES="$ROOT/deploy/prometheus"

say() { printf 'promtool: %s\n' "$*" >&2; }
die() { printf 'promtool: error: %s\n' "$*" >&2; exit 1; }

install_promtool() {
  command -v apt-get >/dev/null 2>&1 || die "promtool is missing and apt-get is missing: install Prometheus's promtool and set SUMMIT_PROMTOOL"
  mkdir -p "$RUN" "$CACHE/bin" "$CACHE/apt-prometheus"
  say "promtool not on PATH: unpacking it from Debian's prometheus package (log: $RUN/apt-prometheus.log)"
  dir="$CACHE/apt-prometheus"
  rm -rf "$dir/x" "$dir"/prometheus_*.deb
  # A machine whose package lists were never read (a fresh container) reads them first (root only).
  if ! (cd "$dir" && apt-get download prometheus >"$RUN/apt-prometheus.log" 2>&1); then
    [ "$(id -u)" = 0 ] || die "could not download Debian's prometheus package as this user (see $RUN/apt-prometheus.log): run as root, or install promtool"
    (apt-get update >>"$RUN/apt-prometheus.log" 2>&1 && cd "$dir" && apt-get download prometheus >>"$RUN/apt-prometheus.log" 2>&1) \
      || die "could not download Debian's prometheus package (see $RUN/apt-prometheus.log)"
  fi
  dpkg -x "$dir"/prometheus_*.deb "$dir/x" || die "could not unpack the prometheus package"
  [ -x "$dir/x/usr/bin/promtool" ] || die "the prometheus package has no usr/bin/promtool"
  cp "$dir/x/usr/bin/promtool" "$CACHE/bin/promtool.tmp" && mv "$CACHE/bin/promtool.tmp" "$CACHE/bin/promtool"
  rm -rf "$dir/x" "$dir"/prometheus_*.deb
}

promtool_bin() {
  if [ -n "${SUMMIT_PROMTOOL:-}" ]; then
    [ -x "$SUMMIT_PROMTOOL" ] || die "SUMMIT_PROMTOOL=$SUMMIT_PROMTOOL is not an executable"
    echo "$SUMMIT_PROMTOOL"
    return
  fi
  if command -v promtool >/dev/null 2>&1; then command -v promtool; return; fi
  [ -x "$CACHE/bin/promtool" ] || install_promtool
  echo "$CACHE/bin/promtool"
}

PROMTOOL=$(promtool_bin)
if [ "${1:-}" = path ]; then echo "$PROMTOOL"; exit 0; fi
"$PROMTOOL" check rules "$RULES/alerts.yml"
# Rule files in the test file are relative to it.
(cd "$RULES" && "$PROMTOOL" test rules alerts.test.yml)
