#!/bin/sh
# Real Consul and PostgreSQL for tests and benchmarks, on 127.0.0.1 and non-default ports.
#
#   scripts/services.sh up                 install if needed, start both, wait until they answer
#   scripts/services.sh down               stop what this script started
#   scripts/services.sh env                print the export lines (CONSUL_HTTP_ADDR, DATABASE_URL, ...)
#   scripts/services.sh status             say what runs
#   scripts/services.sh run -- CMD ...     up, run CMD with the environment set, down (exit code of CMD)
#   scripts/services.sh consul  start|stop|kill|pause|resume     fault injection for tests
#   scripts/services.sh postgres start|stop|kill
#   scripts/services.sh cluster up|down|status|leader|kill-leader|start N|stop N
#                                          a real 3-server Consul cluster (not dev mode,
#                                          -bootstrap-expect=3) on 127.0.0.1:18610/18620/18630
#   scripts/services.sh consul-acl up|down|env|status
#                                          a second dev Consul with ACLs on (default deny) and a known
#                                          management token, HTTP on 127.0.0.1:18700 (another with
#                                          SUMMIT_CONSUL_ACL_PORT; SUMMIT_CONSUL_ACL_TOKEN sets the token)
#   scripts/services.sh consul-tls up DIR|down|env|status
#                                          a third dev Consul serving HTTPS on 127.0.0.1:18724 with
#                                          verify_incoming (client certificates), certificates from DIR
#                                          (ca.pem, server.pem, server-key.pem); plain HTTP on :18720
#
# Binaries: `consul` / PostgreSQL from PATH (or /usr/lib/postgresql/*/bin) when present; otherwise
# Consul 1.8.7 comes from the Debian archive's bullseye suite through the machine's configured Debian
# mirror and PostgreSQL from Debian's packages. Downloads are cached in .cache/ (git-ignored).
set -eu

ROOT=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
CACHE="$ROOT/.cache"
RUN="$CACHE/run"
CONSUL_PORT=${SUMMIT_CONSUL_PORT:-18500}
PG_PORT=${SUMMIT_PG_PORT:-15432}
# PostgreSQL runs as the postgres user, which may not reach the project folder: keep its data in /tmp.
PG_TAG=$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)
# Per checkout and port, so two port sets of one checkout never share a server.
PG_DATA=${SUMMIT_PG_DATA:-/tmp/summit-pg-$PG_TAG-$PG_PORT}
PG_DB=summit

