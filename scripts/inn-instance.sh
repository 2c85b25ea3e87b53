#!/usr/bin/env bash
# A private INN 2.7 instance on loopback, for benchmarks and interop tests.
#
#   scripts/inn-instance.sh start DIR PORT [options]
#   scripts/inn-instance.sh stop DIR
#   scripts/inn-instance.sh status DIR
#
# start options:
#   --pathhost NAME      Path identity and banner name (default innPORT.inn.test)
#   --storage METHOD     cnfs | timehash | tradspool (default timehash; see INN2-NOTES gotchas 25, 26)
#   --cnfs-mb N          size of each of the two CNFS buffers in MB (default 256)
#   --ovmethod METHOD    tradindexed | ovsqlite (default tradindexed, which served OVER and ARTICLE by
#                        number faster than ovsqlite in docs/benchmarks.md)
#   --feed HOST:PORT     outgoing innfeed feed (all groups but junk and control) to HOST:PORT
#   --feed-name NAME     the peer's Path identity (pathhost), for loop prevention (default tidings.test)
#   --feed-ihave         the feed uses IHAVE only (innfeed streaming: false)
#   --tls                STARTTLS for readers (after MODE READER; nnrpd), self-signed DIR/etc/cert.pem
#   --nntps-port PORT    also an NNTPS port (nnrpd -D -S, TLS from the first byte); implies --tls
#   --fast               benchmark storage: CNFS, two buffers of 1 GB unless --cnfs-mb (gotcha 26)
#
# Environment:
#   INN_GROUPS           groups to create, separated by spaces or commas; NAME or NAME:FLAG (y, n, m...).
#                        control, control.cancel and junk are always created.
#   INN_AUTH_USER/PASS   AUTHINFO USER/PASS credentials (default testuser/testpass)
#
# The instance lives entirely in DIR (every path* key of inn.conf points there), listens on
# 127.0.0.1:PORT only, treats 127.0.0.1 as a peer (IHAVE, MODE STREAM, CHECK/TAKETHIS) and lets
# loopback readers (after MODE READER) read, post, IHAVE and NEWNEWS anonymously. Run any INN tool
# against it with INNCONF=DIR/etc/inn.conf. `start` is idempotent (a running instance is left alone)
# and returns once innd answers; `stop` leaves no process of the instance behind.
set -euo pipefail

PATHNEWS=/usr/lib/news
BIN=$PATHNEWS/bin

die() { echo "inn-instance: $*" >&2; exit 1; }
log() { echo "inn-instance: $*" >&2; }

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 64
}

need_inn() {
  if [ ! -x "$BIN/innd" ] || [ ! -x "$BIN/nnrpd" ] || [ ! -x "$BIN/makedbz" ]; then
    die "INN 2.7 is not installed ($BIN/innd missing). On Debian/Ubuntu:
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y inn2
  (if that fails in postinst with 'hostname does not resolve or domain not set in inn.conf':
   sed -i 's/^#* *domain:.*/domain: inn.test/' /etc/news/inn.conf && dpkg --configure -a)"
  fi
}

# Run a command as the news user when we are root (INN's tools switch to news themselves, but
# ovsqlite-server and file creation are simpler this way).
as_news() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u news -- "$@"
  else
    "$@"
  fi
}

