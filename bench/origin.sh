#!/usr/bin/env bash
# Vendored from /work/shared/bench (the shared proxy benchmark harness, 2026-11-21)
# so that proxyfleet's bench/ is self-contained; keep local changes minimal and marked.
# Origin server for the proxy benchmarks: private nginx on 127.0.0.1:18080.
#   /small -> 100 bytes, /big -> 1 MiB, keep-alive on.
# Usage: origin.sh start|stop|status
set -euo pipefail
PORT="${ORIGIN_PORT:-18080}"
RUN="${BENCH_RUN_DIR:-/tmp/bench-run}/origin"
CONF="$RUN/nginx.conf"

start() {
  mkdir -p "$RUN/www" "$RUN/tmp"
  head -c 100 /dev/zero | tr '\0' 'a' > "$RUN/www/small"
  head -c 1048576 /dev/zero | tr '\0' 'b' > "$RUN/www/big"
  cat > "$CONF" <<NGX
worker_processes 1;
pid $RUN/nginx.pid;
error_log $RUN/error.log warn;
events { worker_connections 4096; multi_accept on; }
http {
  access_log off;
  default_type application/octet-stream;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  client_body_temp_path $RUN/tmp/body;
  proxy_temp_path $RUN/tmp/proxy;
  fastcgi_temp_path $RUN/tmp/fcgi;
  uwsgi_temp_path $RUN/tmp/uwsgi;
  scgi_temp_path $RUN/tmp/scgi;
  server {
    listen 127.0.0.1:$PORT backlog=4096;
    root $RUN/www;
    location = /small { }
    location = /big { }
  }
}
NGX
  if [ -f "$RUN/nginx.pid" ] && kill -0 "$(cat "$RUN/nginx.pid")" 2>/dev/null; then
    echo "origin already running (pid $(cat "$RUN/nginx.pid"))"; return 0
  fi
  nginx -c "$CONF" -p "$RUN" -g 'daemon on;' 2>"$RUN/start.err" || { cat "$RUN/start.err" >&2; exit 1; }
  for _ in $(seq 50); do
    curl -fsS -o /dev/null "http://127.0.0.1:$PORT/small" 2>/dev/null && break; sleep 0.1
  done
  echo "origin up on 127.0.0.1:$PORT (pid $(cat "$RUN/nginx.pid"))"
}

stop() {
  if [ -f "$RUN/nginx.pid" ]; then
    pid="$(cat "$RUN/nginx.pid")"
    kill "$pid" 2>/dev/null || true   # master pid only; master stops its workers
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$RUN/nginx.pid"; echo "origin stopped"
  else
    echo "origin not running"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) [ -f "$RUN/nginx.pid" ] && kill -0 "$(cat "$RUN/nginx.pid")" 2>/dev/null && echo running || echo stopped ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
