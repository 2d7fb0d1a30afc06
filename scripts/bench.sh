#!/usr/bin/env bash
# make bench: one `orders run` on loopback with a fresh database and embedded JetStream, the
# load generator for a fixed amount of work, and a results table (bench/results.md, .json)
# with the service's CPU time and peak memory. Needs Go and the PostgreSQL of the README.
set -euo pipefail
cd "$(dirname "$0")/.."

orders=${BENCH_ORDERS:-20000}
concurrency=${BENCH_CONCURRENCY:-64}
rate=${BENCH_RATE:-0}
api=127.0.0.1:${BENCH_API_PORT:-18480}
admin=127.0.0.1:${BENCH_ADMIN_PORT:-18481}
db=orders_bench_$$
db_url="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
data=$(mktemp -d)
shop=ordk_bench_storefront_0000000000000000000000000
adm=ordk_bench_admin_00000000000000000000000000000000
mkdir -p bench bin && rm -f bench/rss.tsv

go build -o bin/orders ./cmd/orders
go build -o bin/loadgen ./cmd/loadgen

# BENCH_NATS=external: `orders run` uses a private nats-server 2.15 (sync_interval: always, as
# the embedded one syncs every write) on a free port instead of embedding one, so that the
# service's CPU and RSS are its own and the server's are reported apart.
nats_env=()
if [ "${BENCH_NATS:-embedded}" = external ]; then
  natsbin=${NATS_SERVER:-${TOOLS_BIN:-$(go env GOPATH)/tools/shopflow-orders}/nats-server}
  [ -x "$natsbin" ] || make deploy-tools >/dev/null
  nats_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  printf 'listen: 127.0.0.1:%s\njetstream { store_dir: "%s/js", sync_interval: always }\n' "$nats_port" "$data" > "$data/nats.conf"
  "$natsbin" -c "$data/nats.conf" > bench/nats-server.log 2>&1 &
  natspid=$!
  nats_env=(NATS_URL=nats://127.0.0.1:$nats_port)
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && break; sleep 0.1; done
fi

cleanup() {
  [ -n "${hookpid:-}" ] && kill "$hookpid" 2>/dev/null || true
  [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  [ -n "${natspid:-}" ] && kill "$natspid" 2>/dev/null && wait "$natspid" 2>/dev/null || true
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$data"
}
trap cleanup EXIT

# BENCH_WEBHOOK=1: the bench storefront registers one webhook endpoint, served by the README's
# development receiver on loopback, so every status of every order is also delivered, signed.
hook_env=()
[ -n "${BENCH_WEBHOOK:-}" ] && hook_env=(WEBHOOK_ALLOW_INSECURE=true WEBHOOK_ALLOW_PRIVATE=true)
env "${hook_env[@]}" "${nats_env[@]}" DATABASE_URL=$db_url DATA_DIR=$data HTTP_ADDR=$api ADMIN_ADDR=$admin LOG_LEVEL=warn LOG_FORMAT=json \
  RATE_LIMIT=0 ADMIN_PPROF=true ORDERS_BOOTSTRAP_KEYS="storefront:bench:$shop,admin::$adm" \
  bin/orders run ${BENCH_SERVICE_FLAGS:-} > bench/orders.log 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://$admin/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "http://$admin/readyz" >/dev/null || { echo "orders did not become ready"; cat bench/orders.log; exit 1; }
if [ -n "${BENCH_WEBHOOK:-}" ]; then
  hook=127.0.0.1:${BENCH_HOOK_PORT:-18482}
  secret=$(curl -sf -X POST -H "Authorization: Bearer $shop" -H 'Content-Type: application/json' \
    -d "{\"url\": \"http://$hook/\", \"events\": []}" "http://$api/v1/webhooks" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["secret"])')
  go build -o bin/webhook-receiver ./cmd/webhook-receiver
  bin/webhook-receiver -addr "$hook" -secret "$secret" > bench/webhook-receiver.log 2>&1 &
  hookpid=$!
fi

cpu() { awk '{print $14 + $15}' "/proc/${1:-$pid}/stat"; }
# The external nats-server's CPU ticks and peak RSS (kB); 0 when it is embedded.
nats_cpu() { if [ -n "${natspid:-}" ]; then cpu "$natspid"; else echo 0; fi; }
# PostgreSQL's own counters: commits and rows of the bench database, and WAL syncs (pg_stat_wal
# is cluster-wide: run the bench on an otherwise idle server for that figure to mean much).
pgstats() {
  psql -h 127.0.0.1 -U postgres -d postgres -AtF, -c "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted,
    (SELECT wal_sync FROM pg_stat_wal), (SELECT wal_records FROM pg_stat_wal), deadlocks FROM pg_stat_database WHERE datname = '$db'"
}
# Where the machine's CPU went: all of it (/proc/stat), and the PostgreSQL backends serving the
# bench database (their utime + stime; backends of the service's pool live through the run).
machine_cpu() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
pg_cpu() {
  local sum=0 p
  for p in $(psql -h 127.0.0.1 -U postgres -d postgres -Atc "SELECT pid FROM pg_stat_activity WHERE datname = '$db'"); do
    [ -r "/proc/$p/stat" ] && sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$sum"
}
# A checkpoint now, not in the middle of the run: one during it costs full-page writes and I/O
# that make two runs hard to compare.
psql -h 127.0.0.1 -U postgres -d postgres -qc CHECKPOINT
ticks=$(getconf CLK_TCK)
mcpu0=$(machine_cpu)
pgcpu0=$(pg_cpu)
cpu0=$(cpu)
natscpu0=$(nats_cpu)
pg0=$(pgstats)
start=$(date +%s.%N)
if [ -n "${BENCH_PROFILE:-}" ]; then # a CPU profile of the service during the load
  curl -s "http://$admin/debug/pprof/profile?seconds=${BENCH_PROFILE}" -o bench/cpu.pprof &
  prof=$!
fi
if [ -n "${BENCH_RSS_EVERY:-}" ]; then # the service's RSS every N seconds of the load: bench/rss.tsv
  (t=0; while kill -0 "$pid" 2>/dev/null; do echo "$t	$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
    sleep "$BENCH_RSS_EVERY"; t=$((t + BENCH_RSS_EVERY)); done) > bench/rss.tsv &
  rsspid=$!
fi
LOADGEN_KEY=$shop LOADGEN_ADMIN_KEY=$adm LOADGEN_DATABASE_URL=$db_url \
  bin/loadgen -url "http://$api" -orders "$orders" -concurrency "$concurrency" -rate "$rate" -json -verify > bench/results.json
end=$(date +%s.%N)
if [ -n "${prof:-}" ]; then wait "$prof"; fi
if [ -n "${rsspid:-}" ]; then kill "$rsspid" 2>/dev/null || true; fi
cpu1=$(cpu)
natscpu1=$(nats_cpu)
nats_peak_kb=0; [ -n "${natspid:-}" ] && nats_peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$natspid/status")
mcpu1=$(machine_cpu)
pgcpu1=$(pg_cpu)
peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
# PostgreSQL 15 backends report their counters (pg_stat_database, pg_stat_wal,
# pg_stat_user_tables) at the end of a transaction at most once a second, and once idle only
# after 10 s (PGSTAT_IDLE_INTERVAL): wait that out, or the last seconds' work is missing (a
# 1 s wait, before 2026-12-01, undercounted rows and WAL syncs alike in every run).
sleep 11
pg1=$(pgstats)
# Group commit (issue 12): the sizes of the groups PostgreSQL work was committed in, from the
# orders_group_commit_size histogram (its _sum and _count per kind of work).
groups=$(curl -s "http://$admin/metrics" | grep -E '^orders_group_commit_size_(sum|count)' | paste -sd';' || true)
# Rows written per table (issue 12: cut what carries no guarantee), from pg_stat_user_tables.
psql -h 127.0.0.1 -U postgres -d "$db" -AtF'|' -c "SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables
  WHERE n_tup_ins + n_tup_upd + n_tup_del > 0 ORDER BY n_tup_ins + n_tup_upd DESC" > bench/tables.txt || true
# Where the time from 202 to settled goes, per step of the order's history (accepted_at, then
# each transition's time as the handler that made it recorded it): p50 / p99 / max per step,
# over all orders and over the slowest 1 % (by 202 → last transition), which names the hop
# that makes the tail.
psql -h 127.0.0.1 -U postgres -d "$db" -AtF'|' -c "
  WITH steps AS (
    SELECT h.order_id, lag(h.status, 1, 'accepted') OVER w || ' → ' || h.status AS step,
           1000 * extract(epoch FROM h.at - lag(h.at, 1, o.accepted_at) OVER w) AS ms,
           1000 * extract(epoch FROM max(h.at) OVER (PARTITION BY h.order_id) - o.accepted_at) AS total_ms
    FROM order_history h JOIN orders o ON o.id = h.order_id
    WINDOW w AS (PARTITION BY h.order_id ORDER BY h.version)),
  slow AS (SELECT order_id FROM steps GROUP BY order_id, total_ms ORDER BY total_ms DESC
           LIMIT greatest(1, (SELECT count(*) / 100 FROM orders)))
  SELECT s.step, count(*), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY s.ms)::numeric, 1),
         round(percentile_cont(0.99) WITHIN GROUP (ORDER BY s.ms)::numeric, 1), round(max(s.ms)::numeric, 1),
         count(*) FILTER (WHERE s.order_id IN (SELECT order_id FROM slow)),
         coalesce(round((percentile_cont(0.5) WITHIN GROUP (ORDER BY s.ms) FILTER (WHERE s.order_id IN (SELECT order_id FROM slow)))::numeric, 1), 0)
  FROM steps s GROUP BY s.step ORDER BY count(*) DESC" > bench/steps.txt || true
