#!/usr/bin/env bash
# Benchmarks. Figures, and the command that produced them, go into docs/benchmarks.md.
#   scripts/bench.sh micro     codec, header and storage micro-benchmarks (criterion and bench binaries)
#   scripts/bench.sh reader    reader workload, Tidings against INN 2.7 side by side (node issue)
#   scripts/bench.sh ingest    streaming ingest, Tidings against INN 2.7 side by side (peering issue)
set -euo pipefail
cd "$(dirname "$0")/.."

# Reader workload: a private INN 2.7 (scripts/inn-instance.sh, fastest setup: CNFS + tradindexed) and a
# Tidings node, both on loopback, filled with the same articles in one group, then the same
# tidings-bench reader workloads against each. Environment knobs:
#   BENCH_COUNT (20000 articles)  BENCH_DURATION (5 s per run)  BENCH_ROUNDS (2, best of)
#   BENCH_CONNS (1 connection per reader run)  BENCH_INN_OVMETHOD (tradindexed, or ovsqlite)
#   BENCH_INN_PORT (11819)  BENCH_TIDINGS_PORT (11820)  BENCH_KEEP=1 keeps the work directory
bench_reader() {
  local count=${BENCH_COUNT:-20000} duration=${BENCH_DURATION:-5} conns=${BENCH_CONNS:-1}
  local rounds=${BENCH_ROUNDS:-2} inn_ov=${BENCH_INN_OVMETHOD:-tradindexed}
  local inn_port=${BENCH_INN_PORT:-11819} tid_port=${BENCH_TIDINGS_PORT:-11820}
  local group=bench.reader target=${CARGO_TARGET_DIR:-target}
  local tag epoch bench results up
  if ! [ "$count" -ge 1 ] 2>/dev/null || [ "$count" -gt 1000000 ]; then
    echo "BENCH_COUNT must be 1..1000000" >&2
    return 64
  fi
  if ! [ "$rounds" -ge 1 ] 2>/dev/null || [ "$rounds" -gt 10 ]; then
    echo "BENCH_ROUNDS must be 1..10" >&2
    return 64
  fi

  cargo build --release --locked -p tidings -p tidings-bench
  bench=$target/release/tidings-bench

  BENCH_WORK=$(mktemp -d /tmp/tidings-bench-reader.XXXXXX)
  BENCH_TIDINGS_PID=""
  chmod 755 "$BENCH_WORK"
  trap bench_reader_cleanup EXIT
  trap 'exit 130' INT TERM
  local work=$BENCH_WORK

  # INN 2.7 in its fastest setup (INN2-NOTES gotcha 26): CNFS; tradindexed overview, which served
  # ARTICLE by number and OVER faster than ovsqlite here (docs/benchmarks.md).
  INN_GROUPS="$group misc.test" scripts/inn-instance.sh start "$work/inn" "$inn_port" \
    --storage cnfs --cnfs-mb 512 --ovmethod "$inn_ov"

  # Tidings, durable acknowledgements (the default).
  mkdir -p "$work/tidings"
  {
    echo '[node]'
    echo 'pathhost = "tidings.bench.test"'
    echo "data_dir = \"$work/tidings\""
    echo "initial_groups = [\"$group\", \"misc.test\", \"control:n\", \"control.cancel:n\", \"junk:n\"]"
    echo '[[listen]]'
    echo "addr = \"127.0.0.1:$tid_port\""
    echo 'tls = "none"'
    echo 'auth_requires_tls = false'
    echo '[limits]'
    echo 'max_article = 4000000'
    echo '[store]'
    echo 'durable = true'
    echo '[log]'
    echo 'filter = "warn"'
  } >"$work/tidings.toml"
  "$target/release/tidings" serve --config "$work/tidings.toml" >"$work/tidings.log" 2>&1 &
  BENCH_TIDINGS_PID=$!
  up=0
  for _ in $(seq 1 150); do
    if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$tid_port && IFS= read -r l <&3 && [[ \$l == 20[01]* ]]" 2>/dev/null; then
      up=1
      break
    fi
    kill -0 "$BENCH_TIDINGS_PID" 2>/dev/null || break
    sleep 0.2
  done
  if [ "$up" != 1 ]; then
    echo "tidings did not answer on 127.0.0.1:$tid_port:" >&2
    tail -20 "$work/tidings.log" >&2
    return 1
  fi

  # The same articles (same tag and Date base) into both. INN: IHAVE from loopback (its fastest
  # path, gotcha 6). Tidings: POST (its reader sessions do not take IHAVE).
  tag=r$(date +%s)
  epoch=$(date +%s)
  timeout 300 "$bench" populate --addr "127.0.0.1:$inn_port" --group "$group" --count "$count" \
    --conns 8 --mode ihave --tag "$tag" --epoch "$epoch" --ids "$work/ids.txt"
  timeout 300 "$bench" populate --addr "127.0.0.1:$tid_port" --group "$group" --count "$count" \
    --conns 8 --mode post --mode-reader --tag "$tag" --epoch "$epoch" --ids "$work/ids.txt"

  # The same client for both: TCP_NODELAY plus TCP_QUICKACK, without which INN's nnrpd stalls
  # about 44 ms per lock-step ARTICLE (gotcha 18). Workloads alternate between the servers, and
  # each pair is repeated BENCH_ROUNDS times (best of, per server), so that both see the same
  # background load on this shared machine. INN with a plain client is shown as well.
  results=$work/results.txt
  : >"$results"
  local common=(--group "$group" --ids "$work/ids.txt" --mode-reader --conns "$conns" --duration "$duration")
  local w round
  for w in date article-msgid article-number article-pipelined over; do
    for round in $(seq 1 "$rounds"); do
      timeout 120 nice -n 10 "$bench" reader --addr "127.0.0.1:$inn_port" --label inn --quickack \
        --workloads "$w" "${common[@]}" | tee -a "$results"
      timeout 120 nice -n 10 "$bench" reader --addr "127.0.0.1:$tid_port" --label tidings --quickack \
        --workloads "$w" "${common[@]}" | tee -a "$results"
    done
  done
  timeout 60 nice -n 10 "$bench" reader --addr "127.0.0.1:$inn_port" --label inn-plain-client \
    --workloads article-msgid "${common[@]}" | tee -a "$results"

  echo
  echo "scripts/bench.sh reader: $count articles in $group, INN overview $inn_ov, best of $rounds x ${duration}s per workload and server, $conns connection(s), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  awk '
    /^RESULT/ {
      delete kv
      for (i = 2; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
      key = kv["workload"]
      if (kv["rate"] + 0 > rate[kv["label"], key] + 0) { rate[kv["label"], key] = kv["rate"]; mb[kv["label"], key] = kv["mb_per_s"] }
      unit[key] = kv["unit"]
      if (!(key in seen)) { seen[key] = 1; order[++n] = key }
    }
    END {
      printf "%-18s %12s %8s %12s %8s %8s  %s\n", "workload", "INN 2.7", "MB/s", "Tidings", "MB/s", "ratio", "goal >= 10x"
      for (i = 1; i <= n; i++) {
        k = order[i]
        if (!(("inn", k) in rate) || !(("tidings", k) in rate)) continue
        r = (rate["inn", k] > 0) ? rate["tidings", k] / rate["inn", k] : 0
        printf "%-18s %12.0f %8.1f %12.0f %8.1f %7.1fx  %s (%s)\n", k, rate["inn", k], mb["inn", k], \
          rate["tidings", k], mb["tidings", k], r, (k == "date" ? "n/a, round-trip floor" : (r >= 10 ? "met" : "NOT met")), unit[k]
      }
      if (("inn-plain-client", "article-msgid") in rate)
        printf "INN lock-step ARTICLE by message-id, client without TCP_QUICKACK: %.0f articles/s\n", rate["inn-plain-client", "article-msgid"]
    }' "$results"
}

bench_reader_cleanup() {
  local pid=${BENCH_TIDINGS_PID:-}
  [ -n "${BENCH_WORK:-}" ] || return 0
  scripts/inn-instance.sh stop "$BENCH_WORK/inn" || true
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    echo "work directory kept: $BENCH_WORK" >&2
  else
    rm -rf "$BENCH_WORK"
  fi
}

# Ingest workload (streaming, MODE STREAM): Tidings (durable acknowledgements) against a private INN
# 2.7 (CNFS, its fastest ingest setup; acknowledges without fsync), the same tidings-bench ingest
# runs alternating between the two: CHECK+TAKETHIS and TAKETHIS only, text (1-4 KB) and binary
# (250-750 KB) articles, BENCH_CONNS connections, each window of BENCH_WINDOWS commands in flight
# per connection (the same for both servers). Then the disk's durable sequential write
# bandwidth (dd conv=fdatasync, on the file system of the spools), and Tidings feeding Tidings over
# plain TCP and over NNTPS (pinned certificate): the sink is down while the source takes the
# articles, then comes up and the drain rate is measured. Environment knobs:
#   BENCH_TEXT (30000 text articles per run)  BENCH_BIN (1000 binary articles per run; 300 was too short a run: its first seconds are warm-up)
#   BENCH_CONNS (4)  BENCH_WINDOWS ("64 256 1024")  BENCH_FEED_TEXT (20000)  BENCH_FEED_BIN (200)
#   BENCH_INN_PORT (11839)  BENCH_TIDINGS_PORT (11840; the feed nodes use the next three)
#   BENCH_KEEP=1 keeps the work directory
bench_ingest() {
  local ntext=${BENCH_TEXT:-30000} nbin=${BENCH_BIN:-1000} conns=${BENCH_CONNS:-4}
  local ftext=${BENCH_FEED_TEXT:-20000} fbin=${BENCH_FEED_BIN:-200}
  local inn_port=${BENCH_INN_PORT:-11839} tid_port=${BENCH_TIDINGS_PORT:-11840}
  local src_port=$((tid_port + 1)) sink_port=$((tid_port + 2)) sink_tls=$((tid_port + 3))
  local target=${CARGO_TARGET_DIR:-target} group=bench.ingest windows=${BENCH_WINDOWS:-64 256 1024}
  local n
  for n in "$ntext" "$nbin" "$ftext" "$fbin" "$conns" $windows; do
    if ! [ "$n" -ge 1 ] 2>/dev/null || [ "$n" -gt 1000000 ]; then
      echo "BENCH_TEXT, BENCH_BIN, BENCH_FEED_TEXT, BENCH_FEED_BIN, BENCH_CONNS, BENCH_WINDOWS must be 1..1000000" >&2
      return 64
    fi
  done
  cargo build --release --locked -p tidings -p tidings-bench
  BENCH_BIN_DIR=$target/release
  BENCH_WORK=$(mktemp -d /tmp/tidings-bench-ingest.XXXXXX)
  BENCH_PIDS=""
  chmod 755 "$BENCH_WORK"
  trap bench_ingest_cleanup EXIT
  trap 'exit 130' INT TERM
  local work=$BENCH_WORK bench=$target/release/tidings-bench results=$BENCH_WORK/results.txt
  : >"$results"

  # The disk: durable sequential writes on the spools' file system.
  local dd_mb
  dd_mb=$(LC_ALL=C dd if=/dev/zero of="$work/dd.bin" bs=1M count=1024 conv=fdatasync 2>&1 |
    awk '/copied/ { for (i = 1; i <= NF; i++) if ($i == "s,") s = $(i - 1); printf "%.0f", $1 / s / 1e6 }')
  rm -f "$work/dd.bin"
  echo "RESULT label=disk workload=dd mb_per_s=$dd_mb" | tee -a "$results"

  INN_GROUPS="$group" scripts/inn-instance.sh start "$work/inn" "$inn_port" --pathhost inn.bench.test \
    --storage cnfs --cnfs-mb 1024
  local inn_pid tid_pid
  inn_pid=$(tr -dc 0-9 <"$work/inn/run/innd.pid")
  ingest_node tidings.bench.test "$work/tidings" "$tid_port" "" \
    '[[peer]]
name = "bench.tidings.test"
accept_from = ["127.0.0.1/32"]'
  tid_pid=$NODE_PID

  local w win offer kind count round=0
  for w in check-text takethis-text check-binary takethis-binary; do
    for win in $windows; do
      offer=${w%-*} kind=${w#*-}
      count=$ntext
      [ "$kind" = binary ] && count=$nbin
      round=$((round + 1))
      timeout 600 nice -n 10 "$bench" ingest --addr "127.0.0.1:$inn_port" --group "$group" --count "$count" \
        --conns "$conns" --window "$win" --offer "$offer" --kind "$kind" --server-pid "$inn_pid" --label inn \
        --tag "inn$round.$(date +%s)" | tee -a "$results"
      timeout 600 nice -n 10 "$bench" ingest --addr "127.0.0.1:$tid_port" --group "$group" --count "$count" \
        --conns "$conns" --window "$win" --offer "$offer" --kind "$kind" --server-pid "$tid_pid" --label tidings \
        --tag "tid$round.$(date +%s)" | tee -a "$results"
    done
  done
  scripts/inn-instance.sh stop "$work/inn"
  ingest_stop "$tid_pid"

  # Tidings feeding Tidings: plain TCP, then NNTPS with the sink's certificate pinned.
  local t sink_pid src_pid fp sink_addr bytes out
  for t in tcp nntps; do
    # The sink runs once to make its certificate, and is down while the source loads.
    ingest_node sink.bench.test "$work/sink-$t" "$sink_port" "$sink_tls" \
      '[[peer]]
name = "source.bench.test"
accept_from = ["127.0.0.1/32"]'
    sink_pid=$NODE_PID
    ingest_stop "$sink_pid"
    fp=sha256:$(openssl x509 -in "$work/sink-$t/data/cert.pem" -outform DER | sha256sum | cut -d' ' -f1)
    sink_addr=127.0.0.1:$sink_port
    [ "$t" = nntps ] && sink_addr=127.0.0.1:$sink_tls
    ingest_node source.bench.test "$work/source-$t" "$src_port" "" \
      "[[peer]]
name = \"bench.tidings.test\"
accept_from = [\"127.0.0.1/32\"]

[[peer]]
name = \"sink.bench.test\"
addr = \"$sink_addr\"
transport = \"$t\"
tls_fingerprint = \"$fp\"
groups = \"bench.*\""
    src_pid=$NODE_PID
    # One kind at a time: load the source while the sink is down, then let the sink drain it.
    local kind count
    for kind in text binary; do
      count=$ftext
      [ "$kind" = binary ] && count=$fbin
      out=$(timeout 600 nice -n 10 "$bench" ingest --addr "127.0.0.1:$src_port" --group "bench.feed.$kind" \
        --count "$count" --conns "$conns" --offer takethis --kind "$kind" --label "source-$t" \
        --tag "f$kind.$t.$(date +%s)")
      bytes=$(sed -n 's/.* bytes=\([0-9]*\) .*/\1/p' <<<"$out")
      ingest_node sink.bench.test "$work/sink-$t" "$sink_port" "$sink_tls" \
        '[[peer]]
name = "source.bench.test"
accept_from = ["127.0.0.1/32"]'
      sink_pid=$NODE_PID
      timeout 600 "$bench" drain --addr "127.0.0.1:$sink_port" --group "bench.feed.$kind" --count "$count" \
        --bytes "$bytes" --label "feed-$t-$kind" | tee -a "$results"
      ingest_stop "$sink_pid"
    done
    ingest_stop "$src_pid"
    ingest_stop "$sink_pid"
  done

  echo
  echo "scripts/bench.sh ingest: $ntext text / $nbin binary articles per run, $conns connections, Tidings durable acks (INN: none), $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  awk -v dd="$dd_mb" '
    /^RESULT/ {
      delete kv
      for (i = 2; i <= NF; i++) { split($i, kvp, "="); kv[kvp[1]] = kvp[2] }
      l = kv["label"]; k = kv["workload"]
      if ("window" in kv) k = k " w" kv["window"]
      rate[l, k] = kv["rate"]; mb[l, k] = kv["mb_per_s"]; cpu[l, k] = kv["cpu_us_per_article"]
      if (l == "inn") order[++n] = k
    }
    END {
      printf "%-21s %10s %7s %9s %10s %7s %9s %7s  %s\n", "workload", "INN art/s", "MB/s", "CPU us/a", "Tidings", "MB/s", "CPU us/a", "ratio", "goal"
      for (i = 1; i <= n; i++) {
        k = order[i]
        r = (rate["inn", k] > 0) ? rate["tidings", k] / rate["inn", k] : 0
        if (k ~ /text/) goal = sprintf(">= 8x INN: %s", r >= 8 ? "met" : "NOT met")
        else goal = sprintf(">= 90%% of dd %s MB/s: %.0f%% %s", dd, 100 * mb["tidings", k] / dd, mb["tidings", k] >= 0.9 * dd ? "met" : "NOT met")
        printf "%-21s %10.0f %7.1f %9s %10.0f %7.1f %9s %6.1fx  %s\n", k, rate["inn", k], mb["inn", k], cpu["inn", k], \
          rate["tidings", k], mb["tidings", k], cpu["tidings", k], r, goal
      }
      for (kind = 1; kind <= 2; kind++) {
        s = (kind == 1) ? "text" : "binary"
        fp = rate["feed-tcp-" s, "feed"]; fq = rate["feed-nntps-" s, "feed"]
        printf "Tidings -> Tidings feed, %-6s: plain TCP %.0f art/s (%.1f MB/s), NNTPS %.0f art/s (%.1f MB/s): %.0f%% of plain, goal >= 70%%: %s\n", \
          s, fp, mb["feed-tcp-" s, "feed"], fq, mb["feed-nntps-" s, "feed"], (fp > 0 ? 100 * fq / fp : 0), (fp > 0 && fq >= 0.7 * fp ? "met" : "NOT met")
      }
    }' "$results"
}

# Writes a Tidings configuration into DIR and starts it; sets NODE_PID once it answers.
#   ingest_node PATHHOST DIR PLAIN_PORT NNTPS_PORT(or "") EXTRA_TOML
ingest_node() {
  local name=$1 dir=$2 port=$3 tls_port=$4 extra=$5 pid up=0
  mkdir -p "$dir"
  {
    echo '[node]'
    echo "pathhost = \"$name\""
    echo "data_dir = \"$dir/data\""
    echo 'initial_groups = ["bench.ingest", "bench.feed.text", "bench.feed.binary", "misc.test", "control:n", "control.cancel:n", "junk:n"]'
    echo '[[listen]]'
    echo "addr = \"127.0.0.1:$port\""
    echo 'tls = "none"'
    echo 'auth_requires_tls = false'
    if [ -n "$tls_port" ]; then
      echo '[[listen]]'
      echo "addr = \"127.0.0.1:$tls_port\""
      echo 'tls = "implicit"'
    fi
    echo '[limits]'
    echo 'max_article = 4000000'
    echo '[transit]'
    echo 'max_article = 4000000'
    echo '[store]'
    echo 'durable = true'
    echo '[log]'
    echo 'filter = "warn"'
    echo "$extra"
  } >"$dir/tidings.toml"
  "$BENCH_BIN_DIR/tidings" serve --config "$dir/tidings.toml" >>"$dir/tidings.log" 2>&1 &
  pid=$!
  BENCH_PIDS="$BENCH_PIDS $pid"
  for _ in $(seq 1 150); do
    if timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && IFS= read -r l <&3 && [[ \$l == 20[01]* ]]" 2>/dev/null; then
      up=1
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if [ "$up" != 1 ]; then
    echo "tidings ($name) did not answer on 127.0.0.1:$port:" >&2
    tail -20 "$dir/tidings.log" >&2
    return 1
  fi
  NODE_PID=$pid
}

# TERM, bounded wait, then KILL.
ingest_stop() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

bench_ingest_cleanup() {
  local pid
  [ -n "${BENCH_WORK:-}" ] || return 0
  scripts/inn-instance.sh stop "$BENCH_WORK/inn" || true
  for pid in ${BENCH_PIDS:-}; do ingest_stop "$pid"; done
  if [ "${BENCH_KEEP:-0}" = 1 ]; then
    echo "work directory kept: $BENCH_WORK" >&2
  else
    rm -rf "$BENCH_WORK"
  fi
}

what=${1:-micro}
case "$what" in
  micro)
    cargo bench --locked -p tidings-proto --bench unstuff -- --warm-up-time 1 --measurement-time 3
    cargo bench --locked -p tidings-article --bench headers -- --warm-up-time 1 --measurement-time 3
    for b in crates/tidings-store/benches/*.rs; do
      [ -e "$b" ] || continue
      cargo bench --locked -p tidings-store --bench "$(basename "$b" .rs)"
    done
    ;;
  reader)
    bench_reader
    ;;
  ingest)
    bench_ingest
    ;;
  *)
    echo "usage: scripts/bench.sh [micro|reader|ingest]" >&2
    exit 64
    ;;
esac
