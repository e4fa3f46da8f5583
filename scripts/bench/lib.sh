# What the outside-load benches (scripts/bench/wrk, scripts/bench/lb) share; sourced, not run.
# See docs/benchmarks.md, "Outside load: wrk" and "Behind a load balancer".
#
# The caller sets, before using these: DATABASE_URL (a role that may create databases, on this
# host for the CPU figures), and for bench_wrk: wrk, threads, connections, rate_args (array),
# header, ctype, path.

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bench_root=$(cd "$bench_dir/../.." && pwd)
bench_lua=$bench_dir/requests.lua
hz=$(getconf CLK_TCK)

# bench_need COMMAND PACKAGE: installs PACKAGE from the distribution's packages when COMMAND is
# missing.
bench_need() {
  command -v "$1" >/dev/null && return
  echo "installing $2 (apt-get install -y $2)" >&2
  apt-get install -y "$2" >&2 || { apt-get update >&2 && apt-get install -y "$2" >&2; }
}

# bench_build: builds `workos-server` (release); sets server_bin. With SERVER=path set, runs
# that binary instead and builds nothing (the other half of a before/after pair of builds).
bench_build() {
  if [[ -n "${SERVER:-}" ]]; then
    server_bin=$SERVER
    return
  fi
  echo "building workos-server (release)" >&2
  (cd "$bench_root" && cargo build --release -q -p workos-reference-server --bin workos-server)
  server_bin=${CARGO_TARGET_DIR:-$bench_root/target}/release/workos-server
}