say() { printf 'services: %s\n' "$*" >&2; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$RUN"

is_root() { [ "$(id -u)" = 0 ]; }

# ---------------------------------------------------------------- Consul
consul_bin() {
  if [ -n "${SUMMIT_CONSUL_BIN:-}" ]; then echo "$SUMMIT_CONSUL_BIN"; return; fi
  if command -v consul >/dev/null 2>&1; then command -v consul; return; fi
  if [ -x "$CACHE/bin/consul" ]; then echo "$CACHE/bin/consul"; return; fi
  install_consul >&2
  echo "$CACHE/bin/consul"
}

install_consul() {
  say "consul not on PATH: fetching package consul (1.8.7) from the Debian archive's bullseye suite"
  command -v apt-get >/dev/null 2>&1 || die "consul is not installed and apt-get is missing: install Consul 1.8.7 and put it on PATH"
  # The machine's configured Debian mirror, from its sources (deb822 or one-line format).
  mirror=$(grep -rhoE '(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d 2>/dev/null \
    | grep -v security | head -n 1 | sed -E 's/^(URIs:|deb) +//; s/ *$//')
  [ -n "$mirror" ] || mirror=http://deb.debian.org/debian
  apt_dir="$CACHE/apt"
  mkdir -p "$apt_dir/sources.list.d" "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$CACHE/bin"
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  if [ -f "$keyring" ]; then signed="Signed-By: $keyring"; else signed="Trusted: yes"; fi
  printf 'Types: deb\nURIs: %s\nSuites: bullseye\nComponents: main\n%s\n' "$mirror" "$signed" \
    > "$apt_dir/sources.list.d/bullseye.sources"
  set -- -o Dir::Etc::sourcelist=/dev/null -o Dir::Etc::sourceparts="$apt_dir/sources.list.d" \
    -o Dir::State::lists="$apt_dir/lists" -o Dir::Cache::archives="$apt_dir/archives" \
    -o APT::Sandbox::User=root
  apt-get "$@" update >"$apt_dir/update.log" 2>&1 \
    || die "could not read the bullseye suite from $mirror (see $apt_dir/update.log): Consul cannot be installed"
  (cd "$apt_dir" && rm -f consul_*.deb && apt-get "$@" download consul >"$apt_dir/download.log" 2>&1) \
    || die "could not download package consul from bullseye (see $apt_dir/download.log)"
  rm -rf "$apt_dir/x" && dpkg -x "$apt_dir"/consul_*.deb "$apt_dir/x" \
    || die "could not unpack the consul package"
  cp "$apt_dir/x/usr/bin/consul" "$CACHE/bin/consul" && chmod +x "$CACHE/bin/consul"
  rm -rf "$apt_dir/x" "$apt_dir"/consul_*.deb
  "$CACHE/bin/consul" version | head -n 1 >&2
}

# The pid and log files are named by port: two port sets of one checkout never kill each other's.
CONSUL_PIDFILE="$RUN/consul-$CONSUL_PORT.pid"
CONSUL_LOG="$RUN/consul-$CONSUL_PORT.log"
consul_pid() { [ -f "$CONSUL_PIDFILE" ] && cat "$CONSUL_PIDFILE" 2>/dev/null || true; }
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

consul_answers() {
  # Leader elected and KV usable.
  node -e "
    fetch('http://127.0.0.1:$CONSUL_PORT/v1/status/leader').then(r => r.json())
      .then(l => { if (!l) process.exit(1); return fetch('http://127.0.0.1:$CONSUL_PORT/v1/kv/summit-ping?stale', {signal: AbortSignal.timeout(1000)}) })
      .then(r => process.exit(r.status === 200 || r.status === 404 ? 0 : 1)).catch(() => process.exit(1))" 2>/dev/null
}

consul_start() {
  pid=$(consul_pid)
  if alive "$pid"; then
    kill -CONT "$pid" 2>/dev/null || true
  else
    bin=$(consul_bin)
    # Dev mode: in-memory state, single server; every port moved off the defaults.
    nohup "$bin" agent -dev -bind=127.0.0.1 -client=127.0.0.1 -http-port="$CONSUL_PORT" \
      -dns-port=-1 -grpc-port=-1 -serf-lan-port=$((CONSUL_PORT + 1)) -serf-wan-port=$((CONSUL_PORT + 2)) \
      -server-port=$((CONSUL_PORT + 3)) -log-level=warn >"$CONSUL_LOG" 2>&1 &
    echo $! >"$CONSUL_PIDFILE"
  fi
  i=0
  until consul_answers; do
    i=$((i + 1))
    alive "$(consul_pid)" || die "consul exited at start (see $CONSUL_LOG): $(tail -n 5 "$CONSUL_LOG")"
    [ $i -lt 150 ] || die "consul did not answer on 127.0.0.1:$CONSUL_PORT within 30 s (see $CONSUL_LOG)"
    sleep 0.2
  done
}

# stop_pid PID SIGNAL: signals a (possibly frozen) process, waits up to 10 s, then SIGKILLs it.
stop_pid() {
  if alive "$1"; then
    kill -CONT "$1" 2>/dev/null || true
    kill "-$2" "$1" 2>/dev/null || true
    i=0
    while alive "$1" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    alive "$1" && kill -KILL "$1" 2>/dev/null || true
  fi
}

consul_stop() {
  stop_pid "$(consul_pid)" "${1:-TERM}"
  rm -f "$CONSUL_PIDFILE"
}

# ---------------------------------------------------------------- PostgreSQL
pg_bindir() {
  if [ -n "${SUMMIT_PG_BINDIR:-}" ]; then echo "$SUMMIT_PG_BINDIR"; return; fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return; }
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v initdb)"; return
  fi
  say "PostgreSQL server not found: installing Debian's postgresql package"
  is_root || die "PostgreSQL is not installed and this user cannot apt-get install it: install postgresql"
  (apt-get update >"$RUN/apt-pg.log" 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >>"$RUN/apt-pg.log" 2>&1) \
    || die "could not install postgresql from Debian's packages (see $RUN/apt-pg.log)"
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  die "postgresql installed but initdb not found"
}

