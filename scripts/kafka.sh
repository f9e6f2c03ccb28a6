#!/usr/bin/env bash
# The Apache Kafka broker for tests and local runs, with no Docker: a single
# KRaft node (broker and controller in one JVM) on 127.0.0.1, its jars
# resolved from Maven Central by infra/kafka/pom.xml and cached.
#
#   scripts/kafka.sh install   resolve the jars into $KAFKA_CACHE_DIR/<version>/libs (skipped when present)
#   scripts/kafka.sh start     install, format the storage once, start, wait until the port accepts connections
#   scripts/kafka.sh stop      SIGTERM, wait for a clean shutdown (SIGKILL after KAFKA_STOP_TIMEOUT seconds)
#   scripts/kafka.sh status    exit 0 and say so when running, 3 when not
#
# Settings (environment):
#   KAFKA_RUN_DIR          data, config, pid and log files       ($MLZERO_RUN_DIR/kafka, MLZERO_RUN_DIR defaulting to .run)
#   KAFKA_PORT             client listener                       (9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller listener             (KAFKA_PORT + 1)
#   KAFKA_CACHE_DIR        resolved jars, per Kafka version      (.cache/kafka)
#   KAFKA_HEAP_OPTS        JVM heap                              (-Xmx512m -Xms256m)
#   KAFKA_START_TIMEOUT    seconds to wait for the port          (90)
#   KAFKA_STOP_TIMEOUT     seconds to wait for a clean stop      (30)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pom="$root/infra/kafka/pom.xml"
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
cache="${KAFKA_CACHE_DIR:-$root/.cache/kafka}/$version"
libs="$cache/libs"
run_dir="${KAFKA_RUN_DIR:-${MLZERO_RUN_DIR:-$root/.run}/kafka}"
port="${KAFKA_PORT:-9092}"
controller_port="${KAFKA_CONTROLLER_PORT:-$((port + 1))}"
heap="${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}"
pid_file="$run_dir/kafka.pid"
log_file="$run_dir/kafka.log"

die() {
  echo "kafka: $*" >&2
  exit 1
}

# The cached class path is valid for one exact POM: a changed POM (another
# Kafka or log4j version) resolves again.
install() {
  local want
  want=$(sha256sum "$pom" | cut -d' ' -f1)
  [ "$(cat "$libs/.pom.sha256" 2>/dev/null)" = "$want" ] && return 0
  mkdir -p "$cache"
  # Test files start brokers in parallel: one resolves, the others wait for it.
  exec 9>"$cache/.install.lock"
  flock 9
  if [ "$(cat "$libs/.pom.sha256" 2>/dev/null)" != "$want" ]; then
    local staging="$cache/libs.partial"
    rm -rf "$staging" "$libs"
    if ! mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$staging" >"$cache/install.log" 2>&1; then
      cat "$cache/install.log" >&2
      die "cannot resolve the broker's jars with mvn (infra/kafka/pom.xml)"
    fi
    echo "$want" >"$staging/.pom.sha256"
    mv "$staging" "$libs"
    echo "kafka: $version installed in $libs" >&2
  fi
  exec 9>&-
}

# A killed broker stays a zombie until its new parent reaps it: that counts as gone.
alive() {
  kill -0 "$1" 2>/dev/null && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]
}

running_pid() {
  local pid
  pid=$(cat "$pid_file" 2>/dev/null) || return 1
  # The pid must still be this broker, not a recycled pid.
  [ -n "$pid" ] && alive "$pid" && grep -qa kafka.Kafka "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_config() {
  # Rewritten on every start, so a restart may change ports but keeps the data.
  cat >"$run_dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$run_dir/data
# The project creates its topics itself, with explicit partitions and retention.
auto.create.topics.enable=false
num.partitions=1
# One node: every internal topic has one replica; few partitions keep a cold
# start and the first group join fast on a small machine.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# A group's first member starts consuming at once instead of after 3 s.
group.initial.rebalance.delay.ms=0
# After a crash the controller refuses the node's new registration until the
# old one's session ends (9 s by default): a killed broker restarts sooner.
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=500
PROPS
}

format_storage() {
  [ -f "$run_dir/data/meta.properties" ] && return 0
  local cluster_id
  # A Kafka cluster id is 16 random bytes in URL-safe base64 without padding;
  # one that starts with '-' would read as an option, so draw again.
  cluster_id=-
  while [[ "$cluster_id" == -* ]]; do
    cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
  done
  java -Xmx256m -Dlog4j2.configurationFile="$root/infra/kafka/log4j2.properties" -cp "$libs/*" \
    kafka.tools.StorageTool format --ignore-formatted -t "$cluster_id" -c "$run_dir/server.properties" >>"$log_file" 2>&1 ||
    die "cannot format the storage in $run_dir/data (see $log_file)"
}

start() {
  install
  mkdir -p "$run_dir"
  if pid=$(running_pid); then
    echo "kafka: already running (pid $pid, 127.0.0.1:$port)"
    return 0
  fi
  # A broker killed a moment ago may hold its port while its last threads exit.
  local waited=0
  while port_open "$port"; do
    ((waited++ < 100)) || die "port $port is taken by another process"
    sleep 0.1
  done
  write_config
  format_storage
  # setsid: the broker outlives the shell that started it and gets no signal
  # meant for that shell's process group.
  setsid java $heap -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$root/infra/kafka/log4j2.properties" \
    -cp "$libs/*" kafka.Kafka "$run_dir/server.properties" >>"$log_file" 2>&1 </dev/null &
  echo $! >"$pid_file"
  local pid=$! deadline=$((SECONDS + ${KAFKA_START_TIMEOUT:-90}))
  until port_open "$port"; do
    if ! alive "$pid"; then
      tail -n 20 "$log_file" >&2
      die "the broker exited during start (log: $log_file)"
    fi
    if ((SECONDS >= deadline)); then
      kill -KILL "$pid" 2>/dev/null || true
      die "the broker did not open 127.0.0.1:$port in ${KAFKA_START_TIMEOUT:-90} s (log: $log_file)"
    fi
    sleep 0.1
  done
  echo "kafka: $version running (pid $pid, 127.0.0.1:$port, data $run_dir/data)"
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$pid_file"
    echo "kafka: not running"
    return 0
  fi
  kill -TERM "$pid"
  local deadline=$((SECONDS + ${KAFKA_STOP_TIMEOUT:-30}))
  while alive "$pid"; do
    if ((SECONDS >= deadline)); then
      echo "kafka: no clean stop in ${KAFKA_STOP_TIMEOUT:-30} s; killing pid $pid" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    sleep 0.1
  done
  rm -f "$pid_file"
  echo "kafka: stopped"
}

status() {
  local pid
  if pid=$(running_pid); then
    echo "kafka: running (pid $pid, 127.0.0.1:$port, data $run_dir/data)"
  else
    echo "kafka: not running"
    exit 3
  fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: scripts/kafka.sh install|start|stop|status" >&2
    exit 2
    ;;
esac