hooks=""
if [ -n "${BENCH_WEBHOOK:-}" ]; then # deliveries by status when the last order had settled
  hooks=$(psql -h 127.0.0.1 -U postgres -d "$db" -AtF= -c "SELECT status, count(*) FROM webhook_deliveries GROUP BY status" | paste -sd' ')
fi

python3 - "$orders" "$concurrency" "$rate" "$cpu0" "$cpu1" "$ticks" "$peak_kb" "$start" "$end" "$pg0" "$pg1" "$hooks" "$groups" "$((mcpu1 - mcpu0))" "$((pgcpu1 - pgcpu0))" "$((natscpu1 - natscpu0))" "$nats_peak_kb" <<'PY'
import json, sys, platform, os
orders, conc, rate, cpu0, cpu1, ticks, peak_kb, start, end, pg0, pg1, hooks, groups, mcpu, pgcpu, natscpu, nats_peak_kb = sys.argv[1:]
r = json.load(open("bench/results.json"))
cpu_s = (float(cpu1) - float(cpu0)) / float(ticks)
wall = float(end) - float(start)
r["service"] = {"cpu_seconds": round(cpu_s, 2), "cpu_per_order_ms": round(1000 * cpu_s / max(1, r["accepted"]), 3),
                "peak_rss_mb": round(int(peak_kb) / 1024, 1), "wall_seconds": round(wall, 1)}
