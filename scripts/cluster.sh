#!/usr/bin/env bash
# A local cluster: the Kafka broker and the six services, each its own
# background process, with pid and log files under a run directory.
#
#   scripts/cluster.sh up       start what is not running, then wait until every service is SERVING
#   scripts/cluster.sh down     stop the services (SIGTERM, then SIGKILL after a grace period), then the broker
#   scripts/cluster.sh status   which processes run and whether each answers its gRPC health check
#
# Settings, from the environment:
#   MLZERO_RUN_DIR            the run directory (default .run): pids/, logs/, workspace/, gateway/, memory/,
#                             and kafka/ (the broker's, from scripts/kafka.sh)
#   MLZERO_BUS                kafka (default), or inprocess: each service alone on its own bus, so no task
#                             flows; for checking these mechanics without a broker
#   KAFKA_PORT                the broker's port on 127.0.0.1 (default 9092; see scripts/kafka.sh for the rest)
#   MLZERO_GATEWAY_STATE      where the gateway keeps its task state: file (default: one file per task in
#                             gateway/, as before, so a cluster started by an earlier version keeps its
#                             tasks), kafka (the compacted topic mlzero.task-state.v1; needs MLZERO_BUS=kafka)
#                             or memory (lost when the gateway stops)
#   MLZERO_CLUSTER_BASE_PORT  the gateway's port; the others follow it (default 50051: gateway 50051,
#                             perception 50052, memory 50053, coder 50054, executor 50055, analyzer 50056)
#   MLZERO_CLUSTER_METRICS_PORT  when set, each service serves Prometheus /metrics from this port on, in the
#                             same order (gateway = it, perception = it + 1, ...); unset: none (docs/observability.md)
#   MLZERO_CLUSTER_DASHBOARD_PORT  the gateway's web dashboard on 127.0.0.1 (default 8080; 0: none)
#   MLZERO_GATEWAY_TASK_RETENTION_HOURS  reaches the gateway as it is (every service inherits this environment):
#                             forget a task, its state and workspace folder, this many hours after it ended
#                             (default 0: keep every task; docs/platform.md#retention)
#   MLZERO_PYTHON             the executor's Python (default .venv/bin/python)
#   MLZERO_LOG_LEVEL          the services' log level (default info)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

run_dir=$(realpath -m "${MLZERO_RUN_DIR:-.run}")
bus=${MLZERO_BUS:-kafka}
kafka_port=${KAFKA_PORT:-9092}
brokers=127.0.0.1:$kafka_port
base_port=${MLZERO_CLUSTER_BASE_PORT:-50051}
metrics_base=${MLZERO_CLUSTER_METRICS_PORT:-}
dashboard_port=${MLZERO_CLUSTER_DASHBOARD_PORT:-8080}
node=$repo/node_modules/.bin/node
mlzero=("$node" "$repo/cli/dist/main.js")
# In port order: gateway = base_port, perception = base_port + 1, ...
services=(gateway perception memory coder executor analyzer)
# Callers first, memory last, as a rolling shutdown would.
stop_order=(gateway analyzer executor coder perception memory)
start_timeout_s=${MLZERO_CLUSTER_START_TIMEOUT:-90}
stop_grace_s=10

say() { echo "cluster: $*"; }
fail() {
  echo "cluster: $*" >&2
  exit 1
}

case $bus in
  kafka | inprocess) ;;
  *) fail "MLZERO_BUS must be kafka or inprocess, got \"$bus\"" ;;
esac
gateway_state=${MLZERO_GATEWAY_STATE:-file}
case $gateway_state in
  file | memory) ;;
  kafka) [[ $bus == kafka ]] || fail "MLZERO_GATEWAY_STATE=kafka needs MLZERO_BUS=kafka (the broker it keeps the state in)" ;;
  *) fail "MLZERO_GATEWAY_STATE must be file, kafka or memory, got \"$gateway_state\"" ;;
esac
[[ $base_port =~ ^[0-9]+$ ]] && ((base_port > 0 && base_port + 5 < 65536)) || fail "MLZERO_CLUSTER_BASE_PORT must be a port number, got \"$base_port\""
[[ -z $metrics_base ]] || { [[ $metrics_base =~ ^[0-9]+$ ]] && ((metrics_base > 0 && metrics_base + 5 < 65536)); } ||
  fail "MLZERO_CLUSTER_METRICS_PORT must be a port number, got \"$metrics_base\""
[[ $dashboard_port =~ ^[0-9]+$ ]] && ((dashboard_port < 65536)) ||
  fail "MLZERO_CLUSTER_DASHBOARD_PORT must be a port number (0: no dashboard), got \"$dashboard_port\""

