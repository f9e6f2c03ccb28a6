# mlzero: the front door. `make help` lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NPX := npx --no-install
EXAMPLE ?= examples/churn
OUT ?= out/churn

.PHONY: help
help: ## List every target
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

.PHONY: setup
setup: ## Install npm packages (Node 24 included), the Python runtime, and build
	@scripts/setup.sh

.PHONY: build
build: ## Compile every TypeScript package (incremental)
	@$(NPX) tsc -b

.PHONY: proto
proto: ## Lint the contracts and regenerate libs/proto from proto/
	@$(NPX) buf lint
	@$(NPX) buf generate

.PHONY: proto-check
proto-check: ## Fail when the committed generated code differs from a fresh generation
	@$(NPX) buf lint
	@scripts/check-generated.sh

.PHONY: lint
lint: proto-check ## Lint contracts, check generated code and formatting, type-check everything
	@$(NPX) prettier --check --log-level warn "**/*.{ts,json}"
	@$(NPX) tsc -b
	@$(MAKE) --no-print-directory chart-check

.PHONY: chart-check
chart-check: ## Helm chart: helm lint and render with every ci/ values file, then server-side dry run of them and k8s/ on the test kube-apiserver
	@scripts/helm.sh install
	@scripts/kube.sh install
	@$(NPX) tsc -b tests
	@node_modules/.bin/node tests/dist/helm/check-chart.js

.PHONY: image-check
image-check: build ## The services image without Docker: lay out its /app as images/services/Dockerfile does, start all six services from it
	@images/services/check.sh

.PHONY: fmt
fmt: ## Format the TypeScript and JSON sources (prettier)
	@$(NPX) prettier --write --log-level warn "**/*.{ts,json}"

.PHONY: test
test: setup lint ## Set up, then run every test (unit, integration, end to end, Kafka, Kubernetes, the dashboard in Chromium)
	@scripts/kube.sh install
	@scripts/chromium.sh install
	@$(NPX) vitest run

.PHONY: test-k8s
test-k8s: setup ## The Kubernetes executor's tests against a real kube-apiserver and etcd (built once from infra/kube)
	@scripts/kube.sh install
	@$(NPX) vitest run tests/k8s services/executor/src/kubernetes

.PHONY: test-dashboard
test-dashboard: setup ## The dashboard's tests: its HTTP API, and the page in headless Chromium (Debian's, installed once by scripts/chromium.sh)
	@scripts/chromium.sh install
	@$(NPX) vitest run services/gateway/src/dashboard tests/dashboard

.PHONY: run
run: setup ## Run the bundled example end to end: make run [EXAMPLE=dir OUT=dir]
	@$(NPX) mlzero run $(EXAMPLE) --out $(OUT)

.PHONY: up
up: setup ## Start a local cluster in the background: Kafka and each service as its own process (.run/); the dashboard on http://127.0.0.1:8080/
	@scripts/cluster.sh up

.PHONY: down
down: ## Stop the local cluster: the services (SIGTERM, then SIGKILL), then Kafka
	@scripts/cluster.sh down

.PHONY: status
status: ## Show which local cluster processes run and whether each answers its health check
	@scripts/cluster.sh status

.PHONY: bench
bench: setup ## Benchmark: `mlzero run` per task; tasks/min, control-plane share and per-hop latency, in-process bus vs Kafka; retrieval recall, MRR and latency; load: 200 tasks from 5 tenants with quotas on the service processes (all complete once, per-tenant completion times, Submit/Get p50/p99, memory)
	@node_modules/.bin/node --disable-warning=TimeoutNegativeWarning tests/dist/bench/run-bench.js

comma := ,

.PHONY: bench-tasks
bench-tasks: setup ## Task suite: `mlzero run` on each raw-folder task, graded on hidden answers vs trivial and reference [ONLY=names|modalities TIME_LIMIT=s PARALLELISM=n; COMPARE_PARALLELISM=n: each task with the single loop and with n at once, side by side]
	@node_modules/.bin/node tests/dist/bench-tasks/run-bench-tasks.js $(if $(ONLY),--only $(ONLY)) $(if $(TIME_LIMIT),--time-limit $(TIME_LIMIT)) \
		$(if $(COMPARE_PARALLELISM),--parallelism 1$(comma)$(COMPARE_PARALLELISM),$(if $(PARALLELISM),--parallelism $(PARALLELISM)))

.PHONY: clean
clean: ## Stop the local cluster, remove build outputs and run folders (keeps node_modules and .venv)
	@if [ -d .run ]; then scripts/cluster.sh down; fi
	@rm -rf out .run
	@find libs services cli tests -name dist -type d -prune -exec rm -rf {} +
	@find . -name '*.tsbuildinfo' -not -path './node_modules/*' -delete