if int(nats_peak_kb) > 0:  # BENCH_NATS=external
    r["nats_server"] = {"cpu_seconds": round(int(natscpu) / float(ticks), 2),
                        "cpu_per_order_ms": round(1000 * int(natscpu) / float(ticks) / max(1, r["accepted"]), 3),
                        "peak_rss_mb": round(int(nats_peak_kb) / 1024, 1)}
r["machine"] = {"cpus": os.cpu_count(), "kernel": platform.release(),
                "cpu_seconds": round(int(mcpu) / float(ticks), 2), "postgres_backend_cpu_seconds": round(int(pgcpu) / float(ticks), 2)}
r["machine"]["busy_share"] = round(r["machine"]["cpu_seconds"] / (wall * os.cpu_count()), 2)
# The run's database work per accepted order (the load, the read side and the verify's reads).
names = ["commits", "rows_inserted", "rows_updated", "rows_deleted", "wal_syncs", "wal_records"]
delta = [int(b) - int(a) for a, b in zip(pg0.split(","), pg1.split(","))]
per = max(1, r["accepted"])
r["postgres_per_order"] = {k: round(v / per, 2) for k, v in zip(names, delta)}
r["postgres_deadlocks"] = delta[len(names)]
if groups:
    g = {}
    for line in groups.split(";"):  # orders_group_commit_size_sum{work="intake"} 123
        name, value = line.rsplit(" ", 1)
        work = name.split('"')[1]
        g.setdefault(work, {})["units" if name.startswith("orders_group_commit_size_sum") else "groups"] = int(float(value))
    for v in g.values():
        v["mean_size"] = round(v.get("units", 0) / max(1, v.get("groups", 0)), 2)
    r["group_commit"] = g
if hooks:
    r["webhook_deliveries"] = dict(kv.split("=") for kv in hooks.split())
