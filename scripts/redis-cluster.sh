#!/usr/bin/env bash
# A private Redis Cluster on free ports under a folder of its own, for the
# tests and the benchmarks. It never touches a Redis it did not start (the
# one on 6379 included): every node is started and stopped by its pid file.
#
# Usage:
#   scripts/redis-cluster.sh start DIR [MASTERS] [REPLICAS] [OWNER_PID]
#       starts MASTERS (3) masters with REPLICAS (1) replicas each (fewer
#       than 3 masters: no replicas), makes
#       them one cluster and waits until it serves every slot. Prints the
#       seed nodes as REDIS_URL takes them (comma-separated) and writes them
#       to DIR/seeds; DIR/masters and DIR/replicas list the ports. With
#       OWNER_PID, the cluster stops by itself once that process has ended.
#   scripts/redis-cluster.sh stop DIR
#       stops every node started in DIR and removes DIR.
set -euo pipefail

usage() { sed -n '2,15p' "$0" >&2; exit 2; }
die() { printf 'redis-cluster: %s\n' "$*" >&2; exit 1; }

stop() {
  local dir="$1" pid
  [ -d "$dir" ] || return 0
  for pidfile in "$dir"/*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile" 2>/dev/null || true)
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$dir"
}

# A port that is free, and whose cluster bus port (port + 10000) is free too.
free_port() {
  python3 - <<'EOF'
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
while True:
    p = random.randint(20000, 40000)
    if free(p) and free(p + 10000):
        print(p); break
EOF
}

start() {
  local dir="$1" masters="${2:-3}" replicas="${3:-1}" owner="${4:-}"
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null \
    || die "redis-server and redis-cli are needed (Debian: apt-get install redis-server)"
  mkdir -p "$dir"
  local total=$((masters * (1 + replicas))) ports=() port i
  for ((i = 0; i < total; i++)); do
    port=$(free_port)
    while [[ " ${ports[*]} " == *" $port "* ]]; do port=$(free_port); done
    ports+=("$port")
    redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
      --cluster-config-file "nodes-$port.conf" --cluster-node-timeout 2000 \
      --repl-diskless-sync-delay 0 --cluster-replica-validity-factor 0 \
      --dir "$dir" --save "" --appendonly no --daemonize yes \
      --pidfile "$dir/$port.pid" --logfile "$dir/$port.log" \
      || { stop "$dir"; die "node on port $port did not start (see $dir/$port.log)"; }
  done
  for port in "${ports[@]}"; do
    for _ in $(seq 50); do
      redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break
      sleep 0.1
    done
  done
  local nodes=()
  for port in "${ports[@]}"; do nodes+=("127.0.0.1:$port"); done
  if [ "$masters" -ge 3 ]; then
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas "$replicas" --cluster-yes \
      >"$dir/create.log" 2>&1 || { cat "$dir/create.log" >&2; stop "$dir"; die "cluster create failed"; }
  else
    # redis-cli makes clusters of 3 masters or more; fewer (for the
    # benchmarks) get their slot ranges and each other by hand.
    [ "$replicas" = 0 ] || { stop "$dir"; die "fewer than 3 masters take no replicas here"; }
    for ((i = 0; i < masters; i++)); do
      redis-cli -p "${ports[$i]}" cluster addslotsrange $((i * 16384 / masters)) $(((i + 1) * 16384 / masters - 1)) >/dev/null
      [ "$i" = 0 ] || redis-cli -p "${ports[$i]}" cluster meet 127.0.0.1 "${ports[0]}" >/dev/null
    done
  fi
  # Every node must see every slot served before the cluster is handed out.
  for port in "${ports[@]}"; do
    for _ in $(seq 100); do
      redis-cli -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' && break
      sleep 0.1
    done
    redis-cli -p "$port" cluster info | grep -q '^cluster_state:ok' \
      || { stop "$dir"; die "node $port never reported cluster_state:ok"; }
  done
  : >"$dir/masters"; : >"$dir/replicas"
  for port in "${ports[@]}"; do
    if redis-cli -p "$port" role | head -1 | grep -q master; then
      echo "$port" >>"$dir/masters"
    else
      echo "$port" >>"$dir/replicas"
    fi
  done
  # A replica can take over only once it holds its master's data: wait for
  # every initial sync to finish.
  while read -r port; do
    for _ in $(seq 100); do
      redis-cli -p "$port" info replication | grep -q '^master_link_status:up' && break
      sleep 0.1
    done
    redis-cli -p "$port" info replication | grep -q '^master_link_status:up' \
      || { stop "$dir"; die "replica $port never finished its first sync"; }
  done <"$dir/replicas"
  local seeds
  seeds=$(for port in "${ports[@]}"; do printf 'redis://127.0.0.1:%s,' "$port"; done)
  seeds="${seeds%,}"
  echo "$seeds" >"$dir/seeds"
  if [ -n "$owner" ]; then
    # Stops the cluster once its owner has ended, whatever way it ended.
    # A session of its own: a kill of the owner's process group spares it.
    setsid nohup bash -c "while kill -0 $owner 2>/dev/null; do sleep 1; done; '$0' stop '$dir'" \
      >/dev/null 2>&1 &
  fi
  echo "$seeds"
}

case "${1:-}" in
  start) [ $# -ge 2 ] || usage; shift; start "$@" ;;
  stop) [ $# -eq 2 ] || usage; stop "$2" ;;
  *) usage ;;
esac