port_of() {
  local index
  for index in "${!services[@]}"; do
    [[ ${services[$index]} == "$1" ]] && echo $((base_port + index)) && return
  done
}
pid_file() { echo "$run_dir/pids/$1.pid"; }
dashboard_url() { echo "http://127.0.0.1:$dashboard_port/"; }
log_file() { echo "$run_dir/logs/$1.log"; }

# A live process, not a zombie waiting for init to reap it (a killed
# service's parent, this script, is long gone).
alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $state != Z* ]]
}

# Prints the pid of a service's process when its pid file names a live
# process that is that service (not a recycled pid); fails otherwise.
running_pid() {
  local file pid
  file=$(pid_file "$1")
  [[ -f $file ]] || return 1
  pid=$(<"$file")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  ps -o args= -p "$pid" 2>/dev/null | grep -qF "services/$1/dist/main.js" || return 1
  echo "$pid"
}

# The environment of one service, as VAR=value words for env(1).
service_env() {
  local name=$1
  local memory_address="127.0.0.1:$(port_of memory)"
  local python=${MLZERO_PYTHON:-$repo/.venv/bin/python}
  echo "MLZERO_GRPC_HOST=127.0.0.1"
  echo "MLZERO_GRPC_PORT=$(port_of "$name")"
  echo "MLZERO_BUS=$bus"
  echo "MLZERO_LOG_LEVEL=${MLZERO_LOG_LEVEL:-info}"
  # One port each, or none: a port exported for one service must not reach all six.
  echo "MLZERO_METRICS_PORT=${metrics_base:+$(($(port_of "$name") - base_port + metrics_base))}"
  [[ $bus == kafka ]] && echo "MLZERO_KAFKA_BROKERS=$brokers"
  case $name in
    gateway)
      echo "MLZERO_WORKSPACE_ROOT=$run_dir/workspace"
      # Named, since with MLZERO_BUS=kafka the gateway would pick the Kafka store by default.
      echo "MLZERO_GATEWAY_STATE=$gateway_state"
      echo "MLZERO_GATEWAY_STATE_DIR=$run_dir/gateway"
      echo "MLZERO_GATEWAY_DASHBOARD_PORT=$dashboard_port"
      ;;
    perception) printf '%s\n' "MLZERO_WORKSPACE_ROOT=$run_dir/workspace" "MLZERO_MEMORY_ADDRESS=$memory_address" ;;
    memory) echo "MLZERO_MEMORY_STORE_FILE=$run_dir/memory/store.json" ;;
    coder) echo "MLZERO_MEMORY_ADDRESS=$memory_address" ;;
    executor) printf '%s\n' "MLZERO_WORKSPACE_ROOT=$run_dir/workspace" "MLZERO_PYTHON=$python" ;;
    analyzer) printf '%s\n' "MLZERO_WORKSPACE_ROOT=$run_dir/workspace" "MLZERO_MEMORY_ADDRESS=$memory_address" ;;
  esac
}

start_service() {
  local name=$1 log env_words
  log=$(log_file "$name")
  mapfile -t env_words < <(service_env "$name")
  echo "--- $(date -u +%Y-%m-%dT%H:%M:%SZ) starting $name on 127.0.0.1:$(port_of "$name")" >>"$log"
  # setsid: each service leads its own session, away from this terminal's
  # Ctrl-C and hang-up, and `down` can kill whatever it left behind as a
  # group. A background child of a non-interactive shell is no group leader,
  # so setsid execs in place and $! is the service's own pid.
  local detach=()
  command -v setsid >/dev/null && detach=(setsid)
  # kafkajs arms a timer with a negative delay that Node 24 warns about once per process; harmless.
  env "${env_words[@]}" "${detach[@]}" "$node" --disable-warning=TimeoutNegativeWarning "services/$name/dist/main.js" </dev/null >>"$log" 2>&1 &
  echo $! >"$(pid_file "$name")"
}

