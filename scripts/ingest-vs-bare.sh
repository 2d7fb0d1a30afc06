#!/usr/bin/env bash
# Ingest against a bare net/http handler answering 202, under the same wrk load (64 connections,
# 2 threads, 10 s): BENCHMARKS.md's ingest target. Needs wrk (Debian) and the PostgreSQL of the README.
set -euo pipefail
cd "$(dirname "$0")/.."
conns=${WRK_CONNECTIONS:-64}; secs=${WRK_SECONDS:-10}
db=orders_wrk_$$; data=$(mktemp -d)
shop=ordk_bench_storefront_0000000000000000000000000; adm=ordk_bench_admin_00000000000000000000000000000000
go build -o bin/orders ./cmd/orders && go build -o bin/loadgen ./cmd/loadgen
cleanup() { kill ${pids:-} 2>/dev/null || true; wait 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; rm -rf "$data"; }
trap cleanup EXIT
bin/loadgen bare -addr 127.0.0.1:18490 2>/dev/null & pids="$!"
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable" DATA_DIR=$data HTTP_ADDR=127.0.0.1:18491 \
  ADMIN_ADDR=127.0.0.1:18492 LOG_LEVEL=warn RATE_LIMIT=0 ORDERS_BOOTSTRAP_KEYS="storefront:bench:$shop,admin::$adm" \
  ${INGEST_ROLES:-} bin/orders ${INGEST_COMMAND:-run} > /dev/null 2>&1 & pids="$pids $!"
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18492/readyz >/dev/null && break; sleep 0.2; done
curl -s -X PUT http://127.0.0.1:18491/v1/inventory/LG-0000 -H "Authorization: Bearer $adm" -H 'Content-Type: application/json' -d '{"on_hand":100000000}' >/dev/null
echo "== bare net/http 202"
WRK_KEY=$shop wrk -t2 -c"$conns" -d"${secs}s" --latency -s scripts/wrk-orders.lua http://127.0.0.1:18490 | grep -E "Requests/sec|  50%|  99%|Non-2xx"
echo "== orders ingest (POST /v1/orders)"
WRK_KEY=$shop wrk -t2 -c"$conns" -d"${secs}s" --latency -s scripts/wrk-orders.lua http://127.0.0.1:18491 | grep -E "Requests/sec|  50%|  99%|Non-2xx"