as_pg() {
  if is_root; then
    id postgres >/dev/null 2>&1 || die "user postgres does not exist (PostgreSQL refuses to run as root)"
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_running() { [ -f "$PG_DATA/postmaster.pid" ] && as_pg "$(pg_bindir)/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; }

pg_start() {
  bindir=$(pg_bindir)
  if [ ! -f "$PG_DATA/PG_VERSION" ]; then
    rm -rf "$PG_DATA"
    mkdir -p "$PG_DATA"
    is_root && chown postgres: "$PG_DATA"
    chmod 700 "$PG_DATA"
    as_pg "$bindir/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --no-locale >"$RUN/initdb.log" 2>&1 \
      || die "initdb failed (see $RUN/initdb.log)"
  fi
  if ! pg_running; then
    as_pg "$bindir/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/server.log" -w -t 30 \
      -o "-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" start >"$RUN/pg_ctl.log" 2>&1 \
      || die "PostgreSQL did not start on 127.0.0.1:$PG_PORT (see $PG_DATA/server.log): $(tail -n 5 "$PG_DATA/server.log" 2>/dev/null)"
  fi
  i=0
  until "$bindir/pg_isready" -h 127.0.0.1 -p "$PG_PORT" -q; do
    i=$((i + 1)); [ $i -lt 150 ] || die "PostgreSQL did not answer on 127.0.0.1:$PG_PORT within 30 s"
    sleep 0.2
  done
  if ! "$bindir/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc "select 1 from pg_database where datname='$PG_DB'" | grep -q 1; then
    "$bindir/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qc "create database $PG_DB" >/dev/null
  fi
}

pg_stop() {
  mode=${1:-fast}
  [ -f "$PG_DATA/PG_VERSION" ] || return 0
  if [ "$mode" = kill ]; then
    pid=$(head -n 1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)
    alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
    return 0
  fi
  pg_running && as_pg "$(pg_bindir)/pg_ctl" -D "$PG_DATA" -m "$mode" -w -t 30 stop >/dev/null 2>&1 || true
}

# ---------------------------------------------------------------- Consul cluster (3 servers)
# Node N (1..3): HTTP on 18600+10N, serf LAN +1, serf WAN +2, server RPC +3; data in $RUN/cluster/nN.
CLUSTER_BASE=${SUMMIT_CLUSTER_PORT:-18600}
CLUSTER="$RUN/cluster-$CLUSTER_BASE"
node_port() { echo $((CLUSTER_BASE + 10 * $1 + ${2:-0})); }
node_pid() { [ -f "$CLUSTER/n$1.pid" ] && cat "$CLUSTER/n$1.pid" 2>/dev/null || true; }

cluster_node_start() {
  n=$1
  alive "$(node_pid "$n")" && return 0
  bin=$(consul_bin)
  mkdir -p "$CLUSTER/n$n"
  joins=""
  for m in 1 2 3; do [ "$m" = "$n" ] || joins="$joins -retry-join=127.0.0.1:$(node_port "$m" 1)"; done
  # raft_multiplier 1: production timing (elections in about a second), not the relaxed default of 5.
  # shellcheck disable=SC2086
  nohup "$bin" agent -server -bootstrap-expect=3 -node="summit-n$n" -data-dir="$CLUSTER/n$n" \
    -bind=127.0.0.1 -client=127.0.0.1 -http-port="$(node_port "$n")" -dns-port=-1 -grpc-port=-1 \
    -serf-lan-port="$(node_port "$n" 1)" -serf-wan-port="$(node_port "$n" 2)" -server-port="$(node_port "$n" 3)" \
    -hcl 'performance { raft_multiplier = 1 }' -log-level=warn $joins >"$CLUSTER/n$n.log" 2>&1 &
  echo $! >"$CLUSTER/n$n.pid"
}

cluster_node_stop() {
  stop_pid "$(node_pid "$1")" "${2:-TERM}"
  rm -f "$CLUSTER/n$1.pid"
}

# The leader's node number, from any live node's /v1/status/leader (its server RPC address).
cluster_leader() {
  for n in 1 2 3; do
    alive "$(node_pid "$n")" || continue
    addr=$(node -e "
      fetch('http://127.0.0.1:$(node_port "$n")/v1/status/leader', {signal: AbortSignal.timeout(1000)})
        .then(r => r.json()).then(l => process.stdout.write(String(l || ''))).catch(() => {})" 2>/dev/null)
    [ -n "$addr" ] || continue
    port=${addr##*:}
    for m in 1 2 3; do [ "$(node_port "$m" 3)" = "$port" ] && { echo "$m"; return 0; }; done
  done
  return 1
}

cluster_ready() {
  # A leader, and a consistent KV read through every live node.
  cluster_leader >/dev/null || return 1
  for n in 1 2 3; do
    alive "$(node_pid "$n")" || continue
    node -e "
      fetch('http://127.0.0.1:$(node_port "$n")/v1/kv/summit-ping?consistent', {signal: AbortSignal.timeout(1000)})
        .then(r => process.exit(r.status === 200 || r.status === 404 ? 0 : 1)).catch(() => process.exit(1))" 2>/dev/null || return 1
  done
}

cluster_wait() {
  i=0
  until cluster_ready; do
    i=$((i + 1))
    [ $i -lt 300 ] || die "the Consul cluster elected no leader within 60 s (see $CLUSTER/n*.log)"
    sleep 0.2
  done
}

cluster_cmd() {
  case "${1:-}" in
    up) for n in 1 2 3; do cluster_node_start "$n"; done; cluster_wait
        say "consul cluster: http://127.0.0.1:$(node_port 1), :$(node_port 2), :$(node_port 3); leader n$(cluster_leader)" ;;
    down) for n in 1 2 3; do cluster_node_stop "$n" TERM; done; rm -rf "$CLUSTER" ;;
    status) for n in 1 2 3; do if alive "$(node_pid "$n")"; then echo "n$n: running (http $(node_port "$n"))"; else echo "n$n: stopped"; fi; done ;;
    leader) cluster_leader || die "no leader" ;;
    kill-leader) leader=$(cluster_leader) || die "no leader to kill"; cluster_node_stop "$leader" KILL; echo "$leader" ;;
    start) cluster_node_start "${2:?node number}" ;;
    stop) cluster_node_stop "${2:?node number}" TERM ;;
    wait) cluster_wait ;;
    *) die "usage: services.sh cluster up|down|status|leader|kill-leader|start N|stop N|wait" ;;
  esac
}