# Waits until every named service answers SERVING; fails early, with the end
# of its log, when one exits.
wait_serving() {
  local pending=("$@") deadline=$((SECONDS + start_timeout_s)) name pid addresses answer
  while ((${#pending[@]} > 0)); do
    for name in "${pending[@]}"; do
      # Liveness alone: a child just forked may not have exec'd node yet.
      pid=$(cat "$(pid_file "$name")" 2>/dev/null || true)
      if [[ -z $pid ]] || ! alive "$pid"; then
        echo "cluster: $name exited before serving; the end of $(log_file "$name"):" >&2
        tail -n 15 "$(log_file "$name")" >&2
        fail "$name did not start (what did start keeps running: make down stops it)"
      fi
    done
    addresses=()
    for name in "${pending[@]}"; do addresses+=("127.0.0.1:$(port_of "$name")"); done
    answer=$("${mlzero[@]}" health "${addresses[@]}" --timeout 1 2>/dev/null || true)
    local still=()
    for name in "${pending[@]}"; do
      grep -qxF "127.0.0.1:$(port_of "$name") SERVING" <<<"$answer" || still+=("$name")
    done
    pending=("${still[@]+"${still[@]}"}")
    ((${#pending[@]} == 0)) && break
    ((SECONDS >= deadline)) && fail "not SERVING after ${start_timeout_s} s: ${pending[*]} (logs in $run_dir/logs)"
    sleep 0.3
  done
}

# The broker's own script, on this run directory's kafka/ folder.
kafka() {
  [[ -x scripts/kafka.sh ]] || fail "scripts/kafka.sh is missing, so no Kafka broker can start; MLZERO_BUS=inprocess starts the services without one"
  KAFKA_RUN_DIR=$run_dir/kafka KAFKA_PORT=$kafka_port scripts/kafka.sh "$1"
}

cmd_up() {
  [[ -f cli/dist/main.js ]] || fail "nothing built yet: run make setup (or make build)"
  mkdir -p "$run_dir"/{pids,logs,workspace,gateway,memory}
  [[ $bus == kafka ]] && kafka start
  local started=() name pid
  for name in "${services[@]}"; do
    if pid=$(running_pid "$name"); then
      say "$name already running (pid $pid)"
    else
      start_service "$name"
      started+=("$name")
    fi
  done
  # Everything, not only what just started: a running service may still be starting.
  wait_serving "${services[@]}"
  for name in "${started[@]+"${started[@]}"}"; do
    say "$name started (pid $(running_pid "$name"), 127.0.0.1:$(port_of "$name"))"
  done
  local gateway="127.0.0.1:$(port_of gateway)"
  local bus_text="bus $bus"
  [[ $bus == kafka ]] && bus_text="Kafka at $brokers"
  say "up: 6 services on 127.0.0.1:$base_port-$((base_port + 5)), $bus_text; pids and logs in $run_dir"
  [[ $bus == inprocess ]] && say "with MLZERO_BUS=inprocess each service has its own bus: tasks are accepted but do not run"
  ((dashboard_port > 0)) && say "dashboard: $(dashboard_url)"
  echo
  echo "  export MLZERO_GATEWAY_ADDRESS=$gateway; npx mlzero submit examples/churn --wait"
  echo
  echo "  npx mlzero ls · npx mlzero status <task-id> · make status · make down"
}

cmd_down() {
  local name pid waiting=() deadline
  for name in "${stop_order[@]}"; do
    if pid=$(running_pid "$name"); then
      kill -TERM "$pid" 2>/dev/null || true
      waiting+=("$name:$pid")
    fi
  done
  deadline=$((SECONDS + stop_grace_s))
  for entry in "${waiting[@]+"${waiting[@]}"}"; do
    name=${entry%%:*}
    pid=${entry##*:}
    while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    if alive "$pid"; then
      say "$name did not stop within ${stop_grace_s} s of SIGTERM: SIGKILL"
      # Its group too (setsid made it the leader): nothing it started survives it.
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    else
      say "$name stopped"
    fi
  done
  for name in "${services[@]}"; do rm -f "$(pid_file "$name")"; done
  ((${#waiting[@]} == 0)) && say "no service was running"
  # Whatever MLZERO_BUS says now: a broker this run directory started stops with it.
  [[ -d $run_dir/kafka ]] && kafka stop
  return 0
}

cmd_status() {
  local name pid all_up=0 addresses=() answer line
  for name in "${services[@]}"; do
    running_pid "$name" >/dev/null && addresses+=("127.0.0.1:$(port_of "$name")")
  done
  answer=""
  if ((${#addresses[@]} > 0)); then
    answer=$("${mlzero[@]}" health "${addresses[@]}" --timeout 2 2>/dev/null || true)
  fi
  printf '%-11s %-8s %-16s %s\n' SERVICE PID ADDRESS HEALTH
  for name in "${services[@]}"; do
    local address="127.0.0.1:$(port_of "$name")"
    if pid=$(running_pid "$name"); then
      line=$(grep -F "$address " <<<"$answer" | head -n 1 || true)
      line=${line#"$address "}
      printf '%-11s %-8s %-16s %s\n' "$name" "$pid" "$address" "${line:-no answer}"
      [[ $line == SERVING ]] || all_up=1
    else
      printf '%-11s %-8s %-16s %s\n' "$name" - "$address" stopped
      all_up=1
    fi
  done
  if ((dashboard_port > 0)) && running_pid gateway >/dev/null; then
    echo "dashboard: $(dashboard_url)"
  fi
  if [[ $bus == kafka || -d $run_dir/kafka ]]; then
    kafka status || all_up=1
  fi
  return $all_up
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *)
    echo "usage: scripts/cluster.sh up|down|status" >&2
    exit 2
    ;;
esac
