#!/usr/bin/env bash
# A Kubernetes API server for tests and local runs, with no Docker and no
# kubelet: etcd and kube-apiserver built from the Go modules pinned in
# infra/kube (cached), started on 127.0.0.1 with certificates, a token and a
# kubeconfig generated here. Nothing runs pods: a test plays the node.
# ConfigMaps bypass the API server's watch cache, so that compacting etcd
# expires their old resource versions at once: a test of 410 Gone uses them.
#
#   scripts/kube.sh install   build etcd and kube-apiserver into $KUBE_CACHE_DIR/<hash>/ (skipped when built)
#   scripts/kube.sh start     install, generate certificates once, start etcd and the API server, wait until ready
#   scripts/kube.sh stop      SIGTERM both, wait (SIGKILL after KUBE_STOP_TIMEOUT seconds)
#   scripts/kube.sh status    exit 0 and say so when the API server runs, 3 when not
#
# Settings (environment):
#   KUBE_RUN_DIR        certificates, data, kubeconfig, pid and log files  ($MLZERO_RUN_DIR/kube, MLZERO_RUN_DIR defaulting to .run)
#   KUBE_API_PORT       the API server's HTTPS port                         (6443)
#   KUBE_ETCD_PORT      etcd's client port                                   (2379)
#   KUBE_ETCD_PEER_PORT etcd's peer port                                     (KUBE_ETCD_PORT + 1)
#   KUBE_CACHE_DIR      built binaries, per hash of infra/kube               (.cache/kube)
#   KUBE_START_TIMEOUT  seconds to wait for /readyz                          (120)
#   KUBE_STOP_TIMEOUT   seconds to wait for a clean stop                     (20)
# The kubeconfig (cluster admin, by token) is $KUBE_RUN_DIR/kubeconfig.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
module="$root/infra/kube"
hash=$(cat "$module/go.mod" "$module/go.sum" "$module"/cmd/*/main.go | sha256sum | cut -c1-16)
bin="${KUBE_CACHE_DIR:-$root/.cache/kube}/$hash"
run_dir="${KUBE_RUN_DIR:-${MLZERO_RUN_DIR:-$root/.run}/kube}"
api_port="${KUBE_API_PORT:-6443}"
etcd_port="${KUBE_ETCD_PORT:-2379}"
etcd_peer_port="${KUBE_ETCD_PEER_PORT:-$((etcd_port + 1))}"
pki="$run_dir/pki"

die() {
  echo "kube: $*" >&2
  exit 1
}

# One build per hash of the module; Go's own caches make a rebuild after a
# small change quick. Tests that start servers in parallel wait for one build.
install() {
  [ -x "$bin/kube-apiserver" ] && [ -x "$bin/etcd" ] && return 0
  command -v go >/dev/null || die "go is needed to build kube-apiserver and etcd (infra/kube)"
  mkdir -p "$bin"
  exec 9>"$bin/.install.lock"
  flock 9
  if ! [ -x "$bin/kube-apiserver" ] || ! [ -x "$bin/etcd" ]; then
    echo "kube: building etcd and kube-apiserver from infra/kube (once; a few minutes)" >&2
    if ! (cd "$module" && go build -trimpath -o "$bin/partial/" ./cmd/etcd ./cmd/kube-apiserver) >"$bin/install.log" 2>&1; then
      cat "$bin/install.log" >&2
      die "cannot build the binaries (infra/kube)"
    fi
    mv "$bin/partial/etcd" "$bin/partial/kube-apiserver" "$bin/"
    rmdir "$bin/partial"
  fi
  exec 9>&-
}

alive() {
  kill -0 "$1" 2>/dev/null && [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" != Z ]
}

# The pid in a pid file, while it is still that program (not a recycled pid).
running_pid() {
  local pid
  pid=$(cat "$run_dir/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && alive "$pid" && grep -qa "$bin/$1" "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

# A CA, the API server's serving certificate for 127.0.0.1, the service
# account signing key, an admin token and the kubeconfig that uses them;
# generated once per run folder, so clients keep working across restarts.
generate_credentials() {
  [ -f "$run_dir/kubeconfig" ] && return 0
  mkdir -p "$pki"
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 365 -subj "/CN=mlzero-test-ca" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\n' >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out apiserver.crt -days 365 -extfile apiserver.ext 2>/dev/null
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  )
  local token
  token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  printf '%s,mlzero-admin,mlzero-admin,"system:masters"\n' "$token" >"$pki/tokens.csv"
  chmod 600 "$pki"/*.key "$pki/tokens.csv"
  write_kubeconfig "$token"
}

write_kubeconfig() {
  cat >"$run_dir/kubeconfig" <<CONFIG
apiVersion: v1
kind: Config
clusters:
  - name: mlzero-test
    cluster:
      server: https://127.0.0.1:$api_port
      certificate-authority: $pki/ca.crt
users:
  - name: mlzero-admin
    user:
      token: $1
contexts:
  - name: mlzero-test
    context:
      cluster: mlzero-test
      user: mlzero-admin
      namespace: default
current-context: mlzero-test
CONFIG
  chmod 600 "$run_dir/kubeconfig"
}

start_etcd() {
  running_pid etcd >/dev/null && return 0
  setsid "$bin/etcd" --name=mlzero --data-dir="$run_dir/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer_port" \
    --initial-cluster="mlzero=http://127.0.0.1:$etcd_peer_port" \
    --unsafe-no-fsync --log-level=warn >>"$run_dir/etcd.log" 2>&1 </dev/null &
  echo $! >"$run_dir/etcd.pid"
}

start_apiserver() {
  running_pid kube-apiserver >/dev/null && return 0
  # The kubeconfig names the port: rewrite it with the token it already has,
  # so a restart on another port keeps working.
  write_kubeconfig "$(cut -d, -f1 "$pki/tokens.csv")"
  setsid "$bin/kube-apiserver" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" --client-ca-file="$pki/ca.crt" \
    --token-auth-file="$pki/tokens.csv" --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$pki/sa.pub" \
    --service-account-signing-key-file="$pki/sa.key" --service-cluster-ip-range=10.96.0.0/24 \
    --kubelet-certificate-authority="$pki/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --cert-dir="$pki" --endpoint-reconciler-type=none --profiling=false \
    --watch-cache-sizes=configmaps#0 \
    >>"$run_dir/kube-apiserver.log" 2>&1 </dev/null &
  echo $! >"$run_dir/kube-apiserver.pid"
}

ready() {
  curl -sf --max-time 2 --cacert "$pki/ca.crt" -H "Authorization: Bearer $(cut -d, -f1 "$pki/tokens.csv")" \
    "https://127.0.0.1:$api_port/readyz" >/dev/null 2>&1
}

start() {
  install
  mkdir -p "$run_dir"
  generate_credentials
  start_etcd
  start_apiserver
  local deadline=$((SECONDS + ${KUBE_START_TIMEOUT:-120}))
  until ready; do
    for program in etcd kube-apiserver; do
      if ! running_pid "$program" >/dev/null; then
        tail -n 20 "$run_dir/$program.log" >&2
        die "$program exited during start (log: $run_dir/$program.log)"
      fi
    done
    ((SECONDS < deadline)) || die "the API server was not ready in ${KUBE_START_TIMEOUT:-120} s (log: $run_dir/kube-apiserver.log)"
    sleep 0.2
  done
  echo "kube: API server ready at https://127.0.0.1:$api_port (kubeconfig $run_dir/kubeconfig)"
}

stop() {
  local program pid
  for program in kube-apiserver etcd; do
    if pid=$(running_pid "$program"); then
      kill -TERM "$pid"
      local deadline=$((SECONDS + ${KUBE_STOP_TIMEOUT:-20}))
      while alive "$pid"; do
        if ((SECONDS >= deadline)); then
          kill -KILL "$pid" 2>/dev/null || true
        fi
        sleep 0.1
      done
    fi
    rm -f "$run_dir/$program.pid"
  done
  echo "kube: stopped"
}

status() {
  local pid
  if pid=$(running_pid kube-apiserver) && ready; then
    echo "kube: running (pid $pid, https://127.0.0.1:$api_port, kubeconfig $run_dir/kubeconfig)"
  else
    echo "kube: not running"
    exit 3
  fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: scripts/kube.sh install|start|stop|status" >&2
    exit 2
    ;;
esac