# ---------------------------------------------------------------- Consul with ACLs / with TLS
# Single dev agents beside the default one, each with its own ports, config file and log in $RUN.
ACL_PORT=${SUMMIT_CONSUL_ACL_PORT:-18700}
ACL_TOKEN=${SUMMIT_CONSUL_ACL_TOKEN:-5f3c8e3a-2d5e-4c1b-9a7e-0c0000a5c1a5}
TLS_PORT=${SUMMIT_CONSUL_TLS_PORT:-18720}
TLS_HTTPS_PORT=$((TLS_PORT + 4))

extra_pid() { [ -f "$RUN/$1.pid" ] && cat "$RUN/$1.pid" 2>/dev/null || true; }

# extra_start NAME PORT CONFIG-FILE: a dev agent with HTTP on PORT (serf/server on PORT+1..3).
extra_start() {
  name=$1 port=$2 config=$3
  alive "$(extra_pid "$name")" && return 0
  bin=$(consul_bin)
  nohup "$bin" agent -dev -bind=127.0.0.1 -client=127.0.0.1 -http-port="$port" \
    -dns-port=-1 -grpc-port=-1 -serf-lan-port=$((port + 1)) -serf-wan-port=$((port + 2)) \
    -server-port=$((port + 3)) -config-file="$config" -log-level=warn >"$RUN/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

# extra_wait NAME PORT [TOKEN]: a leader and a KV read (200/404) over plain HTTP on PORT.
extra_wait() {
  name=$1 port=$2 token=${3:-}
  i=0
  until node -e "
    const h = '$token' ? {'X-Consul-Token': '$token'} : {};
    fetch('http://127.0.0.1:$port/v1/status/leader', {headers: h}).then(r => r.json())
      .then(l => { if (!l) process.exit(1); return fetch('http://127.0.0.1:$port/v1/kv/summit-ping', {headers: h, signal: AbortSignal.timeout(1000)}) })
      .then(r => process.exit(r.status === 200 || r.status === 404 ? 0 : 1)).catch(() => process.exit(1))" 2>/dev/null; do
    i=$((i + 1))
    alive "$(extra_pid "$name")" || die "$name exited at start (see $RUN/$name.log): $(tail -n 5 "$RUN/$name.log")"
    [ $i -lt 150 ] || die "$name did not answer on 127.0.0.1:$port within 30 s (see $RUN/$name.log)"
    sleep 0.2
  done
}

extra_stop() {
  stop_pid "$(extra_pid "$1")" TERM
  rm -f "$RUN/$1.pid"
}

consul_acl_cmd() {
  case "${1:-}" in
    up)
      printf '%s\n' 'primary_datacenter = "dc1"' 'acl {' '  enabled = true' '  default_policy = "deny"' \
        '  enable_token_persistence = false' '  tokens {' "    master = \"$ACL_TOKEN\"" "    agent = \"$ACL_TOKEN\"" \
        '  }' '}' >"$RUN/consul-acl-$ACL_PORT.hcl"
      extra_start "consul-acl-$ACL_PORT" "$ACL_PORT" "$RUN/consul-acl-$ACL_PORT.hcl"
      extra_wait "consul-acl-$ACL_PORT" "$ACL_PORT" "$ACL_TOKEN"
      say "consul with ACLs (default deny) on http://127.0.0.1:$ACL_PORT" ;;
    down) extra_stop "consul-acl-$ACL_PORT" ;;
    env)
      echo "export SUMMIT_CONSUL_ACL_ADDR=http://127.0.0.1:$ACL_PORT"
      echo "export SUMMIT_CONSUL_ACL_TOKEN=$ACL_TOKEN" ;;
    status) if alive "$(extra_pid "consul-acl-$ACL_PORT")"; then echo "consul-acl: running (http $ACL_PORT)"; else echo "consul-acl: stopped"; fi ;;
    *) die "usage: services.sh consul-acl up|down|env|status" ;;
  esac
}