pid_alive() { # FILE
  local pid
  [ -f "$1" ] || return 1
  pid=$(tr -dc 0-9 <"$1" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# Is something answering "200"/"201" on 127.0.0.1:PORT?
answers() { # PORT
  local line
  line=$(timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$1"' && IFS= read -r l <&3 && printf "%s" "$l" && printf "QUIT\r\n" >&3' 2>/dev/null || true)
  case "$line" in 200*|201*) return 0 ;; *) return 1 ;; esac
}

# Stop one process: TERM, wait up to $2 seconds, then KILL.
stop_pid() { # PID SECONDS
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.1
}

# Every process that carries this instance's INNCONF in its environment (innd passes it on to
# nnrpd and innfeed). Nothing is selected by name.
instance_pids() { # DIR
  local want="INNCONF=$1/etc/inn.conf" p
  for p in /proc/[0-9]*; do
    [ "${p#/proc/}" = "$$" ] && continue
    if { tr '\0' '\n' <"$p/environ"; } 2>/dev/null | grep -qxF "$want"; then
      echo "${p#/proc/}"
    fi
  done
}

cmd_stop() { # DIR
  local dir=$1 pid f i
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  export INNCONF=$dir/etc/inn.conf
  if pid_alive "$dir/run/innd.pid"; then
    pid=$(tr -dc 0-9 <"$dir/run/innd.pid")
    timeout 15 "$BIN/ctlinnd" -t 10 shutdown "inn-instance stop" >/dev/null 2>&1 || true
    for ((i = 0; i < 150; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    stop_pid "$pid" 5
  fi
  for f in "$dir"/run/innfeed.pid "$dir"/run/nnrpd*.pid "$dir"/run/ovsqlite.pid; do
    [ -f "$f" ] || continue
    if pid_alive "$f"; then stop_pid "$(tr -dc 0-9 <"$f")" 5; fi
    rm -f "$f"
  done
  # Per-connection nnrpd children and anything else left over.
  for pid in $(instance_pids "$dir"); do stop_pid "$pid" 3; done
  rm -f "$dir/run/innd.pid" "$dir/run/control" "$dir/run/nntpin" "$dir/run/ovsqlite.sock"
}

cmd_status() { # DIR
  local dir=$1
  [ -d "$dir" ] || die "no such directory: $dir"
  dir=$(cd "$dir" && pwd)
  if pid_alive "$dir/run/innd.pid"; then
    echo "innd running (pid $(cat "$dir/run/innd.pid")), port $(cat "$dir/.port" 2>/dev/null || echo '?')"
  else
    echo "innd not running"
    return 1
  fi
}

write_config() {
  local etc=$dir/etc
  # Defaults for the files we do not generate (moderators, distrib.pats, control.ctl, ...).
  if [ -d /etc/news ]; then
    cp -n /etc/news/* "$etc/" 2>/dev/null || true
  fi

  cat >"$etc/inn.conf" <<EOF
# Private INN instance, generated by scripts/inn-instance.sh. Do not edit: regenerated on start.
domain:                 inn.test
pathhost:               $pathhost
server:                 127.0.0.1
port:                   $port
bindaddress:            127.0.0.1
nnrpdpostport:          $port
runasuser:              news
runasgroup:             news
mta:                    "/bin/true %s"
organization:           "Tidings interop"
pathnews:               $PATHNEWS
pathbin:                $BIN
pathcontrol:            $BIN/control
pathetc:                $dir/etc
pathdb:                 $dir/db
pathrun:                $dir/run
pathspool:              $dir/spool
patharticles:           $dir/spool/articles
pathoverview:           $dir/spool/overview
pathoutgoing:           $dir/spool/outgoing
pathincoming:           $dir/spool/incoming
patharchive:            $dir/spool/archive
pathlog:                $dir/log
pathhttp:               $dir/http
pathtmp:                $dir/tmp
pathfilter:             $dir/filter
ovmethod:               $ovmethod
hismethod:              hisv6
enableoverview:         true
storeonxref:            true
wireformat:             true
articlemmap:            true
tradindexedmmap:        true
artcutoff:              0
maxartsize:             4000000
localmaxartsize:        4000000
nnrpdloadlimit:         0
nnrpdcheckart:          true
maxconnections:         0
maxforks:               10
pgpverify:              false
doinnwatch:             false
docnfsstat:             false
status:                 0
timer:                  0
nicekids:               0
nicennrpd:              0
nicenewnews:            0
wipcheck:               5
wipexpire:              10
allownewnews:           true
readerswhenstopped:     false
initialtimeout:         30
clienttimeout:          1800
peertimeout:            3600
msgidcachesize:         64000
icdsynccount:           10
hiscachesize:           256
logipaddr:              true
logsitename:            true
htmlstatus:             false
addinjectiondate:       true
addinjectionpostinghost: true
EOF
  if [ "$tls" = 1 ]; then
    printf 'tlscertfile:            %s\ntlskeyfile:             %s\n' "$etc/cert.pem" "$etc/key.pem" >>"$etc/inn.conf"
  fi

  case "$storage" in
    cnfs)
      cat >"$etc/storage.conf" <<EOF
method cnfs {
    newsgroups: *
    class: 0
    options: SPOOL
}
EOF
      cat >"$etc/cycbuff.conf" <<EOF
cycbuffupdate:25
refreshinterval:30
cycbuff:CB1:$dir/spool/cycbuffs/cb1:$((cnfs_mb * 1024))
cycbuff:CB2:$dir/spool/cycbuffs/cb2:$((cnfs_mb * 1024))
metacycbuff:SPOOL:CB1,CB2:INTERLEAVE
EOF
      ;;
    timehash|tradspool)
      printf 'method %s {\n    newsgroups: *\n    class: 0\n}\n' "$storage" >"$etc/storage.conf"
      ;;
    *) die "unknown storage method: $storage" ;;
  esac

  if [ "$ovmethod" = ovsqlite ]; then
    printf 'transrowlimit: 10000\ncachesize: 20000\n' >"$etc/ovsqlite.conf"
  fi

  cat >"$etc/incoming.conf" <<EOF
# Loopback is a peer: IHAVE, MODE STREAM, CHECK and TAKETHIS from 127.0.0.1.
streaming:        true
max-connections:  0
peer ME {
    hostname:     "localhost, 127.0.0.1"
}
EOF

  {
    echo "# Generated by scripts/inn-instance.sh."
    echo "ME:*::"
    if [ -n "$feed" ]; then
      echo "$feed_name/$feed_name:*,!junk,!control,!control.*:Tm:innfeed!"
      echo "innfeed!:!*:Tc,Wnm*:$BIN/innfeed"
    fi
  } >"$etc/newsfeeds"

  local streaming=true
  [ "$feed_ihave" = 1 ] && streaming=false
  {
    cat <<EOF
# Generated by scripts/inn-instance.sh (settings from INN2-NOTES gotcha 10).
pid-file:              innfeed.pid
log-file:              innfeed.log
status-file:           innfeed.status
backlog-directory:     innfeed
stats-period:          10
backlog-rotate-period: 5
backlog-ckpt-period:   5
host-queue-highwater:  5000
initial-sleep:         1
initial-reconnect-time: 5
max-reconnect-time:    30
initial-connections:   1
max-connections:       2
streaming:             true
EOF
    if [ -n "$feed" ]; then
      cat <<EOF
peer $feed_name {
    ip-name:           ${feed%:*}
    port-number:       ${feed##*:}
    streaming:         $streaming
}
EOF
    fi
  } >"$etc/innfeed.conf"

  local user=${INN_AUTH_USER:-testuser} pass=${INN_AUTH_PASS:-testpass}
  perl -e 'print $ARGV[0], ":", crypt($ARGV[1], q($6$innbench$)), "\n"' "$user" "$pass" >"$etc/passwd.users"
  cat >"$etc/readers.conf" <<EOF
# Generated by scripts/inn-instance.sh: anonymous readers from loopback may read, post, IHAVE and
# NEWNEWS; AUTHINFO USER/PASS with $user works too.
auth "loopback" {
    hosts:   "127.0.0.1, localhost, stdin"
    default: "<loopback>"
    auth:    "ckpasswd -f $etc/passwd.users"
}
access "loopback" {
    users:      "*"
    newsgroups: "*"
    access:     RPAIN
    addcanlockuser: none
}
EOF
}

write_active() {
  local groups entry name flag
  groups="control control.cancel control.checkgroups control.newgroup control.rmgroup junk"
  if [ -n "${INN_GROUPS:-}" ]; then
    groups="$groups ${INN_GROUPS//,/ }"
  else
    groups="$groups local.general local.test misc.test alt.test test.empty test.posting.denied:n"
    for i in $(seq -w 0 49); do groups="$groups test.g$i"; done
  fi
  : >"$dir/db/active.tmp"
  : >"$dir/db/newsgroups"
  for entry in $groups; do
    name=${entry%%:*}
    flag=y
    [ "$entry" != "$name" ] && flag=${entry#*:}
    case "$name" in control|control.*|junk) [ "$flag" = y ] && flag=n ;; esac
    grep -q "^$name " "$dir/db/active.tmp" && continue
    printf '%s 0000000000 0000000001 %s\n' "$name" "$flag" >>"$dir/db/active.tmp"
    printf '%s\t%s\n' "$name" "Group $name" >>"$dir/db/newsgroups"
  done
  mv "$dir/db/active.tmp" "$dir/db/active"
  : >"$dir/db/active.times"
}

# NNTPS: a standalone nnrpd daemon speaking TLS from the first byte (gotcha 7).
start_nntps() {
  local i
  (cd "$dir/run" && as_news env INNCONF="$INNCONF" "$BIN/nnrpd" -D -4 127.0.0.1 -p "$nntps_port" -S) \
    >"$dir/log/nnrpd-nntps.out" 2>&1 || die "nnrpd -S failed: $(cat "$dir/log/nnrpd-nntps.out")"
  local banner
  for ((i = 0; i < 20; i++)); do
    banner=$(sleep 1 | timeout 3 openssl s_client -connect "127.0.0.1:$nntps_port" -quiet 2>/dev/null || true)
    case "$banner" in 200*|201*) return 0 ;; esac
    sleep 0.2
  done
  die "NNTPS nnrpd did not answer on 127.0.0.1:$nntps_port"
}

cmd_start() {
  dir=$1 port=$2
  shift 2
  pathhost=inn$port.inn.test storage=timehash cnfs_mb= ovmethod=tradindexed
  feed= feed_name=tidings.test feed_ihave=0 tls=0 nntps_port=
  while [ $# -gt 0 ]; do
    case "$1" in
      --pathhost) pathhost=$2; shift 2 ;;
      --storage) storage=$2; shift 2 ;;
      --cnfs-mb) cnfs_mb=$2; shift 2 ;;
      --ovmethod) ovmethod=$2; shift 2 ;;
      --feed) feed=$2; shift 2 ;;
      --feed-name) feed_name=$2; shift 2 ;;
      --feed-ihave) feed_ihave=1; shift ;;
      --tls) tls=1; shift ;;
      --nntps-port) nntps_port=$2; tls=1; shift 2 ;;
      --fast) storage=cnfs; cnfs_mb=${cnfs_mb:-1024}; shift ;;
      *) die "unknown option: $1" ;;
    esac
  done
  cnfs_mb=${cnfs_mb:-256}
  case "$port" in ''|*[!0-9]*) die "bad port: $port" ;; esac
  case "${nntps_port:-0}" in *[!0-9]*) die "bad NNTPS port: $nntps_port" ;; esac
  case "$ovmethod" in tradindexed|ovsqlite) ;; *) die "unknown ovmethod: $ovmethod" ;; esac
  if [ -n "$feed" ]; then
    case "$feed" in 127.0.0.1:[0-9]*|localhost:[0-9]*|\[::1\]:[0-9]*) ;; *) die "--feed must be a loopback HOST:PORT: $feed" ;; esac
  fi
  need_inn
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  export INNCONF=$dir/etc/inn.conf

  if pid_alive "$dir/run/innd.pid"; then
    if answers "$port"; then
      log "already running on 127.0.0.1:$port ($dir)"
      return 0
    fi
    log "innd pid file exists but nothing answers on $port: restarting"
  fi
  cmd_stop "$dir"
  if answers "$port"; then
    die "something else already answers on 127.0.0.1:$port"
  fi

  mkdir -p "$dir"/{etc,db,run,log,http,tmp,filter} \
    "$dir"/spool/{articles,overview,outgoing,incoming,archive,innfeed,cycbuffs}
  write_config
  [ -f "$dir/db/active" ] || write_active
  [ -f "$dir/db/history" ] || : >"$dir/db/history"
  if [ "$storage" = cnfs ]; then
    for cb in cb1 cb2; do
      [ -f "$dir/spool/cycbuffs/$cb" ] && continue
      fallocate -l "${cnfs_mb}M" "$dir/spool/cycbuffs/$cb" 2>/dev/null ||
        dd if=/dev/zero of="$dir/spool/cycbuffs/$cb" bs=1M count="$cnfs_mb" status=none
    done
  fi
  if [ "$tls" = 1 ] && [ ! -s "$dir/etc/cert.pem" ]; then
    command -v openssl >/dev/null || die "--tls needs openssl"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$pathhost" \
      -addext "subjectAltName=DNS:$pathhost,DNS:localhost,IP:127.0.0.1" \
      -keyout "$dir/etc/key.pem" -out "$dir/etc/cert.pem" >"$dir/log/openssl.out" 2>&1 ||
      die "openssl failed: $(cat "$dir/log/openssl.out")"
  fi
  echo "$port" >"$dir/.port"
  if [ "$(id -u)" = 0 ]; then
    chown -R news:news "$dir"
    chmod 755 "$dir"
  fi
  chmod 640 "$dir/etc/passwd.users"
  if [ -f "$dir/etc/key.pem" ]; then chmod 600 "$dir/etc/key.pem"; fi
  if [ ! -f "$dir/db/history.dir" ]; then
    (cd "$dir/db" && as_news "$BIN/makedbz" -i -o -s 10000) >"$dir/log/makedbz.out" 2>&1 ||
      die "makedbz failed: $(cat "$dir/log/makedbz.out")"
  fi
  if [ "$ovmethod" = ovsqlite ]; then
    (cd "$dir/run" && as_news env INNCONF="$INNCONF" "$BIN/ovsqlite-server") \
      >"$dir/log/ovsqlite.out" 2>&1 || die "ovsqlite-server failed: $(cat "$dir/log/ovsqlite.out")"
    for ((i = 0; i < 100; i++)); do
      [ -S "$dir/run/ovsqlite.sock" ] && break
      sleep 0.1
    done
    [ -S "$dir/run/ovsqlite.sock" ] || die "ovsqlite-server did not start: $(cat "$dir/log/ovsqlite.out" "$dir"/log/*.err 2>/dev/null)"
  fi
  (cd "$dir/run" && "$BIN/innd" -c 0) >"$dir/log/innd.out" 2>&1 ||
    die "innd failed to start: $(cat "$dir/log/innd.out" "$dir/log/errlog" 2>/dev/null)"
  for ((i = 0; i < 150; i++)); do
    if answers "$port"; then
      if [ -n "$nntps_port" ]; then start_nntps; fi
      log "INN running on 127.0.0.1:$port (pathhost $pathhost, storage $storage, overview $ovmethod${nntps_port:+, NNTPS on $nntps_port}${feed:+, feed to $feed_name at $feed}) in $dir"
      return 0
    fi
    sleep 0.2
  done
  local why
  why=$(cat "$dir/log/innd.out" "$dir/log/errlog" 2>/dev/null | tail -20)
  cmd_stop "$dir"
  die "innd did not answer on 127.0.0.1:$port within 30 s: $why"
}

case "${1:-}" in
  start) [ $# -ge 3 ] || usage; shift; cmd_start "$@" ;;
  stop) [ $# -eq 2 ] || usage; cmd_stop "$2" ;;
  status) [ $# -eq 2 ] || usage; cmd_status "$2" ;;
  *) usage ;;
esac