json.dump(r, open("bench/results.json", "w"), indent=2)
i, s = r["ingest_latency_ms"], r["accepted_to_settled_ms"]
def rss_summary():
    mb = [int(line.split()[1]) / 1024 for line in open("bench/rss.tsv") if len(line.split()) == 2]
    half = mb[len(mb) // 2:] or mb
    return (f"{mb[0]:.0f} / {min(mb):.0f} / {max(mb):.0f} / {mb[-1]:.0f} MB ({len(mb)} samples every {os.environ.get('BENCH_RSS_EVERY')} s; "
            f"second half within {100 * (max(half) - min(half)) / min(half):.0f} %)") if mb else "no samples"

rows = [
  ("orders accepted", f'{r["accepted"]} of {orders} in {r["place_seconds"]:.1f} s'),
  ("accepted per second", f'{r["accepted_per_second"]:.0f}'),
  ("ingest latency p50 / p90 / p99 / max", f'{i["P50"]:.1f} / {i["P90"]:.1f} / {i["P99"]:.1f} / {i["Max"]:.1f} ms'),
  ("settled per second", f'{r["settled_per_second"]:.0f}'),
  ("202 → settled p50 / p99", f'{s["P50"]:.1f} / {s["P99"]:.1f} ms'),
  ("by status", ", ".join(f"{k} {v}" for k, v in sorted(r["by_status"].items()))),
  ("errors", ", ".join(f"{k} {v}" for k, v in sorted(r["errors"].items())) or "none"),
  ("service CPU", f'{cpu_s:.1f} s ({r["service"]["cpu_per_order_ms"]} ms per order)'),
  ("machine CPU during the run: all, of it PostgreSQL's backends (per order)", f'{r["machine"]["cpu_seconds"]:.1f} s, {r["machine"]["postgres_backend_cpu_seconds"]:.1f} s ({1000 * r["machine"]["cpu_seconds"] / per:.2f} ms, {1000 * r["machine"]["postgres_backend_cpu_seconds"] / per:.2f} ms); {100 * r["machine"]["busy_share"]:.0f} % of {os.cpu_count()} CPUs busy'),
  ("service peak RSS", f'{r["service"]["peak_rss_mb"]} MB'),
  ("NATS", "embedded in the service" if "nats_server" not in r else
   f'external nats-server: CPU {r["nats_server"]["cpu_seconds"]:.1f} s ({r["nats_server"]["cpu_per_order_ms"]} ms per order), peak RSS {r["nats_server"]["peak_rss_mb"]} MB'),
  *([("service RSS sampled during the load: first / min / max / last", rss_summary())] if os.path.exists("bench/rss.tsv") else []),
  ("PostgreSQL per order: commits, rows inserted / updated / deleted", "{commits} · {rows_inserted} / {rows_updated} / {rows_deleted}".format(**r["postgres_per_order"])),
  ("PostgreSQL per order: WAL syncs, WAL records (cluster-wide)", "{wal_syncs} · {wal_records}".format(**r["postgres_per_order"])),
  ("PostgreSQL deadlocks (retried)", str(r["postgres_deadlocks"])),
  ("group commit, per kind: units / groups = mean size", ", ".join(f'{w} {v["units"]} / {v["groups"]} = {v["mean_size"]}' for w, v in sorted(r["group_commit"].items())) if "group_commit" in r else "no orders_group_commit_size metric"),
  ("webhook deliveries by status when all had settled", r.get("webhook_deliveries", "no endpoint (BENCH_WEBHOOK unset)")),
  ("verify", "ok" if r.get("verify", {}).get("ok") else f'FAILED: {r.get("verify")}'),
]
tables = []
for line in open("bench/tables.txt"):
    name, ins, upd, dele = line.strip().split("|")
    tables.append((name, round(int(ins) / per, 2), round(int(upd) / per, 2), round(int(dele) / per, 2)))
r["rows_per_order_by_table"] = {n: {"inserted": i, "updated": u, "deleted": d} for n, i, u, d in tables}
with open("bench/results.md", "w") as f:
    f.write(f"# make bench: {orders} orders, concurrency {conc}, rate {rate or 'max'} ({os.cpu_count()} CPUs)\n\n")
    f.write("| measure | value |\n|---|---|\n")
    for k, v in rows:
        f.write(f"| {k} | {v} |\n")
    f.write("\n| table | rows inserted / updated / deleted per order |\n|---|---|\n")
    for n, i, u, d in tables:
        f.write(f"| {n} | {i} / {u} / {d} |\n")
    f.write("\n| step of the order's history | orders | p50 / p99 / max ms | in the slowest 1 % (orders, p50 ms) |\n|---|---|---|---|\n")
    steps = {}
    for line in open("bench/steps.txt"):
        name, n, p50, p99, mx, slow_n, slow_p50 = line.strip().split("|")
        steps[name] = {"orders": int(n), "p50_ms": float(p50), "p99_ms": float(p99), "max_ms": float(mx),
                       "slowest_1pct_orders": int(slow_n), "slowest_1pct_p50_ms": float(slow_p50)}
        f.write(f"| {name} | {n} | {p50} / {p99} / {mx} | {slow_n}, {slow_p50} |\n")
r["settle_steps"] = steps
json.dump(r, open("bench/results.json", "w"), indent=2)
print(open("bench/results.md").read())
if not r.get("verify", {}).get("ok"):
    sys.exit(1)
PY
