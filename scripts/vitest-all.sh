#!/bin/sh
# Every suite, against the services scripts/services.sh started: first the suites that share the
# servers, in parallel; then the fault suites (they kill, freeze and restart Consul and PostgreSQL,
# which would break any suite running beside them) one file at a time, alone. Debian's Chromium
# (scripts/browser.sh) is installed first for the console's browser tests, and the alerting rules
# are checked and unit-tested with promtool (scripts/promtool.sh).
set -eu
PNPM="npx --yes pnpm@10.34.8"
# The console's browser tests drive Debian's Chromium: install it when missing (or fail saying how).
sh "$(dirname "$0")/browser.sh" >/dev/null
# The Prometheus alerting rules (deploy/prometheus): promtool check rules and their unit tests.
sh "$(dirname "$0")/promtool.sh"
$PNPM exec vitest run --passWithNoTests --exclude 'test/faults/**' --exclude '**/*-faults.test.ts' "$@"
$PNPM exec vitest run --no-file-parallelism --passWithNoTests faults "$@"