# bench_prepare BENCH TAG PUBLIC_URL: has the in-process bench BENCH prepare a fresh database
# (BENCH_PREPARE, examples/reference-server/benches/support/outside.rs) with requests signed
# over PUBLIC_URL; sets work (the directory of its files), db and db_url.
bench_prepare() {
  local bench=$1 tag=$2 public=$3 base query
  work=$(mktemp -d "${TMPDIR:-/tmp}/workos-$tag.XXXXXX")
  # The preparation is the bench binary in the test profile: it only seeds and signs, and
  # shares the build of the test suites (a release build of the benches is a second full build).
  echo "preparing the database (cargo test --bench $bench, BENCH_PREPARE=$work)" >&2
  (cd "$bench_root" && BENCH_PREPARE=$work BENCH_PUBLIC_URL=$public \
    cargo test -q -p workos-reference-server --bench "$bench" >&2)
  db=$(cat "$work/db")
  base=${DATABASE_URL%%\?*}; query=${DATABASE_URL#"$base"}
  db_url="${base%/*}/$db$query"
}

# bench_fresh_db TAG: an empty database of its own (`workos_TAG_<time>_<pid>`, no schema) and a
# directory for the run's files; sets work, db and db_url, as bench_prepare does.
bench_fresh_db() {
  local base query
  work=$(mktemp -d "${TMPDIR:-/tmp}/workos-$1.XXXXXX")
  db="workos_$1_$(date +%s)_$$"
  psql "$DATABASE_URL" -XAtqc "CREATE DATABASE \"$db\"" >/dev/null
  base=${DATABASE_URL%%\?*}; query=${DATABASE_URL#"$base"}
  db_url="${base%/*}/$db$query"
}

# sql STATEMENT: runs it on the bench database, unaligned and quiet.
sql() { psql "$db_url" -XAtqc "$1"; }

# bench_drop: drops the bench database and its files, unless KEEP_DB=1.
bench_drop() {
  [[ -n "${db:-}" ]] || return 0
  if [[ "${KEEP_DB:-}" == 1 ]]; then
    echo "KEEP_DB=1: kept $db; files in $work" >&2
  else
    psql "$DATABASE_URL" -XAtqc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null || true
    rm -rf "$work"
  fi
  db=
}

# bench_wait_http URL PID LOG: waits until URL answers 2xx while PID runs, failing with LOG's
# tail when PID has exited (a port already taken, say) or after 30 s.
bench_wait_http() {
  local _
  for _ in $(seq 1 300); do
    # An answer counts only while PID still runs: another process on the port would answer
    # too (and take the load meant for this server).
    curl -fsS "$1" >/dev/null 2>&1 && sleep 0.2 && kill -0 "$2" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "no answer from $1" >&2; tail -20 "$3" >&2; return 1
}

# CPU ticks (user + system) of a process; 0 when it is gone.
ticks() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0; }
# The Postgres backends serving the bench database, and the cluster's shared writers.
backends() { sql "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"; }
background() { sql "SELECT pid FROM pg_stat_activity WHERE backend_type IN ('walwriter', 'checkpointer', 'background writer')"; }
# Busy ticks of the whole machine (every CPU: all but idle and iowait).
machine_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
declare -A before
# snapshot PID…: remembers the ticks of the processes named, and of the bench database's
# backends and the shared writers.
snapshot() { local p; for p in $(backends) $(background) "$@"; do before[$p]=$(ticks "$p"); done; }
# used PID…: ticks used since the snapshot by the processes listed (one started since counts
# whole).
used() { local sum=0 p; for p in "$@"; do sum=$((sum + $(ticks "$p") - ${before[$p]:-0})); done; echo "$sum"; }
# per TICKS N: milliseconds of CPU per unit, N units.
per() { awk -v t="$1" -v n="$2" -v hz="$hz" 'BEGIN { if (n > 0) printf "%.3f", t / hz / n * 1000; else print "-" }'; }

# bench_wrk URL FILE SECONDS: wrk with the request file $work/FILE, its output appended to
# $work/wrk.out; prints its RESULT line's fields (requests_*, s2xx…, p99_ms…, rps) as shell
# assignments.
bench_wrk() {
  local url=$1 file=$2 duration=$3 out
  out=$("$wrk" -t"$threads" -c"$connections" -d"${duration}s" --latency "${rate_args[@]}" \
    -s "$bench_lua" "$url" -- "$work/$file" "$header" "$ctype" "$path" "$threads")
  echo "$out" >>"$work/wrk.out"
  grep -o 'Requests/sec: *[0-9.]*' <<<"$out" | awk '{print "rps=" $2}'
  grep '^RESULT' <<<"$out" | cut -d' ' -f2- | tr ' ' '\n'
}

# bench_check_wrk: after a warm-up (w_*) and a run, fails (returns 1, saying why) on any 5xx,
# socket error or request file run dry.
bench_check_wrk() {
  local v ok=0
  for v in w_s5xx s5xx; do [[ ${!v} -eq 0 ]] || { echo "FAIL: ${!v} answers 5xx ($v)" >&2; ok=1; }; done
  for v in w_exhausted exhausted; do [[ ${!v} -eq 0 ]] || { echo "FAIL: $v=${!v}: raise BENCH_REQUESTS" >&2; ok=1; }; done
  [[ $sock_errors -eq 0 && $w_sock_errors -eq 0 ]] ||
    { echo "FAIL: socket errors (warm-up $w_sock_errors, run $sock_errors)" >&2; ok=1; }
  return $ok
}

# bench_check_stored MODE: checks the database against the 2xx answers of the warm-up and the
# run (sms: one `sms` row and one `sms.received` event each, no MessageSid twice; leads: one
# lead and one `lead.created` event each, no email twice); sets rows, distinct, events, ok;
# returns 1, saying why, when they differ.
bench_check_stored() {
  local res=0
  ok=$((w_s2xx + s2xx))
  case "$1" in
    sms)
      read -r rows distinct events < <(sql "SELECT count(*), count(DISTINCT message_sid),
        (SELECT count(*) FROM domain_events WHERE type = 'sms.received')
        FROM sms WHERE message_sid NOT LIKE 'SMhistory%'" | tr '|' ' ') ;;
    leads)
      read -r rows distinct events < <(sql "SELECT count(*), count(DISTINCT email),
        (SELECT count(*) FROM domain_events WHERE type = 'lead.created')
        FROM leads WHERE utm_source = 'bench'" | tr '|' ' ')
      echo "lead statuses: $(sql "SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) n FROM leads WHERE utm_source = 'bench' GROUP BY 1) s")" >&2 ;;
  esac
  # wrk stops with requests in flight whose answers it does not count (at most one a
  # connection, in the warm-up and in the run): stored, but not among the 2xx.
  [[ $rows -ge $ok && $rows -le $((ok + 2 * connections)) ]] ||
    { echo "FAIL: $ok answers 2xx (+ at most $((2 * connections)) uncounted) but $rows rows stored" >&2; res=1; }
  [[ $distinct -eq $rows ]] || { echo "FAIL: $rows rows but $distinct distinct: duplicates" >&2; res=1; }
  [[ $events -eq $rows ]] || { echo "FAIL: $rows rows but $events events" >&2; res=1; }
  return $res
}

# The machine, for the report: CPUs, their model, Postgres's version.
bench_machine() {
  echo "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(psql "$DATABASE_URL" -XAtqc 'SHOW server_version')"
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