consul_tls_cmd() {
  case "${1:-}" in
    up)
      dir=${2:-}
      [ -n "$dir" ] || die "usage: services.sh consul-tls up DIR (holding ca.pem, server.pem, server-key.pem)"
      dir=$(CDPATH= cd -- "$dir" && pwd)
      for f in ca.pem server.pem server-key.pem; do [ -f "$dir/$f" ] || die "consul-tls: $dir/$f is missing"; done
      printf '%s\n' "ports { https = $TLS_HTTPS_PORT }" "ca_file = \"$dir/ca.pem\"" "cert_file = \"$dir/server.pem\"" \
        "key_file = \"$dir/server-key.pem\"" 'verify_incoming_https = true' >"$RUN/consul-tls-$TLS_PORT.hcl"
      extra_start "consul-tls-$TLS_PORT" "$TLS_PORT" "$RUN/consul-tls-$TLS_PORT.hcl"
      extra_wait "consul-tls-$TLS_PORT" "$TLS_PORT"
      say "consul with TLS on https://127.0.0.1:$TLS_HTTPS_PORT (client certificates required), http on :$TLS_PORT" ;;
    down) extra_stop "consul-tls-$TLS_PORT" ;;
    env)
      echo "export SUMMIT_CONSUL_TLS_ADDR=https://127.0.0.1:$TLS_HTTPS_PORT"
      echo "export SUMMIT_CONSUL_TLS_HTTP_ADDR=http://127.0.0.1:$TLS_PORT" ;;
    status) if alive "$(extra_pid "consul-tls-$TLS_PORT")"; then echo "consul-tls: running (https $TLS_HTTPS_PORT)"; else echo "consul-tls: stopped"; fi ;;
    *) die "usage: services.sh consul-tls up DIR|down|env|status" ;;
  esac
}

# ---------------------------------------------------------------- commands
print_env() {
  cat <<EOF
export CONSUL_HTTP_ADDR=http://127.0.0.1:$CONSUL_PORT
export DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/$PG_DB
export SUMMIT_SERVICES_SCRIPT=$ROOT/scripts/services.sh
export SUMMIT_PG_DATA=$PG_DATA
EOF
}

up() {
  consul_start
  pg_start
  say "consul on http://127.0.0.1:$CONSUL_PORT, postgres on 127.0.0.1:$PG_PORT/$PG_DB"
}

down() {
  [ -d "$CLUSTER" ] && cluster_cmd down
  consul_stop TERM
  pg_stop fast
  rm -rf "$PG_DATA"
  say "stopped"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up) up ;;
  down) down ;;
  env) print_env ;;
  status)
    if alive "$(consul_pid)"; then echo "consul: running (pid $(consul_pid))"; else echo "consul: stopped"; fi
    if pg_running; then echo "postgres: running ($PG_DATA)"; else echo "postgres: stopped"; fi ;;
  run)
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || die "usage: services.sh run -- CMD ..."
    up
    eval "$(print_env)"
    code=0
    "$@" || code=$?
    down
    exit $code ;;
  consul)
    case "${1:-}" in
      start) consul_start ;;
      stop) consul_stop TERM ;;
      kill) consul_stop KILL ;;
      pause) kill -STOP "$(consul_pid)" ;;
      resume) kill -CONT "$(consul_pid)" ;;
      *) die "usage: services.sh consul start|stop|kill|pause|resume" ;;
    esac ;;
  cluster) cluster_cmd "$@" ;;
  consul-acl) consul_acl_cmd "$@" ;;
  consul-tls) consul_tls_cmd "$@" ;;
  postgres)
    case "${1:-}" in
      start) pg_start ;;
      stop) pg_stop fast ;;
      kill) pg_stop kill ;;
      *) die "usage: services.sh postgres start|stop|kill" ;;
    esac ;;
  *) die "usage: services.sh up|down|env|status|run -- CMD|consul ...|postgres ..." ;;
esac
