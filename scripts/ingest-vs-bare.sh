#!/usr/bin/env bash
# The ingest line of BENCHMARKS.md: `orders api` alone against a private nats-server 2.15 with
# `sync_interval: always` (every acknowledged write synced), against a bare net/http handler
# answering 202, under the same wrk load (64 connections, 2 threads, 10 s, a new
# Idempotency-Key per request). Needs wrk (installed from Debian when missing), the
# nats-server of `make deploy-tools` (built when missing) and the PostgreSQL of the README.
# Env: WRK_CONNECTIONS, WRK_SECONDS, NATS_SERVER (another nats-server binary).
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${WRK_CONNECTIONS:-64}; secs=${WRK_SECONDS:-10}
db=orders_wrk_$$; data=$(mktemp -d)
shop=ordk_bench_storefront_0000000000000000000000000; adm=ordk_bench_admin_00000000000000000000000000000000
tools=${TOOLS_BIN:-$(go env GOPATH)/tools/shopflow-orders}
nats=${NATS_SERVER:-$tools/nats-server}
[ -x "$nats" ] || make deploy-tools >/dev/null
command -v wrk >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null ||
  { echo "wrk is missing: run 'apt-get install wrk' as root" >&2; exit 1; }; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
nats_port=$(free_port); bare=127.0.0.1:$(free_port); api=127.0.0.1:$(free_port); admin=127.0.0.1:$(free_port)
go build -o bin/orders ./cmd/orders && go build -o bin/loadgen ./cmd/loadgen
cleanup() { kill ${pids:-} 2>/dev/null || true; wait 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; rm -rf "$data"; }
trap cleanup EXIT
cat > "$data/nats.conf" <<EOF
listen: 127.0.0.1:$nats_port
jetstream { store_dir: "$data/js", sync_interval: always }
EOF
"$nats" -c "$data/nats.conf" > "$data/nats.log" 2>&1 & pids="$!"
bin/loadgen bare -addr "$bare" 2>/dev/null & pids="$pids $!"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
bin/orders migrate >/dev/null
NATS_URL=nats://127.0.0.1:$nats_port HTTP_ADDR=$api ADMIN_ADDR=$admin LOG_LEVEL=warn RATE_LIMIT=0 \
  ORDERS_BOOTSTRAP_KEYS="storefront:bench:$shop,admin::$adm" bin/orders api > "$data/api.log" 2>&1 & pids="$pids $!"
for _ in $(seq 1 100); do curl -sf "http://$admin/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "http://$admin/readyz" >/dev/null || { echo "orders api did not get ready:" >&2; cat "$data/api.log" "$data/nats.log" >&2; exit 1; }
echo "nats-server $("$nats" --version | awk '{print $NF}') (sync_interval: always), $(nproc) CPUs, wrk -t2 -c$conns -d${secs}s"
run() { WRK_KEY=$shop wrk -t2 -c"$conns" -d"${secs}s" --latency -s scripts/wrk-orders.lua "http://$1" |
  grep -E "Requests/sec|  50%|  99%|Non-2xx|Socket errors" | tee "$data/$2"; }
echo "== bare net/http 202"; run "$bare" bare
echo "== orders api (POST /v1/orders, 202 after the synced batch ack)"; run "$api" ingest
awk '/Requests\/sec/ {r[FILENAME]=$2} END {printf "== ingest / bare = %.1f %%\n", 100*r[ARGV[2]]/r[ARGV[1]]}' "$data/bare" "$data/ingest"
curl -s "http://$admin/metrics" | awk '/^orders_ingest_batch_orders_(sum|count) / {v[$1]=$2}
  END {if (v["orders_ingest_batch_orders_count"]>0) printf "== batches: %d, %.1f orders each on average\n",
    v["orders_ingest_batch_orders_count"], v["orders_ingest_batch_orders_sum"]/v["orders_ingest_batch_orders_count"]}'
