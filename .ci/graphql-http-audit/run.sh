#!/usr/bin/env bash
# GraphQL-over-HTTP conformance audit (graphql-http's auditServer).
#
#   .ci/graphql-http-audit/run.sh http://127.0.0.1:8000/graphql   audit a running gateway
#   .ci/graphql-http-audit/run.sh                                 start one, audit it, stop it
#
# The gateway started here is `sureflights serve` on a free loopback port with SQLite in a
# temporary directory and no REDIS_URL, as .ci/run starts it. Exits non-zero when any MUST or
# SHOULD fails.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

if [ ! -d "$here/node_modules/graphql-http" ]; then
  npm ci --silent --no-audit --no-fund --prefix "$here"
fi

if [ $# -ge 1 ]; then
  exec node "$here/audit.mjs" "$1"
fi

python="$root/.venv/bin/python"
workdir="$(mktemp -d)"
port="$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# `exec` makes $! the server itself, so the trap stops the server and not only a subshell.
(cd "$workdir" && exec env -u REDIS_URL DATABASE_URL="sqlite:///$workdir/audit.db" \
  "$root/.venv/bin/sureflights" serve --host 127.0.0.1 --port "$port" >"$workdir/server.log" 2>&1) &
server_pid=$!
cleanup() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  rm -rf "$workdir"
}
trap cleanup EXIT

for _ in $(seq 1 150); do
  if curl -fsS "http://127.0.0.1:$port/health/live" >/dev/null 2>&1; then
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "the gateway exited before answering; its log:" >&2
    cat "$workdir/server.log" >&2
    exit 2
  fi
  sleep 0.2
done

node "$here/audit.mjs" "http://127.0.0.1:$port/graphql"
